"""rl-monitor (rootless/libexec/rl-monitor.c) on its own: a real compiled
binary, a real child process and pipes, no container. What it writes must
be what rl's Python log reader expects (the k8s-file format), its exit
command must get the child's status, signals must reach the child."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from rootless import tools
from rootless.containers import logs

# A parent that forks the "container" (writes CHUNKS to its stdout pipe with
# pauses, then exits with CODE or waits for a signal), and execs rl-monitor
# over itself, as the detached monitor does.
DRIVER = textwrap.dedent("""
    import os, sys, time, json, signal
    monitor, log, status, max_size, chunks, code = sys.argv[1:7]
    chunks, code = json.loads(chunks), int(code)
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    go_r, go_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(out_r); os.close(err_r); os.close(go_w)
        os.read(go_r, 1)  # the monitor is in place
        for stream, text in chunks:
            os.write(out_w if stream == "stdout" else err_w, text.encode())
            time.sleep(0.05)
        if code < 0:
            signal.pause()
        if os.fork() == 0:  # a straggler holding the pipes open after the "container" exited
            time.sleep(3)
            os._exit(0)
        os._exit(code)
    os.close(out_w); os.close(err_w); os.close(go_r)
    for fd in (out_r, err_r):
        os.set_inheritable(fd, True)
    # the child writes once rl-monitor reads (one read per chunk): a helper
    # releases it a moment after the exec
    if os.fork() == 0:
        time.sleep(0.3)
        os.write(go_w, b"1")
        os._exit(0)
    os.close(go_w)
    with open(status + ".pid", "w") as f:
        f.write(str(os.getpid()))
    # the exit command records its status argument and the fds it was given
    exit_cmd = ("import os, sys; fds = sorted(int(f) for f in os.listdir('/proc/self/fd'));"
                "open(sys.argv[1] + '.fds', 'w').write(' '.join(map(str, fds)));"
                "open(sys.argv[1], 'w').write(sys.argv[2])")
    os.execv(monitor, [monitor, "monitor", "--pid", str(pid), "--out", str(out_r), "--err", str(err_r),
                       "--log", log, "--log-max", max_size, "--exit-file", status + ".exit", "--",
                       sys.executable, "-c", exit_cmd, status])
""")


@pytest.fixture(scope="module")
def monitor_bin():
    if not (tools.find("cc") or tools.find("gcc")) and not os.environ.get("RL_MONITOR"):
        if os.environ.get("CI"):
            pytest.fail("no C compiler: helpers/setup-host installs gcc")
        pytest.skip("no C compiler to build rl-monitor")
    return tools.monitor()


def _drive(monitor_bin, tmp_path, chunks, code, max_size=0, timeout=20):
    import json
    log, status = str(tmp_path / "ctr.log"), str(tmp_path / "status")
    proc = subprocess.Popen([sys.executable, "-c", DRIVER, monitor_bin, log, status, str(max_size),
                             json.dumps(chunks), str(code)])
    return proc, log, status


def test_log_records_are_what_rl_logs_reads(monitor_bin, tmp_path):
    chunks = [("stdout", "one\ntwo\n"), ("stderr", "oops\n"), ("stdout", "part"), ("stdout", "ial\n"),
              ("stdout", "\n"), ("stdout", "x" * 70000 + "\n")]
    proc, log, status = _drive(monitor_bin, tmp_path, chunks, 3)
    assert proc.wait(timeout=20) == 0  # rl-monitor became the exit command, which exits 0
    assert open(status).read() == "3"
    assert open(status + ".exit").read() == "3\n"  # the exit file, written before the exit command ran
    # nothing of the container's streams is carried into the exit command: its
    # stdio, and the one fd listing /proc/self/fd opened
    assert [int(x) for x in open(status + ".fds").read().split()][:3] == [0, 1, 2]
    assert len(open(status + ".fds").read().split()) == 4
    entries = logs.read(log)
    out = logs.render([e for e in entries if e.stream == "stdout"])
    assert out == ("one\ntwo\npartial\n\n" + "x" * 70000 + "\n").encode()
    assert logs.render([e for e in entries if e.stream == "stderr"]) == b"oops\n"
    flags = [(e.text, e.partial) for e in entries if e.stream == "stdout"][:4]
    assert flags == [(b"one", False), (b"two", False), (b"part", True), (b"ial", False)]
    raw = open(log, "rb").read().split(b"\n")[0]
    stamp = raw.split(b" ")[0].decode()
    assert stamp.endswith("+00:00") and len(stamp.split(".")[1]) == len("123456789+00:00")
    assert abs(logs.parse_time(stamp) - os.path.getmtime(log)) < 60


def test_log_rotation_keeps_one_old_file(monitor_bin, tmp_path):
    chunks = [("stdout", f"line {i:03d} " + "y" * 40 + "\n") for i in range(30)]
    proc, log, status = _drive(monitor_bin, tmp_path, chunks, 0, max_size=600)
    assert proc.wait(timeout=30) == 0
    assert os.path.getsize(log) <= 600 and os.path.getsize(log + ".1") <= 600
    kept = [e.text for e in logs.read(log)]
    assert kept[-1].startswith(b"line 029")  # the newest lines are in the current file
    numbers = [int(t.split()[1]) for t in kept]
    assert numbers == list(range(numbers[0], 30))  # what is kept is contiguous, oldest dropped


def test_signals_reach_the_container_and_its_status_the_exit_command(monitor_bin, tmp_path):
    proc, log, status = _drive(monitor_bin, tmp_path, [("stdout", "up\n")], -1)
    import time
    deadline = time.monotonic() + 20
    while not (os.path.exists(log) and b"up" in open(log, "rb").read()):
        assert time.monotonic() < deadline, "the child never wrote"
        time.sleep(0.05)
    mon = int(open(status + ".pid").read())
    assert open(f"/proc/{mon}/comm").read().strip() == "rl-monitor"
    os.kill(mon, signal.SIGTERM)  # forwarded, as podman forwards to the container
    assert proc.wait(timeout=20) == 0
    assert open(status).read() == str(128 + signal.SIGTERM)


# --hold (the foreground `rl run -it`): the "container" prints and exits at
# once; rl-monitor reads nothing and does not act on the exit before the first
# attach client connects, or the hold pipe's writer (the CLI) goes away.
HOLD_DRIVER = textwrap.dedent("""
    import os, socket, sys, time
    monitor, base, hold = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
    out_r, out_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(out_r)
        os.write(out_w, b"early\\n")
        os._exit(5)
    os.close(out_w)
    hold_r, hold_w = os.pipe()
    holder = os.fork()
    if holder == 0:  # the CLI's end: held until this process is killed
        os.close(hold_r)
        __import__("signal").pause()
        os._exit(0)
    os.close(hold_w)
    lis = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)  # after the holder's fork: only rl-monitor has it
    lis.bind(base + ".sock")
    lis.listen(8)
    open(base + ".pids", "w").write(f"{pid} {holder}")
    for fd in (out_r, lis.fileno(), hold_r):
        os.set_inheritable(fd, True)
    args = [monitor, "monitor", "--pid", str(pid), "--out", str(out_r), "--attach", str(lis.fileno()),
            "--log", base + ".log", "--exit-file", base + ".exit"]
    if hold:
        args += ["--hold", str(hold_r)]
    os.execv(monitor, args + ["--", sys.executable, "-c", "pass"])
