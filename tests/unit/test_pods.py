"""Pure logic of rl's pods: --share parsing, the pod status podman derives
from its containers' states, pod ps filters and the inspect/ps shapes."""

from __future__ import annotations

import pytest

from rootless.errors import UsageError
from rootless.pods import ops, views
from rootless.pods.store import Pod, PodStore


def test_share_defaults_and_forms():
    assert ops.parse_share(None, True) == ["ipc", "net", "uts"]
    assert ops.parse_share(None, False) == []
    assert ops.parse_share("", True) == []           # podman-compose's --share=
    assert ops.parse_share("none", True) == []
    assert ops.parse_share("uts,net,net", True) == ["net", "uts"]


@pytest.mark.parametrize("value, words", [
    ("bogus", "invalid kernel namespace to share: bogus"),
    ("pid", "share the ipc, net and uts namespaces only"),
    ("cgroup", "share the ipc, net and uts namespaces only"),
])
def test_share_refused(value, words):
    with pytest.raises(UsageError, match=words):
        ops.parse_share(value, True)


def test_share_without_infra_refused_as_podman():
    with pytest.raises(UsageError, match=r"cannot set share\(net\) namespaces without an infra container"):
        ops.parse_share("net", False)


@pytest.mark.parametrize("states, want", [
    ([], "Created"),
    (["created", "created"], "Created"),
    (["running", "running"], "Running"),
    (["running", "exited"], "Degraded"),
    (["running", "created"], "Degraded"),
    (["paused", "paused"], "Paused"),
    (["exited", "exited"], "Exited"),
    (["exited", "created"], "Stopped"),
])
def test_status(states, want):
    assert ops.status(states) == want


class _Rec:
    def __init__(self, cid, name, infra=False):
        self.id, self.name, self.request = cid, name, {"pod_infra": infra}


def _pod(**kw):
    return Pod("ab" * 32, "web", created=1_700_000_000.5, **kw)


def test_filters():
    pod = _pod(labels={"app": "x", "tier": ""})
    recs = [_Rec("c" * 64, "web-infra", True), _Rec("d" * 64, "server")]
    sts = ["running", "exited"]
    m = lambda *f: views.matches(pod, recs, sts, "Degraded", list(f))  # noqa: E731
    assert m("name=we") and not m("name=^eb")
    assert m("id=abab") and not m("id=ff")
    assert m("label=app=x") and m("label=tier") and not m("label=app=y") and not m("label=nope")
    assert m("status=degraded") and not m("status=running")
    assert m("ctr-names=serv") and m("ctr-ids=ddd") and m("ctr-status=exited") and m("ctr-number=2")
    assert m("name=web", "label=app=x") and not m("name=web", "label=app=y")  # keys AND
    assert m("label=app=y", "label=app=x")  # one key's values OR


def test_filters_checked():
    with pytest.raises(UsageError, match="bogus is an invalid filter"):
        views.check_filters(["bogus=1"])
    with pytest.raises(UsageError, match="invalid filter"):
        views.check_filters(["name"])


def test_inspect_shape_with_and_without_infra():
    recs = [_Rec("c" * 64, "abab-infra", True)]
    pod = _pod(labels={"a": "b"}, share=["ipc", "net", "uts"], infra_id="c" * 64, publish=["8080:80"])
    out = views.inspect(pod, recs, ["running"], "Running")
    assert out["InfraContainerID"] == "c" * 64 and out["SharedNamespaces"] == ["ipc", "net", "uts"]
    assert out["InfraConfig"]["PortBindings"] == {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}
    assert out["Containers"] == [{"Id": "c" * 64, "Name": "abab-infra", "State": "running"}]
    assert out["NumContainers"] == 1 and out["Labels"] == {"a": "b"} and out["State"] == "Running"
    assert out["Created"].startswith("2023-11-14T22:13:20.5")
    bare = views.inspect(_pod(infra=False), [], [], "Created")
    # podman leaves these out when empty (omitempty)
    for key in ("InfraContainerID", "InfraConfig", "SharedNamespaces", "Containers", "Labels"):
        assert key not in bare
    assert bare["CreateInfra"] is False and bare["NumContainers"] == 0


def test_ps_json_keys_are_podmans():
    pod = _pod(infra_id="c" * 64)
    got = views.ps_json(pod, [_Rec("c" * 64, "i", True)], ["running"], "Running")
    assert sorted(got) == ['Cgroup', 'Containers', 'Created', 'Id', 'InfraId', 'Name', 'Namespace', 'Networks',
                           'Status']  # podman 4.3's, Labels left out when empty
    assert got["Containers"] == [{"Id": "c" * 64, "Names": "i", "Status": "running"}]
    assert "Labels" in views.ps_json(_pod(labels={"a": "b"}), [], [], "Created")


def test_store_names_and_prefixes(tmp_path):
    from rootless.config import Paths
    store = PodStore(Paths(tmp_path))
    a = store.create(Pod("a1" + "0" * 62, "one"))
    store.create(Pod("a2" + "0" * 62, "two"))
    assert store.lookup("one").id == a.id and store.lookup("a1").id == a.id
    with pytest.raises(Exception, match="more than one"):
        store.lookup("a")
    with pytest.raises(Exception, match="already in use"):
        store.create(Pod("b" * 64, "one"))
    with pytest.raises(UsageError, match="invalid pod name"):
        store.create(Pod("c" * 64, "-bad"))
    store.remove(a)
    assert not store.exists("one") and [p.name for p in store.all()] == ["two"]


def test_exit_policy_checked_before_anything_is_recorded(tmp_path):
    from rootless.config import Paths
    paths = Paths(tmp_path)
    with pytest.raises(UsageError, match="--exit-policy stop is not supported"):
        ops.create(paths, name="x", infra=False, exit_policy="stop")
    with pytest.raises(UsageError, match="invalid --exit-policy"):
        ops.create(paths, name="x", infra=False, exit_policy="later")
    with pytest.raises(UsageError, match="need its infra container"):
        ops.create(paths, name="x", infra=False, publish=["80"])
    assert PodStore(paths).all() == []
    pod = ops.create(paths, name="x", infra=False, labels={"a": "b"})  # podman-compose's pod: no infra, no share
    assert (pod.infra, pod.share, pod.infra_id) == (False, [], "")
    assert PodStore(paths).lookup("x").labels == {"a": "b"}


def test_generate_systemd_gives_a_member_its_pod_not_what_the_pod_derived():
    from rootless.systemd.generate import run_args
    from rootless.containers.run import RunRequest
    from rootless.plain import asdict
    infra = "f" * 64
    req = RunRequest(image="img", command=["sleep", "1"], pod="a" * 64, pod_infra_id=infra,
                     pod_share=["ipc", "net", "uts"], network=f"container:{infra}", hostname="shop",
                     requires=[infra, "b" * 64])
    flat = [x for g in run_args(asdict(req), "img") for x in g]
    assert flat[flat.index("--pod") + 1] == "a" * 64
    assert "--network" not in flat and "--hostname" not in flat
    assert flat[flat.index("--requires") + 1] == "b" * 64 and infra not in flat
