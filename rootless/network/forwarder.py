"""rl's own port forwarder (`--network slirp4netns:port_handler=rl`, and
the default for UDP): the shape of rootlesskit's "builtin" driver, in one
process. Its listening sockets are created in the host's network namespace;
then it forks, and the child joins the container's user and network
namespaces (setns, while still single-threaded). A socket keeps the
namespace it was created in, so the child accepts on the host's side and
every socket it creates afterwards connects inside. Bytes move between the
two with splice(2), kernel to kernel.

Source addresses: the container sees connections coming from its own
address, never the client's; slirp4netns's forwarding shows non-loopback
clients' real addresses, which is why TCP stays on slirp4netns by default
(docs/networking.md). UDP goes through here by default: slirp4netns drops
the replies to loopback clients when host loopback is disabled.

Lifetime: it exits when its exit pipe closes (the holder died or closed the
handle), and has a parent-death signal as well."""

from __future__ import annotations

import os
import selectors
import signal
import socket
import threading

from rootless import linux
from rootless.errors import RuntimeSetupError

_CHUNK = 1 << 20
_UDP_IDLE = 60.0   # seconds an idle UDP "connection" keeps its inside socket


class Forwarder:
    def __init__(self, pid: int, exit_w: int):
        self.pid = pid
        self.pids = (pid,)
        self.exit_w: int | None = exit_w

    def close(self) -> None:
        if self.exit_w is not None:
            os.close(self.exit_w)
            self.exit_w = None
            try:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass


def _ns_path(netns: int | str, kind: str) -> str:
    if isinstance(netns, int) or str(netns).isdigit():
        return f"/proc/{netns}/ns/{kind}"
    if kind == "net":
        return str(netns)
    raise RuntimeSetupError("the rl port forwarder needs the container's pid, not a namespace path")


def start(netns: int | str, ports: list, state_dir: str, target: str = "127.0.0.1") -> Forwarder:
    """Listen on every published port (host side), connect inside netns."""
    listeners = []
    try:
        for m in ports:
            fam = socket.AF_INET6 if ":" in m.host_ip else socket.AF_INET
            s = socket.socket(fam, socket.SOCK_STREAM if m.proto == "tcp" else socket.SOCK_DGRAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((m.host_ip or "0.0.0.0", m.host_port))
            if m.proto == "tcp":
                s.listen(128)
            listeners.append((s, m))
    except OSError as e:
        for s, _ in listeners:
            s.close()
        raise RuntimeSetupError(f"cannot listen for published ports: {e.strerror}") from None
    user_ns, net_ns = _ns_path(netns, "user"), _ns_path(netns, "net")
    ready_r, ready_w = os.pipe()
    exit_r, exit_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.close(ready_r)
            os.close(exit_w)
            os.setsid()  # the terminal's ^C reaches rl, which decides
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1,
                        signal.SIGUSR2, signal.SIGWINCH, signal.SIGCONT, signal.SIGALRM):
                signal.signal(sig, signal.SIG_DFL)  # not the holder's forwarding handlers
            _only_fds([s.fileno() for s, _ in listeners] + [ready_w, exit_r])
            code = _forwarder_main(listeners, user_ns, net_ns, target, ready_w, exit_r)
        except BaseException as e:
            try:
                os.write(ready_w, b"E" + str(getattr(e, "strerror", None) or e).encode())
            except OSError:
                pass
        finally:
            os._exit(code)
    os.close(ready_w)
    os.close(exit_r)
    for s, _ in listeners:
        s.close()
    with os.fdopen(ready_r, "rb") as f:
        status = f.read()
    fwd = Forwarder(pid, exit_w)
    if status != b"1":
        fwd.close()
        raise RuntimeSetupError(f"port forwarder failed: {status[1:].decode(errors='replace') or 'no ready signal'}")
    return fwd


def _only_fds(keep: list[int]) -> None:
    """Drop every inherited fd but keep (stdio onto /dev/null): holding the
    holder's pipes would keep its callers waiting for an EOF."""
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd > 2 and fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass


def _enter(user_ns: str, net_ns: str) -> None:
    linux.set_pdeathsig(signal.SIGKILL)
    for path, flag in ((user_ns, linux.Clone.NEWUSER), (net_ns, linux.Clone.NEWNET)):
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            linux.setns(fd, flag)
        finally:
            os.close(fd)


def _forwarder_main(listeners, user_ns, net_ns, target, ready_w, exit_r) -> int:
    _enter(user_ns, net_ns)  # before any thread: setns(CLONE_NEWUSER) refuses threaded callers

    def inside(proto: str, port: int) -> socket.socket | None:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM)
        try:
            s.connect((target, port))
            return s
        except OSError:
            s.close()
            return None

    sel = selectors.DefaultSelector()
    for s, m in listeners:
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ, m)
    sel.register(exit_r, selectors.EVENT_READ, None)
    udp_peers: dict = {}
    os.write(ready_w, b"1")
    os.close(ready_w)
    while True:
        for key, _ in sel.select():
            m = key.data
            if m is None:  # the holder has gone (or closed us)
                return 0
            if m.proto == "tcp":
                try:
                    conn, _ = key.fileobj.accept()
                except BlockingIOError:
                    continue
                threading.Thread(target=_tcp_session, args=(conn, inside, m.container_port), daemon=True).start()
            else:
                _udp_datagram(key.fileobj, m, inside, udp_peers)


def _tcp_session(conn: socket.socket, inside, port: int) -> None:
    conn.setblocking(True)
    peer = inside("tcp", port)
    if peer is None:
        conn.close()  # nothing listens inside: the client sees a reset/EOF, as with slirp4netns
        return
    t = threading.Thread(target=_pump, args=(peer, conn), daemon=True)
    t.start()
    _pump(conn, peer)
    t.join()
    conn.close()
    peer.close()


def _pump(src: socket.socket, dst: socket.socket) -> None:
    """src -> dst through a pipe with splice(2) until EOF, then half-close dst."""
    r, w = os.pipe()
    try:
        import fcntl
        fcntl.fcntl(w, 1031, _CHUNK)  # F_SETPIPE_SZ: fewer round trips for bulk transfers
    except OSError:
        pass
    try:
        while True:
            n = os.splice(src.fileno(), w, _CHUNK)
            if n == 0:
                break
            while n:
                n -= os.splice(r, dst.fileno(), n)
    except OSError:
        pass
    finally:
        os.close(r)
        os.close(w)
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def _udp_datagram(listener: socket.socket, m, inside, peers: dict) -> None:
    """One datagram from a client: sent from that client's own inside
    socket, whose replies a thread relays back to the client."""
    try:
        data, client = listener.recvfrom(65535)
    except BlockingIOError:
        return
    sock = peers.get((listener.fileno(), client))
    if sock is None:
        sock = inside("udp", m.container_port)
        if sock is None:
            return
        peers[(listener.fileno(), client)] = sock
        threading.Thread(target=_udp_replies, args=(sock, listener, client, peers), daemon=True).start()
    try:
        sock.send(data)
    except OSError:
        pass


def _udp_replies(sock: socket.socket, listener: socket.socket, client, peers: dict) -> None:
    sock.settimeout(_UDP_IDLE)
    try:
        while True:
            data = sock.recv(65535)
            listener.sendto(data, client)
    except OSError:
        pass
    finally:
        peers.pop((listener.fileno(), client), None)
        sock.close()
