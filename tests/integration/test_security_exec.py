"""Issue 11, items 1 and 2: a container never reaches the terminal or the
environment of the user who runs rl, attacked for real as that user.

- class "terminal": `rl exec` (and `rl run`, and healthchecks) without -t
  run the container's process in its own session with pipes rl relays, so
  /dev/tty is ENXIO and there is no host terminal fd to ioctl (TIOCSTI,
  tcsetattr) inside; with -t the process gets its own pty.
- class "dumpable": no host process the container can see (the exec
  helper before it execs, rl's built-in --init) lets the container read its
  environment, fds or executable; nothing of rl's environment reaches the
  container.

The caller is run under a real pty (pty.fork: a controlling terminal, as a
user's shell has one), so the attacks below succeed against an rl that
leaks the terminal. The test image (a bookworm minbase) has sh, stty and
perl; perl does the ioctls."""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import sys
import time

import pytest


pytestmark = [pytest.mark.userns, pytest.mark.fuse]

SECRET = "RL_SECRET_TOKEN"

# Runs in the pty.fork child, whose controlling terminal is the pty: starts
# rl, then reports what the "user's shell" would find on its terminal
# afterwards: input queued behind its back (TIOCSTI) and its settings.
_AS_USER = r"""
import os, subprocess, sys, termios
before = termios.tcgetattr(0)
code = subprocess.call([sys.executable, "-m", "rootless", *sys.argv[1:]])
after = termios.tcgetattr(0)
raw = termios.tcgetattr(0)
raw[3] &= ~(termios.ICANON | termios.ECHO)
raw[6][termios.VMIN] = 0
raw[6][termios.VTIME] = 0
termios.tcsetattr(0, termios.TCSANOW, raw)
queued = os.read(0, 4096)
termios.tcsetattr(0, termios.TCSANOW, before)
print(f"\nRESULT code={code} settings_changed={before != after} queued={queued!r}", flush=True)
"""


def as_user_on_a_terminal(rl, *args: str, timeout: float = 120) -> tuple[int, str, str]:
    """rl ARGS from a process whose controlling terminal is a real pty.
    Returns (rl's exit status, what rl wrote to the terminal, the RESULT line)."""
    pid, fd = pty.fork()
    if pid == 0:
        try:
            os.chdir("/")
            os.execve(sys.executable, [sys.executable, "-c", _AS_USER, *args], rl.env)
        finally:
            os._exit(127)
    out = b""
    deadline = time.monotonic() + timeout
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"rl {' '.join(args)} still running; output {out!r}")
            if not select.select([fd], [], [], left)[0]:
                continue
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # EIO: every slave fd closed
                break
            if not chunk:
                break
            out += chunk
    finally:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.waitpid(pid, 0)
        os.close(fd)
    text = out.decode(errors="replace").replace("\r\n", "\n")
    result = [line for line in text.splitlines() if line.startswith("RESULT ")]
    assert result, text
    fields = dict(kv.split("=", 1) for kv in result[-1].split(" ", 3)[1:])
    return int(fields["code"]), text, result[-1]



@pytest.fixture
def rlc(rl):
    rl.env[SECRET] = "hunter2-from-the-host"  # what must never reach a container
    yield rl
    rl.run("rm", "-f", "--all", timeout=120)


def run_d(rl, rootfs, name, *cmd, extra=()):
    res = rl.run("run", "-d", "--name", name, "--network", "none", *extra, "--rootfs", rootfs, *cmd)
    assert res.returncode == 0, res.stderr
    return res.stdout.strip()


# what a process inside reports about its stdio and session
_PROBE = ("for fd in 0 1 2; do if [ -t $fd ]; then echo fd$fd=tty; else echo fd$fd=notty; fi; done; "
          "set -- $(cat /proc/$$/stat); echo pid=$1 sid=$6; "
          "if (exec 3<>/dev/tty) 2>/dev/null; then echo devtty=opened; else echo devtty=refused; fi; "
          "(exec 3<>/dev/tty) 2>&1 | sed 's/^/devtty-error=/'; echo probe-done")

