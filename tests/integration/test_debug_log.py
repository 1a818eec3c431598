"""`--log-level debug`: each external command rl runs (its argv) and each
namespace step, on rl's stderr; never in the container's own output
streams (what the command writes, what `rl logs` returns), never the
environment's values; and none of it at the default level."""

from __future__ import annotations

import socket

import pytest

pytestmark = [pytest.mark.registry, pytest.mark.userns, pytest.mark.fuse, pytest.mark.slirp4netns]

IMG = "debian:bookworm"
SECRET = "s3cr3t-value-never-logged"
HOST_SECRET = "host-env-value-never-logged"
CMD = ("sh", "-c", "echo out; echo err >&2")

# what a run must show at debug (a piece of each line)
RUN_STEPS = (
    "running /usr/bin/newuidmap ",       # the uid map, with its argv
    "running /usr/bin/newgidmap ",
    "unshare namespaces: user",           # the namespace side's own user namespace
    "unshare namespaces: mount",
    "unshare namespaces: pid, network, uts, ipc, cgroup",
    "fuse-overlayfs -f -o lowerdir=",     # the rootfs mount, its argv
    "slirp4netns",                        # the network helper
    "rootfs mount: proc on /proc",        # the container's mounts
    "pivot_root into ",
    "exec /usr/bin/sh -c 'echo out; echo err >&2'",  # the command, argv only
)


def _debug_lines(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if ln.startswith("level=debug")]


def _assert_steps(stderr: str, steps) -> None:
    debug = "\n".join(_debug_lines(stderr))
    missing = [s for s in steps if s not in debug]
    assert not missing, f"not logged: {missing}\n--- stderr ---\n{stderr}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def rld(rlr):
    assert rlr.run("pull", "-q", IMG).returncode == 0
    rlr.env["RL_TEST_HOST_SECRET"] = HOST_SECRET
    yield rlr
    rlr.run("rm", "-f", "--all", "-t", "0", timeout=120)


def test_debug_names_every_command_and_namespace_step_and_the_output_is_the_containers(rld):
    res = rld.run("--log-level", "debug", "run", "--rm", "-e", f"SECRET={SECRET}", IMG, *CMD)
    assert res.returncode == 0, res.stderr
    assert res.stdout == "out\n"  # not one debug line in the container's stdout
    _assert_steps(res.stderr, RUN_STEPS)
    # the container's stderr line arrives whole, as its own line
    assert "err" in res.stderr.splitlines()
    assert SECRET not in res.stderr and HOST_SECRET not in res.stderr

    # the default level (warn): the same run prints none of it
    res = rld.run("run", "--rm", "-e", f"SECRET={SECRET}", IMG, *CMD)
    assert res.returncode == 0, res.stderr
    assert res.stdout == "out\n"
    assert res.stderr.splitlines() == ["err"], res.stderr


def test_debug_never_reaches_the_containers_log(rld):
    """The namespace side and PID 1 log before the command runs, with the
    container's pipes as their fds 1 and 2 already: the lines go to rl's
    stderr, so what the container wrote is all its log holds."""
    res = rld.run("--log-level", "debug", "run", "--name", "fg", IMG, *CMD)
    assert res.returncode == 0, res.stderr
    _assert_steps(res.stderr, ("pivot_root into ", "fuse-overlayfs -f -o"))
    logs = rld.run("logs", "fg")
    assert (logs.stdout, logs.stderr) == ("out\n", "err\n")

    # detached: the monitor's namespace side logs where the monitor does, not into ctr.log
    res = rld.run("--log-level", "debug", "run", "-d", "--name", "bg", IMG, *CMD)
    assert res.returncode == 0, res.stderr
    assert rld.run("wait", "bg").stdout.strip() == "0"
    logs = rld.run("logs", "bg")
    assert (logs.stdout, logs.stderr) == ("out\n", "err\n")


def test_debug_with_published_ports_names_slirp4netns_and_its_port_requests(rld):
    port = _free_port()
    res = rld.run("--log-level", "debug", "run", "--rm", "-p", f"127.0.0.1:{port}:80", IMG, "true")
    assert res.returncode == 0, res.stderr
    assert res.stdout == ""
    _assert_steps(res.stderr, ("running /usr/bin/newuidmap ", "fuse-overlayfs -f -o",
                               "running /usr/bin/slirp4netns --configure ", "--api-socket=",
                               f'"add_hostfwd", "arguments": {{"proto": "tcp", "host_addr": "127.0.0.1", '
                               f'"host_port": {port}', "unshare namespaces: pid", "pivot_root into "))
    res = rld.run("run", "--rm", "-p", f"127.0.0.1:{port}:80", IMG, "true")
    assert res.returncode == 0 and res.stderr == "", res.stderr


def test_debug_exec_names_each_namespace_it_joins(rld):
    assert rld.run("run", "-d", "--name", "ex", IMG, "sleep", "600").returncode == 0
    res = rld.run("--log-level", "debug", "exec", "-e", f"SECRET={SECRET}", "ex", "sh", "-c", "echo out; echo err >&2")
    assert res.returncode == 0, res.stderr
    assert res.stdout == "out\n"
    _assert_steps(res.stderr, ("setns into the user namespace", "setns into the mount namespace",
                               "setns into the pid namespace", "exec helper started: pid ",
                               "exec /usr/bin/sh -c 'echo out; echo err >&2'"))
    assert "err" in res.stderr.splitlines()
    assert SECRET not in res.stderr and HOST_SECRET not in res.stderr
    res = rld.run("exec", "ex", "sh", "-c", "echo out; echo err >&2")
    assert (res.returncode, res.stdout, res.stderr) == (0, "out\n", "err\n")
