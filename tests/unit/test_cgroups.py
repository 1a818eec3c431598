"""rootless.cgroups' pure logic: sizes, CPU maths, layout detection from
sample texts, the refusals' wording, the D-Bus wire format."""

from __future__ import annotations

import os

import pytest

from rootless.cgroups import dbus, layout, manager, resources, stats
from rootless.cgroups.resources import CgroupError, Resources, files, parse, parse_size
from rootless.errors import UsageError

MiB = 1 << 20


@pytest.mark.parametrize("text,expected", [
    ("32m", 32 * MiB), ("1g", 1 << 30), ("512k", 512 << 10), ("1024", 1024), ("1.5g", 3 << 29),
    ("100MiB", 100 * MiB), ("2GB", 2 << 30), ("7b", 7), (" 64M ", 64 * MiB),
])
def test_parse_size(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize("bad", ["", "lots", "-1m", "1x", "m"])
def test_parse_size_rejects(bad):
    with pytest.raises(UsageError, match="invalid"):
        parse_size(bad, "--memory")


def test_cpus_to_cpu_max():
    assert resources.cpus_to_max(0.5) == "50000 100000"
    assert resources.cpus_to_max(2) == "200000 100000"
    assert resources.cpus_to_max(0.001) == "1000 100000"  # the kernel's minimum quota


@pytest.mark.parametrize("shares,weight", [(2, 1), (1024, 39), (262144, 10000), (512, 20), (1, 1)])
def test_shares_to_weight_as_crun(shares, weight):
    assert resources.shares_to_weight(shares) == weight
    assert resources.shares_to_weight(shares) == 1 + ((max(shares, 2) - 2) * 9999) // 262142


def test_blkio_weight_to_io_weight():
    assert resources.blkio_to_io_weight(10) == 1
    assert resources.blkio_to_io_weight(1000) == 10000
    assert resources.blkio_to_io_weight(500) == 1 + (490 * 9999) // 990


def test_files_from_flags():
    r = parse({"memory": "32m", "memory_reservation": "16m", "cpus": "0.5", "pids_limit": "20",
               "cpu_shares": "1024", "cpuset_cpus": "0-1", "blkio_weight": "500", "image": "ignored"})
    assert files(r) == [("memory.low", str(16 * MiB)), ("memory.max", str(32 * MiB)),
                        ("memory.swap.max", str(32 * MiB)),  # podman: swap as much again by default
                        ("cpu.max", "50000 100000"), ("cpu.weight", "39"), ("cpuset.cpus", "0-1"),
                        ("pids.max", "20"), ("io.weight", f"default {resources.blkio_to_io_weight(500)}")]


def test_memory_swap_is_memory_plus_swap():
    assert ("memory.swap.max", str(32 * MiB)) in files(parse({"memory": "32m", "memory_swap": "64m"}))
    assert ("memory.swap.max", "0") in files(parse({"memory": "32m", "memory_swap": "32m"}))
    assert ("memory.swap.max", "max") in files(parse({"memory": "32m", "memory_swap": "-1"}))
    # no swap accounting on the host: the default is not written, nothing fails
    assert [f for f, _ in files(parse({"memory": "32m"}), swap_accounting=False)] == ["memory.max"]


def test_cpu_quota_and_period():
    assert files(parse({"cpu_quota": "25000"})) == [("cpu.max", "25000 100000")]
    assert files(parse({"cpu_quota": "50000", "cpu_period": "200000"})) == [("cpu.max", "50000 200000")]
    assert files(parse({"cpu_period": "50000"})) == [("cpu.max", "max 50000")]
    assert files(parse({"cpu_weight": "300"})) == [("cpu.weight", "300")]


def test_pids_unlimited_and_device_rates():
    assert files(parse({"pids_limit": "-1"})) == [("pids.max", "max")]
    r = parse({"device_read_bps": ["/dev/sda:1mb"], "device_write_bps": ["/dev/sda:512k"]})
    got = files(r, devnum=lambda path, flag: "8:0")
    assert got == [("io.max", f"8:0 rbps={MiB}"), ("io.max", f"8:0 wbps={512 << 10}")]


@pytest.mark.parametrize("flags,message", [
    ({"memory": "1m"}, "minimum memory limit allowed is 6MB"),
    ({"memory_swap": "64m"}, "--memory-swap needs --memory"),
    ({"memory": "64m", "memory_swap": "32m"}, "--memory-swap must be at least --memory"),
    ({"cpus": "0.5", "cpu_quota": "5000"}, "--cpus conflicts"),
    ({"cpus": "0"}, "invalid --cpus"),
    ({"cpus": "half"}, "invalid --cpus 'half'"),
    ({"cpu_weight": "0"}, "invalid --cpu-weight"),
    ({"cpuset_cpus": "a-b"}, "invalid --cpuset-cpus"),
    ({"pids_limit": "many"}, "invalid --pids-limit"),
    ({"blkio_weight": "5"}, "invalid --blkio-weight"),
    ({"device_read_bps": ["sda:1m"]}, "invalid --device-read-bps"),
])
def test_bad_values_are_usage_errors(flags, message):
    with pytest.raises(UsageError, match=message.replace("(", r"\(")):
        parse(flags)


def test_resources_roundtrip_through_the_record():
    r = parse({"memory": "32m", "device_read_bps": ["/dev/sda:1m"]})
    assert Resources.from_dict(r.to_dict()) == r
    assert r.requested() == ["--memory", "--device-read-bps"]
    assert Resources.from_dict({"memory": 1, "future_flag": 2}).memory == 1


# --- layout ------------------------------------------------------------------

MOUNTINFO_V2 = """\
22 28 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw
25 28 0:23 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
"""
MOUNTINFO_HYBRID = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""
MOUNTINFO_V1 = "\n".join(MOUNTINFO_HYBRID.splitlines()[:4]) + "\n"
PROC_CGROUP_V2 = "0::/user.slice/user-1000.slice/session-3.scope\n"
PROC_CGROUP_HYBRID = "9:name=systemd:/\n4:memory:/x\n0::/\n"


def test_layout_from_mountinfo():
    assert layout.layout_from_mountinfo(MOUNTINFO_V2) == ("v2", "/sys/fs/cgroup")
    assert layout.layout_from_mountinfo(MOUNTINFO_HYBRID) == ("hybrid", "/sys/fs/cgroup/unified")
    assert layout.layout_from_mountinfo(MOUNTINFO_V1) == ("v1", None)
    assert layout.layout_from_mountinfo("") == ("none", None)


def test_own_cgroup():
    assert layout.own_cgroup(PROC_CGROUP_V2) == "/user.slice/user-1000.slice/session-3.scope"
    assert layout.own_cgroup(PROC_CGROUP_HYBRID) == "/"
    assert layout.own_cgroup("4:memory:/x\n") is None


def test_probe_of_a_hybrid_host_offers_nothing():
    host = layout.probe(MOUNTINFO_HYBRID, PROC_CGROUP_HYBRID, uid=1000)
    assert (host.layout, host.user_service, host.own_delegated) == ("hybrid", None, False)
    assert manager.choose(host) == "none"


def _v2(**kw) -> layout.Host:
    base = dict(layout="v2", mount="/sys/fs/cgroup", own="/user.slice/user-1000.slice/session-3.scope", uid=1000,
                user_service=layout.user_service(1000), service_controllers=["cpuset", "cpu", "io", "memory", "pids"],
                bus="/run/user/1000/bus")
    base.update(kw)
    return layout.Host(**base)


def test_manager_choice():
    assert manager.choose(_v2()) == "systemd"
    assert manager.choose(_v2(own_delegated=True, own_controllers=["memory"])) == "cgroupfs"
    assert manager.choose(_v2(own_delegated=True), forced="systemd") == "systemd"
    assert manager.choose(_v2(bus=None)) == "none"
    assert manager.choose(_v2(), forced="none") == "none"
    with pytest.raises(CgroupError, match="unknown cgroup manager"):
        manager.choose(_v2(), forced="podman")


# --- refusals -------------------------------------------------------------------

def test_refusal_on_hybrid_names_layout_and_fix():
    host = layout.probe(MOUNTINFO_HYBRID, PROC_CGROUP_HYBRID, uid=1000)
    with pytest.raises(CgroupError) as e:
        manager.plan(parse({"memory": "32m"}), host)
    assert e.value.exit_code == 125
    assert e.value.message.startswith("cannot apply --memory: this host mounts cgroups as hybrid")
    assert "cgroup v2" in e.value.message
    assert "systemd.unified_cgroup_hierarchy=1" in e.value.hint and "loginctl enable-linger" in e.value.hint


def test_refusal_without_a_user_session():
    with pytest.raises(CgroupError) as e:
        manager.plan(parse({"cpus": "1"}), _v2(bus=None))
    assert "no systemd user session" in e.value.message
    assert "loginctl enable-linger" in e.value.hint


def test_refusal_when_a_controller_is_not_delegated():
    host = _v2(service_controllers=["memory", "pids"])
    with pytest.raises(CgroupError) as e:
        manager.plan(parse({"memory": "32m", "cpus": "0.5"}), host)
    assert e.value.message == ("cannot apply --cpus: the cpu controller is not delegated to user@1000.service "
                               "(delegated: memory pids)")
    assert "Delegate=cpu cpuset io memory pids" in e.value.hint and "user@.service.d" in e.value.hint


def test_no_limits_asked_means_no_refusal_and_the_pids_default():
    assert manager.plan(Resources(), layout.probe(MOUNTINFO_HYBRID, PROC_CGROUP_HYBRID, uid=1)).manager == "none"
    p = manager.plan(Resources(), _v2(mount="/nonexistent"))
    assert (p.manager, p.writes, p.explicit) == ("systemd", [("pids.max", "2048")], False)
    p = manager.plan(parse({"pids_limit": "20"}), _v2(mount="/nonexistent"))
    assert p.writes == [("pids.max", "20")] and p.explicit


def test_errors_cross_a_fork_intact():
    import pickle
    e = pickle.loads(pickle.dumps(CgroupError("m", hint="h")))
    assert type(e) is CgroupError and (e.message, e.hint, e.exit_code) == ("m", "h", 125)


# --- stats parsing ------------------------------------------------------------

def test_io_and_net_counters():
    assert stats.io_bytes("8:0 rbytes=100 wbytes=20 rios=1 wios=1\n254:0 rbytes=5 wbytes=0\n") == (105, 20)
    net = ("Inter-|   Receive                                                |  Transmit\n"
           " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets\n"
           "    lo:     500       5    0    0    0     0          0         0      500       5 0 0 0 0 0 0\n"
           "   tap0:    1000      10    0    0    0     0          0         0      300       3 0 0 0 0 0 0\n")
    assert stats.net_bytes(net) == (1000, 300)


def test_cpu_percent():
    a = stats.Sample(1_000_000, 10.0, 0, None, 0, None, 0, 0, 0, 0, 0)
    b = stats.Sample(1_500_000, 11.0, 0, None, 0, None, 0, 0, 0, 0, 0)
    assert stats.cpu_percent(a, b) == pytest.approx(50.0)


def test_oom_kills_from_memory_events(tmp_path):
    (tmp_path / "memory.events").write_text("low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\noom_group_kill 0\n")
    assert manager.oom_kills(tmp_path) == 1
    assert manager.oom_kills(tmp_path / "gone") == 0


# --- D-Bus wire format ----------------------------------------------------------

def test_signature_split():
    assert dbus.split_signature("ssa(sv)a(sa(sv))") == ["s", "s", "a(sv)", "a(sa(sv))"]


def test_marshalled_call_parses_back():
    props = [("Description", ("s", "x")), ("PIDs", ("au", [1, 2])), ("Delegate", ("b", True))]
    msg = dbus.marshal_call(7, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                            "org.freedesktop.systemd1.Manager", "StartTransientUnit", "ssa(sv)a(sa(sv))",
                            ("rl-x.scope", "fail", props, []))
    assert msg[:4] == b"l\x01\x00\x01"
    mtype, fields, body, total = dbus.parse_message(msg + b"trailing")
    assert (mtype, total) == (1, len(msg))
    assert fields[3] == "StartTransientUnit" and fields[1] == "/org/freedesktop/systemd1"
    assert body == ["rl-x.scope", "fail", [("Description", ("s", "x")), ("PIDs", ("au", [1, 2])),
                                           ("Delegate", ("b", True))], []]
    assert dbus.parse_message(msg[:-1]) is None


def test_unit_of_a_cgroup_below_the_user_manager():
    svc = "/user.slice/user-1000.slice/user@1000.service"
    assert layout._unit_of(f"{svc}/app.slice/run-r1.scope") == "run-r1.scope"
    assert layout._unit_of(f"{svc}/app.slice/web.service/rl-supervisor") == "web.service"
    assert layout._unit_of(f"{svc}/init.scope") == "init.scope"
    assert layout._unit_of(f"{svc}/app.slice") is None
    assert layout._unit_of("/user.slice/user-1000.slice/session-3.scope") is None


def test_a_monitor_restarting_its_container_reuses_what_it_is_in():
    svc = "/user.slice/user-1000.slice/user@1000.service"
    assert layout.in_rl_scope(f"{svc}/app.slice/rl-{'a' * 64}.scope/monitor")
    assert not layout.in_rl_scope(f"{svc}/app.slice/run-r1.scope")
    host = layout.probe(MOUNTINFO_V2, f"0::{svc}/app.slice/rl-{'a' * 64}.scope/monitor\n", uid=os.getuid())
    assert not host.own_delegated
    host = layout.probe(MOUNTINFO_V2, f"0::{svc}/app.slice/web.service/rl-supervisor\n", uid=os.getuid())
    assert host.own == f"{svc}/app.slice/web.service"
