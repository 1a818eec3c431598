"""-v and --tmpfs option parsing, podman's rules (pure)."""

from __future__ import annotations

import pytest

from rootless.containers import options
from rootless.errors import UsageError
from rootless.runtime import mounts


def named(name: str) -> str:
    return f"/store/volumes/{name}/_data"


def test_tmpfs_options_reach_the_options_field_not_idmap():
    t = options.parse_tmpfs("/scratch:size=1m,exec,mode=0700")
    assert t.idmap is None and t.options == "size=1m,exec,mode=0700"
    flags, data = mounts.tmpfs_options(t.options)
    assert data == "size=1m,mode=0700" and not flags & mounts.NOEXEC


def test_tmpfs_defaults_are_podmans():
    flags, data = mounts.tmpfs_options(options.parse_tmpfs("/scratch").options)
    assert flags & mounts.NOSUID and flags & mounts.NODEV and not flags & mounts.NOEXEC
    assert data == "mode=1777"
    flags, _ = mounts.tmpfs_options(options.parse_tmpfs("/s:noexec,noatime,rprivate,notmpcopyup").options)
    assert flags & mounts.NOEXEC and flags & mounts.Mount.NOATIME


@pytest.mark.parametrize("bad", ["/s:bogus", "/s:mode=rwx", "/s:size=", "rel:size=1m"])
def test_tmpfs_bad(bad):
    with pytest.raises(UsageError):
        options.parse_tmpfs(bad)


def test_named_volume_fields():
    b = options.parse_volume("data:/d:ro,nocopy,noexec,rshared,cached,delegated,Z", named=named)
    assert (b.source, b.target, b.readonly, b.volume, b.copy) == (named("data"), "/d", True, "data", False)
    assert set(b.attrs) == {"noexec", "nosuid", "nodev"} and b.propagation == "rshared"
    b = options.parse_volume("data:/d:suid,dev,exec", named=named)
    assert set(b.attrs) == {"suid", "dev", "exec"} and b.copy


def test_host_paths_get_no_default_attrs(tmp_path):
    b = options.parse_volume(f"{tmp_path}:/d:nosuid,U", named=named)
    assert b.volume == "" and b.attrs == ("nosuid",) and b.chown


@pytest.mark.parametrize("bad,words", [("v:/d:O", "overlay"), ("v:/d:idmap", "idmap"),
                                       ("v:/d:idmap=uids=0-1-1", "idmap"), ("v:/d:ro,rw", "exclude"),
                                       ("v:/d:copy,nocopy", "exclude"), ("v:/d:shared,slave", "exclude"),
                                       ("v:/d:weird", "invalid volume option"), ("/d", "anonymous")])
def test_volume_refusals(bad, words):
    with pytest.raises(UsageError) as e:
        options.parse_volume(bad, named=named)
    assert words in e.value.message


def test_anonymous_form():
    assert options.anonymous_volume("/data/") == "/data"
    assert options.anonymous_volume("data") is None and options.anonymous_volume("/a:/b") is None
