"""run/create flags rl lacked (issue 14 item 1), each compared with rootless
podman: the same invocation through both tools, what a user observes inside
(/proc/self/limits, /dev/shm's mount, /proc/sys, /etc/hosts, the
environment, oom_score_adj, the time zone, /etc/passwd) and outside (exit
status, `inspect --format` fields).

Every comparison goes through `same()` or `apart()`; `apart()` holds the
deliberate differences, each with its reason, and still asserts what rl
does. test_zz_tally prints how many invocations were compared and how many
differ (run with -s to see it)."""

from __future__ import annotations

import json
import os

import pytest

pytestmark = [pytest.mark.userns, pytest.mark.registry, pytest.mark.fuse, pytest.mark.slirp4netns]

IMG = "debian:bookworm"
TALLY = {"same": 0, "apart": []}
LIMITS = "cat /proc/self/limits"
SHM = "awk '$5 == \"/dev/shm\" {print $6, $NF}' /proc/self/mountinfo; df -k /dev/shm | awk 'NR == 2 {print $2}'"
SYSCTLS = ("net/ipv4/ip_forward", "net/core/somaxconn", "kernel/shmmax", "kernel/msgmax", "fs/mqueue/msg_max",
           "kernel/sem", "net/ipv4/ping_group_range")
READ_SYSCTLS = "cd /proc/sys && for f in " + " ".join(SYSCTLS) + "; do echo \"$f=$(cat $f)\"; done"


@pytest.fixture(scope="module")
def tools(registry, tmp_path_factory):
    """One rl and one podman for the whole file, each with the image (the
    per-test `both` fixture loads it into a fresh podman store every time)."""
    from tests.conftest import _foreign_owned, make_rl_env, reclaim
    from tests.podman import Podman, load_image, require_podman
    require_podman()
    rl = make_rl_env(tmp_path_factory.mktemp("rl-runflags"))
    rl.env.update(registry.env())
    podman = Podman(tmp_path_factory.mktemp("podman-runflags"))
    try:
        full = load_image(podman, registry)
        assert rl.run("pull", "-q", IMG).returncode == 0
        yield rl, podman, full
    finally:
        rl.run("rm", "-af", "-t", "0", timeout=120)
        podman.close()
        if _foreign_owned(rl.base):
            reclaim(rl.base)


@pytest.fixture
def pair(tools):
    rl, podman, full = tools
    yield _pair(rl, podman, full)
    for tool in (rl, podman):  # each test starts with no containers
        tool.run("rm", "-af", "-t", "0", timeout=120)


def _pair(rl, podman, full):
    def run(*args, env=None):
        args = list(args)
        mine = rl.run(*args, env=env or {})
        theirs = podman.run(*[full if a == IMG else a for a in args], env=env or {})
        print(f"$ {' '.join(args)}\nrl {mine.returncode}: {mine.stdout!r} {mine.stderr!r}\n"
              f"podman {theirs.returncode}: {theirs.stdout!r} {theirs.stderr!r}")
        return mine, theirs
    run.rl, run.podman, run.podman_img = rl, podman, full
    return run


def same(pair, *args, env=None, out=lambda s: s):
    """One invocation under both tools: the same exit status and the same
    output (after out(), which drops what names the container)."""
    mine, theirs = pair(*args, env=env)
    assert (mine.returncode, out(mine.stdout)) == (theirs.returncode, out(theirs.stdout)), mine.stderr
    TALLY["same"] += 1
    return mine, theirs


def apart(pair, *args, why: str, env=None):
    """A deliberate difference: both run, the caller asserts each side."""
    mine, theirs = pair(*args, env=env)
    TALLY["apart"].append((" ".join(args), why))
    return mine, theirs


def refused(res, flag: str) -> None:
    """rl's refusal of a bad value: exit 125, an Error line naming the flag, no traceback."""
    assert res.returncode == 125, res.stderr
    lines = res.stderr.strip().splitlines()
    assert lines and lines[0].startswith("Error: ") and flag in lines[0], res.stderr
    assert "Traceback" not in res.stderr and len(lines) <= 2, res.stderr


def _without(line: str):
    return lambda s: "".join(x + "\n" for x in s.splitlines() if not x.startswith(line))


# ---------------------------------------------------------------- --ulimit

