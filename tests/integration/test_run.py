"""`rl run` end to end, as the unprivileged user: every check runs inside a
real container built from a minbase bookworm rootfs."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.integration.test_run_support import require_rootfs

pytestmark = [pytest.mark.userns, pytest.mark.fuse]

DEFAULT_CAPS = ("CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "NET_BIND_SERVICE", "SETFCAP",
                "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT")
CAP_NUM = {"CHOWN": 0, "DAC_OVERRIDE": 1, "FOWNER": 3, "FSETID": 4, "KILL": 5, "SETGID": 6, "SETUID": 7,
           "SETPCAP": 8, "NET_BIND_SERVICE": 10, "NET_ADMIN": 12, "SYS_CHROOT": 18, "SYS_ADMIN": 21,
           "SETFCAP": 31}


def capmask(names) -> int:
    return sum(1 << CAP_NUM[n] for n in names)


def subuid_start() -> int:
    import pwd
    user = pwd.getpwuid(os.getuid()).pw_name
    for line in Path("/etc/subuid").read_text().splitlines():
        name, start, _ = line.split(":")
        if name in (user, str(os.getuid())):
            return int(start)
    raise AssertionError("no subuid range")


@pytest.fixture(scope="session")
def rootfs() -> str:
    return require_rootfs()


@pytest.fixture
def run(rl, rootfs):
    """run(*cmd, opts=[...]) -> CompletedProcess of `rl run --rm --network none [opts] --rootfs ROOTFS cmd`."""
    def _run(*cmd: str, opts=(), network="none", **kw):
        return rl.run("run", "--rm", "--network", network, *opts, "--rootfs", rootfs, *cmd, **kw)
    return _run


def ok(res) -> str:
    assert res.returncode == 0, f"exit {res.returncode}\nstdout: {res.stdout}\nstderr: {res.stderr}"
    return res.stdout


def caps_of(out: str) -> dict[str, int]:
    return {m.group(1): int(m.group(2), 16) for m in re.finditer(r"^(Cap\w+):\s+([0-9a-f]+)$", out, re.M)}


def test_uid_map_is_the_full_subordinate_range(run):
    lines = [line.split() for line in ok(run("cat", "/proc/self/uid_map")).splitlines()]
    assert lines == [["0", str(os.getuid()), "1"], ["1", str(subuid_start()), "65536"]]


def test_pid_namespace_shows_only_the_container(run):
    out = ok(run("sh", "-c", "echo $$; ls /proc | grep -E '^[0-9]+$'; cat /proc/1/cmdline | tr '\\0' ' '"))
    lines = out.splitlines()
    assert lines[0] == "1"  # the command is PID 1
    pids = [int(x) for x in lines[1:-1]]
    assert 1 in pids and max(pids) < 10, pids  # sh, ls, grep and cat: nothing of the host
    assert lines[-1].startswith("sh -c")


def test_hostname_default_and_flag(run):
    short = ok(run("hostname")).strip()
    assert re.fullmatch(r"[0-9a-f]{12}", short)
    assert ok(run("sh", "-c", "hostname; cat /etc/hostname", opts=["--hostname", "box1"])).split() == ["box1", "box1"]


def test_file_created_as_uid_1000_is_owned_by_mapped_subuid(run, tmp_path):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    ok(run("sh", "-c", "touch /out/f && chown 1000:1000 /out/f", opts=["-v", f"{out_dir}:/out"]))
    st = (out_dir / "f").stat()
    assert (st.st_uid, st.st_gid) == (subuid_start() + 999, subuid_start() + 999)


def test_host_root_is_not_reachable(run, tmp_path):
    marker = tmp_path / "host-marker"
    marker.write_text("x")
    out = ok(run("sh", "-c", f"test -e {marker} && echo LEAK; test -e /work/main && echo LEAK2;"
                             "cat /proc/self/mountinfo; echo END"))
    assert "LEAK" not in out
    assert out.rstrip().endswith("END")
    mountinfo = out.splitlines()
    assert not any(" /home" in line.split(" - ")[0] for line in mountinfo)


def test_proc_sys_and_sysrq_are_not_writable(run):
    res = run("sh", "-c", "echo h > /proc/sysrq-trigger")
    assert res.returncode != 0
    res = run("sh", "-c", "echo 1 > /proc/sys/kernel/shm_rmid_forced")
    assert res.returncode != 0 and "Read-only" in res.stderr


def test_masked_paths_are_empty(run):
    host = [p for p in ("/proc/kcore", "/proc/keys", "/proc/timer_list") if os.path.exists(p)]
    assert host
    script = "; ".join(f"echo {p}=$(wc -c < {p})" for p in host) + "; echo $(ls -A /proc/acpi /sys/firmware)"
    lines = ok(run("sh", "-c", script)).splitlines()
    assert lines[:-1] == [f"{p}=0" for p in host]
    assert lines[-1] == "/proc/acpi: /sys/firmware:"  # both directories are empty


def test_default_capabilities_match_podman(run):
    caps = caps_of(ok(run("grep", "Cap", "/proc/self/status")))
    want = capmask(DEFAULT_CAPS)
    assert caps == {"CapInh": 0, "CapPrm": want, "CapEff": want, "CapBnd": want, "CapAmb": 0}


def test_cap_add_and_drop_change_exactly_that(run):
    caps = caps_of(ok(run("grep", "Cap", "/proc/self/status", opts=["--cap-add", "NET_ADMIN", "--cap-drop", "chown"])))
    want = capmask(set(DEFAULT_CAPS) - {"CHOWN"} | {"NET_ADMIN"})
    assert (caps["CapBnd"], caps["CapEff"], caps["CapPrm"]) == (want, want, want)


def test_privileged_gets_every_capability_and_no_seccomp(run):
    out = ok(run("grep", "-E", "^(Cap|Seccomp:)", "/proc/self/status", opts=["--privileged"]))
    caps = caps_of(out)
    last = int(Path("/proc/sys/kernel/cap_last_cap").read_text())
    assert caps["CapEff"] == caps["CapBnd"] == (1 << (last + 1)) - 1
    assert re.search(r"^Seccomp:\s+0$", out, re.M)


# x86_64 syscall numbers; perl-base is in minbase, python is not
KEYRING = "add_key=248 request_key=249 keyctl=250"


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="syscall numbers are x86_64's")
def test_seccomp_denies_keyring_with_eperm(run):
    script = ("for my $p (split / /, $ARGV[0]) { my ($n, $nr) = split /=/, $p; $! = 0;"
              " syscall($nr, 0, 0, 0, 0); print \"$n \", $!+0, \"\\n\" }")
    out = ok(run("perl", "-e", script, KEYRING))
    assert out.split("\n")[:3] == ["add_key 1", "request_key 1", "keyctl 1"]  # EPERM
    unconfined = ok(run("perl", "-e", script, KEYRING, opts=["--security-opt", "seccomp=unconfined"]))
    assert "keyctl 1\n" not in unconfined


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="syscall numbers are x86_64's")
def test_seccomp_unlisted_syscall_is_enosys(run):
    # io_uring_setup (425) is not in the profile: the default action answers ENOSYS
    script = "$!=0; syscall(425, 0, 0); print $!+0"
    assert ok(run("perl", "-e", script)) == "38"
    assert ok(run("perl", "-e", script, opts=["--security-opt", "seccomp=unconfined"])) != "38"


def test_no_new_privileges(run):
    out = ok(run("grep", "NoNewPrivs", "/proc/self/status", opts=["--security-opt", "no-new-privileges"]))
    assert out.split() == ["NoNewPrivs:", "1"]
    assert ok(run("grep", "NoNewPrivs", "/proc/self/status")).split() == ["NoNewPrivs:", "0"]


@pytest.mark.parametrize("cmd,code", [
    (["true"], 0), (["false"], 1), (["sh", "-c", "exit 42"], 42),
    (["/etc/passwd"], 126), (["no-such-command"], 127), (["/no/such/path"], 127),
])
def test_exit_codes_propagate(run, cmd, code):
    res = run(*cmd)
    assert res.returncode == code, res.stderr
    if code in (126, 127):
        assert res.stderr.startswith("Error: ")


def _state(rl) -> dict:
    import json
    states = list((rl.base / "run" / "rl" / "containers").glob("*/state.json"))
    return json.loads(states[0].read_text()) if states else {}


def _wait_running(rl, proc, timeout=20) -> int:
    deadline = time.time() + timeout
    while time.time() < deadline:
        st = _state(rl)
        if st.get("state") == "running" and st.get("pid"):
            return st["pid"]
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise AssertionError("container did not start")


def test_killed_container_exits_137(rl, rootfs):
    proc = rl.popen("run", "--rm", "--network", "none", "--rootfs", rootfs, "sleep", "60",
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    pid = _wait_running(rl, proc)
    os.kill(pid, signal.SIGKILL)  # container root is us: the host may kill it
    assert proc.wait(timeout=20) == 137


def test_sigterm_to_rl_reaches_the_container(rl, rootfs):
    script = 'trap "echo got-term; exit 3" TERM; echo ready; while :; do sleep 0.1; done'
    proc = rl.popen("run", "--rm", "--network", "none", "--rootfs", rootfs, "sh", "-c", script,
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 3, err
    assert "got-term" in out


def test_env_workdir_user_and_groups(run, tmp_path):
    envfile = tmp_path / "envfile"
    envfile.write_text("# comment\nFROM_FILE=yes\n")
    out = ok(run("sh", "-c", 'echo "$FOO $FROM_FILE $HOME"; pwd; id -u; id -g; id -G',
                 opts=["-e", "FOO=bar", "--env-file", str(envfile), "-w", "/newdir/sub", "-u", "daemon"]))
    lines = out.splitlines()
    assert lines[0] == "bar yes /usr/sbin"
    assert lines[1] == "/newdir/sub"
    assert lines[2:4] == ["1", "1"]
    out = ok(run("id", opts=["-u", "1234:5678"]))
    assert "uid=1234" in out and "gid=5678" in out


def test_non_root_user_has_no_capabilities_unless_added(run):
    caps = caps_of(ok(run("grep", "Cap", "/proc/self/status", opts=["-u", "1000"])))
    assert caps["CapEff"] == caps["CapPrm"] == caps["CapAmb"] == 0
    assert caps["CapBnd"] == capmask(DEFAULT_CAPS)
    caps = caps_of(ok(run("grep", "Cap", "/proc/self/status", opts=["-u", "1000", "--cap-add", "NET_ADMIN"])))
    assert caps["CapEff"] == caps["CapAmb"] == capmask(["NET_ADMIN"])


def test_unknown_user_fails_125(run):
    res = run("true", opts=["-u", "nobody-here"])
    assert res.returncode == 125 and "unable to find user nobody-here" in res.stderr


def test_entrypoint_override(run):
    assert ok(run("hello", opts=["--entrypoint", "echo"])).strip() == "hello"
    assert ok(run("a", "b", opts=["--entrypoint", '["echo", "-n"]'])) == "a b"


def test_read_only_rootfs_keeps_scratch_dirs_writable(run):
    res = run("sh", "-c", "touch /tmp/ok /run/ok /var/tmp/ok && touch /etc/nope", opts=["--read-only"])
    assert res.returncode == 1 and "Read-only file system" in res.stderr


def test_volumes_and_tmpfs(run, tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "in").write_text("hello")
    out = ok(run("sh", "-c", "cat /data/in; touch /data/x 2>&1 || echo RO; grep ' /scratch ' /proc/mounts",
                 opts=["-v", f"{tmp_path / 'data'}:/data:ro", "--tmpfs", "/scratch:size=1m"]))
    assert out.startswith("hello")
    assert "RO" in out and "tmpfs /scratch tmpfs" in out and "size=1024k" in out
    assert "nosuid,nodev" in out and "noexec" not in out  # podman's --tmpfs defaults (tests/integration/test_tmpfs_options.py)


def test_volume_target_symlink_cannot_escape_rootfs(run, tmp_path):
    # /var/run -> /run inside the image: the mount must land on the container's /run
    (tmp_path / "v").mkdir()
    out = ok(run("sh", "-c", "grep -c ' /run/x ' /proc/mounts", opts=["-v", f"{tmp_path / 'v'}:/var/run/x"]))
    assert out.strip() == "1"


def test_dev_is_minimal_and_pty_capable(run):
    out = ok(run("sh", "-c", "echo $(ls /dev); readlink /dev/ptmx; grep -c devpts /proc/mounts"))
    names = set(out.split("\n")[0].split())
    assert names == {"core", "fd", "full", "mqueue", "null", "ptmx", "pts", "random", "shm", "stderr", "stdin",
                     "stdout", "tty", "urandom", "zero"}
    assert "pts/ptmx" in out


def test_init_runs_as_pid_1(run):
    out = ok(run("sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '; echo; echo $$", opts=["--init"]))
    first, pid = out.splitlines()
    assert first.startswith("/run/podman-init -- sh")
    assert pid != "1"


def test_network_none_has_only_loopback_up(run):
    out = ok(run("cat", "/proc/net/dev"))
    ifaces = [line.split(":")[0].strip() for line in out.splitlines()[2:]]
    assert ifaces == ["lo"]
    # loopback is usable: a TCP connection to ourselves (perl, no extra packages)
    script = ("use IO::Socket::INET; my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1:7777',"
              " ReuseAddr => 1) or die $!; my $c = IO::Socket::INET->new('127.0.0.1:7777') or die $!; print 'ok'")
    assert ok(run("perl", "-e", script)) == "ok"


@pytest.mark.slirp4netns
def test_slirp4netns_network_and_dns_config(run):
    out = ok(run("sh", "-c", "cat /proc/net/dev; cat /etc/resolv.conf; cat /proc/net/route", network="slirp4netns"))
    assert "tap0:" in out and "nameserver 10.0.2.3" in out
    assert re.search(r"^tap0\s+00000000\s+0202000A", out, re.M)  # default route via 10.0.2.2


def test_name_must_be_unique(rl, rootfs):
    proc = rl.popen("run", "--rm", "--network", "none", "--name", "dup", "--rootfs", rootfs, "sleep", "30",
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _wait_running(rl, proc)
        res = rl.run("run", "--rm", "--network", "none", "--name", "dup", "--rootfs", rootfs, "true")
        assert res.returncode == 125 and "already in use" in res.stderr
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()


def test_rm_leaves_no_container_behind(rl, run):
    ok(run("sh", "-c", "echo x > /root/file"))
    containers = rl.base / "data" / "rl" / "containers"
    leftovers = [p for p in containers.iterdir() if p.name not in ("names", ".create.lock")] if containers.exists() else []
    assert leftovers == []
    assert not list((containers / "names").iterdir())


def _procs_mentioning(text: str) -> list[int]:
    found = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                if text.encode() in (p / "cmdline").read_bytes():
                    found.append(int(p.name))
            except OSError:
                pass
    return found


def test_sigkill_to_rl_leaves_nothing_behind(rl, rootfs):
    """rl killed outright: the container, the namespace side and the fuse
    daemon all die with it (parent-death signals, slirp4netns's exit-fd)."""
    proc = rl.popen("run", "--rm", "--rootfs", rootfs, "sleep", "300",
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ctr = _wait_running(rl, proc)
    assert _procs_mentioning(str(rl.base))  # the fuse daemon, by its mount path
    proc.kill()
    proc.wait()
    deadline = time.time() + 10
    while time.time() < deadline and (_procs_mentioning(str(rl.base)) or os.path.exists(f"/proc/{ctr}")):
        time.sleep(0.1)
    assert not os.path.exists(f"/proc/{ctr}")
    assert _procs_mentioning(str(rl.base)) == []


def test_userns_keep_id(run, tmp_path):
    vol = tmp_path / "kv"
    vol.mkdir()
    out = ok(run("sh", "-c", "cat /proc/self/uid_map; id -u; id -g; touch /kv/f; stat -c %u / /var/cache/apt/archives/partial",
                 opts=["--userns", "keep-id", "-v", f"{vol}:/kv"]))
    lines = out.splitlines()
    uid = os.getuid()
    # podman's shape: a namespace nested in the usual one, the user's ID kept
    assert [line.split() for line in lines[:3]] == [["0", "1", str(uid)], [str(uid), "0", "1"],
                                                    [str(uid + 1), str(uid + 1), str(65536 - uid)]]
    assert lines[3:5] == [str(uid), str(os.getgid())]
    assert lines[5:7] == ["0", "42"]  # image files keep their owners (root, _apt)
    assert (vol / "f").stat().st_uid == uid  # the same ID on both sides


def test_network_host_shares_the_hosts_interfaces(run):
    out = ok(run("cat", "/proc/net/dev", network="host"))
    host = Path("/proc/net/dev").read_text()
    assert sorted(line.split(":")[0].strip() for line in out.splitlines()[2:]) == \
        sorted(line.split(":")[0].strip() for line in host.splitlines()[2:])


def test_parallel_runs_are_independent(rl, rootfs):
    procs = [rl.popen("run", "--rm", "--network", "none", "--rootfs", rootfs, "sh", "-c",
                      f"echo {i} > /etc/mine; sleep 0.3; cat /etc/mine; hostname",
                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(6)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * 6, [e for _, e in outs]
    assert [o.split()[0] for o, _ in outs] == [str(i) for i in range(6)]
    assert len({o.split()[1] for o, _ in outs}) == 6  # six containers, six hostnames


def test_seccomp_profile_file(run, tmp_path):
    import json
    profile = tmp_path / "profile.json"
    profile.write_text(json.dumps({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}))
    res = run("mkdir", "/newdir", opts=["--security-opt", f"seccomp={profile}"])
    assert res.returncode == 1 and "Permission denied" in res.stderr
    assert ok(run("sh", "-c", "mkdir /newdir && echo made")) == "made\n"


def test_fds_inherited_by_rl_do_not_reach_the_container(rl, rootfs, tmp_path):
    fd = os.open("/", os.O_RDONLY | os.O_DIRECTORY)  # a host directory: a way out if leaked
    try:
        proc = rl.popen("run", "--rm", "--network", "none", "--rootfs", rootfs, "sh", "-c", "ls /proc/$$/fd",
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, pass_fds=(fd,))
        out, err = proc.communicate(timeout=60)
    finally:
        os.close(fd)
    assert proc.returncode == 0, err
    assert sorted(int(x) for x in out.split()) == [0, 1, 2]


@pytest.mark.parametrize("init", ["installed", "builtin"])
def test_init_forwards_sigterm_and_reaps(rl, rootfs, init):
    """With --init, a command without signal handlers still dies on SIGTERM
    (PID 1 would ignore it); rl's own init stands in when none is installed."""
    if init == "builtin":
        rl.env["RL_INIT_PATH"] = "builtin"
    proc = rl.popen("run", "--rm", "--init", "--network", "none", "--rootfs", rootfs, "sh", "-c",
                    "(sleep 100 &); echo ready; exec sleep 60", stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                    text=True)
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 143, proc.stderr.read()
