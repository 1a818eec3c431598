import pytest

from rootless.containers.options import parse_volume
from rootless.errors import UsageError
from rootless.volumes import valid_name


def test_named_volume_resolved_through_the_callback():
    b = parse_volume("cache:/var/cache:ro", named=lambda n: f"/vols/{n}/_data")
    assert (b.source, b.target, b.readonly) == ("/vols/cache/_data", "/var/cache", True)


def test_named_volume_needs_a_resolver():
    with pytest.raises(UsageError):
        parse_volume("cache:/var/cache")


@pytest.mark.parametrize("name,ok", [("data", True), ("a.b-c_1", True), ("1x", True), ("-x", False),
                                     ("a/b", False), ("", False), (".hidden", False)])
def test_volume_names(name, ok):
    assert valid_name(name) is ok