# TIOCSTI (0x5412) of a whole command line on fds 0, 1, 2 and /dev/tty: on
# the user's terminal it would be read and run by the user's shell after rl
_INJECT = r"""
my @t = map { [$_, "fd$_"] } 0, 1, 2;
if (open(my $tty, "+<", "/dev/tty")) { push @t, [fileno($tty), "devtty", $tty] } else { print "open-devtty=$!\n" }
for my $t (@t) {
    my ($fd, $name) = @$t;
    my $h;
    unless (open($h, "<&=", $fd)) { print "$name=no-fd\n"; next }
    my $ok = 1;
    for my $c (split //, "echo INJECTED-$name\n") { $ok = ioctl($h, 0x5412, $c); last unless $ok }
    print "$name=", ($ok ? "injected" : "$!"), "\n";
}
print "inject-done\n";
"""


def test_exec_without_tty_cannot_open_host_terminal(rlc, rootfs):
    """rl exec without -t from a terminal: the process is in a session of its
    own (sid = its pid), its stdio are pipes, and /dev/tty is ENXIO, as with
    podman; -i relays stdin through a pipe too."""
    run_d(rlc, rootfs, "box", "sleep", "600")
    for flags in ((), ("-i",)):
        code, out, result = as_user_on_a_terminal(rlc, "exec", *flags, "box", "sh", "-c", _PROBE)
        assert code == 0 and "probe-done" in out, out
        assert "devtty=refused" in out and "No such device or address" in out, out
        assert "fd1=notty" in out and "fd2=notty" in out and "fd0=notty" in out, out
        pid_sid = next(line for line in out.splitlines() if line.startswith("pid="))
        pid, sid = (kv.split("=")[1] for kv in pid_sid.split())
        assert pid == sid, pid_sid  # setsid(): not the caller's session
        assert "settings_changed=False" in result and "queued=b''" in result, result
    # with -t: a pty of the container's own devpts, its controlling terminal
    code, out, _ = as_user_on_a_terminal(rlc, "exec", "-t", "box", "sh", "-c", "tty; " + _PROBE)
    assert code == 0 and "devtty=opened" in out and "fd1=tty" in out, out
    assert "/dev/pts/" in out, out


def test_exec_cannot_inject_into_host_terminal(rlc, rootfs):
    """The container tries TIOCSTI on every fd it got and on /dev/tty, and
    stty on its stdout: nothing lands in the user's terminal, whose settings
    are unchanged after rl exec."""
    run_d(rlc, rootfs, "box", "sleep", "600")
    code, out, result = as_user_on_a_terminal(
        rlc, "exec", "box", "sh", "-c", "stty -echo <&1 2>&1; perl -e '" + _INJECT.replace("'", "'\\''") + "'")
    assert code == 0 and "inject-done" in out, out
    assert "injected" not in out.replace("INJECTED", ""), out
    assert "INJECTED" not in result, result  # nothing queued on the user's terminal
    assert "settings_changed=False" in result, result


def test_healthcheck_exec_cannot_open_host_terminal(rlc, rootfs):
    """`rl healthcheck run` from a terminal runs the check like exec: in its
    own session, without the caller's terminal."""
    run_d(rlc, rootfs, "hc", "sleep", "600",
          extra=("--health-cmd", "! (exec 3<>/dev/tty) && ! [ -t 0 ] && ! [ -t 1 ] && ! [ -t 2 ]",
                 "--health-interval", "1h"))
    code, out, result = as_user_on_a_terminal(rlc, "healthcheck", "run", "hc")
    assert code == 0, out  # healthy: the check found no terminal
    assert "settings_changed=False" in result and "queued=b''" in result, result


def test_run_without_tty_gets_pipes_not_the_host_terminal(rlc, rootfs):
    """rl run without -t, in the foreground on a terminal: the container gets
    pipes (as podman's conmon gives it), so it can neither inject input nor
    change the user's terminal settings, which outlive the container."""
    code, out, result = as_user_on_a_terminal(
        rlc, "run", "--rm", "--network", "none", "--rootfs", rootfs, "sh", "-c",
        _PROBE + "; stty -echo <&1 2>&1; stty -echo <&2 2>&1; perl -e '" + _INJECT.replace("'", "'\\''") + "'")
    assert code == 0 and "probe-done" in out and "inject-done" in out, out
    assert "fd1=notty" in out and "fd2=notty" in out and "devtty=refused" in out, out
    assert "injected" not in out.replace("INJECTED", ""), out
    assert "INJECTED" not in result and "settings_changed=False" in result, result
    # -i: the user's input reaches the container through rl, not as the terminal itself
    code, out, result = as_user_on_a_terminal(
        rlc, "run", "--rm", "-i", "--network", "none", "--rootfs", rootfs, "sh", "-c",
        _PROBE + "; stty -echo 2>&1; exit 3")
    assert code == 3 and "fd0=notty" in out and "fd1=notty" in out, out
    assert "settings_changed=False" in result, result


