"""Pods on the real kernel, as the unprivileged user: containers of one pod
share localhost, the host name and IPC (held by the infra container), ports
published on the pod answer on the host's loopback, the pod's lifecycle
commands act on all its containers (infra first up, last down) and leave no
process behind, `pod inspect`/`pod ps` have podman's shapes (compared with
podman itself), and podman-compose 1.6 drives rl with --in-pod=true."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time

import pytest

from tests.integration.composekit import WEB, read_port
from tests.integration.composekit import compose_quote as _compose_quote
from tests.integration.test_compose import compose  # noqa: F401 - the compose fixture

pytestmark = [pytest.mark.userns, pytest.mark.fuse, pytest.mark.slirp4netns]

FETCH = "exec 3<>/dev/tcp/localhost/80 && cat <&3"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ok(res: subprocess.CompletedProcess) -> str:
    assert res.returncode == 0, f"exit {res.returncode}\nstdout: {res.stdout}\nstderr: {res.stderr}"
    return res.stdout


def alive(pid: int) -> bool:
    """A live process (a zombie waiting for a slow reaper is not)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def helpers_left(rl) -> list[str]:
    """This rl's live processes: monitors, fuse daemons, slirp4netns (their arguments name its store)."""
    out = subprocess.run(["ps", "-u", str(os.getuid()), "-o", "stat=,args="], capture_output=True, text=True).stdout
    return [ln for ln in out.splitlines() if str(rl.base) in ln and not ln.lstrip().startswith("Z")]


