"""Another local user against rl's runtime directory (issue 11 item 3), and
finding containers from a login without XDG_RUNTIME_DIR (issue 19 item 23).

Without a usable XDG_RUNTIME_DIR (su, sudo -u, cron, ssh without
pam_systemd) rl keeps its runtime state in TMPDIR/rl-UID. rl trusts what it
reads back there (container states, exit statuses, compiled seccomp filters),
so a directory another user created or can write, or a symlink in its place,
must be refused, and nothing in it read. Each attack is performed for real:
the second local user (RL_TEST_NOSUB_USER, reached with `sudo -n -u`) squats
the name in a shared sticky directory used as TMPDIR."""

from __future__ import annotations

import os
import platform
import shutil
import struct
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.integration.test_lifecycle import until
from tests.integration.test_system_check import _needs_env

pytestmark = [pytest.mark.userns, pytest.mark.fuse]

UID = os.getuid()
# mkdir, mkdirat: what the planted filter answers with EXDEV
MKDIR_NRS = {"x86_64": (83, 258), "aarch64": (34,)}.get(platform.machine())


def as_other(*cmd: str) -> subprocess.CompletedProcess:
    user = _needs_env("RL_TEST_NOSUB_USER")
    if not shutil.which("sudo"):
        pytest.fail("sudo is missing (helpers/setup-host --test-tools installs it)")
    return subprocess.run(["sudo", "-n", "-u", user, *cmd], capture_output=True, text=True, timeout=60, cwd="/")


@pytest.fixture
def shared():
    """A sticky world-writable directory, as /tmp (the test's own, so that
    nothing it leaves meets other tests): the fallback's TMPDIR."""
    d = Path(tempfile.mkdtemp(prefix="rl-shared-", dir="/tmp"))
    d.chmod(0o1777)
    yield d
    for sub in (f"rl-{UID}", "evil", "theirs/rl"):  # what a vulnerable rl wrote in the other user's directories
        for p in (d / sub).glob("*"):
            if p.is_dir() and not p.is_symlink() and p.lstat().st_uid == UID:
                shutil.rmtree(p, ignore_errors=True)
    theirs = [str(p) for p in d.iterdir() if p.lstat().st_uid != UID]
    if theirs:
        as_other("rm", "-rf", *theirs)
    shutil.rmtree(d, ignore_errors=True)


def fallback(tmpdir: Path) -> dict:
    """A login without XDG_RUNTIME_DIR whose TMPDIR is tmpdir."""
    return {"XDG_RUNTIME_DIR": "", "TMPDIR": str(tmpdir)}


def planted_filter() -> bytes:
    """A seccomp program that allows everything but mkdir, which fails with
    EXDEV: a container started under it shows the filter was loaded."""
    if MKDIR_NRS is None:
        pytest.skip(f"no syscall numbers for {platform.machine()} here")
    ins = [struct.pack("<HBBI", 0x20, 0, 0, 0)]  # ld [0]: the syscall number
    for i, nr in enumerate(MKDIR_NRS):
        ins.append(struct.pack("<HBBI", 0x15, len(MKDIR_NRS) - i, 0, nr))  # jeq nr -> errno
    ins.append(struct.pack("<HBBI", 0x06, 0, 0, 0x7FFF0000))  # ret ALLOW
    ins.append(struct.pack("<HBBI", 0x06, 0, 0, 0x00050000 | 18))  # ret ERRNO(EXDEV)
    return b"".join(ins)


def cache_name() -> str:
    """The name rl caches `rl run`'s default filter under."""
    from rootless.runtime import security
    caps, _ = security.resolve_caps([], [], False)
    return f"default-{security.PROFILE_VERSION}-{security.mask(caps):x}-{platform.machine()}.bpf"


def run_mkdir(rl, rootfs, env=None):  # noqa: F811
    return rl.run("run", "--rm", "--network", "none", "--rootfs", rootfs, "sh", "-c", "mkdir /probe && echo made",
                  env=env or {})


def assert_refused(res, *words):
    assert res.returncode == 125, (res.returncode, res.stdout, res.stderr)
    errors = [ln for ln in res.stderr.splitlines() if ln.startswith("Error:")]
    assert len(errors) == 1 and all(w in errors[0] for w in words), res.stderr
    assert "Traceback" not in res.stderr
    return errors[0]


def test_squatted_runtime_dir_refused(rl, rootfs, shared):  # noqa: F811
    """The other user creates TMPDIR/rl-UID first, world-writable, to read
    and feed rl's state: rl refuses it and writes nothing there."""
    squat = shared / f"rl-{UID}"
    assert as_other("mkdir", "-m", "0777", str(squat)).returncode == 0
    as_other("chmod", "0777", str(squat))
    for args in (["run", "--rm", "--network", "none", "--rootfs", rootfs, "true"],
                 ["create", "--network", "none", "--rootfs", rootfs, "true"]):
        res = rl.run(*args, env=fallback(shared))
        line = assert_refused(res, str(squat), "belongs to uid")
        assert "not to you" in line and "hint:" in res.stderr
        assert os.listdir(squat) == []
    assert rl.run("ps", "-a", "-q").stdout.strip() == ""  # nothing half-created


