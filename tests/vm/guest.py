"""Boot the systemd guest with qemu and drive it over ssh.

    guest = Guest.boot()                     # builds/caches the image on first use
    guest.run("systemctl --user is-system-running")      # as tester
    guest.run(["cat", "/proc/1/comm"], user="root")
    home_src = guest.copy_in(Path("."), "src")            # tar over ssh
    guest.close()

The guest runs under TCG (`-accel tcg,thread=multi -cpu max`: KVM on this
kind of host is a paravirtual backend that a stock kernel dies on), on a
throw-away qcow2 overlay of the cached base image, with qemu user-mode
networking restricted to what the host forwards: ssh from 127.0.0.1:PORT and
the guest's 10.0.2.100:5000 to a host loopback port named by forward_registry().
Guests resume in seconds from a cached snapshot of a booted one (QMP migrate).

As a command:  python -m tests.vm.guest --build     build/cache image, snapshot, packages
               python -m tests.vm.guest --shell     boot, interactive ssh, close
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.vm import image
from tests.vm.qmp import QMP, QMPError

HERE = Path(__file__).resolve().parent
# The guest's one way out: REGISTRY_ADDR:REGISTRY_PORT is relayed to whatever
# host loopback port forward_registry() named (a qemu guestfwd runs relay.py
# per connection, which reads the target then: no reboot to change it).
REGISTRY_ADDR, REGISTRY_PORT = "10.0.2.100", 5000
SMP, MEM_MB = 2, 2048
ACCEL = ["-accel", "tcg,thread=multi", "-cpu", "max"]


class GuestError(RuntimeError):
    pass


def missing_tools() -> list[str]:
    return [t for t in ("qemu-system-x86_64", "qemu-img", "ssh") if not shutil.which(t)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:  # runs in the qemu child before exec
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _sweep_workdirs() -> None:
    """Remove work directories (overlays, sockets) of test sessions that were
    killed before they could clean up: their qemu died with them."""
    for d in Path(tempfile.gettempdir()).glob("rl-vm-*"):
        try:
            if d.stat().st_uid != os.getuid():
                continue
            pid = int((d / "owner.pid").read_text())
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(d, ignore_errors=True)
        except (OSError, ValueError):
            continue


def _tail(path: Path, n: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return ""


SNAP_STATE, SNAP_DISK = "state.zst", "disk.qcow2"
# A snapshot resumes only on the very machine it was saved from: bump this when
# _qemu_argv's devices change (a mismatch is also caught: dropped, cold boot).
SNAP_VERSION = 1


def _compress_cmd(path: Path) -> str:
    # qemu's migration ends before the compressor has written everything: the
    # file appears under its name only when complete
    z = f"zstd -q -1 -T2 -o {path}.part" if shutil.which("zstd") else f"gzip -1 > {path}.part"
    return f"{z} && mv {path}.part {path}"


def _decompress_cmd(path: Path) -> str:
    return f"zstd -q -dc {path}" if shutil.which("zstd") else f"gzip -dc {path}"


def _qemu_version() -> str:
    return subprocess.run(["qemu-system-x86_64", "--version"], capture_output=True,
                          text=True).stdout.splitlines()[0]


def ensure_snapshot(image_dir: Path, timeout: float, log=print) -> Path:
    """The booted-guest snapshot for this image and this qemu, made first if
    missing: one cold boot, the system settled, RAM saved with QMP migrate."""
    import fcntl
    import hashlib
    key = hashlib.sha256(json.dumps([SNAP_VERSION, ACCEL, SMP, MEM_MB, image.CMDLINE, _qemu_version(),
                                     bool(shutil.which("zstd"))]).encode()).hexdigest()[:12]
    final = image_dir / f"snapshot-{key}"
    if (final / SNAP_STATE).is_file():
        return final
    with open(image_dir / ".snapshot.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (final / SNAP_STATE).is_file():
            return final
        for p in image_dir.glob("snapshot-*"):   # another qemu or driver: useless now
            shutil.rmtree(p, ignore_errors=True)
        for p in image_dir.glob(".partial-snapshot-*"):
            shutil.rmtree(p, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(prefix=".partial-snapshot-", dir=image_dir))
        t0 = time.monotonic()
        g = Guest._boot(image_dir, None, timeout, log, None)
        try:
            # settled: every unit started, the user's manager up, nothing in flight
            try:
                g.run("systemctl is-system-running --wait; systemctl --user is-system-running --wait; sync",
                      timeout=300)
            except subprocess.TimeoutExpired:
                raise GuestError("the guest did not settle within 300s") from None
            g._save(tmp)
            os.rename(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        finally:
            g.close()
        size = (final / SNAP_STATE).stat().st_size >> 20
        log(f"snapshot of the booted guest saved in {time.monotonic() - t0:.1f}s ({size} MiB state)")
    return final


class Guest:
    """A running guest. Use Guest.boot(); always close() (or use `with`)."""

    def __init__(self, image_dir: Path, workdir: Path):
        self.image_dir = image_dir
        self.workdir = workdir
        self.registry_target = workdir / "registry-target"
        self.registry: str | None = None   # "10.0.2.100:5000" once forwarded
        self.serial_log = workdir / "serial.log"
        self.proc: subprocess.Popen | None = None
        self.ssh_port = 0
        self.boot_seconds = 0.0
        self._masters: set[str] = set()

    # ---- life cycle -------------------------------------------------------------------
    @classmethod
    def boot(cls, image_dir: Path | None = None, *, registry_port: int | None = None,
             snapshot: bool | None = None, timeout: float = 600, log=print) -> "Guest":
        """A fresh guest, ready for `tester` to log in over ssh.

        With snapshot (the default unless RL_TEST_VM_SNAPSHOT=0) the guest is
        resumed from a saved booted state (made by one cold boot and cached
        beside the image); a snapshot that does not resume is dropped and the
        guest cold-boots."""
        if missing_tools():
            raise GuestError(f"not installed: {', '.join(missing_tools())} "
                             "(apt-get install qemu-system-x86 qemu-utils openssh-client zstd)")
        image_dir = image_dir or image.ensure(log)
        if snapshot is None:
            snapshot = os.environ.get("RL_TEST_VM_SNAPSHOT", "1") != "0"
        snap = None
        if snapshot:
            try:
                snap = ensure_snapshot(image_dir, timeout, log)
            except GuestError as e:
                log(f"no snapshot, cold boot instead: {e}")
        if snap:
            try:
                return cls._boot(image_dir, registry_port, timeout, log, snap)
            except GuestError as e:
                log(f"snapshot {snap} did not resume, dropped; cold boot instead: {e}")
                shutil.rmtree(snap, ignore_errors=True)
        return cls._boot(image_dir, registry_port, timeout, log, None)

    @classmethod
    def _boot(cls, image_dir: Path, registry_port: int | None, timeout: float, log,
              snap: Path | None) -> "Guest":
        _sweep_workdirs()
        workdir = Path(tempfile.mkdtemp(prefix="rl-vm-"))  # short: unix socket paths are limited
        (workdir / "owner.pid").write_text(str(os.getpid()))
        g = cls(image_dir, workdir)
        try:
            if registry_port:
                g.forward_registry(registry_port)
            g._start(timeout, snap)
            if snap:  # the saved clock is stale
                g.run(f"date -u -s @{time.time():.3f} >/dev/null", user="root", check=True)
        except BaseException:
            g.close()
            raise
        how = "resumed from a snapshot" if snap else "cold boot"
        log(f"guest up ({how}): ssh as {image.USER} after {g.boot_seconds:.1f}s (port {g.ssh_port})")
        return g

    def _qemu_argv(self, disk: Path) -> list[str]:
        relay = f"{sys.executable} {HERE / 'relay.py'} {self.registry_target}"
        fwd = (f"hostfwd=tcp:127.0.0.1:{self.ssh_port}-:22,"
               f"guestfwd=tcp:{REGISTRY_ADDR}:{REGISTRY_PORT}-cmd:{relay.replace(',', ',,')}")
        d = self.image_dir
        return ["qemu-system-x86_64", "-machine", "q35", *ACCEL, "-smp", str(SMP), "-m", str(MEM_MB),
                "-no-reboot", "-nodefaults", "-display", "none",
                "-kernel", str(d / image.KERNEL), "-initrd", str(d / image.INITRD),
                "-append", image.CMDLINE,
                "-drive", f"file={disk},if=virtio,format=qcow2,cache=unsafe",
                "-netdev", f"user,id=n0,restrict=on,{fwd}", "-device", "virtio-net-pci,netdev=n0",
                "-serial", f"file:{self.serial_log}",
                "-qmp", f"unix:{self.workdir / 'qmp.sock'},server=on,wait=off"]

    def _start(self, timeout: float, snap: Path | None = None) -> None:
        disk = self.workdir / "overlay.qcow2"
        if snap:
            backing, fmt = snap / SNAP_DISK, "qcow2"
        else:
            backing, fmt = self.image_dir / image.BASE, "raw"
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", str(backing), "-F", fmt, str(disk)],
                       check=True, capture_output=True)
        extra = ["-incoming", f"exec:{_decompress_cmd(snap / SNAP_STATE)}"] if snap else []
        for attempt in range(3):  # the picked port can be taken before qemu binds it
            self.ssh_port = _free_port()
            t0 = time.monotonic()
            with open(self.workdir / "qemu.log", "wb") as qlog:
                self.proc = subprocess.Popen(self._qemu_argv(disk) + extra, stdin=subprocess.DEVNULL,
                                             stdout=qlog, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
            try:
                if snap:
                    self._wait_resumed(t0, 120)
                self._wait_ssh(t0, 120 if snap else timeout)
                self.boot_seconds = time.monotonic() - t0
                return
            except GuestError:
                if "hostfwd" in _tail(self.workdir / "qemu.log") and attempt < 2:
                    self.proc.wait()
                    continue
                raise

    def _save(self, dest: Path) -> None:
        """Save the running guest's RAM and device state to dest/SNAP_STATE
        and its disk to dest/SNAP_DISK; the guest is stopped afterwards."""
        self._close_masters()   # no live ssh connection in the saved state
        q = QMP(self.workdir / "qmp.sock")
        try:
            q.execute("migrate", uri=f"exec:{_compress_cmd(dest / SNAP_STATE)}")
            while True:
                st = q.execute("query-migrate")
                if st.get("status") == "completed":
                    break
                if st.get("status") in ("failed", "cancelled"):
                    raise GuestError(f"migrate to {dest}: {st}")
                time.sleep(0.2)
            q.execute("quit")
        finally:
            q.close()
        self.proc.wait(30)
        deadline = time.monotonic() + 300
        while not (dest / SNAP_STATE).exists():
            if time.monotonic() > deadline:
                raise GuestError(f"the compressed guest state never appeared in {dest}")
            time.sleep(0.1)
        os.rename(self.workdir / "overlay.qcow2", dest / SNAP_DISK)

    def _wait_resumed(self, t0: float, timeout: float) -> None:
        """Until the incoming state is loaded and the guest runs again (an ssh
        attempt before that only stalls until its ConnectTimeout)."""
        try:
            q = QMP(self.workdir / "qmp.sock", timeout=timeout)
        except QMPError as e:
            raise GuestError(f"{e}; qemu: {_tail(self.workdir / 'qemu.log')}") from None
        try:
            while q.execute("query-status").get("status") != "running":
                if self.proc.poll() is not None or time.monotonic() - t0 > timeout:
                    raise GuestError(f"snapshot did not resume: {_tail(self.workdir / 'qemu.log')}")
                time.sleep(0.1)
        except QMPError as e:
            raise GuestError(f"snapshot did not resume: {e}; {_tail(self.workdir / 'qemu.log')}") from None
        finally:
            q.close()

    def _wait_ssh(self, t0: float, timeout: float) -> None:
        # qemu's forward accepts at once; only a finished login proves sshd,
        # PAM and the user's systemd are there.
        while True:
            if self.proc.poll() is not None:
                raise GuestError(f"qemu exited {self.proc.returncode}: {_tail(self.workdir / 'qemu.log')}\n"
                                 f"serial console:\n{_tail(self.serial_log)}")
            try:
                res = subprocess.run(self._ssh_argv(image.USER, master=False) + ["true"], capture_output=True,
                                     stdin=subprocess.DEVNULL, timeout=60)
            except subprocess.TimeoutExpired as e:  # a login stalled (a loaded host): try again
                res = subprocess.CompletedProcess(e.cmd, 255, b"", b"login timed out after 60s")
            if res.returncode == 0:
                return
            if time.monotonic() - t0 > timeout:
                raise GuestError(f"no ssh login after {timeout:.0f}s (last: {res.stderr.decode().strip()})\n"
                                 f"serial console:\n{_tail(self.serial_log)}")
            time.sleep(0.5)

    def forward_registry(self, host: int | str) -> str:
        """Relay the guest's REGISTRY_ADDR:REGISTRY_PORT to a host loopback port
        (`5000` or `"127.0.0.1:5000"`); returns the address the guest uses."""
        target = str(host) if ":" in str(host) else f"127.0.0.1:{host}"
        h, _, port = target.rpartition(":")
        if h not in ("127.0.0.1", "localhost"):
            raise ValueError(f"only host loopback is forwarded, not {target}")
        tmp = self.registry_target.with_suffix(".tmp")
        tmp.write_text(f"127.0.0.1 {int(port)}\n")
        tmp.rename(self.registry_target)
        self.registry = f"{REGISTRY_ADDR}:{REGISTRY_PORT}"
        return self.registry

    def close(self) -> None:
        """Stop the guest at once (its disk is a throw-away overlay) and clean up."""
        self._close_masters()
        if self.proc and self.proc.poll() is None:
            try:
                q = QMP(self.workdir / "qmp.sock", timeout=5)
                q.execute("quit")
                q.close()
            except (OSError, QMPError):
                pass
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> "Guest":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _close_masters(self) -> None:
        for user in sorted(self._masters):
            argv = self._ssh_argv(user)
            subprocess.run(argv[:-1] + ["-O", "exit", argv[-1]], capture_output=True, timeout=10)
        self._masters.clear()

    # ---- commands -----------------------------------------------------------------------
    def _ssh_argv(self, user: str, master: bool = True) -> list[str]:
        argv = ["ssh", "-F", "/dev/null", "-p", str(self.ssh_port), "-i", str(self.image_dir / image.KEY),
                "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                "-o", "LogLevel=ERROR", "-o", "BatchMode=yes", "-o", "ConnectTimeout=5",
                "-o", "ServerAliveInterval=15", "-o", "ServerAliveCountMax=8"]
        if master:  # one connection per user: later commands skip the handshake and PAM
            argv += ["-o", "ControlMaster=auto", "-o", f"ControlPath={self.workdir}/ssh-{user}",
                     "-o", "ControlPersist=yes"]
            self._masters.add(user)
        return argv + [f"{user}@127.0.0.1"]

    def run(self, cmd: str | list[str], user: str = image.USER, *, input: str | bytes | None = None,
            check: bool = False, timeout: float = 600, text: bool = True) -> subprocess.CompletedProcess:
        """Run `cmd` in the guest as `user` (a string goes to the login shell)."""
        remote = cmd if isinstance(cmd, str) else shlex.join(cmd)
        if isinstance(input, bytes):
            text = False
        res = subprocess.run(self._ssh_argv(user) + ["--", remote], input=input, capture_output=True,
                             text=text, timeout=timeout,
                             stdin=subprocess.DEVNULL if input is None else None)
        if check and res.returncode != 0:
            raise GuestError(f"guest ({user}): {remote} -> {res.returncode}\nstdout: {res.stdout}\n"
                             f"stderr: {res.stderr}")
        return res

    def copy_in(self, path: Path, dest: str | None = None, user: str = image.USER,
                exclude: tuple[str, ...] = (".git", "__pycache__", ".pytest_cache", "*.egg-info", ".venv"),
                timeout: float = 600) -> str:
        """Copy a host file or directory into the guest (tar over ssh), owned by
        `user`; `dest` relative to the user's home. Returns the guest path."""
        path = Path(path).resolve()
        dest = dest or path.name
        tar = subprocess.Popen(["tar", "-C", str(path.parent), *(f"--exclude={e}" for e in exclude),
                                "-cf", "-", "--transform", f"s,^{path.name},{dest},", path.name],
                               stdout=subprocess.PIPE)
        try:
            q = shlex.quote(dest)
            remote = f'rm -rf {q} && mkdir -p "$(dirname {q})" && tar -xf - && cd {q} 2>/dev/null; pwd'
            res = subprocess.run(self._ssh_argv(user) + ["--", remote], stdin=tar.stdout, capture_output=True,
                                 text=True, timeout=timeout)
        finally:
            tar.stdout.close()
            tar.wait()
        if res.returncode or tar.returncode:
            raise GuestError(f"copy of {path} into the guest failed: {res.stderr.strip()}")
        return res.stdout.strip() if path.is_dir() else res.stdout.strip() + "/" + dest


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.vm.guest", description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", action="store_true",
                    help="build (or find) the cached image, its booted snapshot and the guest's Python packages")
    ap.add_argument("--shell", action="store_true", help="boot a guest and open a shell in it")
    ap.add_argument("--user", default=image.USER)
    args = ap.parse_args(argv)
    if args.build:  # everything a test session reuses: image, booted snapshot, rl's dependencies
        from tests.vm import pyenv
        t0 = time.monotonic()
        d = image.ensure()
        if not missing_tools():
            ensure_snapshot(d, 600)
        pyenv.site_packages()
        print(f"{d} ready in {time.monotonic() - t0:.1f}s")
        return 0
    if args.shell:
        with Guest.boot() as g:
            return subprocess.call(g._ssh_argv(args.user, master=False))
    ap.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
