"""issue 19 item 18: `rl top` ignored its format descriptors, showed users
by number and ELAPSED as `3.13s`. The same container through rl and podman:
the descriptors' headers and values compared (pids, names from the
container's /etc/passwd and /etc/group, states), durations in Go's form."""

from __future__ import annotations

import re

import pytest

from tests.integration.podman_own_run import podman, podman_own  # noqa: F401 - fixtures
from tests.podman import first_line_error, load_image

pytestmark = [pytest.mark.userns, pytest.mark.fuse, pytest.mark.registry]

GO_DURATION = re.compile(r"^(\d+h)?(\d+m)?\d+(\.\d+)?(s|ms|µs|ns)$")


@pytest.fixture
def both(rl, registry, podman_own):  # noqa: F811
    """The same two processes in each: PID 1 as root, and one exec'd as daemon."""
    rl.env.update(registry.env())
    img = load_image(podman_own, registry)
    assert rl.run("pull", "-q", "debian:bookworm").returncode == 0
    for run, image in ((rl.run, "debian:bookworm"), (podman_own.run, img)):
        res = run("run", "-d", "--name", "t", "--network", "none", image, "sleep", "600")
        assert res.returncode == 0, res.stderr
        assert run("exec", "-d", "-u", "daemon", "t", "sleep", "500").returncode == 0
    yield rl, podman_own
    rl.run("rm", "-f", "-t", "0", "t")
    podman_own.run("rm", "-f", "-t", "0", "t")


def _rows(out: str, n: int) -> tuple[list[str], list[list[str]]]:
    """Header and rows; an exec'd process's pid (2 in rl, higher under runc's
    exec) shows as EXEC wherever it appears (PID, PGID); the last column
    without podman's trailing blank."""
    lines = out.splitlines()
    head = re.split(r"\s{2,}|\t+", lines[0].strip())
    rows = [ln.split(None, n - 1) for ln in lines[1:]]
    if "PID" in head:
        at = head.index("PID")
        rows = [[("EXEC" if c == r[at] and r[at] != "1" else c) for c in r] for r in rows]
    return head, sorted([*r[:-1], r[-1].rstrip()] for r in rows)


def _until_two(run) -> None:
    import time
    for _ in range(200):
        if len(run("top", "t", "pid").stdout.splitlines()) == 3:
            return
        time.sleep(0.05)


DESCRIPTOR_SETS = [
    # args last: the one column with spaces
    ["user", "group", "pid", "ppid", "state", "nice", "tty", "seccomp", "comm", "args"],
    ["%U", "%G", "%p", "%P", "%n", "%y", "%c", "%a"],
    ["pid,ruser,rgroup,pgid,comm"],
]


@pytest.mark.parametrize("descs", DESCRIPTOR_SETS, ids=["names", "aix-codes", "comma-list"])
def test_top_descriptors_match_podman(both, descs):
    rl, podman = both
    n = sum(len(d.split(",")) for d in descs)
    seen = {}
    for tool, run in (("rl", rl.run), ("podman", podman.run)):
        _until_two(run)
        res = run("top", "t", *descs)
        assert res.returncode == 0, res.stderr
        seen[tool] = _rows(res.stdout, n)
    print(seen)
    assert seen["rl"] == seen["podman"]
    # user names, not numbers: the container's own passwd
    if "user" in descs:
        assert sorted(r[0] for r in seen["rl"][1]) == ["daemon", "root"]


def test_top_default_columns_and_durations_match_podman(both):
    rl, podman = both
    seen = {}
    for tool, run in (("rl", rl.run), ("podman", podman.run)):
        _until_two(run)
        res = run("top", "t")
        assert res.returncode == 0, res.stderr
        head, rows = _rows(res.stdout, 8)
        for r in rows:
            assert GO_DURATION.match(r[4]), (tool, r)          # ELAPSED, e.g. 2.345678901s
            assert GO_DURATION.match(r[6]), (tool, r)          # TIME, e.g. 0s
            assert re.fullmatch(r"\d+\.\d{3}", r[3]), (tool, r)  # %CPU
        seen[tool] = (head, [[r[0], r[1], r[2], r[5], r[7]] for r in rows])
    print(seen)
    assert seen["rl"] == seen["podman"]
    assert seen["rl"][0] == ["USER", "PID", "PPID", "%CPU", "ELAPSED", "TTY", "TIME", "COMMAND"]


def test_top_host_descriptors(both):
    """hpid is the host's pid of the same process; huser the host's user."""
    rl, podman = both
    res = rl.run("top", "t", "pid", "hpid", "huser", "args")
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    head, rows = lines[0].split(), [ln.split(None, 3) for ln in lines[1:]]
    assert head == ["PID", "HPID", "HUSER", "COMMAND"] and len(rows) == 2
    for pid, hpid, huser, args in rows:
        with open(f"/proc/{hpid}/cmdline", "rb") as f:
            assert f.read().replace(b"\0", b" ").decode().strip() == args
        with open(f"/proc/{hpid}/status") as f:
            nspid = [ln.split()[-1] for ln in f if ln.startswith("NSpid:")][0]
        assert nspid == pid


def test_top_unknown_descriptor_is_an_error_as_podman(both):
    rl, podman = both
    mine, theirs = rl.run("top", "t", "bogus"), podman.run("top", "t", "bogus")
    print(f"rl: {mine.returncode} {first_line_error(mine.stderr)!r}\n"
          f"podman: {theirs.returncode} {first_line_error(theirs.stderr)!r}")
    assert mine.returncode == theirs.returncode == 125
    assert "bogus" in first_line_error(mine.stderr) and "unknown descriptor" in mine.stderr
    assert "Traceback" not in mine.stderr


def test_top_names_never_read_through_an_image_symlink(rl, registry, tmp_path):
    """An image whose /etc/passwd is a symlink to a host path: the names are
    resolved inside the container's root, never from the host file."""
    rl.env.update(registry.env())
    host = tmp_path / "hostpasswd"
    host.write_text("HOSTSECRET:x:0:0::/:/bin/sh\n")
    res = rl.run("run", "-d", "--name", "s", "--network", "none", "debian:bookworm", "sh", "-c",
                 f"ln -sf {host} /etc/passwd && ln -sf {host} /etc/group && exec sleep 600")
    assert res.returncode == 0, res.stderr
    try:
        import time
        for _ in range(200):
            if rl.run("exec", "s", "test", "-L", "/etc/group").returncode == 0:
                break
            time.sleep(0.05)
        res = rl.run("top", "s", "user", "group", "args")
        assert res.returncode == 0, res.stderr
        assert "HOSTSECRET" not in res.stdout
        assert res.stdout.splitlines()[1].split()[:2] == ["0", "0"]  # no name inside its root: the number
    finally:
        rl.run("rm", "-f", "-t", "0", "s")
