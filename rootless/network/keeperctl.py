"""The rootless-netns keeper's control socket: link changes done by forks of
the keeper, which has imported pyroute2 once, instead of by a helper each
container start forks and that imports it again (~0.2 s of CPU per start,
most of a compose service's start on a user network).

    keeper:  sock = listen(path); serve(sock, pinner, handler, done_fd)
    client:  ask(path, msg, fd) -> None when no keeper answers there (the
             caller then does the work itself), "" when done, else the error

One request per connection (SOCK_SEQPACKET: one message each way): a JSON
object of at most 64 KiB, optionally one fd (SCM_RIGHTS; the container's
network namespace). The keeper checks the peer is its own user, then forks:
the fork reads the request, joins the pinner's user and network namespaces
(a fork is single-threaded, as setns of a user namespace needs), runs
handler(msg, fd) and answers "" or the error text. A slow or stuck client
holds up only its own fork. The socket lives in $runroot/netns (the user's
own, mode 0700); a path too long for a unix socket, or a keeper of an rl
that predates this module, leaves the callers on their own helper.

Imports nothing of rl's but linux and jsonio: usernet (its only user) gives
the handler."""

from __future__ import annotations

import os

from rootless import jsonio

# socket, and linux's ctypes, are imported by the functions: usernet imports
# this module on a container's exit path too, which needs neither
MAX = 1 << 16


def listen(path: str):
    """The keeper's listening socket at path (a stale one replaced); None
    when it cannot be had (callers fall back to their own helper)."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError:
        return None
    import socket
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
    old = os.umask(0o177)
    try:
        sock.bind(path)
        sock.listen(32)
    except OSError:
        sock.close()
        return None
    finally:
        os.umask(old)
    return sock


def serve(sock, pinner: int, handler, done_fd: int) -> None:
    """Answer requests until done_fd turns readable; then wait for the forks
    still answering (each has a parent-death signal besides)."""
    import select
    import socket
    import struct
    ucred = struct.Struct("3i")  # pid, uid, gid (SO_PEERCRED)
    busy: set[int] = set()
    uid = os.getuid()
    while True:
        try:
            ready, _, _ = select.select([sock, done_fd], [], [], 5.0 if busy else None)
        except InterruptedError:
            continue
        _reap(busy, block=False)
        if done_fd in ready:
            break
        if sock not in ready:
            continue
        try:
            conn, _ = sock.accept()
        except OSError:
            continue
        try:
            _, peer_uid, _ = ucred.unpack(conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, ucred.size))
            if peer_uid != uid:
                continue  # not the user's: never served (the directory is 0700 besides)
            pid = os.fork()
            if pid == 0:
                _answer(conn, pinner, handler)  # never returns
            busy.add(pid)
        except OSError:
            pass
        finally:
            conn.close()
    sock.close()
    _reap(busy, block=True)


def _reap(busy: set[int], block: bool) -> None:
    for pid in list(busy):
        try:
            done, _ = os.waitpid(pid, 0 if block else os.WNOHANG)
        except ChildProcessError:
            done = pid
        if done:
            busy.discard(pid)


def join_pinner(pinner: int) -> None:
    """This forked (single-threaded) process into the pinner's user, then
    network namespace: the keeper's answering forks and usernet's own helper."""
    from rootless import linux
    for kind, flag in (("user", linux.Clone.NEWUSER), ("net", linux.Clone.NEWNET)):
        linux.setns_path(f"/proc/{pinner}/ns/{kind}", flag)


def error_text(e: BaseException) -> str:
    """What such a fork reports of its failure: an OSError's strerror, else the exception's text."""
    return f"{getattr(e, 'strerror', None) or e}"


def _answer(conn, pinner: int, handler) -> None:
    code = 1
    try:
        import signal
        import socket

        from rootless import linux
        linux.set_pdeathsig(signal.SIGKILL)
        linux.set_dumpable(False)  # it joins the namespaces containers run in
        conn.settimeout(30)
        try:
            data, fds, _, _ = socket.recv_fds(conn, MAX, 1)
            msg = jsonio.loads(data)
            if not isinstance(msg, dict):
                raise ValueError("the request is not an object")
            join_pinner(pinner)
            handler(msg, fds[0] if fds else None)
            reply = b""
        except BaseException as e:
            reply = (error_text(e) or type(e).__name__).encode(errors="replace")[:MAX - 1]
        conn.sendall(reply or b"\0")  # an empty message reads as EOF: "\0" says done
        code = 0
    finally:
        os._exit(code)


def ask(path: str, msg: dict, fd: int | None = None, timeout: float = 60) -> str | None:
    """The keeper's answer to msg: "" done, else why not; None when nobody
    serves path (no keeper socket, a keeper that went away)."""
    import socket
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
    try:
        sock.settimeout(timeout)
        try:
            sock.connect(path)
        except OSError:
            return None
        data = jsonio.dumps(msg).encode()
        if len(data) > MAX:
            raise ValueError("keeper request too large")
        try:
            if fd is None:
                sock.sendall(data)
            else:
                socket.send_fds(sock, [data], [fd])
            reply = sock.recv(MAX)
        except socket.timeout:
            return "the rootless netns keeper did not answer in time"
        except OSError as e:
            return f"the rootless netns keeper: {e.strerror or e}"
        if not reply:
            return "the rootless netns keeper closed the request unanswered"
        return "" if reply == b"\0" else reply.decode(errors="replace")
    finally:
        sock.close()
