import pytest

from rootless.errors import ImageError
from rootless.images import reference as R

D = "sha256:" + "a" * 64


@pytest.mark.parametrize("text,want", [
    ("debian", "docker.io/library/debian:latest"),
    ("debian:12", "docker.io/library/debian:12"),
    ("library/debian", "docker.io/library/debian:latest"),
    ("docker.io/debian", "docker.io/library/debian:latest"),
    ("index.docker.io/library/debian:x", "docker.io/library/debian:x"),
    ("bitnami/redis", "docker.io/bitnami/redis:latest"),
    ("quay.io/podman/hello", "quay.io/podman/hello:latest"),
    ("localhost/foo", "localhost/foo:latest"),
    ("localhost:5000/a/b/c:v1.2_3-x", "localhost:5000/a/b/c:v1.2_3-x"),
    ("127.0.0.1:43210/ns/name:tag", "127.0.0.1:43210/ns/name:tag"),
    (f"alpine@{D}", f"docker.io/library/alpine@{D}"),
    (f"alpine:3@{D}", f"docker.io/library/alpine:3@{D}"),
    (f"host:1/a@{D}", f"host:1/a@{D}"),
    ("a__b/c.d-e--f", "docker.io/a__b/c.d-e--f:latest"),
])
def test_normalise(text, want):
    assert str(R.parse(text)) == want


def test_fields():
    r = R.parse(f"localhost:5000/ns/name:tag@{D}")
    assert (r.domain, r.path, r.tag, r.digest) == ("localhost:5000", "ns/name", "tag", D)
    assert r.repository == "localhost:5000/ns/name"
    assert r.manifest_ref == D
    assert r.tagged == "localhost:5000/ns/name:tag"
    assert R.parse("debian").manifest_ref == "latest"
    assert R.parse("debian").short_path == "debian"
    digest_only = R.parse(f"x/y@{D}")
    assert digest_only.tag is None and digest_only.manifest_ref == D


@pytest.mark.parametrize("text", [
    "", "Debian", "ns/UPPER", "a//b", "a/", "/a", "name:", "name:-bad", "name:.bad",
    "name:" + "t" * 129, "name@sha256:abc", "name@md5:" + "a" * 32, "name@sha256:" + "A" * 64,
    "na me", " debian", "a@b@c", "docker://debian", "a/-b", "a/b-", "host:port/x", "x:y:z",
    "a" * 256,
])
def test_malformed(text):
    with pytest.raises(ImageError) as e:
        R.parse(text)
    assert "invalid reference" in e.value.message
    assert e.value.hint


def test_lowercase_message():
    with pytest.raises(ImageError, match="lowercase"):
        R.parse("docker.io/Library/debian")


def test_short_names_and_candidates():
    assert R.is_short_name("debian") and R.is_short_name("ns/debian:1")
    assert not R.is_short_name("quay.io/x") and not R.is_short_name("localhost/x")
    assert not R.is_short_name("host:5000/x")
    got = [str(r) for r in R.short_candidates("foo/bar:1", ["quay.io", "docker.io"])]
    assert got == ["quay.io/foo/bar:1", "docker.io/foo/bar:1"]
    assert str(R.short_candidates("bar", ["docker.io"])[0]) == "docker.io/library/bar:latest"


def test_ids():
    assert R.looks_like_id("abc123") and R.looks_like_id("sha256:" + "a" * 64)
    assert not R.looks_like_id("debian") and not R.looks_like_id("ab")


def test_no_default_tag():
    assert R.parse("debian", default_tag=False).tag is None