def test_ulimit_default_limits(pair):
    """nofile: soft raised to the hard limit (podman's rootless default: 1048576, capped at the user's own)."""
    same(pair, "run", "--rm", IMG, "sh", "-c", LIMITS, out=_without("Max processes"))
    mine, theirs = apart(pair, "run", "--rm", IMG, "sh", "-c", "grep 'Max processes' /proc/self/limits",
                         why="nproc: rl follows podman's documented default (1048576, capped at the user's hard "
                             "limit); podman 4.3 gives its own process's limit (32768 on the test host), which "
                             "it does not document")
    assert mine.returncode == theirs.returncode == 0
    hard = int(mine.stdout.split()[3])
    import resource
    assert hard == min(1048576, resource.getrlimit(resource.RLIMIT_NPROC)[1])


@pytest.mark.parametrize("value", ["nofile=100:200", "nofile=100", "core=-1", "core=0:0", "nproc=50",
                                   "stack=1048576:2097152", "memlock=65536", "msgqueue=1000:1000"])
def test_ulimit_values(pair, value):
    same(pair, "run", "--rm", "--ulimit", value, "--ulimit", "nproc=60", IMG, "sh", "-c", LIMITS)


def test_ulimit_several_and_host(pair):
    same(pair, "run", "--rm", "--ulimit", "nofile=300:400", "--ulimit", "core=0:-1", IMG, "sh", "-c", LIMITS,
         out=_without("Max processes"))
    same(pair, "run", "--rm", "--ulimit", "host", IMG, "grep", "Max open files", "/proc/self/limits")


@pytest.mark.parametrize("value", ["nofile=999999:999999", "nofile=100:999999", "nofile=-1"])
def test_ulimit_above_the_users_hard_limit_is_refused(pair, value):
    """Rootless, a hard limit cannot go above the user's: podman's runc fails the start (126); rl too, saying why."""
    mine, theirs = same(pair, "run", "--rm", "--ulimit", value, IMG, "true")
    assert mine.returncode == 126
    assert "--ulimit nofile" in mine.stderr and "hard limit" in mine.stderr and "Traceback" not in mine.stderr


@pytest.mark.parametrize("value", ["nofile=abc", "foo=1", "nofile", "nofile=300:200", "nofile=unlimited", "=5"])
def test_ulimit_malformed(pair, value):
    mine, theirs = same(pair, "run", "--rm", "--ulimit", value, IMG, "true")
    refused(mine, "--ulimit")
    assert pair.rl.run("create", "--ulimit", value, IMG, "true").returncode == 125  # create checks it too


def test_ulimit_inspect(pair):
    fmt = "{{json .HostConfig.Ulimits}}"
    same(pair, "create", "--name", "u", "--ulimit", "nofile=100:200", "--ulimit", "core=1:2", IMG, "true",
         out=lambda s: "")
    mine, theirs = apart(pair, "inspect", "--format", fmt, "u", why="nproc's default (see test_ulimit_default_limits)")
    drop = [e for e in json.loads(mine.stdout) if e["Name"] != "RLIMIT_NPROC"]
    want = [e for e in json.loads(theirs.stdout) if e["Name"] != "RLIMIT_NPROC"]
    assert drop == want == [{"Name": "RLIMIT_NOFILE", "Soft": 100, "Hard": 200},
                            {"Name": "RLIMIT_CORE", "Soft": 1, "Hard": 2}]


# ---------------------------------------------------------------- --shm-size

@pytest.mark.parametrize("value", [None, "64m", "1g", "100k", "1000", "0", "1.5m", "64M", "10b", "2G"])
def test_shm_size(pair, value):
    same(pair, "run", "--rm", *(["--shm-size", value] if value else []), IMG, "sh", "-c", SHM)


@pytest.mark.parametrize("value", ["abc", "-5", "1x", "m"])
def test_shm_size_malformed(pair, value):
    mine, theirs = same(pair, "run", "--rm", f"--shm-size={value}", IMG, "true")
    refused(mine, "--shm-size")


def test_shm_size_inspect(pair):
    same(pair, "create", "--name", "s", "--shm-size", "1g", IMG, "true", out=lambda s: "")
    same(pair, "create", "--name", "d", IMG, "true", out=lambda s: "")
    same(pair, "inspect", "--format", "{{.HostConfig.ShmSize}}", "s", "d")


# ---------------------------------------------------------------- --sysctl

