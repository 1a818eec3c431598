"""Security, issue 11 item 4: the rootfs a container is built in cannot
steer rl's mounts or its view of the kernel.

- An image whose /proc, /sys or /dev is a symlink (or not a directory) is
  refused before anything is mounted (runc after CVE-2019-16884 and
  CVE-2019-19921): with /proc -> /some/host/dir, rl used to mount procfs
  inside the rootfs but apply the masks (tmpfs on /proc/kcore, read-only
  /proc/sys...) through the symlink, onto the host path, leaving the
  container's real procfs unmasked.
- Masked paths are opened under the fd of the procfs rl mounted, never
  through a symlink.
- The capability range and the fds to close come from the kernel, not from
  a file in the container's /proc (which a volume can cover).

The hostile root filesystems are made here with plain file copies (a shell
and libc from the test rootfs) and run with `rl run --rootfs DIR`."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


pytestmark = [pytest.mark.userns, pytest.mark.fuse]

DEFAULT_CAPS = ("CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "NET_BIND_SERVICE", "SETFCAP",
                "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT")
CAP_NUM = {"CHOWN": 0, "DAC_OVERRIDE": 1, "FOWNER": 3, "FSETID": 4, "KILL": 5, "SETGID": 6, "SETUID": 7,
           "SETPCAP": 8, "NET_BIND_SERVICE": 10, "SYS_CHROOT": 18, "SETFCAP": 31}
DEFAULT_MASK = sum(1 << CAP_NUM[n] for n in DEFAULT_CAPS)



def mini_rootfs(dest: Path, full: str) -> Path:
    """A runnable rootfs of a few files copied from `full` (dash, cat, sleep,
    the dynamic loader and libc), with the usual top-level directories; the
    caller then plants what it wants."""
    src = Path(full)
    dest.mkdir()
    for name in ("bin", "lib", "lib64", "sbin"):  # merged /usr: top-level symlinks
        p = src / name
        if p.is_symlink():
            (dest / name).symlink_to(os.readlink(p))
    for d in ("usr/bin", "etc", "tmp", "proc", "sys", "dev", "root"):
        (dest / d).mkdir(parents=True, exist_ok=True)
    for tool in ("dash", "cat", "sleep", "ls"):
        shutil.copy2(src / "usr/bin" / tool, dest / "usr/bin" / tool)
    (dest / "usr/bin/sh").symlink_to("dash")
    for f in ("etc/passwd", "etc/group"):
        shutil.copy2(src / f, dest / f)
    libs = ["libc.so.6", "libselinux.so.1", "libpcre2-8.so.0"]  # ls wants the last two
    for libdir in (src / "usr/lib").glob("*-linux-gnu"):
        rel = libdir.relative_to(src)
        (dest / rel).mkdir(parents=True, exist_ok=True)
        for entry in libdir.iterdir():
            if entry.name.startswith("ld-linux") or entry.name in libs:
                shutil.copy2(entry, dest / rel / entry.name)  # the file, not a symlink into `full`
    for loader_dir in ("usr/lib64", "usr/lib"):
        d = src / loader_dir
        if d.is_dir():
            (dest / loader_dir).mkdir(parents=True, exist_ok=True)
            for entry in d.iterdir():
                if entry.name.startswith("ld-linux") and entry.is_symlink():
                    (dest / loader_dir / entry.name).symlink_to(os.readlink(entry))
    return dest


def one_line_error(res) -> str:
    assert res.returncode == 125, f"exit {res.returncode}\nstdout: {res.stdout}\nstderr: {res.stderr}"
    assert "Traceback" not in res.stderr, res.stderr
    first = res.stderr.splitlines()[0]
    assert first.startswith("Error: "), res.stderr
    return first


def test_mini_rootfs_runs(rl, rootfs, tmp_path):
    """The plain copy works: what the tests below refuse is the planted part."""
    mini = mini_rootfs(tmp_path / "mini", rootfs)
    res = rl.run("run", "--rm", "--network", "none", "--rootfs", str(mini), "sh", "-c",
                 "cat /proc/self/status >/dev/null && echo ok")
    assert (res.returncode, res.stdout) == (0, "ok\n"), res


@pytest.mark.parametrize("name", ["proc", "sys", "dev"])
@pytest.mark.parametrize("link", ["host", "../../..", "relative"])
def test_rootfs_with_symlinked_proc_refused(rl, rootfs, tmp_path, name, link):
    mini = mini_rootfs(tmp_path / "mini", rootfs)
    host = tmp_path / f"host-{name}"  # a host directory the image names (its path is easy to guess)
    (host / "sys").mkdir(parents=True)
    (host / "kcore").write_text("host file\n")
    target = {"host": str(host), "../../..": "../../..", "relative": "tmp/elsewhere"}[link]
    (mini / name).rmdir()
    (mini / name).symlink_to(target)
    (mini / "tmp/elsewhere").mkdir()
    res = rl.run("run", "--rm", "--network", "none", "--rootfs", str(mini), "sh", "-c", "echo ran")
    first = one_line_error(res)
    assert f"/{name} is a symlink (to {target}), not a directory: refused" in first, res.stderr
    assert "ran" not in res.stdout
    assert "hint: " in res.stderr
    # nothing created on the host path or in the image's copy
    assert sorted(p.name for p in host.iterdir()) == ["kcore", "sys"]
    assert (host / "kcore").read_text() == "host file\n" and not any((host / "sys").iterdir())
    assert not any((mini / "tmp/elsewhere").iterdir())


@pytest.mark.parametrize("name", ["proc", "sys", "dev"])
def test_rootfs_with_proc_not_a_directory_refused(rl, rootfs, tmp_path, name):
    mini = mini_rootfs(tmp_path / "mini", rootfs)
    (mini / name).rmdir()
    (mini / name).write_text("not a directory\n")
    res = rl.run("run", "--rm", "--network", "none", "--rootfs", str(mini), "sh", "-c", "echo ran")
    first = one_line_error(res)
    assert f"/{name} is a file, not a directory: refused" in first, res.stderr


def test_masked_path_symlink_not_followed(rl, rootfs, tmp_path):
    """The masks went through the image's /proc symlink to the host path:
    the container's own procfs stayed unmasked (kernel timers, kcore, a
    writable /proc/sys). Now the image is refused; and were it run, the
    masked files would read empty."""
    mini = mini_rootfs(tmp_path / "mini", rootfs)
    host = tmp_path / "hostproc"
    for d in ("sys", "acpi", "bus", "fs", "irq", "scsi"):
        (host / d).mkdir(parents=True)
    for f in ("kcore", "keys", "timer_list", "sched_debug", "interrupts", "sysrq-trigger"):
        (host / f).write_text("")
    (mini / "proc").rmdir()
    (mini / "proc").symlink_to(str(host))
    script = ("n=0; while IFS= read -r l; do n=$((n+1)); done < /proc/timer_list; echo timer_list=$n; "
              "if (echo 1 > /proc/sys/kernel/shm_rmid_forced) 2>/dev/null; then echo sys=writable; fi")
    res = rl.run("run", "--rm", "--network", "none", "--rootfs", str(mini), "sh", "-c", script)
    assert "sys=writable" not in res.stdout and "timer_list=0" in res.stdout or res.returncode == 125, (
        f"masks bypassed: {res.stdout}")
    one_line_error(res)
    assert not any((host / "acpi").iterdir())


def test_masked_path_lookup_refuses_a_symlink(tmp_path):
    """The lookup masks go through, on a directory standing for /proc: a
    symlink at a masked path (or on the way to one) is refused, never
    followed to where it points."""
    from rootless.runtime import mounts
    base = tmp_path / "proc"
    (base / "devices").mkdir(parents=True)
    outside = tmp_path / "host"
    (outside / "virtual" / "powercap").mkdir(parents=True)
    (base / "kcore").symlink_to(str(outside))
    (base / "devices" / "virtual").symlink_to(str(outside / "virtual"))
    (base / "keys").write_text("")
    fd = os.open(base, os.O_PATH | os.O_DIRECTORY)
    try:
        for rel in ("kcore", "devices/virtual/powercap"):
            with pytest.raises(mounts.UnsafeRootfs, match="is a symlink"):
                mounts._open_under(fd, rel, "/proc/" + rel)
        assert mounts._open_under(fd, "acpi", "/proc/acpi") is None
        got = mounts._open_under(fd, "keys", "/proc/keys")
        assert os.readlink(f"/proc/self/fd/{got}") == str(base / "keys")
        os.close(got)
    finally:
        os.close(fd)


def test_cap_last_cap_not_read_from_container(rl, rootfs, tmp_path):
    """rl read /proc/sys/kernel/cap_last_cap after pivot_root, from the
    container's /proc, and dropped only capabilities up to that number: a
    volume covering /proc/sys/kernel (written by another container) saying
    "5" left CAP_SYS_ADMIN and every capability above 5 in the bounding set."""
    fake = tmp_path / "kernel"
    fake.mkdir()
    (fake / "cap_last_cap").write_text("5\n")
    res = rl.run("run", "--rm", "--network", "none", "-v", f"{fake}:/proc/sys/kernel", "--rootfs", rootfs,
                 "sh", "-c", "cat /proc/sys/kernel/cap_last_cap; grep CapBnd /proc/self/status")
    assert res.returncode == 0, res
    lines = res.stdout.splitlines()
    assert lines[0] == "5", res.stdout  # the container does see the planted file
    assert int(lines[1].split()[1], 16) == DEFAULT_MASK, res.stdout


def test_inherited_fd_not_left_open_when_proc_lies(rl, rootfs, tmp_path):
    """An fd rl's caller leaves open must not reach the container even when
    the container's /proc/1/fd (rl's PID 1 listed its own fds there after
    pivot_root) is covered by a directory that lists only 0, 1 and 2."""
    fakefd = tmp_path / "fd"
    fakefd.mkdir()
    for n in "012":
        (fakefd / n).write_text("")
    secret = tmp_path / "secret"
    secret.write_text("HOST-SECRET\n")
    # a shell opens the secret as fd 7 and execs rl: rl's caller left it open
    res = subprocess.run(["sh", "-c", 'exec 7<"$0"; exec "$@"', str(secret), sys.executable, "-m", "rootless",
                          "run", "--rm", "--network", "none", "-v", f"{fakefd}:/proc/1/fd", "--rootfs", rootfs,
                          "sh", "-c", "cat <&7; echo rc=$?"],
                         env=rl.env, capture_output=True, text=True, timeout=300)
    if res.returncode == 125 and "/proc/1/fd" in res.stderr:
        pytest.skip(f"the kernel refuses a mount on /proc/1/fd here: {res.stderr.strip()}")
    assert "HOST-SECRET" not in res.stdout, res
    assert res.returncode == 0 and re.search(r"rc=[1-9]", res.stdout), res

