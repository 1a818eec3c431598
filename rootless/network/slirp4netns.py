"""slirp4netns: user-mode TCP/IP for a container's network namespace
(outbound access, DNS at 10.0.2.3, published ports through its API socket).

Started from the holder's side with a ready-fd (returns once tap0 is
configured: no sleep) and an exit-fd (it exits when the holder does, even
when the holder is SIGKILLed); sandboxed and seccomp-confined when this
build supports it (probed once from `slirp4netns --help`). A watcher thread
notices it dying while the container runs and reports it."""

from __future__ import annotations

import functools
import json
import os
import socket
import subprocess
import threading

from rootless import fsutil, logconf, plain, tools
from rootless.errors import HostSetupError, RuntimeSetupError

log = logconf.logger(__name__)  # logging imported only if something is logged

API_SOCKET = "slirp4netns.sock"   # relative to the state dir: sun_path is only 108 bytes
LOG = "slirp4netns.log"
FAILURE = "network.failure"       # written when the helper dies under a running container


@functools.cache
def features(exe: str, cache_dir: str | None = None) -> frozenset[str]:
    """The long options this slirp4netns build knows (1.0 has no sandbox, ...).
    `--help` costs ~15 ms: the answer is kept in cache_dir, keyed by the
    binary's identity, so each build is probed once."""
    try:
        st = os.stat(exe)
        key = f"{exe}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}"
    except OSError:
        key = None
    cache = os.path.join(cache_dir, ".slirp4netns-features") if cache_dir and key else None
    if cache:
        try:
            with open(cache) as f:
                head, _, body = f.read().partition("\n")
            if head == key:
                return frozenset(body.split())
        except OSError:
            pass
    try:
        out = tools.run([exe, "--help"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return frozenset()
    found = frozenset(w.split("=")[0].rstrip(",") for w in out.split() if w.startswith("--"))
    if cache and found:
        try:
            fsutil.atomic_write(cache, key + "\n" + " ".join(sorted(found)), mode=None)
        except OSError:
            pass
    return found


def argv(exe: str, spec, netns: int | str, feats: frozenset[str]) -> list[str]:
    o = spec.options
    args = [exe, "--configure", f"--mtu={o.get('mtu', 65520)}"]
    if not o.get("allow_host_loopback"):
        args.append("--disable-host-loopback")
    if o.get("enable_ipv6"):
        args.append("--enable-ipv6")
    if o.get("cidr"):
        args.append(f"--cidr={o['cidr']}")
    if o.get("outbound_addr"):
        args.append(f"--outbound-addr={o['outbound_addr']}")
    if o.get("outbound_addr6"):
        args.append(f"--outbound-addr6={o['outbound_addr6']}")
    for opt in ("--enable-sandbox", "--enable-seccomp"):
        if opt in feats:
            args.append(opt)
    if isinstance(netns, str):  # a namespace path (the monitor may hold one)
        args += ["--netns-type=path"]
    return args


class Slirp:
    """A running slirp4netns (the network Handle for this driver)."""

    def __init__(self, proc: subprocess.Popen, exit_w: int, state_dir: str):
        self.proc = proc
        self.exit_w: int | None = exit_w
        self.state_dir = state_dir
        self.pids: tuple[int, ...] = (proc.pid,)
        self.extra: list = []   # further helpers (port forwarders) stopped with it
        self._closing = False
        self._failure: str | None = None
        self._watch = threading.Thread(target=self._watcher, name="slirp4netns-watch", daemon=True)
        self._watch.start()

    def _watcher(self) -> None:
        code = self.proc.wait()
        if self._closing:
            return
        last = _last_log_line(self.state_dir)
        self._failure = f"slirp4netns exited unexpectedly (status {code})" + (f": {last}" if last else "")
        try:
            with open(os.path.join(self.state_dir, FAILURE), "w") as f:
                f.write(self._failure + "\n")
        except OSError:
            pass
        log.error(f"{self._failure}; the container has lost its network")

    def failure(self) -> str | None:
        return self._failure

    def api(self, request: dict) -> dict:
        return api_call(self.state_dir, request)

    def handover(self) -> dict:
        fds = [self.exit_w] + [h.exit_w for h in self.extra]
        return {"pids": list(self.pids), "fds": [fd for fd in fds if fd is not None]}

    def close(self) -> None:
        self._closing = True
        for helper in self.extra:
            helper.close()
        self.extra = []
        if self.exit_w is not None:
            os.close(self.exit_w)  # slirp4netns exits when its exit-fd closes
            self.exit_w = None
        if self.proc.poll() is None:
            # it holds no state worth a graceful exit, and noticing the closed
            # exit-fd takes it ~30 ms: not on every run's critical path.
            # The watcher thread reaps it.
            try:
                self.proc.kill()
            except ProcessLookupError:
                pass


def _last_log_line(state_dir: str) -> str:
    try:
        with open(os.path.join(state_dir, LOG), "rb") as f:
            lines = f.read().decode(errors="replace").strip().splitlines()
        return lines[-1] if lines else ""
    except OSError:
        return ""


def api_call(state_dir: str, request: dict) -> dict:
    """One request on the API socket (one per connection, as slirp4netns serves them)."""
    log.debug("slirp4netns API: %s", json.dumps(request))
    dfd = os.open(state_dir, os.O_PATH | os.O_DIRECTORY)
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(10)
            s.connect(f"/proc/self/fd/{dfd}/{API_SOCKET}")  # short whatever state_dir's length
            s.sendall(json.dumps(request).encode())
            s.shutdown(socket.SHUT_WR)
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
    finally:
        os.close(dfd)
    try:
        return json.loads(data or b"{}")
    except ValueError:
        return {"error": {"desc": data.decode(errors="replace")}}


def add_hostfwd(state_dir: str, m, guest_addr: str) -> None:
    reply = api_call(state_dir, {"execute": "add_hostfwd", "arguments": {
        "proto": m.proto, "host_addr": m.host_ip or "0.0.0.0", "host_port": m.host_port,
        "guest_addr": guest_addr, "guest_port": m.container_port}})
    if "error" in reply:
        desc = reply["error"].get("desc", reply["error"]) if isinstance(reply["error"], dict) else reply["error"]
        raise HostSetupError(f"cannot publish {m}: slirp4netns: {desc}",
                             hint="is the host port free and >= net.ipv4.ip_unprivileged_port_start?")


def _enter_userns(fd: int):
    """Popen's preexec_fn: join the user namespace fd names (the forked child
    is single-threaded, as setns(CLONE_NEWUSER) requires); root there is the
    user, so slirp4netns starts with euid 0 and skips its own namespace
    switch."""
    from rootless import linux  # here, not in the forked child: no import after a fork
    setns, flag = linux.setns, linux.Clone.NEWUSER

    def enter() -> None:
        setns(fd, flag)
    return enter


def start(spec, netns: int | str, state_dir: str, ports: list, userns: int | None = None) -> Slirp:
    """Attach slirp4netns to the network namespace of netns (a pid, or a
    path); returns once tap0 is configured and every port is published.

    userns: the pid of a process in the user namespace whose root is the
    user, when the network namespace belongs to a namespace nested in it
    (--userns=keep-id). Left alone, slirp4netns's sandboxed side enters the
    netns owner's user namespace and becomes its root: in keep-id's nested
    one that is a subordinate ID, and the API socket it creates (published
    ports) is one the user cannot connect to. Started inside the outer
    namespace instead (podman runs it in its own rootless namespace), it is
    root there already, i.e. the user, and its files are the user's."""
    exe = tools.require("slirp4netns", "the default network gives containers outbound access with it")
    feats = features(exe, os.path.dirname(os.path.abspath(state_dir)))
    args = argv(exe, spec, netns, feats)
    handler = spec.options.get("port_handler")
    # TCP through slirp4netns by default (remote clients keep their address);
    # UDP through rl's forwarder: slirp4netns drops replies to loopback
    # clients when host loopback is disabled (docs/networking.md)
    # IPv6 through rl's forwarder: slirp4netns's add_hostfwd binds IPv4 only.
    # A port published on every address answers on [::] too, as podman's
    # (rootlessport listens dual-stack): an IPv6-only listener beside the IPv4 one
    via_slirp = [m for m in ports if ":" not in m.host_ip and
                 (handler == "slirp4netns" or (handler is None and m.proto == "tcp"))]
    via_rl = [m for m in ports if m not in via_slirp]
    v6_too = [plain.replace(m, host_ip="::") for m in ports if not m.host_ip]
    if via_slirp:
        args.append(f"--api-socket={API_SOCKET}")
    ready_r, ready_w = os.pipe()
    exit_r, exit_w = os.pipe()
    args += ["--ready-fd", str(ready_w), "--exit-fd", str(exit_r), str(netns), "tap0"]
    log = open(os.path.join(state_dir, LOG), "wb")
    userns_fd = None
    try:
        extra = {}
        if userns is not None:
            userns_fd = os.open(f"/proc/{userns}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
            extra["preexec_fn"] = _enter_userns(userns_fd)
        # its own session: a ^C or a SIGTERM to rl's process group is rl's to
        # forward, not a reason for the network to vanish under the container
        proc = tools.popen(args, pass_fds=(ready_w, exit_r), stdin=subprocess.DEVNULL,
                                stdout=log, stderr=subprocess.STDOUT, cwd=state_dir, start_new_session=True,
                                **extra)
    except (OSError, subprocess.SubprocessError) as e:
        os.close(ready_r)
        os.close(exit_w)
        raise RuntimeSetupError(f"cannot start slirp4netns: {getattr(e, 'strerror', None) or e}") from None
    finally:
        log.close()
        os.close(ready_w)
        os.close(exit_r)
        if userns_fd is not None:
            os.close(userns_fd)
    with os.fdopen(ready_r, "rb") as f:
        ok = f.read(1) == b"1"
    net = Slirp(proc, exit_w, state_dir)
    if not ok:
        net.close()
        last = _last_log_line(state_dir)
        raise RuntimeSetupError(f"slirp4netns failed: {last or 'no ready signal'}",
                                hint="check that /dev/net/tun exists and is usable; or use --network none")
    try:
        from rootless.network.spec import container_address
        guest = container_address(spec)
        for m in via_slirp:
            add_hostfwd(state_dir, m, guest)
        if via_rl or v6_too:
            from rootless.network import forwarder
            fwd = forwarder.start(netns, via_rl, state_dir, target=guest or "127.0.0.1", optional=v6_too)
            net.extra.append(fwd)
            net.pids += fwd.pids
    except BaseException:
        net.close()
        raise
    return net