@pytest.mark.parametrize("value", [None, "net.ipv4.ip_forward=1", "net.core.somaxconn=1024", "kernel.shmmax=1000000",
                                   "kernel.msgmax=9000", "fs.mqueue.msg_max=20", "kernel.sem=250 32000 32 200",
                                   "net.ipv4.ping_group_range=0 1000"])
def test_sysctl(pair, value):
    same(pair, "run", "--rm", *(["--sysctl", value] if value else []), IMG, "sh", "-c", READ_SYSCTLS)


@pytest.mark.parametrize("value", ["kernel.hostname=x", "vm.swappiness=10", "foo", "net.ipv4.ip_forward",
                                   "kernel.domainname=abc"])
def test_sysctl_refused(pair, value):
    mine, theirs = same(pair, "run", "--rm", "--sysctl", value, IMG, "true")
    refused(mine, "sysctl")


def test_sysctl_net_on_the_hosts_network_is_refused(pair):
    mine, theirs = same(pair, "run", "--rm", "--network", "host", "--sysctl", "net.ipv4.ip_forward=1", IMG, "true")
    refused(mine, "net.ipv4.ip_forward")


def test_sysctl_unknown_name(pair):
    mine, theirs = apart(pair, "run", "--rm", "--sysctl", "net.ipv4.nonexist=1", IMG, "true",
                         why="podman's runc reports the missing /proc/sys file as 127 (command not found); "
                             "rl says which sysctl is missing with its own failure status, 125")
    assert theirs.returncode == 127
    refused(mine, "net.ipv4.nonexist")


# ---------------------------------------------------------------- --pull

def test_pull_policies(pair):
    rl, podman = pair.rl, pair.podman
    assert rl.run("tag", IMG, "localhost/onlylocal:1").returncode == 0
    assert podman.run("tag", pair.podman_img, "localhost/onlylocal:1").returncode == 0
    for policy, code in (("missing", 0), ("never", 0), ("newer", 0), ("always", 125)):
        # always: the registry (localhost:443, nothing there) must answer; newer falls back to the local image
        mine, theirs = same(pair, "run", "--rm", "--pull", policy, "localhost/onlylocal:1", "true")
        assert mine.returncode == code
    mine, theirs = same(pair, "run", "--rm", "--pull", "never", "localhost/nothing-here:1", "true")
    assert mine.returncode == 125 and "localhost/nothing-here" in mine.stderr
    mine, theirs = same(pair, "run", "--rm", "--pull", "bogus", IMG, "true")
    refused(mine, "--pull")
    mine, theirs = same(pair, "run", "--rm", "--pull=never", IMG, "true")


# ---------------------------------------------------------------- --label-file, --annotation

def test_label_file(pair, tmp_path):
    f = tmp_path / "labels"
    f.write_text("A=1\n# a comment\nB=two words\n\nC\nD=x=y\n")
    f.chmod(0o644)
    same(pair, "create", "--name", "l", "--label-file", str(f), "--label", "B=over", IMG, "true", out=lambda s: "")
    mine, theirs = same(pair, "inspect", "--format", "{{json .Config.Labels}}", "l", out=json.loads)
    assert json.loads(mine.stdout) == {"A": "1", "B": "over", "D": "x=y"}
    same(pair, "ps", "-a", "--filter", "label=D=x=y", "--format", "{{.Names}}")
    mine, theirs = same(pair, "create", "--label-file", str(tmp_path / "missing"), IMG, "true")
    refused(mine, "--label-file")


def test_annotation(pair):
    same(pair, "create", "--name", "a", "--annotation", "foo=bar", "--annotation", "q=a=b", "-t", IMG, "true",
         out=lambda s: "")
    same(pair, "inspect", "--format", "{{json .Config.Annotations}}", "a", out=json.loads)
    same(pair, "inspect", "--format", "{{index .Config.Annotations \"foo\"}}", "a")
    mine, theirs = same(pair, "create", "--annotation", "novalue", IMG, "true")
    refused(mine, "--annotation")


# ---------------------------------------------------------------- --tz

TZ_PROBE = "date +%Z; echo ${TZ-unset}; date -d @0 '+%F %T %Z'"


@pytest.mark.parametrize("zone", ["Europe/Paris", "America/New_York", "UTC", "Asia/Kolkata", "local"])
def test_tz(pair, zone):
    same(pair, "run", "--rm", "--tz", zone, IMG, "sh", "-c", TZ_PROBE)


