"""A hostile-input corpus for the parsers that read what an image or a
registry controls: rl's own tar reader (rootless/images/unpack.py), the
manifest/index/config checks (registry.py, puller.py) and the container's
/etc/passwd reader (runtime/users.py).

Every input is generated here. Each must give one clear ImageError (the CLI
turns it into one line and exit 125; the end-to-end runs are in
tests/integration/test_security_tar.py and test_security_registry.py), never
a ValueError/OverflowError, write nothing outside the destination, and keep
memory bounded (measured with getrusage in a child process, no timing)."""

from __future__ import annotations

import gzip
import io
import os
import subprocess
import sys
import tarfile
import zlib
from pathlib import Path

import pytest

from rootless.errors import ImageError, RegistryError
from rootless.images import puller, registry
from rootless.images import unpack as U
from rootless.runtime import users

REPO = Path(__file__).resolve().parents[2]
D = "sha256:" + "ab" * 32


# ------------------------------------------------------------------ tar headers by hand

def header(name: bytes = b"f", *, mode: bytes = b"0000644", uid: bytes = b"0000000", gid: bytes = b"0000000",
           size: bytes = b"00000000000", mtime: bytes = b"00000000000", typ: bytes = b"0", link: bytes = b"",
           devmajor: bytes = b"0000000", devminor: bytes = b"0000000", chksum: bytes | None = None) -> bytes:
    """One ustar header block with raw fields (garbage allowed) and a right
    checksum unless `chksum` is given."""
    def fld(v: bytes, n: int) -> bytes:
        assert len(v) <= n, (v, n)
        return v + b"\0" * (n - len(v))
    h = bytearray(512)
    h[0:100] = fld(name, 100)
    h[100:108] = fld(mode, 8)
    h[108:116] = fld(uid, 8)
    h[116:124] = fld(gid, 8)
    h[124:136] = fld(size, 12)
    h[136:148] = fld(mtime, 12)
    h[148:156] = b" " * 8
    h[156:157] = typ
    h[157:257] = fld(link, 100)
    h[257:265] = b"ustar\x0000"
    h[329:337] = fld(devmajor, 8)
    h[337:345] = fld(devminor, 8)
    h[148:156] = chksum if chksum is not None else b"%06o\0 " % sum(h)
    return bytes(h)


def pad(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 512)


def special(typ: bytes, data: bytes, declared: int | None = None) -> bytes:
    size = len(data) if declared is None else declared
    return header(b"././@LongLink" if typ in (b"L", b"K") else b"PaxHeaders/f", typ=typ,
                  size=b"%011o" % size) + pad(data)


def pax_record(key: str, value: bytes | str) -> bytes:
    """One pax record, "LEN key=value\\n", LEN counting its own digits."""
    body = f" {key}=".encode() + (value if isinstance(value, bytes) else value.encode()) + b"\n"
    n = len(body) + 1
    while len(str(n)) + len(body) != n:
        n += 1
    return str(n).encode() + body


def tar_of(*blocks: bytes) -> bytes:
    return b"".join(blocks) + b"\0" * 1024


FILE_X = header(b"x", size=b"00000000001") + pad(b"x")

