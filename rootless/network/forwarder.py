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
from rootless.linux.spawn import spawn

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


def start(netns: int | str, ports: list, state_dir: str, target: str = "127.0.0.1",
          optional: list | tuple = ()) -> Forwarder:
    """Listen on every published port (host side), connect inside netns.
    optional: further mappings listened on where the host allows (the IPv6
    side of a port published on every address: a host without IPv6, or
    with that port taken on [::] only, still runs the container)."""
    listeners = []
    try:
        for m in [*ports, *optional]:
            fam = socket.AF_INET6 if ":" in m.host_ip else socket.AF_INET
            try:
                s = socket.socket(fam, socket.SOCK_STREAM if m.proto == "tcp" else socket.SOCK_DGRAM)
            except OSError:
                if m in optional:
                    continue
                raise
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if fam == socket.AF_INET6:  # [::] means IPv6 here: the IPv4 side is published on its own
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                s.bind((m.host_ip or "0.0.0.0", m.host_port))
                if m.proto == "tcp":
                    s.listen(128)
            except OSError:
                s.close()
                if m in optional:
                    continue
                raise
            listeners.append((s, m))
    except OSError as e:
        for s, _ in listeners:
            s.close()
        raise RuntimeSetupError(f"cannot listen for published ports: {e.strerror}") from None
    user_ns, net_ns = _ns_path(netns, "user"), _ns_path(netns, "net")
    exit_r, exit_w = os.pipe()
    try:
        child = spawn(lambda rep: _forwarder_main(listeners, user_ns, net_ns, target, rep, exit_r),
                      name="port forwarder", setsid=True,  # setsid: the terminal's ^C reaches rl, which decides
                      keep_fds=[s.fileno() for s, _ in listeners] + [exit_r], death_signal=signal.SIGKILL,
                      error=RuntimeSetupError, context="port forwarder failed",
                      died="port forwarder failed: no ready signal")
    except BaseException:
        os.close(exit_w)
        raise
    finally:
        os.close(exit_r)
        for s, _ in listeners:
            s.close()
    return Forwarder(child.pid, exit_w)


def _enter(user_ns: str, net_ns: str) -> None:
    for path, flag in ((user_ns, linux.Clone.NEWUSER), (net_ns, linux.Clone.NEWNET)):
        linux.setns_path(path, flag)


def _forwarder_main(listeners, user_ns, net_ns, target, rep, exit_r) -> int:
    _enter(user_ns, net_ns)  # before any thread: setns(CLONE_NEWUSER) refuses threaded callers

    def inside(proto: str, port: int) -> socket.socket | None:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM)
        try:
            s.connect((target, port))
            return s
        except OSError:
            s.close()
            return None

    loop = _Loop()
    for s, m in listeners:
        s.setblocking(False)
        loop.want(s.fileno(), selectors.EVENT_READ, ("listen", s, m))
    loop.want(exit_r, selectors.EVENT_READ, ("exit",))
    udp_peers: dict = {}
    rep.ready()
    while True:
        for fd, events in loop.poll():
            for tag in loop.handlers(fd, events):
                if tag[0] == "exit":  # the holder has gone (or closed us)
                    return 0
                if tag[0] == "listen":
                    _, lsock, m = tag
                    if m.proto == "tcp":
                        _accept(loop, lsock, inside, m.container_port)
                    else:
                        _udp_datagram(lsock, m, inside, udp_peers)
                else:
                    tag[1].step()


class _Loop:
    """One selector for every connection: per fd, handlers for read and
    for write (a socket is the source of one direction and the sink of the
    other). A thread pair per connection cost more than the splicing."""

    def __init__(self):
        self.sel = selectors.DefaultSelector()
        self.tags: dict[int, dict[int, tuple]] = {}

    def _apply(self, fd: int) -> None:
        mask = 0
        for ev in self.tags.get(fd, {}):
            mask |= ev
        registered = fd in self.sel.get_map()
        if mask and registered:
            self.sel.modify(fd, mask)
        elif mask:
            self.sel.register(fd, mask)
        elif registered:
            self.sel.unregister(fd)

    def want(self, fd: int, event: int, tag: tuple) -> None:
        self.tags.setdefault(fd, {})[event] = tag
        self._apply(fd)

    def drop(self, fd: int, event: int) -> None:
        if self.tags.get(fd, {}).pop(event, None) is not None:
            self._apply(fd)
        if fd in self.tags and not self.tags[fd]:
            del self.tags[fd]

    def poll(self):
        return [(key.fd, events) for key, events in self.sel.select()]

    def handlers(self, fd: int, events: int) -> list[tuple]:
        return [tag for ev, tag in list(self.tags.get(fd, {}).items()) if events & ev]


def _accept(loop: _Loop, lsock: socket.socket, inside, port: int) -> None:
    try:
        conn, _ = lsock.accept()
    except BlockingIOError:
        return
    peer = inside("tcp", port)  # local to the namespace: connects at once
    if peer is None:
        conn.close()  # nothing listens inside: the client sees EOF, as with slirp4netns
        return
    conn.setblocking(False)
    peer.setblocking(False)
    pair = [conn, peer, 2]  # both sockets, directions still open
    _Direction(loop, conn, peer, pair)
    _Direction(loop, peer, conn, pair)


_NB = 2 | 1  # SPLICE_F_NONBLOCK | SPLICE_F_MOVE


class _Direction:
    """src -> dst through a pipe with non-blocking splice(2): read when the
    pipe is empty, write while it holds bytes; EOF half-closes dst."""

    def __init__(self, loop: _Loop, src: socket.socket, dst: socket.socket, pair: list):
        self.loop, self.src, self.dst, self.pair = loop, src, dst, pair
        self.r, self.w = os.pipe()
        try:
            import fcntl
            fcntl.fcntl(self.w, 1031, _CHUNK)  # F_SETPIPE_SZ: fewer round trips for bulk transfers
        except OSError:
            pass
        self.pending = 0
        loop.want(src.fileno(), selectors.EVENT_READ, ("dir", self))

    def step(self) -> None:
        try:
            if self.pending == 0:
                n = os.splice(self.src.fileno(), self.w, _CHUNK, flags=_NB)
                if n == 0:
                    return self._finish()
                self.pending = n
            while self.pending:
                self.pending -= os.splice(self.r, self.dst.fileno(), self.pending, flags=_NB)
        except BlockingIOError:
            pass
        except OSError:
            return self._finish()
        if self.pending:
            self.loop.drop(self.src.fileno(), selectors.EVENT_READ)
            self.loop.want(self.dst.fileno(), selectors.EVENT_WRITE, ("dir", self))
        else:
            self.loop.drop(self.dst.fileno(), selectors.EVENT_WRITE)
            self.loop.want(self.src.fileno(), selectors.EVENT_READ, ("dir", self))

    def _finish(self) -> None:
        self.loop.drop(self.src.fileno(), selectors.EVENT_READ)
        self.loop.drop(self.dst.fileno(), selectors.EVENT_WRITE)
        os.close(self.r)
        os.close(self.w)
        try:
            self.dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        self.pair[2] -= 1
        if self.pair[2] == 0:  # both directions done
            self.pair[0].close()
            self.pair[1].close()


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