def test_tz_inspect_and_unknown(pair):
    same(pair, "create", "--name", "t", "--tz", "Europe/Paris", IMG, "true", out=lambda s: "")
    same(pair, "inspect", "--format", "{{.Config.Timezone}}", "t")
    mine, theirs = same(pair, "run", "--rm", "--tz", "Foo/Bar", IMG, "true")
    refused(mine, "--tz")
    mine, theirs = apart(pair, "run", "--rm", "--tz", "../../etc/passwd", IMG, "true",
                         why="podman joins the name to /usr/share/zoneinfo (../../etc/passwd is /usr/etc/passwd, "
                             "missing here); rl refuses a name with .. outright")
    assert theirs.returncode == 125
    refused(mine, "--tz")


# ---------------------------------------------------------------- --env-host, --http-proxy

PROXIES = {"http_proxy": "http://p.example:3128", "HTTPS_PROXY": "http://q.example:3129", "no_proxy": "localhost",
           "FTP_PROXY": "ftp://f.example", "ALL_PROXY": "socks5://a.example"}


def test_env_host(pair):
    env = {"FOO_RLTEST": "from-host", "PATH": "/host/bin:" + os.environ["PATH"], "TERM": "vt100"}
    probe = "printenv FOO_RLTEST PATH TERM BAR_RLTEST"
    same(pair, "run", "--rm", "--env-host", IMG, "sh", "-c", probe, env=env)
    same(pair, "run", "--rm", "--env-host", "-e", "FOO_RLTEST=cli", "-e", "BAR_RLTEST=b", IMG, "sh", "-c", probe,
         env=env)
    same(pair, "run", "--rm", IMG, "sh", "-c", probe, env=env)  # not without it


def test_http_proxy(pair):
    probe = "env | grep -i _proxy= | sort"
    mine, theirs = same(pair, "run", "--rm", IMG, "sh", "-c", probe, env=PROXIES)
    assert "http_proxy=http://p.example:3128" in mine.stdout and "ALL_PROXY" not in mine.stdout
    same(pair, "run", "--rm", "--http-proxy=false", IMG, "sh", "-c", probe + "; true", env=PROXIES)
    same(pair, "run", "--rm", "-e", "http_proxy=mine", IMG, "sh", "-c", probe, env=PROXIES)
    mine, theirs = apart(pair, "run", "--rm", "--http-proxy=maybe", IMG, "true", env=PROXIES,
                         why="podman's message is its flag parser's (with a usage line); the status is the same")
    assert theirs.returncode == 125
    refused(mine, "--http-proxy")


# ---------------------------------------------------------------- --expose

def test_expose(pair):
    same(pair, "create", "--name", "e", "--expose", "8080", "--expose", "9000-9001/udp", IMG, "true",
         out=lambda s: "")
    same(pair, "inspect", "--format", "{{json .NetworkSettings.Ports}}", "e", out=json.loads)
    same(pair, "run", "-d", "--name", "p", "-P", "--expose", "8080", IMG, "sleep", "300", out=lambda s: "")
    same(pair, "inspect", "--format", "{{range $k, $v := .NetworkSettings.Ports}}{{$k}} {{len $v}};{{end}}", "p")
    mine, theirs = same(pair, "port", "p", out=lambda s: [line.split(":")[0] for line in s.splitlines()])
    assert mine.stdout.startswith("8080/tcp -> 0.0.0.0:")
    mine, theirs = same(pair, "create", "--expose", "abc", IMG, "true")
    refused(mine, "--expose")


# ---------------------------------------------------------------- --oom-score-adj

@pytest.mark.parametrize("value", ["100", "1000", "0"])
def test_oom_score_adj(pair, value):
    same(pair, "run", "--rm", "--oom-score-adj", value, IMG, "cat", "/proc/self/oom_score_adj")