# (id, tar bytes, what the one-line error must say)
CORPUS = [
    ("size-octal-garbage", tar_of(header(b"f", size=b"0000000x012")), "invalid size"),
    ("size-negative-text", tar_of(header(b"f", size=b"-0000000001")), "invalid size"),
    ("size-plus-sign", tar_of(header(b"f", size=b"+0000000001")), "invalid size"),
    ("size-underscore", tar_of(header(b"f", size=b"0_000000001")), "invalid size"),
    ("size-base256-huge", tar_of(header(b"f", size=b"\x80" + (1 << 80).to_bytes(11, "big"))), "size out of range"),
    ("size-base256-negative", tar_of(header(b"f", size=b"\xff" * 12)), "negative size"),
    ("size-base256-bad-marker", tar_of(header(b"f", size=b"\x81" + b"\0" * 11)), "invalid base-256 size"),
    ("mode-garbage", tar_of(header(b"f", mode=b"06y4")), "invalid mode"),
    ("uid-negative", tar_of(header(b"f", uid=b"\xff" * 8)), "negative uid"),
    ("uid-past-32-bits", tar_of(header(b"f", uid=b"\x80" + (1 << 32).to_bytes(7, "big"))), "uid 4294967296"),
    ("gid-garbage", tar_of(header(b"f", gid=b"12 34")), "invalid gid"),
    ("mtime-garbage", tar_of(header(b"f", mtime=b"1234abcd")), "invalid mtime"),
    ("mtime-base256-huge", tar_of(header(b"f", mtime=b"\x80" + (1 << 70).to_bytes(11, "big"))), "mtime"),
    ("checksum-garbage", tar_of(header(b"f", chksum=b"zz\0     ")), "bad tar header checksum"),
    ("checksum-wrong", tar_of(header(b"f", chksum=b"000001\0 ")), "bad tar header checksum"),
    ("devmajor-garbage", tar_of(header(b"dev", typ=b"3", devmajor=b"1x")), "invalid devmajor"),
    ("pax-over-1mib", tar_of(special(b"x", b"", declared=(1 << 20) + 1), FILE_X), "pax header of 1048577 bytes"),
    ("pax-declared-8gib", tar_of(special(b"x", b"", declared=8 << 30)), "pax header of 8589934592 bytes"),
    ("global-pax-over-1mib", tar_of(special(b"g", b"", declared=2 << 20)), "global pax header"),
    ("gnu-longname-over-1mib", tar_of(special(b"L", b"", declared=2 << 20)), "GNU long-name header"),
    ("gnu-longlink-over-1mib", tar_of(special(b"K", b"", declared=2 << 20)), "GNU long-link header"),
    ("pax-length-not-a-number", tar_of(special(b"x", b"ab path=x\n"), FILE_X), "malformed pax header record"),
    ("pax-length-past-end", tar_of(special(b"x", b"99999 path=x\n"), FILE_X), "malformed pax header record"),
    ("pax-length-zero", tar_of(special(b"x", b"0 path=x\n"), FILE_X), "malformed pax header record"),
    ("pax-length-negative", tar_of(special(b"x", b"-5 path=x\n"), FILE_X), "malformed pax header record"),
    ("pax-no-equals", tar_of(special(b"x", b"9 pathx\n"), FILE_X), "malformed pax header record"),
    ("pax-size-garbage", tar_of(special(b"x", pax_record("size", "12abc")), FILE_X), "invalid pax size"),
    ("pax-size-negative", tar_of(special(b"x", pax_record("size", "-1")), FILE_X), "invalid pax size"),
    ("pax-size-huge", tar_of(special(b"x", pax_record("size", "9" * 30)), FILE_X), "invalid pax size"),
    ("pax-size-4301-digits", tar_of(special(b"x", pax_record("size", "1" * 4301)), FILE_X), "invalid pax size"),
    ("pax-uid-negative", tar_of(special(b"x", pax_record("uid", "-1")), FILE_X), "invalid pax uid"),
    ("pax-uid-past-32-bits", tar_of(special(b"x", pax_record("uid", str(1 << 40))), FILE_X), "uid"),
    ("pax-gid-unicode-digits", tar_of(special(b"x", pax_record("gid", "\u0663")), FILE_X), "invalid pax gid"),
    ("pax-mtime-exponent", tar_of(special(b"x", pax_record("mtime", "1e9")), FILE_X), "invalid pax time"),
    ("pax-mtime-huge", tar_of(special(b"x", pax_record("mtime", "9" * 40)), FILE_X), "invalid pax time"),
    ("pax-mtime-garbage-fraction", tar_of(special(b"x", pax_record("mtime", "1.x")), FILE_X), "invalid pax time"),
    ("pax-path-nul", tar_of(special(b"x", pax_record("path", b"a\0b")), FILE_X), "NUL byte"),
    ("pax-linkpath-nul", tar_of(special(b"x", pax_record("linkpath", b"a\0b")),
                                header(b"l", typ=b"2")), "NUL byte"),
    ("huge-declared-file-size", tar_of(header(b"f", size=b"77777777777") + b"x" * 512), "truncated"),
]


