"""A container's umask and the files rl makes for it (issue 17).

A detached container used to inherit its monitor's private umask 077: its
processes ran with 0077 and /etc/hosts, /etc/resolv.conf, /etc/hostname were
created 0600, so no non-root process (apt's _apt, nginx's www-data, postgres)
could resolve a name. Podman gives every container umask 0022 (or --umask)
and 0644 files owned by the container's root. Each test runs the same
scenario under rootless podman where it is installed and compares."""

from __future__ import annotations

import os

import pytest

from tests.conftest import reclaim
from tests.fixture.podman import podman_or_none

pytestmark = [pytest.mark.registry, pytest.mark.userns, pytest.mark.fuse, pytest.mark.slirp4netns]

IMAGE = "debian:bookworm"
ETC = ("/etc/hosts", "/etc/resolv.conf", "/etc/hostname")


@pytest.fixture(scope="module")
def podman(registry, tmp_path_factory):
    base = tmp_path_factory.mktemp("podman-umask")
    p = podman_or_none(base, registry.registries_conf)
    if p is not None:
        p.pull(IMAGE)
    yield p
    if p is not None:
        p.close()
        reclaim(base)


@pytest.fixture
def rlr(rl, registry):
    rl.env.update(registry.env())
    rl.run("pull", "-q", IMAGE, check=True)
    yield rl
    rl.run("rm", "-f", "--all", timeout=120)


def both(rl, podman, *args, **kw):
    """Run `args` under rl and, where present, podman: {"rl": res, "podman": res}."""
    out = {"rl": rl.run(*args, **kw)}
    if podman is not None:
        out["podman"] = podman.run(*args, **kw)
    return out


def detached(tool, name: str, *args: str) -> None:
    res = tool.run("run", "-d", "--name", name, *args)
    assert res.returncode == 0, res.stderr
    res = tool.run("wait", name, timeout=120) if args[-1] != "infinity" else None
    assert res is None or res.stdout.strip() == "0", (res.stdout, res.stderr)


def compare(what: str, results: dict) -> None:
    """Print the comparison; assert rl's equals podman's."""
    for tool, value in results.items():
        print(f"[{what}] {tool}: {value!r}")
    if "podman" in results:
        assert results["rl"] == results["podman"], what
    else:
        print(f"[{what}] podman not installed: rl alone")


def tools(rl, podman):
    return {"rl": rl} if podman is None else {"rl": rl, "podman": podman}


def test_detached_container_umask_0022(rlr, podman):
    # PID 1's umask as the kernel reports it, and the mode of a file it
    # creates with 0666 through the rootfs (fuse-overlayfs's own umask must not bite)
    seen = {}
    for tool_name, tool in tools(rlr, podman).items():
        detached(tool, "um", IMAGE, "sh", "-c",
                 "grep Umask /proc/1/status; touch /tmp/made; mkdir /tmp/dir; stat -c '%a' /tmp/made /tmp/dir")
        seen[tool_name] = tool.run("logs", "um").stdout.split()
    compare("detached umask, file and dir modes", seen)
    assert seen["rl"] == ["Umask:", "0022", "644", "755"]


def test_foreground_container_umask_0022_whatever_the_callers(rlr, podman):
    seen = {}
    for tool_name, tool in tools(rlr, podman).items():
        res = tool.run("run", "--rm", IMAGE, "grep", "Umask", "/proc/self/status", preexec_fn=lambda: os.umask(0o077))
        assert res.returncode == 0, res.stderr
        seen[tool_name] = res.stdout.split()
    compare("foreground umask under a caller's 077", seen)
    assert seen["rl"] == ["Umask:", "0022"]


def test_foreground_container_root_dir_0755_whatever_the_callers_umask(rlr, podman):
    # a non-root user in a container started from a shell with umask 077
    # walks the rootfs. "/" itself: rl makes it 0755; podman's is 0555 here
    # (containers/storage's mode for a layer with no "./" entry): compared
    # is what nobody can do, not the write bit only root could use
    seen, modes = {}, {}
    for tool_name, tool in tools(rlr, podman).items():
        res = tool.run("run", "--rm", "--user", "nobody", IMAGE, "sh", "-c",
                       "stat -c %a / && ls / >/dev/null && head -c0 /etc/passwd && id -un",
                       preexec_fn=lambda: os.umask(0o077))
        out = res.stdout.split()
        seen[tool_name], modes[tool_name] = (res.returncode, out[1:]), out[:1]
    compare("nobody lists / and reads /etc/passwd, caller's umask 077", seen)
    print(f"[mode of /] {modes}")
    assert seen["rl"] == (0, ["nobody"]) and modes["rl"] == ["755"]