def test_oom_score_adj_rootless_limits(pair):
    mine, theirs = same(pair, "run", "--rm", "--oom-score-adj", "-100", IMG, "true")
    assert mine.returncode == 126 and "--oom-score-adj -100" in mine.stderr and "Traceback" not in mine.stderr
    mine, theirs = apart(pair, "run", "--rm", "--oom-score-adj", "2000", IMG, "true",
                         why="podman passes an out-of-range value to runc, which fails the start (126); rl refuses "
                             "it before creating anything (125)")
    assert theirs.returncode == 126
    refused(mine, "--oom-score-adj")
    same(pair, "create", "--name", "o", "--oom-score-adj", "5", IMG, "true", out=lambda s: "")
    same(pair, "inspect", "--format", "{{.HostConfig.OomScoreAdj}}", "o")


def test_detached_container_and_exec_get_limits_and_oom_score(pair):
    """PID 1 of a detached container (started non-dumpable by the monitor) and `exec`'s processes: the
    container's limits (exec: nofile's soft limit at its hard one, as podman's) and OOM score adjustment."""
    probe = "grep -E 'open files|core file' /proc/self/limits; cat /proc/self/oom_score_adj"
    same(pair, "run", "-d", "--name", "x", "--ulimit", "nofile=100:200", "--ulimit", "core=10:20",
         "--oom-score-adj", "50", IMG, "sleep", "300", out=lambda s: "")
    same(pair, "exec", "x", "sh", "-c", probe + "; cat /proc/1/oom_score_adj; grep 'open files' /proc/1/limits")
    same(pair, "run", "-d", "--name", "y", IMG, "sleep", "300", out=lambda s: "")
    same(pair, "exec", "y", "sh", "-c", probe)


# ---------------------------------------------------------------- --hostuser

@pytest.mark.parametrize("extra", [["--hostuser", "rltest"], ["--hostuser", str(os.getuid())],
                                   ["--hostuser", "root"], ["--hostuser", str(os.getuid()), "-w", "/tmp"],
                                   ["--hostuser", str(os.getuid()), "--read-only"]])
def test_hostuser(pair, extra):
    if "rltest" in extra and os.environ.get("USER") != "rltest":
        extra = ["--hostuser", os.environ.get("USER") or str(os.getuid())]
    same(pair, "run", "--rm", *extra, IMG, "sh", "-c", "tail -n 2 /etc/passwd; grep -c '^root:' /etc/passwd")


def test_hostuser_unknown(pair):
    mine, theirs = apart(pair, "run", "--rm", "--hostuser", "no-such-user-here", IMG, "true",
                         why="podman finds out at start (126, the OCI runtime's status); rl refuses it at create (125)")
    assert theirs.returncode == 126
    refused(mine, "--hostuser")


# ---------------------------------------------------------------- /etc/hosts, --stop-signal/--stop-timeout

@pytest.mark.parametrize("extra", [[], ["--add-host", "db.example:192.0.2.9", "--add-host", "v6:2001:db8::1"],
                                   ["--add-host", "host.containers.internal:10.1.1.1"]])
def test_etc_hosts(pair, extra):
    """The host's /etc/hosts entries, localhost, host.containers.internal, the container's names."""
    same(pair, "run", "--rm", "--name", "h", "--hostname", "hh", *extra, IMG, "cat", "/etc/hosts")


def test_etc_hosts_host_network(pair):
    """The host's own file (rl keeps its spacing; podman rewrites each entry with a tab)."""
    same(pair, "run", "--rm", "--network", "host", IMG, "cat", "/etc/hosts", out=lambda s: s.replace(" ", "\t"))
    mine, theirs = apart(pair, "run", "--rm", "--network", "host", "--hostname", "hh", IMG, "cat", "/etc/hosts",
                         why="with --network host and a --hostname the host's file lacks, rl adds it on 127.0.1.1 "
                             "so that the name resolves (issue 19 item 16); podman 4.3 leaves it out")
    assert mine.stdout.replace(" ", "\t") == theirs.stdout.replace(" ", "\t") + "127.0.1.1\thh\n"


def test_stop_signal_and_timeout_inspect(pair):
    same(pair, "create", "--name", "s", "--stop-signal", "SIGINT", "--stop-timeout", "5", IMG, "true",
         out=lambda s: "")
    same(pair, "create", "--name", "d", IMG, "true", out=lambda s: "")
    same(pair, "inspect", "--format", "{{.Config.StopSignal}} {{.Config.StopTimeout}}", "s", "d")


# ---------------------------------------------------------------- --uts, --cgroupns, --personality