def _gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def _good_tar() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for i in range(40):
            data = os.urandom(2000)
            ti = tarfile.TarInfo(f"d/f{i}")
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def _zstd(data: bytes) -> bytes:
    zstandard = pytest.importorskip("zstandard")
    return zstandard.ZstdCompressor(write_checksum=True).compress(data)


COMPRESSED = [
    ("gzip-truncated", lambda: _gz(_good_tar())[:-4000], "truncated"),
    ("gzip-corrupt", lambda: (lambda b: b[:200] + bytes(x ^ 0x55 for x in b[200:400]) + b[400:])(_gz(_good_tar())),
     "gzip"),
    ("zstd-truncated", lambda: _zstd(_good_tar())[:-4000], "truncated"),
    ("zstd-corrupt", lambda: (lambda b: b[:100] + bytes(x ^ 0x55 for x in b[100:300]) + b[300:])(_zstd(_good_tar())),
     "zstd"),
]


def _unpack_fails(tmp_path: Path, blob: bytes, needle: str) -> ImageError:
    src = tmp_path / "blob"
    src.write_bytes(blob)
    dest = tmp_path / "dest"
    dest.mkdir()
    before = sorted(os.listdir(tmp_path))
    with pytest.raises(Exception) as info:
        U.unpack(str(src), str(dest))
    err = info.value
    assert isinstance(err, ImageError), f"{type(err).__name__}: {err}"
    assert "\n" not in err.message and needle in err.message, err.message
    assert sorted(os.listdir(tmp_path)) == before  # nothing written beside the destination
    return err


@pytest.mark.parametrize("blob,needle", [c[1:] for c in CORPUS], ids=[c[0] for c in CORPUS])
def test_hostile_tar_header_is_one_clear_error(tmp_path, blob, needle):
    _unpack_fails(tmp_path, blob, needle)


@pytest.mark.parametrize("make,needle", [c[1:] for c in COMPRESSED], ids=[c[0] for c in COMPRESSED])
def test_hostile_compressed_layer_is_one_clear_error(tmp_path, make, needle):
    _unpack_fails(tmp_path, make(), needle)


def test_pax_header_at_the_cap_still_works(tmp_path):
    """The cap refuses abuse only: a 1 MiB pax header (a long path) is read."""
    long = "/".join(["d" * 200] * 3)
    rec = pax_record("path", long) + pax_record("comment", "c" * ((1 << 20) - 700 - len(long)))
    assert len(rec) <= U.MAX_SPECIAL
    blob = tar_of(special(b"x", rec), header(b"ignored", size=b"00000000001") + pad(b"y"))
    (tmp_path / "b").write_bytes(blob)
    (tmp_path / "d").mkdir()
    res = U.unpack(str(tmp_path / "b"), str(tmp_path / "d"))
    assert res.entries == 1 and (tmp_path / "d" / long).read_bytes() == b"y"


def _zeros_gz(n: int) -> bytes:
    c = zlib.compressobj(9, zlib.DEFLATED, 31)
    chunk = bytes(1 << 20)
    out = [c.compress(chunk) for _ in range(n >> 20)]
    return b"".join(out) + c.flush()


_MEASURE = """
import sys
from rootless.images import unpack
try:
    unpack.unpack(sys.argv[1], sys.argv[2])
    print("ok")
except BaseException as e:
    print(type(e).__name__, str(e).splitlines()[0][:200])
# VmHWM is this address space's own peak; ru_maxrss would carry over the
# forking pytest process's (hundreds of MiB late in a long run) across exec.
print(next(l.split()[1] for l in open("/proc/self/status") if l.startswith("VmHWM:")))
"""