def descendants(roots: list[int]) -> set[int]:
    """roots and every live process below them (a monitor's namespace side, PID 1, slirp4netns,
    fuse-overlayfs, the port forwarder)."""
    parent = {}
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open(f"/proc/{p}/stat") as f:
                    parent[int(p)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    out, todo = set(), [r for r in roots if alive(r)]
    while todo:
        pid = todo.pop()
        out.add(pid)
        todo += [c for c, pp in parent.items() if pp == pid and c not in out and alive(c)]
    return out


def pids_of(rl, name: str) -> list[int]:
    """A running container's PID 1 and its monitor."""
    st = json.loads(ok(rl.run("inspect", name)))[0]["State"]
    return [p for p in (st["Pid"], st["ConmonPid"]) if p]


def wait_for(check, what: str, timeout: float = 30):
    end = time.monotonic() + timeout
    while not check():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


@pytest.fixture
def podrl(rl):
    yield rl
    rl.run("pod", "rm", "-af", "-t", "0", timeout=120)
    rl.run("rm", "-af", "-t", "0", timeout=120)


def test_pod_members_share_localhost_hostname_ipc_and_the_pods_port(podrl, rootfs):
    rl = podrl
    port = free_port()
    pod_id = ok(rl.run("pod", "create", "--name", "shop", "-p", f"127.0.0.1:{port}:80")).strip()
    assert len(pod_id) == 64
    ok(rl.run("run", "-d", "--name", "web", "--pod", "shop", "--rootfs", rootfs, "perl", "-e", WEB))
    # a second container of the pod reaches the first on localhost, and sees the pod's host name
    out = ok(rl.run("run", "--rm", "--pod", "shop", "--rootfs", rootfs, "bash", "-c",
                    f"cat /proc/sys/kernel/hostname; for i in $(seq 100); do {FETCH} && break; sleep 0.2; done"))
    assert out.splitlines() == ["shop", "hello from web"]
    # the port published on the pod answers on the host's loopback
    assert read_port(port) == "hello from web\n"
    # IPC and UTS: one namespace each for the pod (the infra's), others for a container outside it
    ns = "readlink /proc/self/ns/ipc /proc/self/ns/uts /proc/self/ns/pid"
    member = ok(rl.run("exec", "web", "sh", "-c", ns)).split()
    other = ok(rl.run("run", "--rm", "--pod", "shop", "--rootfs", rootfs, "sh", "-c", ns)).split()
    outside = ok(rl.run("run", "--rm", "--rootfs", rootfs, "sh", "-c", ns)).split()
    assert member[:2] == other[:2] and member[0] != outside[0] and member[1] != outside[1]
    assert member[2] != other[2]  # PID namespaces stay each container's own (podman's default share)
    assert ok(rl.run("exec", "web", "cat", "/etc/hostname")).strip() == "shop"


def test_pod_new_and_ps_pod(podrl, rootfs):
    rl = podrl
    ok(rl.run("run", "-d", "--name", "solo", "--pod", "new:fresh", "--rootfs", rootfs, "sleep", "300"))
    ok(rl.run("create", "--name", "loose", "--rootfs", rootfs, "true"))
    assert ok(rl.run("pod", "exists", "fresh")) == ""
    assert rl.run("pod", "exists", "nope").returncode == 1
    pod = json.loads(ok(rl.run("pod", "inspect", "fresh")))
    infra = pod["InfraContainerID"]
    lines = ok(rl.run("ps", "-a", "--pod")).splitlines()
    assert lines[0].split()[-3:] == ["POD", "ID", "PODNAME"]
    rows = {ln.split()[0]: ln for ln in lines[1:]}
    assert rows[infra[:12]].split()[-2:] == [pod["Id"][:12], "fresh"]
    solo = [ln for ln in lines[1:] if " solo " in ln][0]
    assert solo.split()[-2:] == [pod["Id"][:12], "fresh"]
    loose = [ln for ln in lines[1:] if "loose" in ln][0]
    assert loose.split()[-1] == "loose"  # no pod columns filled
    got = ok(rl.run("ps", "-a", "--filter", "pod=fresh", "--format", "{{.Names}} {{.PodName}} {{.IsInfra}}"))
    assert sorted(got.splitlines()) == sorted([f"{pod['Id'][:12]}-infra fresh true", "solo fresh false"])
    js = {e["Names"][0]: e for e in json.loads(ok(rl.run("ps", "-a", "--format", "json")))}
    assert js["solo"]["Pod"] == pod["Id"] and js["solo"]["PodName"] == "fresh" and not js["solo"]["IsInfra"]
    assert js["loose"]["Pod"] == ""


def test_pod_lifecycle_and_rm_f_leaves_nothing(podrl, rootfs):
    rl = podrl
    ok(rl.run("pod", "create", "--name", "life", "--label", "tier=back"))
    ok(rl.run("run", "-d", "--name", "a", "--pod", "life", "--rootfs", rootfs, "sleep", "300"))
    ok(rl.run("create", "--name", "b", "--pod", "life", "--rootfs", rootfs, "sleep", "300"))
    pod = json.loads(ok(rl.run("pod", "inspect", "life")))
    infra = pod["InfraContainerID"]
    assert pod["State"] == "Degraded"  # a and the infra run, b was only created
    ok(rl.run("pod", "start", "life"))
    assert ok(rl.run("pod", "ps", "--format", "{{.Name}} {{.Status}} {{.NumberOfContainers}}")) == "life Running 3\n"
    first = [p for n in (infra, "a", "b") for p in pids_of(rl, n)]
    ok(rl.run("pod", "stop", "-t", "1", "life"))
    assert ok(rl.run("pod", "ps", "--format", "{{.Status}}")) == "Exited\n"
    wait_for(lambda: not any(alive(p) for p in first), "the stopped pod's processes to end")
    # start: the infra first (the members join its namespaces), whatever the order they were made in
    ok(rl.run("pod", "restart", "life"))
    st = json.loads(ok(rl.run("pod", "inspect", "life")))
    assert st["State"] == "Running" and {c["State"] for c in st["Containers"]} == {"running"}
    a_hostname = ok(rl.run("exec", "b", "cat", "/proc/sys/kernel/hostname")).strip()
    assert a_hostname == "life"
    live = descendants([p for n in (infra, "a", "b") for p in pids_of(rl, n)])
    comms = set()
    for p in live:
        try:
            comms.add(open(f"/proc/{p}/comm").read().strip())
        except OSError:
            pass
    assert {"catatonit", "sleep", "slirp4netns", "rl-monitor"} <= comms, comms  # the infra holds the network
    # without -f a pod with running containers is refused whole
    res = rl.run("pod", "rm", "life")
    assert res.returncode == 125 and res.stderr.startswith("Error: pod life has running containers")
    assert rl.run("pod", "exists", "life").returncode == 0
    ok(rl.run("pod", "rm", "-f", "-t", "0", "life"))
    assert rl.run("pod", "exists", "life").returncode == 1
    assert ok(rl.run("ps", "-a", "-q")) == ""
    wait_for(lambda: not any(alive(p) for p in live), "the removed pod's processes (monitors, slirp4netns, ...) to end")
    assert not helpers_left(rl)


def test_pod_inspect_and_ps_shapes(podrl, rootfs):
    rl = podrl
    ok(rl.run("pod", "create", "--name", "shape", "--label", "a=b", "--hostname", "box", "--dns", "192.0.2.1",
              "--add-host", "db:192.0.2.9"))
    ok(rl.run("create", "--name", "m", "--pod", "shape", "--rootfs", rootfs, "true"))
    out = json.loads(ok(rl.run("pod", "inspect", "shape", "--format", "json")))
    assert out["Name"] == "shape" and out["Labels"] == {"a": "b"} and out["State"] == "Created"
    assert out["SharedNamespaces"] == ["ipc", "net", "uts"] and out["NumContainers"] == 2
    assert out["CreateCommand"][:2] == ["rl", "pod"] and "--hostname" in out["CreateCommand"]
    names = {c["Name"]: c for c in out["Containers"]}
    assert set(names) == {"m", f"{out['Id'][:12]}-infra"} and names["m"]["State"] == "created"
    assert names[f"{out['Id'][:12]}-infra"]["Id"] == out["InfraContainerID"]
    assert out["InfraConfig"]["DNSServer"] == ["192.0.2.1"] and out["InfraConfig"]["HostAdd"] == ["db:192.0.2.9"]
    assert ok(rl.run("pod", "inspect", "shape", "--format", "{{.Name}} {{.NumContainers}}")) == "shape 2\n"
    # the pod's /etc/hosts and resolv.conf reach its members; the host name is the pod's
    text = ok(rl.run("run", "--rm", "--pod", "shape", "--rootfs", rootfs, "sh", "-c",
                     "hostname; cat /etc/hosts /etc/resolv.conf"))
    assert text.splitlines()[0] == "box" and "192.0.2.9" in text and "192.0.2.1" in text
    # pod ps: podman's columns and flags
    table = ok(rl.run("pod", "ps", "--ctr-names", "--ctr-status", "--no-trunc")).splitlines()
    assert table[0].split() == ["POD", "ID", "NAME", "STATUS", "CREATED", "INFRA", "ID", "NAMES", "STATUS"]
    assert out["Id"] in table[1] and "m" in table[1].split()[-2].split(",")
    assert ok(rl.run("pod", "ps", "-q", "--no-trunc")) == out["Id"] + "\n"
    assert ok(rl.run("pod", "ps", "--noheading", "--format", "table {{.Name}}")) == "shape\n"
    assert ok(rl.run("pod", "ps", "--filter", "label=a=b", "--format", "{{.Name}}")) == "shape\n"
    assert ok(rl.run("pod", "ps", "--filter", "name=nomatch", "-q")) == ""
    assert ok(rl.run("pod", "ps", "--filter", f"id={out['Id'][:6]}", "--format", "{{.ContainerNames}}")) \
        .strip().split(",")[-1] in ("m", f"{out['Id'][:12]}-infra")


@pytest.mark.parametrize("args, words", [
    (["pod", "inspect", "nope"], "Error: no pod with name or ID nope found"),
    (["pod", "stop", "nope"], "Error: no pod with name or ID nope found"),
    (["run", "--rm", "--pod", "nope", "IMG", "true"], "Error: no pod with name or ID nope found"),
    (["run", "--rm", "--pod", "p", "-p", "8080:80", "IMG", "true"],
     "Error: invalid config provided: published or exposed ports must be defined when the pod is created"),
    (["run", "--rm", "--pod", "p", "--add-host", "a:192.0.2.1", "IMG", "true"],
     "Error: invalid config provided: extra host entries must be specified on the pod"),
    (["run", "--rm", "--pod", "p", "--hostname", "x", "IMG", "true"],
     "Error: invalid config provided: cannot set hostname when joining the pod UTS namespace"),
    (["run", "--rm", "--pod", "p", "--userns", "keep-id", "IMG", "true"],
     "Error: --userns=keep-id in pod p, which shares namespaces: not supported by rl"),
    (["pod", "create", "--share", "bogus"], "Error: invalid kernel namespace to share: bogus"),
    (["pod", "create", "--infra=false", "--share", "net"],
     "Error: cannot set share(net) namespaces without an infra container"),
    (["pod", "create", "--name", "p"], 'Error: the pod name "p" is already in use'),
])
def test_bad_input_one_line_errors(podrl, rootfs, args, words):
    rl = podrl
    ok(rl.run("pod", "create", "--name", "p"))
    args = [x for a in args for x in (("--rootfs", rootfs) if a == "IMG" else (a,))]
    res = rl.run(*args)
    assert res.returncode == 125, res
    assert res.stderr.startswith(words), res.stderr
    assert "Traceback" not in res.stderr and len([ln for ln in res.stderr.splitlines()
                                                  if ln.startswith("Error:")]) == 1


def test_pod_on_a_user_network(podrl, rootfs):
    """`pod create --network NAME -p`: the pod's port answers on the host, and another container on the
    network reaches the pod by its name."""
    rl = podrl
    port = free_port()
    ok(rl.run("network", "create", "podnet"))
    try:
        ok(rl.run("pod", "create", "--name", "netpod", "--network", "podnet", "-p", f"127.0.0.1:{port}:80"))
        ok(rl.run("run", "-d", "--name", "nweb", "--pod", "netpod", "--rootfs", rootfs, "perl", "-e", WEB))
        assert read_port(port) == "hello from web\n"
        out = ok(rl.run("run", "--rm", "--network", "podnet", "--rootfs", rootfs, "bash", "-c",
                        "for i in $(seq 100); do exec 3<>/dev/tcp/netpod/80 && cat <&3 && break; sleep 0.2; done"))
        assert out == "hello from web\n"
        ok(rl.run("pod", "rm", "-f", "-t", "0", "netpod"))
    finally:
        rl.run("pod", "rm", "-af", "-t", "0")
        rl.run("network", "rm", "-f", "podnet")


def test_infra_is_removed_with_its_pod_only(podrl, rootfs):
    """As podman: `rm` of an infra container alone is refused; `rm -a` takes the pods whose infra
    containers it removes (a pod without one stays); `pod rm` of no such pod exits 1."""
    rl = podrl
    ok(rl.run("pod", "create", "--name", "held"))
    ok(rl.run("create", "--name", "member", "--pod", "held", "--rootfs", rootfs, "true"))
    ok(rl.run("pod", "create", "--name", "bare", "--infra=false"))
    infra = json.loads(ok(rl.run("pod", "inspect", "held")))["InfraContainerID"]
    res = rl.run("rm", "-f", infra)
    assert res.returncode == 125 and "is the infra container of pod" in res.stderr
    assert rl.run("pod", "exists", "held").returncode == 0
    ok(rl.run("rm", "-af"))
    assert ok(rl.run("pod", "ps", "--format", "{{.Name}}")) == "bare\n"
    assert ok(rl.run("ps", "-aq")) == ""
    res = rl.run("pod", "rm", "nope")
    assert res.returncode == 1 and res.stderr.startswith("Error: no pod with name or ID nope found")
    assert rl.run("pod", "rm", "--ignore", "nope").returncode == 0


def test_member_with_its_own_network_leaves_the_pods_network_as_podman(podrl, rootfs):
    """podman 4.3 accepts --network with --pod: the container gets that
    network (not the pod's) and keeps the pod's UTS and IPC."""
    rl = podrl
    ok(rl.run("pod", "create", "--name", "own"))
    ok(rl.run("run", "-d", "--name", "in", "--pod", "own", "--rootfs", rootfs, "sleep", "300"))
    ok(rl.run("run", "-d", "--name", "apart", "--pod", "own", "--network", "slirp4netns", "--rootfs", rootfs,
              "sleep", "300"))
    ns = {n: ok(rl.run("exec", n, "sh", "-c", "readlink /proc/self/ns/net /proc/self/ns/uts")).split()
          for n in ("in", "apart")}
    assert ns["in"][0] != ns["apart"][0] and ns["in"][1] == ns["apart"][1]


@pytest.mark.registry
def test_compose_in_pod_true(compose):  # noqa: F811 - the fixture imported above
    """podman-compose 1.6, --in-pod=true: `pod create --infra=false --share=`, members with --pod and their
    own network, `pod rm` at down; nothing left after."""
    port = free_port()
    (compose.dir / "compose.yaml").write_text(f"""
services:
  web:
    image: {compose.image}
    init: true
    command: ["perl", "-e", {_compose_quote(WEB)}]
    ports:
      - "127.0.0.1:{port}:80"
""")
    rl = compose.rl
    compose.ok("--in-pod=true", "up", "-d")
    try:
        pods = json.loads(ok(rl.run("pod", "ps", "--format", "json")))
        assert [p["Name"] for p in pods] == ["pod_proj"]
        assert [c["Names"] for c in pods[0]["Containers"]] == ["proj_web_1"]
        assert read_port(port) == "hello from web\n"
        assert "proj_web_1" in compose.ok("--in-pod=true", "ps")
    finally:
        compose.ok("--in-pod=true", "down")
    assert ok(rl.run("pod", "ps", "-q")) == ""
    assert ok(rl.run("ps", "-a", "-q")) == ""
    wait_for(lambda: not helpers_left(rl), "no helper of the project left")


def test_podman_pod_shapes_match(both, rootfs):
    """The same pod through rl and podman: `pod ps --format json` keys, `pod inspect` keys, what the
    member containers see (host name, localhost)."""
    rl, podman, img = both
    results = {}
    for tool, image in ((rl, "debian:bookworm"), (podman, img)):
        ok(tool.run("pod", "create", "--name", "cmp", "--label", "k=v"))
        ok(tool.run("run", "-d", "--name", "srv", "--pod", "cmp", image, "perl", "-e", WEB))
        seen = ok(tool.run("run", "--rm", "--pod", "cmp", image, "bash", "-c",
                           f"cat /proc/sys/kernel/hostname; for i in $(seq 100); do {FETCH} && break; sleep 0.2; done"))
        ps = json.loads(ok(tool.run("pod", "ps", "--format", "json")))
        ins = json.loads(ok(tool.run("pod", "inspect", "cmp")))
        ctrs = json.loads(ok(tool.run("ps", "-a", "--pod", "--format", "json")))
        results[tool is rl] = (seen, ps, ins, ctrs)
        ok(tool.run("pod", "rm", "-f", "-t", "0", "cmp"))
        assert ok(tool.run("pod", "ps", "-q")) == ""
    (rseen, rps, rins, rctrs), (pseen, pps, pins, pctrs) = results[True], results[False]
    assert rseen == pseen == "cmp\nhello from web\n"
    assert sorted(rps[0]) == sorted(pps[0])
    assert rps[0]["Status"] == pps[0]["Status"] == "Running" and rps[0]["Labels"] == pps[0]["Labels"]
    assert sorted(c["Status"] for c in rps[0]["Containers"]) == sorted(c["Status"] for c in pps[0]["Containers"])
    # podman fills cgroup keys rl has no use for (its pods have no cgroup of their own); the rest is the same
    cgroup_only = {"CgroupPath"}
    assert set(rins) == set(pins) - cgroup_only
    for key in ("Name", "State", "Labels", "NumContainers", "ExitPolicy", "CreateInfra"):
        assert rins[key] == pins[key], key
    assert sorted(rins["SharedNamespaces"]) == sorted(pins["SharedNamespaces"])  # podman's order varies
    assert {c["Name"] == rins["Name"] for c in rins["Containers"]} == {c["Name"] == pins["Name"] for c in pins["Containers"]}
    assert {e["IsInfra"] for e in rctrs} == {e["IsInfra"] for e in pctrs} == {True, False}
    assert {e["PodName"] for e in rctrs} == {e["PodName"] for e in pctrs} == {"cmp"}


def test_pod_logs_merge_members_in_time_order(podrl, rootfs):
    """`rl pod logs`: the members' lines (never the infra's) prefixed with their names, merged in the
    order they were written, as `rl logs A B` does (one member's lines after the other's: out of order)."""
    rl = podrl
    ok(rl.run("pod", "create", "--name", "chat"))
    for name in ("ping", "pong"):  # five lines each, a second apart: their times interleave
        ok(rl.run("run", "-d", "--name", name, "--pod", "chat", "--rootfs", rootfs, "sh", "-c",
                  f"for i in 1 2 3 4 5; do echo {name}$i; sleep 1; done"))
    ok(rl.run("wait", "ping", "pong"))
    lines = [ln.split(" ", 2) for ln in ok(rl.run("pod", "logs", "--names", "-t", "chat")).splitlines()]
    assert sorted((n, text) for n, _, text in lines) == sorted((n, f"{n}{i}") for n in ("ping", "pong")
                                                                for i in range(1, 6))
    stamps = [t for _, t, _ in lines]  # fixed-width UTC with nanoseconds (rl-monitor): text order is time order
    assert stamps == sorted(stamps)