def test_uts_host(pair):
    host = (os.uname().nodename, os.readlink("/proc/self/ns/uts"))
    mine, _ = same(pair, "run", "--rm", "--uts=host", IMG, "sh", "-c",
                   "hostname; echo $HOSTNAME; readlink /proc/self/ns/uts")
    assert mine.stdout.split() == [host[0]] * 2 + [host[1]]
    mine, theirs = apart(pair, "run", "--rm", "--uts=host", IMG, "cat", "/etc/hostname",
                         why="podman 4.3 writes the container's ID there (without a newline) though the name is "
                             "the host's; rl writes the name the container has")
    assert mine.stdout == host[0] + "\n"


def test_uts_private(pair):
    mine, _ = same(pair, "run", "--rm", "--uts=private", "--name", "named", IMG, "sh", "-c",
                   "hostname | wc -c; readlink /proc/self/ns/uts", out=lambda s: s.split("\n")[0])
    assert mine.stdout.split()[1] != os.readlink("/proc/self/ns/uts")  # its own


def test_cgroupns_host_and_private(pair):
    host = os.readlink("/proc/self/ns/cgroup")
    mine, _ = same(pair, "run", "--rm", "--cgroupns=host", IMG, "readlink", "/proc/self/ns/cgroup")
    assert mine.stdout.strip() == host
    mine, _ = same(pair, "run", "--rm", "--cgroupns=private", IMG, "readlink", "/proc/self/ns/cgroup",
                   out=lambda s: str(s.strip() != host))
    assert mine.stdout.strip() != host
    mine, theirs = apart(pair, "run", "--rm", IMG, "readlink", "/proc/self/ns/cgroup",
                         why="the default: podman 4.3 takes the host's cgroup namespace where it sees cgroup v1 "
                             "(this hybrid host), a private one on v2; rl always gives a private one")
    assert mine.returncode == 0 and mine.stdout.strip() != host


def test_uts_cgroupns_in_exec_and_inspect(pair):
    """exec joins what the container has (the host's namespaces: nothing to join); inspect shows the modes."""
    for args in (["--uts=host", "--cgroupns=host"], []):
        same(pair, "run", "-d", "--name", "u", *args, IMG, "sleep", "600", out=lambda s: "")
        same(pair, "exec", "u", "sh", "-c", "readlink /proc/self/ns/uts /proc/1/ns/uts | uniq | wc -l")
        same(pair, "inspect", "--format", "{{.HostConfig.UTSMode}}", "u")
        mine, theirs = apart(pair, "inspect", "--format", "{{.HostConfig.CgroupMode}}", "u",
                             why="CgroupMode follows the default above: host for podman here, private for rl")
        assert mine.stdout.strip() == ("host" if args else "private")
        for tool in (pair.rl, pair.podman):
            tool.run("rm", "-f", "-t", "0", "u")


@pytest.mark.parametrize("args,flag", [(["--uts=bogus"], "--uts"), (["--cgroupns=bogus"], "--cgroupns"),
                                       (["--uts=host", "--hostname", "x"], "hostname"),
                                       (["--uts=container:nothere"], "--uts"),
                                       (["--cgroupns=ns:/proc/1/ns/cgroup"], "--cgroupns")])
def test_uts_cgroupns_refused(pair, args, flag):
    mine, _ = same(pair, "run", "--rm", *args, IMG, "true")
    refused(mine, flag)


def test_personality(pair):
    same(pair, "run", "--rm", "--personality=LINUX", IMG, "uname", "-m")
    mine, theirs = apart(pair, "run", "--rm", "--personality=LINUX32", IMG, "uname", "-m",
                         why="podman 4.3 hands the personality to runc 1.1, which ignores it; rl applies it")
    assert mine.stdout.strip() == {"x86_64": "i686", "aarch64": "armv8l"}.get(os.uname().machine, mine.stdout.strip())
    assert theirs.returncode == 0
    # exec'd processes get it too, as PID 1 did
    pair.rl.run("run", "-d", "--name", "p32", "--personality", "linux32", IMG, "sleep", "600", check=True)
    res = pair.rl.run("exec", "p32", "uname", "-m")
    assert res.stdout == mine.stdout


def test_personality_unknown(pair):
    mine, theirs = apart(pair, "run", "--rm", "--personality=bogus", IMG, "true",
                         why="podman 4.3 accepts any word (its runtime ignores it); rl refuses what it cannot apply")
    refused(mine, "--personality")
    assert theirs.returncode == 0


