import pytest

from rootless.errors import ImageError
from rootless.images import bootstrap


def test_suite_comes_from_the_tag():
    assert bootstrap.plan("debian:bookworm") == ("docker.io/library/debian:bookworm", "bookworm")
    assert bootstrap.plan("ubuntu:noble") == ("docker.io/library/ubuntu:noble", "noble")


def test_explicit_suite_allows_any_name():
    assert bootstrap.plan("localhost/mine:1", suite="trixie") == ("localhost/mine:1", "trixie")


@pytest.mark.parametrize("ref,needle", [
    ("debian", "say which release"),
    ("quay.io/foo/bar:1", "cannot tell which distribution"),
    ("debian@sha256:" + "a" * 64, "cannot have a digest"),
])
def test_unclear_requests_are_refused_with_a_hint(ref, needle):
    with pytest.raises(ImageError) as e:
        bootstrap.plan(ref)
    assert needle in e.value.message and e.value.hint