# Inside the container, with CAP_SYS_PTRACE (a debugging set-up): stop every
# new process the moment it shows up and read what /proc shows of it. The
# exec helper (rl's Python, between fork and execve) is among them.
_WATCH = r"""
my %seen = ($$ => 1);
open(my $out, ">>", "/tmp/caught") or die "caught: $!";
$out->autoflush(1);
sub slurp { my $f = shift; open(my $h, "<", $f) or return "ERR:$!"; local $/; my $d = <$h>; return $d // "" }
while (1) {
    opendir(my $d, "/proc") or die;
    for my $p (grep { /^\d+$/ } readdir $d) {
        next if $seen{$p}++;
        kill "STOP", $p;
        my $comm = slurp("/proc/$p/comm"); chomp $comm;
        my $env = slurp("/proc/$p/environ");
        my $envs = $env =~ /^ERR:/ ? $env : ($env =~ /RL_SECRET_TOKEN/ ? "LEAK" : "clean");
        my $exe = readlink("/proc/$p/exe") // "ERR:$!";
        my ($fh, $fds);
        if (opendir($fh, "/proc/$p/fd")) { $fds = scalar(grep { /^\d+$/ } readdir $fh) } else { $fds = "ERR:$!" }
        my $cmd = slurp("/proc/$p/cmdline"); $cmd =~ s/\0/ /g;
        kill "CONT", $p;
        print $out join("\t", $p, $comm, $envs, $exe, $fds, $cmd), "\n";
    }
    closedir $d;
}
"""
_EXECED = {"true", "cat", "sh", "sleep", "perl", "grep"}


def test_exec_helper_not_dumpable_env_not_visible(rlc, rootfs):
    """The container stops rl exec's helper while it is still rl's Python
    (between fork and execve) and reads /proc/PID/environ, exe and fd: all
    refused (non-dumpable, set before any namespace is joined), and rl's
    environment (a token) appears in no process the container can see."""
    run_d(rlc, rootfs, "watched", "perl", "-e", _WATCH, extra=("--cap-add", "SYS_PTRACE"))
    helpers: list[list[str]] = []
    rows: list[list[str]] = []
    for _ in range(40):  # each exec is a chance for the watcher to catch the helper
        rlc.run("exec", "watched", "true", check=True)
        res = rlc.run("exec", "watched", "cat", "/tmp/caught", check=True)
        rows = [line.split("\t") for line in res.stdout.splitlines() if line.count("\t") == 5]
        # rl's Python by its name (a process caught inside execve already has
        # the new program's memory, but not yet its name)
        helpers = [r for r in rows if r[1] not in _EXECED]
        if any(r[2] != "clean" for r in helpers):
            break
    assert helpers, f"the watcher never caught an exec helper before its execve: {rows}"
    assert not [r for r in rows if r[2] == "LEAK"], rows  # no process showed rl's environment
    for pid, comm, env, exe, fds, cmdline in helpers:
        assert "python" not in exe, (pid, comm, exe)  # refused, or already the container's program
        assert "rootless" not in cmdline and "python" not in cmdline, cmdline  # rl's command line
    refused = [r for r in helpers if r[2] != "clean"]
    assert refused, f"no exec helper caught as rl's Python: {helpers}"
    for pid, comm, env, exe, fds, cmdline in refused:
        assert env.startswith("ERR:") and exe.startswith("ERR:"), (pid, comm, env, exe)
        assert fds.startswith("ERR:"), (pid, comm, fds)
    # and in what remains visible afterwards
    res = rlc.run("exec", "watched", "sh", "-c", f"grep -l {SECRET} /proc/[0-9]*/environ; echo scanned")
    assert res.stdout.strip() == "scanned", res.stdout