# ---------------------------------------------------------------- --passwd, --passwd-entry

TEMPLATE = "$USERNAME:x:$UID:$GID:$NAME:$HOME:/bin/bash"


@pytest.mark.parametrize("args", [["--user", "1234", "--passwd-entry", TEMPLATE],
                                  ["--user", "1234:55", "-w", "/tmp", "--passwd-entry", TEMPLATE],
                                  ["--user", "1234", "--passwd-entry", "u$UID:*:$UID:$GID::/home/u:/bin/sh"],
                                  ["--user", "1234"], ["--user", "1234", "--passwd=false"],
                                  ["--user", "1234", "--passwd=true"],
                                  ["--passwd-entry", TEMPLATE], ["--user", "root", "--passwd-entry", TEMPLATE]])
def test_passwd_entry(pair, args):
    same(pair, "run", "--rm", *args, IMG, "sh", "-c", "tail -1 /etc/passwd; tail -1 /etc/group; id -un 2>&1 || true")


def test_passwd_entry_of_several_lines_is_refused(pair):
    mine, theirs = apart(pair, "run", "--rm", "--user", "1234", "--passwd-entry", "a:x:1:1::/:/bin/sh\nroot2:x:0:0::/:/bin/sh",
                         IMG, "true", why="rl takes one line: a newline would add lines of the caller's choosing")
    refused(mine, "--passwd-entry")


# ---------------------------------------------------------------- --preserve-fds

def _with_fds(tool, args, files, env_extra=None):
    """tool's `run ARGS` started by a shell that opened files on fds 3, 4, ... for it."""
    import subprocess
    import sys
    cmd = list(tool.argv) if hasattr(tool, "argv") else [sys.executable, "-m", "rootless"]  # podman's, or rl's
    redirects = " ".join(f'{3 + i}{mode}"$F{i}"' for i, (_, mode) in enumerate(files))
    env = {**tool.env, **{f"F{i}": str(path) for i, (path, _) in enumerate(files)}}
    return subprocess.run(["bash", "-c", f'exec "$@" {redirects}', "bash", *cmd, *args], env=env,
                          capture_output=True, text=True, timeout=300)


PROBE_FDS = "cat <&3; echo written >&4; ls /proc/self/fd | sort -n | tr '\\n' ' '"


def test_preserve_fds(pair, tmp_path):
    src, dst = tmp_path / "in.txt", tmp_path / "out"
    src.write_text("through fd 3\n")
    out = {}
    for name, tool, img in (("rl", pair.rl, IMG), ("podman", pair.podman, pair.podman_img)):
        dst.write_text("")
        res = _with_fds(tool, ["run", "--rm", "--preserve-fds", "2", img, "sh", "-c", PROBE_FDS],
                        [(src, "<"), (dst, ">")])
        out[name] = (res.returncode, res.stdout, dst.read_text())
        assert res.returncode == 0, (name, res.stderr)
    assert out["rl"] == out["podman"]
    assert out["rl"][1].startswith("through fd 3\n0 1 2 3 4 ") and out["rl"][2] == "written\n"
    TALLY["same"] += 1
    # one of two: fd 4 stays behind
    for name, tool, img in (("rl", pair.rl, IMG), ("podman", pair.podman, pair.podman_img)):
        res = _with_fds(tool, ["run", "--rm", "--preserve-fds", "1", img, "sh", "-c", "ls /proc/self/fd | sort -n"],
                        [(src, "<"), (dst, ">")])
        out[name] = (res.returncode, res.stdout.split()[:4])
    assert out["rl"] == out["podman"] == (0, ["0", "1", "2", "3"])
    TALLY["same"] += 1


