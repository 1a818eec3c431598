"""The rootless-netns keeper's control socket (network/keeperctl.py): a real
server in a forked process, a real pinner (a process in fresh user and
network namespaces), real SCM_RIGHTS, and a client of another uid that must
be turned away: as root, uid 65534; as the unprivileged user (CI), uid 1 of
a user namespace of the user's (a subordinate ID outside, as a container's
processes are)."""

from __future__ import annotations

import os
import time

import pytest

from rootless import linux
from rootless.network import keeperctl



def _pinner():
    """A process in its own user and network namespaces, paused: (pid, release fd)."""
    r, w = os.pipe()
    ready_r, ready_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(w)
            linux.unshare(linux.Clone.NEWUSER | linux.Clone.NEWNET)
            os.write(ready_w, b"x")
            os.read(r, 1)
        finally:
            os._exit(0)
    os.close(r)
    os.close(ready_w)
    assert os.read(ready_r, 1) == b"x"
    os.close(ready_r)
    return pid, w


def _handler(msg, fd):
    """Says where it ran, which fd it got, and what it was asked, as its 'error'."""
    if msg.get("ok"):
        return
    if msg.get("mark"):
        with open(msg["mark"], "w") as f:  # noqa: PTH123 - the test's own marker
            f.write("ran")
    got = os.readlink(f"/proc/self/fd/{fd}") if fd is not None else "-"
    raise RuntimeError(f"net={os.readlink('/proc/self/ns/net')} user={os.readlink('/proc/self/ns/user')} "
                       f"fd={got} op={msg.get('op')}")


@pytest.fixture
def keeper():
    # not under tmp_path, whose parents are 0700: the other-uid test must reach the socket itself
    import shutil
    import tempfile
    where = tempfile.mkdtemp(prefix="rl-keeperctl-")
    os.chmod(where, 0o755)
    pinner, release = _pinner()
    path = os.path.join(where, "ctl")
    done_r, done_w = os.pipe()
    server = os.fork()
    if server == 0:
        code = 1
        try:
            os.close(done_w)
            sock = keeperctl.listen(path)
            keeperctl.serve(sock, pinner, _handler, done_r)
            code = 0
        finally:
            os._exit(code)
    os.close(done_r)
    for _ in range(500):
        if os.path.exists(path):
            break
        time.sleep(0.01)
    state = {"reaped": False}
    yield path, pinner, server, done_w, state
    if not state["reaped"]:
        os.write(done_w, b"x")
        _, status = os.waitpid(server, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    os.close(done_w)
    os.close(release)
    os.waitpid(pinner, 0)
    shutil.rmtree(where)


def test_nobody_serving_is_none(tmp_path):
    assert keeperctl.ask(str(tmp_path / "ctl"), {"op": "x"}) is None


def test_socket_is_the_users_alone(keeper):
    path, *_ = keeper
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"


def test_request_runs_in_the_pinners_namespaces_with_the_fd(keeper, tmp_path):
    path, pinner, *_ = keeper
    assert keeperctl.ask(path, {"ok": True}) == ""
    sent = os.open(f"/proc/{pinner}/ns/net", os.O_RDONLY)
    try:
        answer = keeperctl.ask(path, {"op": "attach"}, sent)
    finally:
        os.close(sent)
    assert answer == (f"net={os.readlink(f'/proc/{pinner}/ns/net')} "
                      f"user={os.readlink(f'/proc/{pinner}/ns/user')} "
                      f"fd={os.readlink(f'/proc/{pinner}/ns/net')} op=attach")
    assert os.readlink(f"/proc/{pinner}/ns/net") != os.readlink("/proc/self/ns/net")


def test_requests_at_once_each_answered(keeper):
    path, *_ = keeper
    pids = []
    for i in range(8):
        pid = os.fork()
        if pid == 0:
            ok = keeperctl.ask(path, {"op": f"n{i}"}).endswith(f"op=n{i}")
            os._exit(0 if ok else 1)
        pids.append(pid)
    assert [os.waitstatus_to_exitcode(os.waitpid(p, 0)[1]) for p in pids] == [0] * 8


def test_not_json_object_is_refused_by_the_fork(keeper):
    path, *_ = keeper
    import socket
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as s:
        s.connect(path)
        s.sendall(b"[1, 2]")
        assert s.recv(1000) == b"the request is not an object"


def test_other_uid_is_turned_away_unserved(keeper):
    """A client of another uid (the directory's mode would stop it first;
    here the socket is opened to everyone to reach the keeper's own check)."""
    path, *_ = keeper
    os.chmod(path, 0o666)
    from pathlib import Path
    mark = Path(path).parent / "ran"
    r, w = os.pipe()

    def attack() -> int:
        os.write(w, repr(keeperctl.ask(path, {"op": "attack", "mark": str(mark)})).encode())
        return 0

    if os.geteuid() == 0:
        pid = os.fork()
        if pid == 0:
            try:
                os.close(r)
                os.setgid(65534)
                os.setuid(65534)
                attack()
            finally:
                os._exit(0)
    else:
        from rootless.runtime import userns

        def as_uid_1() -> int:
            os.setgid(1)
            os.setuid(1)  # inside: 1, outside: the user's first subordinate ID
            return attack()
        pid = userns.fork_userns(userns.user_mappings(), as_uid_1)
    os.close(w)
    with os.fdopen(r) as f:
        answer = f.read()
    os.waitpid(pid, 0)
    # closed unread: the client sees EOF, a reset or a broken pipe, depending on timing; never an answer
    assert answer in (repr("the rootless netns keeper closed the request unanswered"),
                      repr("the rootless netns keeper: Connection reset by peer"),
                      repr("the rootless netns keeper: Broken pipe"))
    assert not mark.exists()
    # and the keeper still serves its own user
    assert keeperctl.ask(path, {"ok": True}) == ""


def test_serve_ends_when_told_and_leaves_no_fork(keeper):
    path, _, server, done_w, state = keeper
    assert keeperctl.ask(path, {"ok": True}) == ""
    os.write(done_w, b"x")
    _, status = os.waitpid(server, 0)
    state["reaped"] = True
    assert os.waitstatus_to_exitcode(status) == 0  # its answering forks reaped, none left to wait for
    assert keeperctl.ask(path, {"ok": True}) is None  # nobody listens any more


def test_too_long_a_path_means_no_socket(tmp_path):
    long = tmp_path / ("d" * 120)
    assert keeperctl.listen(str(long)) is None
