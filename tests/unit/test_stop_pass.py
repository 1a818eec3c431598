"""The pause a commit does without a cgroup freezer: SIGSTOP to every
process until each one is stopped. dash vforks each command; a shell
stopped between its vfork and the child's exec sleeps uninterruptibly (D)
until the stopped child execs, so a pass that waited for it to reach T
never ended (seen in CI: "processes [...] did not stop")."""

import os
import signal
import subprocess
import time

import pytest

from rootless.containers.stopall import pending_stop, signal_pass


def _tree(root: int) -> dict[int, str]:
    out, todo = {}, [root]
    while todo:
        pid = todo.pop()
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                out[pid] = f.read().rsplit(b")", 1)[1].split()[0].decode()
            for tid in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{tid}/children", "rb") as f:
                    todo += [int(c) for c in f.read().split()]
        except OSError:
            continue
    return out


def _stop_all(root: int) -> None:
    """SIGSTOP each process of the tree, pass after pass without a pause, until
    none runs: the quick passes often catch a vfork child before its exec."""
    deadline = time.monotonic() + 0.2  # a shell held in its vfork never stops: stop trying
    while time.monotonic() < deadline:
        running = [p for p, s in _tree(root).items() if s not in "TtZX"]
        if not running:
            return
        for pid in running:
            try:
                os.kill(pid, signal.SIGSTOP)
            except ProcessLookupError:
                pass
        time.sleep(0.0005)


def _continue_all(root: int) -> None:
    for pid in _tree(root):
        try:
            os.kill(pid, signal.SIGCONT)
        except ProcessLookupError:
            pass


@pytest.mark.skipif(not os.path.exists("/bin/dash"), reason="needs dash")
def test_a_shell_caught_in_vfork_counts_as_stopped_and_the_pass_ends():
    sh = subprocess.Popen(["/bin/dash", "-c", "while :; do /bin/true; done"])
    try:
        time.sleep(0.2)
        deadline = time.monotonic() + 60
        while True:
            assert time.monotonic() < deadline, "never caught the shell inside a vfork"
            _stop_all(sh.pid)
            states = _tree(sh.pid)
            if states[sh.pid] == "D" and "T" in states.values():
                break  # the shell waits for its stopped vfork child
            _continue_all(sh.pid)
        assert pending_stop(states) == {}
        signal_pass(lambda: _tree(sh.pid), signal.SIGSTOP, wait=True)  # returns: nothing is left to stop
        # a process that merely sleeps uninterruptibly is not taken for stopped
        _continue_all(sh.pid)
        assert pending_stop({sh.pid: "D"}) == {sh.pid: "D"}
        assert pending_stop({sh.pid: "S", 1: "T"}) == {sh.pid: "S"}
    finally:
        sh.send_signal(signal.SIGSTOP)  # a stopped shell forks no child the read below misses
        for pid in _tree(sh.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass  # a child that exited since the tree was read
        sh.wait()