def test_preserve_fds_not_open_or_detached_or_create(pair, tmp_path):
    src = tmp_path / "in.txt"
    src.write_text("x\n")
    res = _with_fds(pair.rl, ["run", "--rm", "--preserve-fds", "2", IMG, "true"], [(src, "<")])
    refused(res, "--preserve-fds")
    assert "file descriptor 4 is not open" in res.stderr
    theirs = _with_fds(pair.podman, ["run", "--rm", "--preserve-fds", "2", pair.podman_img, "true"], [(src, "<")])
    assert theirs.returncode == 125 and "file descriptor 4" in theirs.stderr  # podman refuses it too
    TALLY["same"] += 1
    # none open at all: never one of rl's own in their place
    res = _with_fds(pair.rl, ["run", "--rm", "--preserve-fds", "1", IMG, "true"], [])
    refused(res, "--preserve-fds")
    assert "file descriptor 3 is not open" in res.stderr
    res = _with_fds(pair.rl, ["run", "-d", "--preserve-fds", "1", IMG, "true"], [(src, "<")])
    refused(res, "--preserve-fds")
    res = _with_fds(pair.rl, ["create", "--preserve-fds", "1", IMG, "true"], [(src, "<")])
    refused(res, "--preserve-fds")
    assert pair.rl.run("ps", "-aq").stdout == ""  # nothing created by the refused ones


# ---------------------------------------------------------------- --rmi

def _names(tool) -> list[str]:
    res = tool.run("images", "--format", "{{.Repository}}:{{.Tag}}")
    return sorted(res.stdout.split())


def test_rmi(pair):
    """A second name of the image, run with --rmi: the name goes (the image keeps its first), as podman's.
    podman 4.3 leaves the container behind, though its --rmi implies --rm (fixed in later podman):
    rl removes it, as documented."""
    tagged = {"rl": f"{IMG.split(':')[0]}:rmi", "podman": "localhost/rl-test-rmi:1"}
    pair.rl.run("tag", IMG, tagged["rl"], check=True)
    assert pair.podman.run("tag", pair.podman_img, tagged["podman"]).returncode == 0
    mine = pair.rl.run("run", "--rmi", tagged["rl"], "sh", "-c", "exit 3")
    theirs = pair.podman.run("run", "--rmi", tagged["podman"], "sh", "-c", "exit 3")
    assert mine.returncode == theirs.returncode == 3
    assert not any(n.endswith(":rmi") for n in _names(pair.rl))
    assert tagged["podman"] not in _names(pair.podman)
    TALLY["same"] += 1
    TALLY["apart"].append(("run --rmi IMG", "podman 4.3 leaves the container (its --rmi should imply --rm); "
                                            "rl removes it"))
    assert pair.rl.run("ps", "-aq").stdout == ""
    assert any(IMG.split(":")[0] in n for n in _names(pair.rl))  # the image itself stays under its first name


def test_rmi_keeps_an_image_in_use_and_works_detached(pair):
    rl = pair.rl
    # an image of its own, under this one name only (a second name would just be untagged, in use or not,
    # as podman 4.3 does)
    rl.run("create", "--name", "base", IMG, "true", check=True)
    rl.run("commit", "-q", "base", "localhost/only-name:1", check=True)
    rl.run("rm", "base", check=True)
    rl.run("create", "--name", "user", "localhost/only-name:1", "true", check=True)
    assert rl.run("run", "--rmi", "localhost/only-name:1", "true").returncode == 0
    assert "localhost/only-name:1" in _names(rl)  # another container uses it: kept, no error
    rl.run("rm", "user", check=True)
    res = rl.run("run", "-d", "--rmi", "localhost/only-name:1", "true")
    assert res.returncode == 0, res.stderr
    import time
    deadline = time.monotonic() + 30
    while "localhost/only-name:1" in _names(rl) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert "localhost/only-name:1" not in _names(rl)  # the monitor removed container, then image name
    assert rl.run("ps", "-aq").stdout == ""
    res = rl.run("create", "--rmi", IMG, "true")
    refused(res, "--rmi")


def test_every_new_flag_is_in_help(tools):
    res = tools[0].run("run", "--help")
    assert res.returncode == 0
    for flag in ("--ulimit", "--shm-size", "--sysctl", "--pull", "--label-file", "--annotation", "--tz", "--env-host",
                 "--http-proxy", "--expose", "--oom-score-adj", "--hostuser", "--stop-signal", "--stop-timeout",
                 "--uts", "--cgroupns", "--personality", "--passwd", "--passwd-entry", "--preserve-fds", "--rmi"):
        assert flag in res.stdout, flag


def test_zz_tally():
    """Printed: the comparisons this run made (with -s)."""
    n = TALLY["same"] + len(TALLY["apart"])
    print(f"\ncompared {n} invocations with podman: {TALLY['same']} the same, {len(TALLY['apart'])} apart")
    for args, why in TALLY["apart"]:
        print(f"  apart: {args}: {why}")