def test_planted_seccomp_cache_not_loaded(rl, rootfs, shared):  # noqa: F811
    """The other user squats the fallback with a seccomp cache holding their
    filter: a vulnerable rl would make it the container's seccomp filter."""
    squat = shared / f"rl-{UID}"
    plant = shared / "plant.bpf"
    plant.write_bytes(planted_filter())
    plant.chmod(0o644)
    script = (f"mkdir -m 0777 {squat} {squat}/seccomp && chmod 0777 {squat} {squat}/seccomp && "
              f"cp {plant} {squat}/seccomp/{cache_name()}")
    assert as_other("sh", "-c", script).returncode == 0
    res = run_mkdir(rl, rootfs, fallback(shared))
    assert "Invalid cross-device link" not in res.stderr, "the planted filter was loaded"
    assert_refused(res, str(squat))


def test_symlinked_seccomp_cache_not_followed(rl, rootfs, tmp_path):  # noqa: F811
    """A seccomp cache directory, or a cached filter, that is a symlink to
    elsewhere is never read: the dir is refused, the file compiled again."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / cache_name()).write_bytes(planted_filter())
    runroot = Path(rl.env["XDG_RUNTIME_DIR"]) / "rl"
    runroot.mkdir(mode=0o700)
    (runroot / "seccomp").symlink_to(elsewhere)
    res = run_mkdir(rl, rootfs)
    assert "Invalid cross-device link" not in res.stderr, "the filter behind the symlink was loaded"
    assert_refused(res, "seccomp cache", "symbolic link")

    (runroot / "seccomp").unlink()
    (runroot / "seccomp").mkdir(mode=0o700)
    cached = runroot / "seccomp" / cache_name()
    cached.symlink_to(elsewhere / cache_name())
    res = run_mkdir(rl, rootfs)
    assert res.returncode == 0 and res.stdout.strip() == "made", res.stderr
    assert cached.is_file() and not cached.is_symlink()  # compiled again, in place of the link
    assert (elsewhere / cache_name()).read_bytes() == planted_filter()  # never written through


@pytest.mark.parametrize("target", ["others", "mine"])
def test_symlinked_runtime_dir_refused(rl, rootfs, tmp_path, shared, target):  # noqa: F811
    """TMPDIR/rl-UID is a symlink to elsewhere (another user's directory, or
    one of the user's own): never followed."""
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir(mode=0o700)
    if target == "others":
        dest = shared / "evil"
        assert as_other("mkdir", "-m", "0777", str(dest)).returncode == 0
        as_other("chmod", "0777", str(dest))
    else:
        dest = tmp_path / "mine"
        dest.mkdir(mode=0o700)
    (tmpdir / f"rl-{UID}").symlink_to(dest)
    res = rl.run("run", "--rm", "--network", "none", "--rootfs", rootfs, "true", env=fallback(tmpdir))
    assert_refused(res, f"{tmpdir}/rl-{UID}", "symbolic link")
    assert os.listdir(dest) == []


def test_runtime_dir_writable_by_others_refused_readable_one_tightened(rl, rootfs, tmp_path):  # noqa: F811
    """The user's own fallback dir left world-writable: others may have
    planted files in it, so it is refused with the fix; one that others
    could only read is tightened to 0700 and used."""
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    tmpdir.chmod(0o755)  # enterable by everyone, as /tmp
    rundir = tmpdir / f"rl-{UID}"
    rundir.mkdir()
    rundir.chmod(0o777)
    res = rl.run("run", "--rm", "--network", "none", "--rootfs", rootfs, "true", env=fallback(tmpdir))
    assert_refused(res, str(rundir), "writable by other users")
    assert f"rm -rf {rundir}" in res.stderr  # the fix
    assert os.listdir(rundir) == []

    rundir.chmod(0o755)
    res = rl.run("run", "--rm", "--network", "none", "--rootfs", rootfs, "true", env=fallback(tmpdir))
    assert res.returncode == 0, res.stderr
    assert rundir.stat().st_mode & 0o777 == 0o700


def test_xdg_runtime_dir_of_another_user_not_used(rl, rootfs, shared):  # noqa: F811
    """XDG_RUNTIME_DIR naming a directory another user owns (and can fill,
    e.g. `su` kept theirs, or a shared path): not used, the fallback is,
    with a warning that says why."""
    theirs = shared / "theirs"
    assert as_other("mkdir", "-m", "0777", str(theirs), str(theirs / "rl")).returncode == 0
    as_other("chmod", "0777", str(theirs), str(theirs / "rl"))
    res = rl.run("run", "--rm", "--network", "none", "--rootfs", rootfs, "true",
                 env={"XDG_RUNTIME_DIR": str(theirs), "TMPDIR": str(shared)})
    assert res.returncode == 0, res.stderr
    assert "belongs to uid" in res.stderr and f"using {shared}/rl-{UID}" in res.stderr
    assert os.listdir(theirs / "rl") == []
    assert (shared / f"rl-{UID}").stat().st_mode & 0o777 == 0o700


def test_symlinked_state_file_not_followed(rl, rootfs, tmp_path):  # noqa: F811
    """A state.json that is a symlink (to a file claiming the container
    runs, owned by this very test process) is not read."""
    cid = rl.run("create", "--name", "c", "--network", "none", "--rootfs", rootfs, "true", check=True).stdout.strip()
    from rootless.containers.records import start_time
    fake = tmp_path / "fake-state.json"
    fake.write_text('{"state": "running", "monitor": %d, "monitor_start": %d, "pid": %d}'
                    % (os.getpid(), start_time(os.getpid()), os.getpid()))
    state = Path(rl.env["XDG_RUNTIME_DIR"]) / "rl" / "containers" / cid / "state.json"
    state.unlink()
    state.symlink_to(fake)
    out = rl.run("ps", "-a", "--format", "{{.Names}} {{.State}}", check=True).stdout.split()
    assert out == ["c", "created"], out
    rl.run("rm", "-f", "c", check=True)


# --- issue 19 item 23: one user's containers, from any kind of login -------------------


def test_running_container_found_from_a_login_without_xdg_runtime_dir(rlc, rootfs, tmp_path):  # noqa: F811
    """Started from a desktop session (XDG_RUNTIME_DIR set), then ps, exec,
    logs, stop from an ssh/su/cron login (unset): the same container, running;
    started again from there, the desktop session sees it too."""
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir(mode=0o700)
    fb = fallback(tmpdir)
    cid = rlc.run("run", "-d", "--name", "svc", "--network", "none", "--rootfs", rootfs, "sh", "-c",
                  "echo hello; exec sleep 600", check=True).stdout.strip()
    res = rlc.run("ps", "--format", "{{.Names}} {{.State}}", env=fb)
    assert res.returncode == 0 and res.stdout.split() == ["svc", "running"], res.stdout + res.stderr
    assert "XDG_RUNTIME_DIR" in res.stderr  # the fallback's warning, as podman's
    assert rlc.run("exec", "svc", "echo", "inside", env=fb).stdout.strip() == "inside"
    assert until(lambda: "hello" in rlc.run("logs", "svc", env=fb).stdout)
    assert rlc.run("stop", "-t", "1", "svc", env=fb).returncode == 0
    out = rlc.run("ps", "-a", "--format", "{{.Names}} {{.State}} {{.Status}}", check=True).stdout
    assert out.split()[:2] == ["svc", "exited"] and "(-1)" not in out, out

    # started again from the other login: its state lives there now, and the desktop session finds it
    assert rlc.run("start", "svc", env=fb).returncode == 0
    assert (tmpdir / f"rl-{UID}" / "containers" / cid / "state.json").is_file()
    out = rlc.run("ps", "--format", "{{.Names}} {{.State}}", check=True).stdout.split()
    assert out == ["svc", "running"], out
    assert rlc.run("exec", "svc", "echo", "again", check=True).stdout.strip() == "again"
    assert rlc.run("rm", "-f", "svc").returncode == 0
    assert not (tmpdir / f"rl-{UID}" / "containers" / cid).exists()


def test_container_started_by_an_older_rl_found_from_the_other_login(rlc, rootfs, tmp_path):  # noqa: F811
    """A container whose record does not say which runroot it uses (started
    before rl recorded it): found in the other runtime directory this user's
    rl keeps."""
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir(mode=0o700)
    fb = fallback(tmpdir)
    cid = rlc.run("run", "-d", "--name", "old", "--network", "none", "--rootfs", rootfs, "sleep", "600",
                  env=fb, check=True).stdout.strip()
    record = Path(rlc.env["XDG_DATA_HOME"]) / "rl" / "containers" / cid / "runroot"
    record.unlink(missing_ok=True)
    out = rlc.run("ps", "--format", "{{.Names}} {{.State}}", env={"TMPDIR": str(tmpdir)}, check=True).stdout.split()
    assert out == ["old", "running"], out
    assert rlc.run("stop", "-t", "1", "old", env={"TMPDIR": str(tmpdir)}).returncode == 0