""")


def _hold_drive(monitor_bin, tmp_path, hold: bool):
    import time
    base = str(tmp_path / "m")
    proc = subprocess.Popen([sys.executable, "-c", HOLD_DRIVER, monitor_bin, base, "1" if hold else "0"])
    deadline = time.monotonic() + 20
    while not os.path.exists(base + ".pids"):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    time.sleep(0.1)
    child, holder = map(int, open(base + ".pids").read().split())
    while True:  # the "container" has exited (a zombie until rl-monitor reaps it)
        try:
            state = open(f"/proc/{child}/stat").read().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            break
        if state == "Z":
            break
        assert time.monotonic() < deadline
        time.sleep(0.02)
    return proc, base, holder


def _client_reads(path: str) -> bytes:
    import socket
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(20)
    try:
        s.connect(path)
    except OSError:
        return b""
    data = b""
    while True:
        chunk = s.recv(4096)
        if not chunk:
            return data
        data += chunk


def test_hold_keeps_output_and_exit_for_the_first_client(monitor_bin, tmp_path):
    import time
    proc, base, holder = _hold_drive(monitor_bin, tmp_path, hold=True)
    try:
        time.sleep(0.5)  # the container is gone; rl-monitor has had every chance to act
        assert not os.path.exists(base + ".exit")
        assert not os.path.exists(base + ".log") or os.path.getsize(base + ".log") == 0
        assert _client_reads(base + ".sock") == b"\x01\x00\x00\x00\x06early\n"  # framed: stdout, 6 bytes
        assert proc.wait(timeout=20) == 0
        assert open(base + ".exit").read() == "5\n"
        assert b"early" in open(base + ".log", "rb").read()  # logged too
    finally:
        os.kill(holder, signal.SIGKILL)
        proc.kill()


def test_hold_ends_when_the_holder_goes(monitor_bin, tmp_path):
    proc, base, holder = _hold_drive(monitor_bin, tmp_path, hold=True)
    try:
        assert not os.path.exists(base + ".exit")
        os.kill(holder, signal.SIGKILL)  # the CLI died before attaching: nothing waits forever
        assert proc.wait(timeout=20) == 0
        assert open(base + ".exit").read() == "5\n"
        assert b"early" in open(base + ".log", "rb").read()
    finally:
        proc.kill()


def test_without_hold_a_late_client_misses_the_output(monitor_bin, tmp_path):
    """What --hold is for: without it, output before the client is only logged."""
    proc, base, holder = _hold_drive(monitor_bin, tmp_path, hold=False)
    try:
        assert proc.wait(timeout=20) == 0
        assert b"early" in open(base + ".log", "rb").read()
        assert b"early" not in _client_reads(base + ".sock")
    finally:
        os.kill(holder, signal.SIGKILL)