def test_pax_header_over_1mib_refused_with_memory_bounded(tmp_path):
    """A 256 MiB pax header (the bytes really are there, gzip makes them
    cheap) is refused at its header: the unpacker's peak RSS stays far below
    the header's size."""
    blob = special(b"x", b"", declared=256 << 20)
    c = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = [c.compress(blob[:512])]
    zero = bytes(1 << 20)
    parts += [c.compress(zero) for _ in range(256)]
    parts.append(c.compress(FILE_X + bytes(1024)))
    parts.append(c.flush())
    (tmp_path / "b").write_bytes(b"".join(parts))
    (tmp_path / "d").mkdir()
    res = subprocess.run([sys.executable, "-c", _MEASURE, str(tmp_path / "b"), str(tmp_path / "d")],
                         capture_output=True, text=True, cwd=REPO, timeout=300)
    lines = res.stdout.split("\n")
    assert "pax header of 268435456 bytes" in lines[0], res.stdout + res.stderr
    assert int(lines[1]) < 128 * 1024, f"peak RSS {int(lines[1]) >> 10} MiB"


# ------------------------------------------------------------------ manifests, indexes, configs

BAD_DIGESTS = ["latest", "sha256:../../../../etc/passwd", "../../blobs/sha256/" + "a" * 64, "sha256:" + "A" * 64,
               "sha256:" + "a" * 63, "sha256:" + "a" * 65, "sha512:" + "a" * 128, "sha256:" + "a" * 63 + "\n",
               "sha256:" + "a" * 63 + "/", "", None, 7, ["sha256:" + "a" * 64], {"a": 1}]


@pytest.mark.parametrize("bad", BAD_DIGESTS, ids=[repr(b)[:20] for b in BAD_DIGESTS])
def test_non_digest_refused_everywhere(bad):
    with pytest.raises(RegistryError, match="invalid digest"):
        registry.check_digest(bad, "x")
    man = {"schemaVersion": 2, "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                          "digest": D, "size": 2},
           "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": bad, "size": 1}]}
    with pytest.raises(RegistryError, match="invalid digest"):
        puller._check_manifest(man, "img")
    man["layers"][0]["digest"] = D
    man["config"]["digest"] = bad
    with pytest.raises(RegistryError, match="invalid digest"):
        puller._check_manifest(man, "img")
    with pytest.raises(RegistryError, match="invalid digest"):
        puller.check_config({"rootfs": {"type": "layers", "diff_ids": [bad]}}, "img", 1)


def test_index_digest_not_sha256_refused():
    idx = {"manifests": [{"mediaType": registry.OCI_MANIFEST, "digest": "latest", "size": 10,
                          "platform": {"os": "linux", "architecture": "amd64"}}]}
    desc = registry.select_platform(idx, registry.Platform("linux", "amd64"))
    with pytest.raises(RegistryError, match="invalid digest 'latest'"):
        registry.check_descriptor(desc, "index")


@pytest.mark.parametrize("size", [-1, "10", 1.5, True, 1 << 70, [1]])
def test_malformed_descriptor_size_refused(size):
    with pytest.raises(RegistryError, match="invalid size"):
        registry.check_descriptor({"digest": D, "size": size}, "x")


@pytest.mark.parametrize("doc", [
    [], "x", 3, {"manifests": "nope"}, {"manifests": [1, 2]}, {"manifests": [{"platform": "linux"}]},
], ids=["list", "string", "number", "manifests-string", "manifests-ints", "platform-string"])
def test_malformed_index_refused(doc):
    with pytest.raises(ImageError, match="malformed"):
        registry.select_platform(doc, registry.Platform("linux", "amd64"))


@pytest.mark.parametrize("man,needle", [
    ([], "not a JSON object"),
    ({"config": "x"}, "no config descriptor"),
    ({"config": {"mediaType": "application/vnd.example+json", "digest": D}}, "not a container image"),
    ({"config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": D}, "layers": {}},
     "not a list"),
    ({"config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": D}, "layers": ["x"]},
     "not a descriptor"),
    ({"config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": D},
      "layers": [{"mediaType": "text/html", "digest": D}]}, "unsupported layer type"),
    ({"config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": D},
      "layers": [{"mediaType": ["a"], "digest": D}]}, "invalid media type"),
], ids=["list", "config-string", "config-type", "layers-dict", "layer-string", "layer-type", "layer-type-list"])
def test_malformed_manifest_refused(man, needle):
    with pytest.raises(ImageError, match=needle):
        puller._check_manifest(man, "img")


