"""Pure pieces of the images engine: platform choice, auth challenges,
rendering, and name lookup in a store built by hand (no layers needed)."""
import hashlib
import json

import pytest

from rootless.config import Paths
from rootless.errors import ImageError, ImageNotFound
from rootless.images import registry, render
from rootless.images.store import ImageStore

AMD = {"os": "linux", "architecture": "amd64"}
ARM = {"os": "linux", "architecture": "arm64", "variant": "v8"}
UNK = {"os": "unknown", "architecture": "unknown"}
M = "application/vnd.oci.image.manifest.v1+json"


def _index(*plats):
    return {"manifests": [{"mediaType": M, "digest": f"sha256:{i}" * 1, "platform": p}
                          for i, p in enumerate(plats)]}


def test_platform_selection():
    idx = _index(UNK, AMD, ARM)
    P = registry.Platform
    assert registry.select_platform(idx, P("linux", "amd64"))["platform"] == AMD
    assert registry.select_platform(idx, P("linux", "arm64", "v8"))["platform"] == ARM
    assert registry.select_platform(idx, registry.parse_platform("linux/arm64"))["platform"] == ARM
    with pytest.raises(ImageError) as e:
        registry.select_platform(idx, P("linux", "s390x"))
    assert "linux/amd64" in e.value.hint and "unknown" not in e.value.hint
    with pytest.raises(ImageError):
        registry.select_platform(_index(UNK), P("unknown", "unknown"))
    # arm64 without a variant in the index still matches the v8 default
    assert registry.select_platform(_index({"os": "linux", "architecture": "arm64"}),
                                    P("linux", "arm64", "v8"))["platform"]["architecture"] == "arm64"


def test_parse_platform():
    assert str(registry.parse_platform("linux/arm/v7")) == "linux/arm/v7"
    assert registry.parse_platform("linux/x86_64").arch == "amd64"
    for bad in ("linux", "a/b/c/d", "linux/"):
        with pytest.raises(ImageError):
            registry.parse_platform(bad)


def test_challenge():
    s, p = registry.parse_challenge('Bearer realm="https://auth.io/token",service="reg.io",scope="repository:a/b:pull,push"')
    assert s == "bearer" and p == {"realm": "https://auth.io/token", "service": "reg.io",
                                   "scope": "repository:a/b:pull,push"}
    assert registry.parse_challenge('Basic realm="Registry Realm"') == ("basic", {"realm": "Registry Realm"})


def test_render():
    assert render.human_size(170_401_280) == "170 MB"
    assert render.human_size(999) == "999 B"
    assert render.human_size(7_800_000) == "7.8 MB"
    assert render.human_duration(90) == "About a minute"
    assert render.human_duration(3 * 86400) == "3 days"
    assert render.human_duration(20 * 86400) == "2 weeks"
    assert render.human_duration(800 * 86400) == "2 years"
    assert render.parse_time("2024-01-01T00:00:00.123456789Z") == pytest.approx(1704067200.123456789)
    assert render.parse_time("2024-01-01T01:00:00+01:00") == 1704067200
    assert render.table([["a", "bb"]], ["X", "Y"]) == "X  Y\na  bb"


def _add(store, names, digests=(), config=None):
    config = config or {"rootfs": {"diff_ids": []}, "n": names}
    raw = json.dumps(config).encode()
    cid = hashlib.sha256(raw).hexdigest()
    store.put_blob("sha256:" + cid, raw)
    man = json.dumps({"config": cid}).encode()
    mdig = "sha256:" + hashlib.sha256(man).hexdigest()
    store.put_blob(mdig, man)
    return store.commit(config_digest="sha256:" + cid, manifest_digest=mdig, layers=[], names=list(names),
                        digests=list(digests))


def test_lookup_and_tags(tmp_path, monkeypatch):
    monkeypatch.setenv("CONTAINERS_REGISTRIES_CONF", str(tmp_path / "none.conf"))
    store = ImageStore(Paths(tmp_path, tmp_path / "run"))
    deb = _add(store, ["docker.io/library/debian:bookworm"], ["docker.io/library/debian@sha256:" + "d" * 64])
    quay = _add(store, ["quay.io/team/tool:1"])
    loc = _add(store, ["localhost/mine:latest"])
    assert store.lookup("debian:bookworm").id == deb.id
    assert store.lookup("docker.io/library/debian:bookworm").id == deb.id
    assert store.lookup("library/debian:bookworm").id == deb.id
    assert store.lookup("debian@sha256:" + "d" * 64).id == deb.id
    assert store.lookup("team/tool:1").id == quay.id      # short name matched by its path
    assert store.lookup("tool:1").id == quay.id
    assert store.lookup("mine").id == loc.id
    assert store.lookup(deb.id).id == deb.id
    assert store.lookup(deb.id[:12]).id == deb.id
    assert store.lookup("sha256:" + deb.id).id == deb.id
    for missing in ("debian", "debian:sid", "quay.io/team/tool:2", "0" * 64):
        with pytest.raises(ImageNotFound):
            store.lookup(missing)
    # a tag moves: the old image keeps its other names
    store.tag(loc, "debian:bookworm")  # a short name is tagged under localhost/, as podman does
    assert "localhost/debian:bookworm" in store.get(loc.id).names
    assert store.lookup("debian:bookworm").id == loc.id  # localhost/ is tried first
    store.untag(store.get(loc.id), "localhost/debian:bookworm")
    store.tag(loc, "docker.io/library/debian:bookworm")
    assert store.lookup("debian:bookworm").id == loc.id
    assert store.get(deb.id).names == []
    assert set(store.get(loc.id).names) == {"localhost/mine:latest", "docker.io/library/debian:bookworm"}
    assert store.untag(store.get(loc.id), "mine")
    assert store.get(loc.id).names == ["docker.io/library/debian:bookworm"]
    store.remove(store.get(quay.id))
    assert {i.id for i in store.images()} == {deb.id, loc.id}