def test_etc_files_0644_in_detached_container(rlr, podman):
    seen = {}
    for tool_name, tool in tools(rlr, podman).items():
        detached(tool, "etc", "--hostname", "web1", IMAGE, "sleep", "infinity")
        res = tool.run("exec", "etc", "stat", "-c", "%a %u %g %n", *ETC)
        assert res.returncode == 0, res.stderr
        seen[tool_name] = res.stdout.splitlines()
    compare("/etc files: mode owner group", seen)
    assert seen["rl"] == [f"644 0 0 {p}" for p in ETC]


def test_umask_flag_0077_and_0002(rlr, podman):
    for mask, made in (("0077", "600 700"), ("0002", "664 775"), ("027", "640 750")):
        seen = {}
        for tool_name, tool in tools(rlr, podman).items():
            script = "grep Umask /proc/1/status; touch /tmp/f; mkdir /tmp/d; stat -c %a /tmp/f /tmp/d"
            fg = tool.run("run", "--rm", "--umask", mask, IMAGE, "sh", "-c", script)
            assert fg.returncode == 0, fg.stderr
            detached(tool, f"m{mask}", "--umask", mask, IMAGE, "sh", "-c", script)
            seen[tool_name] = (fg.stdout.split(), tool.run("logs", f"m{mask}").stdout.split())
        compare(f"--umask {mask}: foreground, detached", seen)
        expect = ["Umask:", mask.rjust(4, "0"), *made.split()]
        assert seen["rl"] == (expect, expect)


def test_umask_kept_by_start_and_generate(rlr):
    detached(rlr, "keep", "--umask", "0077", IMAGE, "grep", "Umask", "/proc/1/status")
    assert rlr.run("start", "keep").returncode == 0
    assert rlr.run("wait", "keep").stdout.strip() == "0"
    assert rlr.run("logs", "keep").stdout.split() == ["Umask:", "0077"] * 2
    unit = rlr.run("generate", "systemd", "--new", "keep", check=True).stdout
    assert "--umask 0077" in unit


def test_bad_umask_is_one_line_exit_125(rlr, podman):
    res = both(rlr, podman, "run", "--rm", "--umask", "0999", IMAGE, "true")
    compare("--umask 0999 exit status", {k: r.returncode for k, r in res.items()})
    r = res["rl"]
    assert r.returncode == 125
    first, *rest = r.stderr.strip().splitlines()  # rl's one error line, and its hint
    assert first.startswith("Error: invalid umask") and "Traceback" not in r.stderr
    assert [x for x in rest if not x.startswith("hint:")] == []
    assert rlr.run("ps", "-a", "-q").stdout.strip() == ""  # refused before anything was created


def test_non_root_process_in_detached_container_resolves_names(rlr, podman):
    # the container's own name through /etc/hosts, and the resolver config,
    # read by nobody: with 0600 files getent finds nothing and cat is denied
    seen = {}
    for tool_name, tool in tools(rlr, podman).items():
        detached(tool, "nobody", "--hostname", "web1", "--user", "nobody", IMAGE, "sh", "-c",
                 "getent hosts web1 >/dev/null && echo resolved; grep -c nameserver /etc/resolv.conf")
        seen[tool_name] = tool.run("logs", "nobody").stdout.split()
    compare("nobody: getent hosts web1, nameservers", seen)
    assert seen["rl"][0] == "resolved" and int(seen["rl"][1]) >= 1


def test_exec_runs_with_umask_0022_as_podmans(rlr, podman):
    seen = {}
    for tool_name, tool in tools(rlr, podman).items():
        detached(tool, "ex", "--umask", "0027", IMAGE, "sleep", "infinity")
        res = tool.run("exec", "ex", "grep", "Umask", "/proc/self/status", preexec_fn=lambda: os.umask(0o077))
        seen[tool_name] = res.stdout.split()
    compare("exec's umask in a --umask 0027 container", seen)
    assert seen["rl"] == ["Umask:", "0022"]  # podman's exec keeps 0022 whatever the container's --umask


def test_mount_point_parents_made_by_rl_are_0755_in_detached_container(rlr, podman):
    # -v onto a path the image lacks: rl creates /srv/a and /srv/a/b; a
    # service user must be able to walk down to its volume
    seen = {}
    for tool_name, tool in tools(rlr, podman).items():
        detached(tool, "mp", "-v", "mpvol:/srv/a/b/c", IMAGE, "stat", "-c", "%a %n", "/srv/a", "/srv/a/b")
        seen[tool_name] = tool.run("logs", "mp").stdout.splitlines()
    compare("mount point parents", seen)
    assert seen["rl"] == ["755 /srv/a", "755 /srv/a/b"]


def test_new_named_volume_0755_when_created_by_detached_container(rlr, podman):
    seen = {}
    for tool_name, tool in tools(rlr, podman).items():
        detached(tool, "nv", "-v", "nvvol:/srv/new", IMAGE, "stat", "-c", "%a %u %n", "/srv/new")
        seen[tool_name] = tool.run("logs", "nv").stdout.splitlines()
    compare("a new volume's directory", seen)
    assert seen["rl"] == ["755 0 /srv/new"]

