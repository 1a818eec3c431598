"""Registries that lie: wrong blob bytes, wrong sizes, a config whose diff_ids
do not match, layers that try to escape. rl must fail with a clear error and
exit 125, touch nothing outside the store, and leave the store consistent.

The liar is a tiny in-process HTTP server (the shared registry fixture only
serves honest content)."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

pytestmark = [pytest.mark.userns]


def _tar(entries) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, kind, data, link in entries:
            ti = tarfile.TarInfo(name)
            ti.mtime = 1_600_000_000
            if kind == "file":
                ti.size = len(data)
                tf.addfile(ti, io.BytesIO(data))
            else:
                ti.type = {"dir": tarfile.DIRTYPE, "sym": tarfile.SYMTYPE, "hard": tarfile.LNKTYPE}[kind]
                ti.linkname = link
                ti.mode = 0o755 if kind == "dir" else 0o777
                tf.addfile(ti)
    return buf.getvalue()


def _digest(b: bytes) -> str:
    return "sha256:" + hashlib.sha256(b).hexdigest()


class Liar:
    def __init__(self):
        self.manifests: dict[tuple[str, str], tuple[bytes, str]] = {}
        self.blobs: dict[str, bytes] = {}
        self.cut: set[str] = set()
        self.cut_count: dict[str, int] = {}
        self.cut_times = 99
        self.slow: dict[str, float] = {}
        liar = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                p = self.path
                if p == "/v2/":
                    return self._send(200, b"{}", "application/json")
                if "/manifests/" in p:
                    name, ref = p[4:].split("/manifests/")
                    if (name, ref) in liar.manifests:
                        body, mt = liar.manifests[(name, ref)]
                        return self._send(200, body, mt)
                if "/blobs/" in p:
                    d = p.rsplit("/", 1)[1]
                    if d in liar.cut:  # promise everything, send half, hang up
                        body = liar.blobs[d]
                        liar.cut_count[d] = liar.cut_count.get(d, 0) + 1
                        if liar.cut_count[d] > liar.cut_times:
                            return self._send(200, body, "application/octet-stream")
                        self.send_response(200)
                        self.send_header("Content-Length", str(len(body)))
                        self.end_headers()
                        self.wfile.write(body[: len(body) // 2])
                        self.wfile.flush()
                        self.close_connection = True
                        return
                    if d in liar.slow:
                        body = liar.blobs[d]
                        self.send_response(200)
                        self.send_header("Content-Length", str(len(body)))
                        self.end_headers()
                        for off in range(0, len(body), 65536):
                            self.wfile.write(body[off:off + 65536])
                            self.wfile.flush()
                            time.sleep(liar.slow[d])
                        return
                    if d in liar.blobs:
                        return self._send(200, liar.blobs[d], "application/octet-stream")
                self._send(404, b'{"errors":[{"code":"NOT_FOUND","message":"nope"}]}', "application/json")

            def _send(self, code, body, mt):
                self.send_response(code)
                self.send_header("Content-Type", mt)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.host = f"127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def image(self, name: str, tag: str, layer_tars: list[bytes], *, serve=None, diff_ids=None) -> str:
        layers, diffs = [], []
        for raw in layer_tars:
            gz = gzip.compress(raw)
            d = _digest(gz)
            self.blobs[d] = gz
            layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": d, "size": len(gz)})
            diffs.append(_digest(raw))
        if serve:
            serve(layers, self.blobs)
        cfg = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                          "rootfs": {"type": "layers", "diff_ids": diff_ids or diffs}}).encode()
        self.blobs[_digest(cfg)] = cfg
        man = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                          "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                     "digest": _digest(cfg), "size": len(cfg)},
                          "layers": layers}).encode()
        self.manifests[(name, tag)] = (man, "application/vnd.oci.image.manifest.v1+json")
        self.manifests[(name, _digest(man))] = (man, "application/vnd.oci.image.manifest.v1+json")
        return f"{self.host}/{name}:{tag}"

    def close(self):
        self.server.shutdown()


@pytest.fixture
def liar():
    srv = Liar()
    yield srv
    srv.close()


@pytest.fixture
def rlx(rl):
    yield rl
    from rootless.images.unpack import remove_tree
    from rootless.runtime.userns import run_in_userns
    run_in_userns(remove_tree, str(rl.base))


GOOD = _tar([("etc", "dir", b"", ""), ("etc/hello", "file", b"hello\n", "")])


def store(rl) -> Path:
    return Path(rl.env["XDG_DATA_HOME"]) / "rl" / "images"


def assert_consistent(rl):
    """No image records; only complete layers; no work left in tmp."""
    s = store(rl)
    assert not list((s / "records").glob("*.json")) if (s / "records").exists() else True
    for d in (s / "layers").iterdir() if (s / "layers").exists() else []:
        assert (d / "layer.json").exists()
    if (s / "tmp").exists():
        assert [n for n in os.listdir(s / "tmp") if not n.endswith(".lock")] == []
    assert rl.run("images", "-q").stdout.strip() == ""


def test_honest_liar_works(rlx, liar):
    ref = liar.image("ok/img", "v1", [GOOD])
    res = rlx.run("pull", "--tls-verify=false", ref)
    assert res.returncode == 0, res.stderr


BIG = _tar([("big", "dir", b"", "")] + [(f"big/f{i}", "file", os.urandom(3000) * 3, "") for i in range(300)])


def test_slow_registry_streams(rlx, liar):
    """The layer is unpacked while it downloads; the result is still verified."""
    def slow(layers, blobs):
        liar.slow[layers[0]["digest"]] = 0.01
    ref = liar.image("slow/img", "v1", [BIG], serve=slow)
    res = rlx.run("pull", "--tls-verify=false", ref)
    assert res.returncode == 0, res.stderr
    assert rlx.run("images", "-q").stdout.strip()


def test_registry_hangs_up_mid_blob(rlx, liar):
    def cut(layers, blobs):
        liar.cut.add(layers[0]["digest"])
    ref = liar.image("cut/img", "v1", [BIG], serve=cut)
    res = rlx.run("pull", "--tls-verify=false", ref)
    assert res.returncode == 125, res.stderr
    assert "expected" in res.stderr and "received" in res.stderr
    assert_consistent(rlx)


def test_dropped_transfer_resumes(rlx, liar):
    """Twice cut off mid-blob, then served: the retries resume (the registry
    ignores Range, so the client skips what it has) while the layer unpacks."""
    def cut(layers, blobs):
        liar.cut.add(layers[0]["digest"])
    liar.cut_times = 2
    ref = liar.image("resume/img", "v1", [BIG], serve=cut)
    res = rlx.run("pull", "--tls-verify=false", ref)
    assert res.returncode == 0, res.stderr


def test_corrupted_blob(rlx, liar):
    def corrupt(layers, blobs):
        d = layers[0]["digest"]
        b = bytearray(blobs[d])
        b[-10] ^= 0xFF
        blobs[d] = bytes(b)
    ref = liar.image("bad/blob", "v1", [GOOD], serve=corrupt)
    res = rlx.run("pull", "--tls-verify=false", ref)
    assert res.returncode == 125 and "sha256 mismatch" in res.stderr, res.stderr
    assert_consistent(rlx)


def test_blob_size_mismatch(rlx, liar):
    def longer(layers, blobs):
        blobs[layers[0]["digest"]] += b"extra"
    ref = liar.image("bad/size", "v1", [GOOD], serve=longer)
    res = rlx.run("pull", "--tls-verify=false", ref)
    assert res.returncode == 125 and "expected" in res.stderr and "bytes" in res.stderr, res.stderr
    assert_consistent(rlx)


def test_wrong_diff_id(rlx, liar):
    ref = liar.image("bad/diffid", "v1", [GOOD], diff_ids=[_digest(b"something else")])
    res = rlx.run("pull", "--tls-verify=false", ref)
    assert res.returncode == 125 and "does not match the image config" in res.stderr, res.stderr
    assert_consistent(rlx)
    assert not (store(rlx) / "layers").exists() or os.listdir(store(rlx) / "layers") == []


def test_manifest_digest_mismatch(rlx, liar):
    liar.image("bad/man", "v1", [GOOD])
    fake = "sha256:" + "1" * 64
    liar.manifests[("bad/man", fake)] = liar.manifests[("bad/man", "v1")]
    res = rlx.run("pull", "--tls-verify=false", f"{liar.host}/bad/man@{fake}")
    assert res.returncode == 125 and "digest mismatch" in res.stderr, res.stderr
    assert_consistent(rlx)


def _then_store_still_works(rl, liar):
    """After a failed pull, listing works and a good pull succeeds."""
    assert_consistent(rl)
    assert rl.run("images").returncode == 0
    good = liar.image("good/img", "v1", [GOOD])
    res = rl.run("pull", "-q", "--tls-verify=false", good)
    assert res.returncode == 0, res.stderr


@pytest.mark.parametrize("body,media_type,needle", [
    (b'{"schemaVersion": 2, "layers": [', "application/vnd.oci.image.manifest.v1+json", "manifest"),
    (b'{"schemaVersion": 2}', "application/vnd.example.thing.v1+json", "application/vnd.example.thing.v1+json"),
], ids=["malformed-json", "unknown-media-type"])
def test_bad_manifests_are_one_clear_line(rlx, liar, body, media_type, needle):
    liar.manifests[("bad/manifest", "v1")] = (body, media_type)
    res = rlx.run("pull", "--tls-verify=false", f"{liar.host}/bad/manifest:v1")
    assert res.returncode == 125, res.stderr
    lines = res.stderr.strip().splitlines()
    assert lines[0].startswith("Error: ") and needle in lines[0] and len(lines) <= 2, res.stderr
    assert "Traceback" not in res.stderr
    _then_store_still_works(rlx, liar)


def test_unknown_layer_media_type(rlx, liar):
    def relabel(layers, blobs):
        layers[0]["mediaType"] = "application/vnd.example.layer.v1"
    liar.image("bad/layer", "v1", [GOOD], serve=relabel)
    res = rlx.run("pull", "--tls-verify=false", f"{liar.host}/bad/layer:v1")
    assert res.returncode == 125, res.stderr
    assert res.stderr.startswith("Error: ") and "application/vnd.example.layer.v1" in res.stderr, res.stderr
    _then_store_still_works(rlx, liar)


@pytest.mark.parametrize("entries", [
    [("../escape", "file", b"x", "")],
    [("link", "sym", b"", "{victim}"), ("link/escape", "file", b"x", "")],
    [("hl", "hard", b"", "{victim}/secret")],
    [("hl", "hard", b"", "../../../../../../{victim}/secret")],
], ids=["dotdot", "symlink-write", "hardlink-abs", "hardlink-dotdot"])
def test_malicious_layer_pull(rlx, liar, tmp_path, entries):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "secret").write_text("secret")
    entries = [(n, k, d, link.format(victim=victim)) for n, k, d, link in entries]
    ref = liar.image("evil/img", "v1", [GOOD, _tar(entries)])
    res = rlx.run("pull", "--tls-verify=false", ref)
    assert res.returncode == 125, res.stderr
    assert res.stderr.startswith("Error: ") and len(res.stderr.strip().splitlines()) <= 2
    assert os.listdir(victim) == ["secret"] and (victim / "secret").read_text() == "secret"
    assert not (tmp_path / "escape").exists()
    assert_consistent(rlx)