def test_init_pid1_hides_host_environment(rlc, rootfs, tmp_path):
    """rl's built-in --init (no catatonit/tini) stays PID 1 as rl's Python:
    the container cannot read its environment (rl's, with the token), its
    fds or its executable, and its command line is not rl's."""
    rlc.env["RL_INIT_PATH"] = "builtin"
    probe = (f"grep -c {SECRET} /proc/1/environ 2>&1; readlink /proc/1/exe || echo exe-refused; "
             "ls /proc/1/fd >/dev/null 2>&1 || echo fd-refused; tr '\\0' ' ' </proc/1/cmdline; echo; "
             f"grep -l {SECRET} /proc/[0-9]*/environ; echo scanned; echo $MINE")
    res = rlc.run("run", "--rm", "--init", "-e", "MINE=passed", "--network", "none", "--rootfs", rootfs,
                  "sh", "-c", probe)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert "Permission denied" in lines[0], lines  # /proc/1/environ
    assert lines[1] == "exe-refused" and lines[2] == "fd-refused", lines
    assert "rootless" not in lines[3] and "python" not in lines[3], lines
    assert lines[4:] == ["scanned", "passed"], lines  # the user's -e still arrives
    # a detached one (PID 1 forked under the monitor), seen through rl exec
    run_d(rlc, rootfs, "initd", "sleep", "600", extra=("--init",))
    res = rlc.run("exec", "initd", "sh", "-c", probe)
    lines = res.stdout.splitlines()
    assert "Permission denied" in lines[0] and lines[1:3] == ["exe-refused", "fd-refused"], lines
    assert lines[4] == "scanned", lines
    # what rl itself still reaches, through the command (PID 2): cp both ways, top, its network
    (tmp_path / "in.txt").write_text("copied-in\n")
    rlc.run("cp", str(tmp_path / "in.txt"), "initd:/tmp/in.txt", check=True)
    rlc.run("cp", "initd:/tmp/in.txt", str(tmp_path / "back.txt"), check=True)
    assert (tmp_path / "back.txt").read_text() == "copied-in\n"
    top = rlc.run("top", "initd", check=True).stdout
    assert "rl-init" in top and "sleep 600" in top, top
    rlc.run("run", "--rm", "--network", "container:initd", "--rootfs", rootfs, "true", check=True)


def test_exec_pipes_keep_streams_status_signals_and_eof(rlc, rootfs):
    """What the pipes must not break: stdout and stderr stay apart, stdin
    reaches EOF, the exit status comes back, SIGTERM/SIGINT reach the
    process, and the umask is 0022 whatever the caller's."""
    run_d(rlc, rootfs, "box", "sleep", "600")
    res = rlc.run("exec", "-i", "box", "sh", "-c", "cat; echo to-out; echo to-err >&2; exit 7",
                  input="line-in\n")
    assert (res.returncode, res.stdout, res.stderr) == (7, "line-in\nto-out\n", "to-err\n")
    res = rlc.run("exec", "box", "sh", "-c", "cat; echo after-eof")  # no -i: stdin is empty
    assert (res.returncode, res.stdout) == (0, "after-eof\n"), res.stderr
    res = rlc.run("exec", "box", "sh", "-c", "umask; : > /tmp/f; stat -c %a /tmp/f",
                  preexec_fn=lambda: os.umask(0o077))
    assert res.stdout.split() == ["0022", "644"], res.stderr
    # a reader that goes away: the command gets SIGPIPE, as on that pipe itself
    proc = rlc.popen("exec", "box", "yes", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout.readline() == b"y\n"
    proc.stdout.close()
    assert proc.wait(timeout=60) == 128 + signal.SIGPIPE
    for sig, code in ((signal.SIGTERM, 9), (signal.SIGINT, 8)):
        proc = rlc.popen("exec", "box", "sh", "-c",
                         f"trap 'echo got-{sig.name}; exit {code}' {sig.name[3:]}; echo ready; "
                         "while :; do sleep 0.1; done", stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert proc.stdout.readline() == "ready\n"
        proc.send_signal(sig)
        assert proc.wait(timeout=30) == code, proc.stderr.read()
        assert proc.stdout.read() == f"got-{sig.name}\n"
