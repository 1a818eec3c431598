"""Pure rules of the layer unpacker: names, whiteouts, tar fields."""
import pytest

from rootless.images import unpack as U


@pytest.mark.parametrize("name,parts", [
    ("a/b/c", ["a", "b", "c"]), ("./a/./b/", ["a", "b"]), ("/etc/passwd", ["etc", "passwd"]),
    ("a/../b", ["b"]), ("./", []), ("/", []), ("a//b", ["a", "b"]),
])
def test_clean_name(name, parts):
    assert U.clean_name(name) == parts


@pytest.mark.parametrize("name", ["..", "../x", "a/../../x", "/../etc/passwd", "./a/b/../../../c"])
def test_clean_name_refuses_escapes(name):
    with pytest.raises(U.LayerUnsafe, match="outside the layer root"):
        U.clean_name(name)


def test_whiteout_kind():
    assert U.whiteout_kind(".wh..wh..opq") == ("opaque", None)
    assert U.whiteout_kind(".wh.foo") == ("whiteout", "foo")
    assert U.whiteout_kind(".wh..wh.plnk") == ("aufs", None)
    assert U.whiteout_kind("foo.wh.bar") == ("plain", None)
    assert U.whiteout_kind(".whatever") == ("plain", None)
    for bad in (".wh.", ".wh.."):
        with pytest.raises(U.LayerUnsafe):
            U.whiteout_kind(bad)


def test_numeric_fields():
    assert U._num(b"0000644\0") == 0o644
    assert U._num(b"       \0") == 0
    assert U._num(b"\x80" + (123456789).to_bytes(11, "big")) == 123456789
    assert U._num(b"\xff" * 12) == -1


def test_pax():
    rec = b"30 path=" + b"x" * 21 + b"\n" + b"25 SCHILY.xattr.user.a=\x01\n"
    got = U.parse_pax(rec)
    assert got["path"] == "x" * 21 and got["SCHILY.xattr.user.a"] == b"\x01"
    assert U._pax_time("1700000000.5") == 1700000000_500000000


def test_detect_compression():
    assert U.detect_compression(b"\x1f\x8b\x08\x00") == "gzip"
    assert U.detect_compression(b"\x28\xb5\x2f\xfd") == "zstd"
    assert U.detect_compression(b"ustar") == "none"