@pytest.mark.parametrize("cfg,needle", [
    ([], "not a JSON object"), ({"rootfs": {"diff_ids": "x"}}, "not a list"),
    ({"rootfs": {"diff_ids": [D, D]}}, "lists 2 layers"),
])
def test_malformed_config_refused(cfg, needle):
    with pytest.raises(ImageError, match=needle):
        puller.check_config(cfg, "img", 1)


@pytest.mark.parametrize("body", [b"[" * 200000, b'{"a":' * 100000, b"\xff\xfe", b"1" * 5000],
                         ids=["deep-list", "deep-object", "not-utf8", "int-past-digit-limit"])
def test_hostile_json_is_one_error(body):
    with pytest.raises(RegistryError, match="not valid JSON"):
        registry.parse_json(body, "the manifest")


@pytest.mark.parametrize("text", ["0000-13-99T99:99:99Z", "2021-02-30T00:00:00Z", "9999-12-31T23:59:59+99:99",
                                  "0001-01-01T00:00:00+23:59", 12345, ["x"], "2021-01-01T00:00:00." + "9" * 5000])
def test_malformed_config_time_is_unknown(text):
    from rootless.images import render
    assert render.parse_time(text) is None or isinstance(render.parse_time(text), float)
    assert render.since(text) == "N/A" or render.since(text).endswith("ago")


# ------------------------------------------------------------------ the container's /etc/passwd

def test_passwd_fifo_is_refused_without_blocking(tmp_path):
    """No writer ever opens the FIFO: a blocking open would never return (the
    child is run with a generous hang guard, not a timing threshold)."""
    fifo = tmp_path / "passwd"
    os.mkfifo(fifo)
    code = ("import sys\nfrom rootless.runtime import users\n"
            "try:\n    users.read_text(sys.argv[1])\nexcept users.UnknownUser as e:\n    print(e)\n")
    try:
        res = subprocess.run([sys.executable, "-c", code, str(fifo)], capture_output=True, text=True, cwd=REPO,
                             timeout=120)
    except subprocess.TimeoutExpired:
        pytest.fail("reading a FIFO /etc/passwd blocked")
    assert "not a regular file" in res.stdout, res.stdout + res.stderr


def test_passwd_directory_and_missing(tmp_path):
    with pytest.raises(users.UnknownUser, match="not a regular file"):
        users.read_text(str(tmp_path))
    assert users.read_text(str(tmp_path / "absent")) == ""
    (tmp_path / "p").write_text("root:x:0:0::/root:/bin/sh\n")
    assert users.read_text(str(tmp_path / "p")).startswith("root:")


_MEASURE_PASSWD = """
import sys
from rootless.runtime import users
try:
    users.read_text(sys.argv[1])
    print("read")
except users.UnknownUser as e:
    print(e)
# VmHWM is this address space's own peak; ru_maxrss would carry over the
# forking pytest process's (hundreds of MiB late in a long run) across exec.
print(next(l.split()[1] for l in open("/proc/self/status") if l.startswith("VmHWM:")))
"""


def test_huge_passwd_bounded(tmp_path):
    """A 512 MiB (sparse) passwd is refused, not read: peak RSS stays small."""
    big = tmp_path / "passwd"
    with open(big, "wb") as f:
        f.truncate(512 << 20)
    res = subprocess.run([sys.executable, "-c", _MEASURE_PASSWD, str(big)], capture_output=True, text=True,
                         cwd=REPO, timeout=300)
    lines = res.stdout.split("\n")
    assert "larger than 4 MiB" in lines[0], res.stdout + res.stderr
    assert int(lines[1]) < 128 * 1024, f"peak RSS {int(lines[1]) >> 10} MiB"
