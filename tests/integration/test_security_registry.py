"""A malicious registry against the user who runs rl (issue 11, items 9 and
10): digests smuggled into indexes and manifests, credentials lured onto
plain http or another host, a manifest pairing a blob with a layer the store
already holds, and answers too big to read. Each registry is a small HTTP(S)
server in the test on loopback, serving whatever the test crafts (the idiom
of test_pull_tampered.py); rl runs as the unprivileged user, for real."""

from __future__ import annotations

import base64
import gzip
import json
import os
import shutil
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from rootless.images import registry as R
from tests.integration.test_pull_tampered import GOOD, _digest, _tar, assert_consistent, liar, rlx, store  # noqa: F401
from tests.integration.test_security_tar import RSS_BOUND_KIB, assert_one_line_125, run_measured

pytestmark = [pytest.mark.userns]

USER, PASSWORD = "rl-user", "s3cret-pw"
BASIC = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
OCI_MAN = "application/vnd.oci.image.manifest.v1+json"
OCI_CFG = "application/vnd.oci.image.config.v1+json"
OCI_GZ = "application/vnd.oci.image.layer.v1.tar+gzip"
HUGE = 320 << 20   # an answer rl must not read whole


# ------------------------------------------------------------------ servers

class Server(ThreadingHTTPServer):
    """Loopback HTTP server; with `tls` it speaks TLS and plain HTTP on the
    same port (told apart by the first byte), so https://127.0.0.1:P and
    http://127.0.0.1:P are the same host:port, as a registry on 443 and 80 of
    one name are for a client that compares hosts only. `route(h, scheme)`
    answers; every request is recorded."""

    daemon_threads = True

    def __init__(self, route, tls: ssl.SSLContext | None = None):
        self.route, self.tls, self.seen = route, tls, []
        server = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def _any(self):
                scheme = "https" if isinstance(self.connection, ssl.SSLSocket) else "http"
                server.seen.append({"scheme": scheme, "method": self.command, "path": self.path,
                                    "auth": self.headers.get("Authorization")})
                n = int(self.headers.get("Content-Length") or 0)
                self.body = self.rfile.read(n) if n else b""
                try:
                    server.route(self, scheme)
                except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
                    pass

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = _any

            def send(self, code, body=b"", ctype="application/json", headers=()):
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                for k, v in headers:
                    self.send_header(k, v)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def stream(self, code, n, headers=(), length=False):
                """n bytes of zeros, with or without a Content-Length."""
                self.send_response(code)
                for k, v in headers:
                    self.send_header(k, v)
                if length:
                    self.send_header("Content-Length", str(n))
                self.end_headers()
                zero = bytes(1 << 20)
                for _ in range(n >> 20):
                    self.wfile.write(zero)
                self.close_connection = True

        super().__init__(("127.0.0.1", 0), H)
        self.host = f"127.0.0.1:{self.server_port}"
        threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def get_request(self):
        sock, addr = super().get_request()
        if self.tls is not None:
            sock.settimeout(30)
            try:
                first = sock.recv(1, socket.MSG_PEEK)
            finally:
                sock.settimeout(None)
            if first == b"\x16":  # a TLS ClientHello
                sock = self.tls.wrap_socket(sock, server_side=True)
        return sock, addr

    def requests(self, scheme=None):
        return [r for r in self.seen if scheme is None or r["scheme"] == scheme]


@pytest.fixture
def servers():
    made = []

    def make(route, tls=None):
        s = Server(route, tls)
        made.append(s)
        return s
    yield make
    for s in made:
        s.shutdown()
        s.server_close()


def image(layers: list[tuple[bytes, str]], diff_ids: list[str], *, config_size=True, extra=None):
    """(manifest bytes, {digest: blob}) for layers given as (blob, media type)."""
    blobs = {_digest(b): b for b, _ in layers}
    cfg = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                      "rootfs": {"type": "layers", "diff_ids": diff_ids}, **(extra or {})}).encode()
    blobs[_digest(cfg)] = cfg
    cdesc = {"mediaType": OCI_CFG, "digest": _digest(cfg)}
    if config_size:
        cdesc["size"] = len(cfg)
    man = json.dumps({"schemaVersion": 2, "mediaType": OCI_MAN, "config": cdesc,
                      "layers": [{"mediaType": mt, "digest": _digest(b), "size": len(b)} for b, mt in layers]}
                     ).encode()
    return man, blobs


def gz(data: bytes, level: int = 9) -> bytes:
    return gzip.compress(data, compresslevel=level, mtime=0)


def tls_context():
    from tests.fixture.servers import cached_pki
    pki = cached_pki()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(pki.tls_cert), str(pki.tls_key))
    return ctx, pki.tls_cert


# ------------------------------------------------------------------ digests from the registry

def _serve_index(liar, name: str, bad: str) -> str:
    """An index whose only entry names `bad` instead of a digest; the tag
    `bad` (when it is one) serves a real image, so following it would work."""
    real = liar.image(name, "real", [GOOD])
    man, mt = liar.manifests[(name, "real")]
    liar.manifests[(name, bad)] = (man, mt)
    plat = R.host_platform()
    idx = json.dumps({"schemaVersion": 2, "mediaType": R.OCI_INDEX, "manifests": [
        {"mediaType": R.OCI_MANIFEST, "digest": bad, "size": len(man),
         "platform": {"os": plat.os, "architecture": plat.arch, **({"variant": plat.variant} if plat.variant else {})}}
    ]}).encode()
    liar.manifests[(name, "v1")] = (idx, R.OCI_INDEX)
    assert real
    return f"{liar.host}/{name}:v1"


@pytest.mark.parametrize("bad", ["latest", "sha256:../../../../../tmp/rl-smuggled", "sha256:" + "A" * 64,
                                 "sha512:" + "a" * 128],
                         ids=["tag", "dotdot", "uppercase", "sha512"])
def test_index_digest_not_sha256_refused(rlx, liar, tmp_path, bad):
    """A tag (or a path) smuggled into an index entry's digest is refused
    before it becomes a URL: rl never pulls by it."""
    before = sorted(os.listdir(tmp_path))
    ref = _serve_index(liar, "evil/index", bad)
    res = rlx.run("pull", "-q", "--tls-verify=false", ref)
    assert_one_line_125(res, "invalid digest")
    assert sorted(os.listdir(tmp_path)) == before
    assert not os.path.exists("/tmp/rl-smuggled")
    assert_consistent(rlx)


@pytest.mark.parametrize("where", ["layer", "config", "diff_id"])
@pytest.mark.parametrize("bad", ["latest", "sha256:../../../../../../tmp/rl-smuggled"], ids=["tag", "dotdot"])
def test_manifest_digest_not_sha256_refused(rlx, liar, tmp_path, where, bad):
    before = sorted(os.listdir(tmp_path))

    def smuggle(layers, blobs):
        if where == "layer":
            blobs[bad] = blobs[layers[0]["digest"]]
            layers[0]["digest"] = bad
    ref = liar.image("evil/manifest", "v1", [GOOD], serve=smuggle,
                     diff_ids=[bad] if where == "diff_id" else None)
    if where == "config":
        man = json.loads(liar.manifests[("evil/manifest", "v1")][0])
        liar.blobs[bad] = liar.blobs[man["config"]["digest"]]
        man["config"]["digest"] = bad
        liar.manifests[("evil/manifest", "v1")] = (json.dumps(man).encode(), OCI_MAN)
    res = rlx.run("pull", "-q", "--tls-verify=false", ref)
    assert_one_line_125(res, "invalid digest")
    assert sorted(os.listdir(tmp_path)) == before
    assert not os.path.exists("/tmp/rl-smuggled")
    assert_consistent(rlx)


# ------------------------------------------------------------------ credentials

def _downgrading_registry(servers, man: bytes, blobs: dict):
    """https: Basic auth required, blobs 307 to http:// on the same
    host:port; plain http: serves the blobs to anyone."""
    ctx, cert = tls_context()

    def route(h, scheme):
        path = h.path.split("?")[0]
        if scheme == "https":
            if h.headers.get("Authorization") != BASIC:
                return h.send(401, b'{"errors":[{"code":"UNAUTHORIZED"}]}',
                              headers=[("WWW-Authenticate", 'Basic realm="rl-test"')])
            if path == "/v2/":
                return h.send(200, b"{}")
            if "/manifests/" in path:
                return h.send(200, man, OCI_MAN)
            if "/blobs/" in path:
                return h.send(307, headers=[("Location", f"http://{srv.host}{h.path}")])
        elif "/blobs/" in path and path.rsplit("/", 1)[1] in blobs:
            return h.send(200, blobs[path.rsplit("/", 1)[1]], "application/octet-stream")
        h.send(404, b'{"errors":[{"code":"NOT_FOUND"}]}')
    srv = servers(route, ctx)
    return srv, cert


def test_no_credentials_on_https_to_http_redirect(rl, servers):
    """--tls-verify=false (plain http allowed): the redirect is followed, but
    the password never goes over plain http, even to the same host:port."""
    man, blobs = image([(gz(GOOD), OCI_GZ)], [_digest(GOOD)])
    srv, _ = _downgrading_registry(servers, man, blobs)
    res = rl.run("pull", "-q", "--tls-verify=false", "--creds", f"{USER}:{PASSWORD}", f"{srv.host}/evil/down:v1")
    plain = srv.requests("http")
    assert plain, srv.seen                                    # the redirect was followed
    assert all(r["auth"] is None for r in plain), plain       # ... without the credentials
    assert any(r["auth"] == BASIC for r in srv.requests("https"))
    assert res.returncode == 0, res.stderr


def test_https_to_http_redirect_refused_when_verifying_tls(rl, servers, tmp_path):
    """With TLS verified (the registry's CA given), leaving TLS is refused:
    one line, 125, and nothing at all is sent over plain http."""
    man, blobs = image([(gz(GOOD), OCI_GZ)], [_digest(GOOD)])
    srv, cert = _downgrading_registry(servers, man, blobs)
    certs = tmp_path / "certs"
    certs.mkdir()
    shutil.copy(cert, certs / "ca.crt")
    res = rl.run("pull", "-q", "--cert-dir", str(certs), "--creds", f"{USER}:{PASSWORD}",
                 f"{srv.host}/evil/down:v1")
    assert all(r["auth"] is None for r in srv.requests("http")), srv.requests("http")
    assert not srv.requests("http")
    assert_one_line_125(res, "from https to plain http")


def test_no_credentials_to_foreign_upload_location(rl, servers, tmp_path):
    """rl push: the registry (Basic auth) opens an upload session whose
    Location is another host; the blob goes there without the password."""
    layer = tmp_path / "layer.tar"
    layer.write_bytes(GOOD)
    rl.run("import", str(layer), "localhost/pushme:1", check=True)

    def foreign_route(h, scheme):
        h.send(201 if h.command == "PUT" else 202, headers=[("Docker-Content-Digest", "sha256:" + "0" * 64)])
    foreign = servers(foreign_route)

    def route(h, scheme):
        if h.headers.get("Authorization") != BASIC:
            return h.send(401, b"{}", headers=[("WWW-Authenticate", 'Basic realm="rl-test"')])
        path = h.path.split("?")[0]
        if path == "/v2/":
            return h.send(200, b"{}")
        if "/blobs/uploads/" in path and h.command == "POST":
            return h.send(202, headers=[("Location", f"http://{foreign.host}/upload/session-1")])
        if "/blobs/" in path and h.command == "HEAD":
            return h.send(404)
        if "/manifests/" in path and h.command == "PUT":
            return h.send(201, headers=[("Docker-Content-Digest", _digest(h.body))])
        h.send(404, b"{}")
    reg = servers(route)
    res = rl.run("push", "--tls-verify=false", "--creds", f"{USER}:{PASSWORD}", "localhost/pushme:1",
                 f"{reg.host}/evil/pushed:1")
    puts = [r for r in foreign.seen if r["method"] == "PUT"]
    assert puts, (foreign.seen, res.stderr)                    # the blobs went to the foreign Location
    assert all(r["auth"] is None for r in foreign.seen), foreign.seen
    assert any(r["auth"] == BASIC for r in reg.seen)          # the registry itself did get them
    assert res.returncode == 0, res.stderr


# ------------------------------------------------------------------ a stored layer's digest

OTHER = _tar([("etc", "dir", b"", ""), ("etc/other", "file", b"other\n", "")])


def _serve(liar, name: str, layers: list[tuple[bytes, str]], diff_ids: list[str], extra=None) -> str:
    man, blobs = image(layers, diff_ids, extra=extra)
    liar.blobs.update(blobs)
    liar.manifests[(name, "v1")] = (man, OCI_MAN)
    return f"{liar.host}/{name}:v1"


def test_stored_layer_digest_verified(rlx, liar):
    """The store holds layer GOOD (from blob A) and layer OTHER (blob B).
    A manifest that names blob B for layer GOOD's diff_id must not be taken
    at its word: rl checks blob B, finds it is not GOOD, refuses. (Before,
    the pull "skipped" the layer and recorded blob B as GOOD's: push and save
    then sent the wrong content under that image.)"""
    blob_a, blob_b = gz(GOOD), gz(OTHER)
    for name, blob, tar in (("ok/a", blob_a, GOOD), ("ok/b", blob_b, OTHER)):
        res = rlx.run("pull", "-q", "--tls-verify=false", _serve(liar, name, [(blob, OCI_GZ)], [_digest(tar)]))
        assert res.returncode == 0, res.stderr
    images_before = rlx.run("images", "-q", "--no-trunc", check=True).stdout.split()
    ref = _serve(liar, "evil/pairing", [(blob_b, OCI_GZ)], [_digest(GOOD)])
    res = rlx.run("pull", "-q", "--tls-verify=false", ref)
    assert_one_line_125(res, "does not match the image config")
    assert rlx.run("images", "-q", "--no-trunc", check=True).stdout.split() == images_before


def test_stored_layer_new_digest_checked_once(rlx, liar):
    """The honest case: the same layer in another compression is fetched and
    checked once, then known (its blob is no longer needed)."""
    res = rlx.run("pull", "-q", "--tls-verify=false", _serve(liar, "ok/a", [(gz(GOOD), OCI_GZ)], [_digest(GOOD)]))
    assert res.returncode == 0, res.stderr
    other_gz = gz(GOOD, level=1) + b""  # the same tar, another blob
    assert _digest(other_gz) != _digest(gz(GOOD))
    ref = _serve(liar, "ok/a-fast", [(other_gz, OCI_GZ)], [_digest(GOOD)])
    res = rlx.run("pull", "-q", "--tls-verify=false", ref)
    assert res.returncode == 0, res.stderr
    layer_json = next((store(rlx) / "layers").glob("*/layer.json"))
    assert _digest(other_gz) in json.loads(layer_json.read_text()).get("digests", [])
    del liar.blobs[_digest(other_gz)]
    res = rlx.run("pull", "-q", "--tls-verify=false", _serve(liar, "ok/a-again", [(other_gz, OCI_GZ)],
                                                                [_digest(GOOD)]))
    assert res.returncode == 0, res.stderr


# ------------------------------------------------------------------ answers too big to read

def _registry_with(servers, man: bytes, blobs: dict, special):
    """Plain http registry; `special(h, path)` may answer first (True)."""
    def route(h, scheme):
        path = h.path.split("?")[0]
        if special(h, path):
            return
        if path == "/v2/":
            return h.send(200, b"{}")
        if "/manifests/" in path:
            return h.send(200, man, OCI_MAN)
        d = path.rsplit("/", 1)[1]
        if "/blobs/" in path and d in blobs:
            return h.send(200, blobs[d], "application/octet-stream")
        h.send(404, b"{}")
    return servers(route)


def test_config_without_size_bounded(rl, servers):
    """A config descriptor without a size, and a config of 320 MiB: rl reads
    at most its 8 MiB limit."""
    man, blobs = image([(gz(GOOD), OCI_GZ)], [_digest(GOOD)], config_size=False)
    cfg = json.loads(man)["config"]["digest"]

    def special(h, path):
        if path.endswith(cfg):
            h.stream(200, HUGE)
            return True
    srv = _registry_with(servers, man, blobs, special)
    res, rss = run_measured(rl, "pull", "-q", "--tls-verify=false", f"{srv.host}/evil/bigconfig:v1")
    assert_one_line_125(res, "larger than the 8388608 bytes allowed")
    assert rss < RSS_BOUND_KIB, f"peak RSS {rss >> 10} MiB"


@pytest.mark.parametrize("declared", [False, True], ids=["close-delimited", "content-length"])
def test_token_response_bounded(rl, servers, declared):
    man, blobs = image([(gz(GOOD), OCI_GZ)], [_digest(GOOD)])

    def special(h, path):
        if path == "/token":
            h.stream(200, HUGE, length=declared)
            return True
        if h.headers.get("Authorization") is None and path.startswith("/v2/") and path != "/v2/":
            h.send(401, b"{}", headers=[("WWW-Authenticate",
                                         f'Bearer realm="http://{srv.host}/token",service="rl-test"')])
            return True
    srv = _registry_with(servers, man, blobs, special)
    res, rss = run_measured(rl, "pull", "-q", "--tls-verify=false", f"{srv.host}/evil/token:v1")
    assert_one_line_125(res, "token server's answer")
    assert rss < RSS_BOUND_KIB, f"peak RSS {rss >> 10} MiB"


def test_redirect_body_bounded(rl, servers):
    """A blob redirect carrying a 320 MiB body: rl follows the Location
    without reading the body; the pull works."""
    man, blobs = image([(gz(GOOD), OCI_GZ)], [_digest(GOOD)])

    def special(h, path):
        if "/blobs/" in path and not path.startswith("/real/"):
            h.stream(307, HUGE, headers=[("Location", "/real" + path)])
            return True
        if path.startswith("/real/"):
            h.send(200, blobs[path.rsplit("/", 1)[1]], "application/octet-stream")
            return True
    srv = _registry_with(servers, man, blobs, special)
    res, rss = run_measured(rl, "pull", "-q", "--tls-verify=false", f"{srv.host}/evil/redirect:v1")
    assert res.returncode == 0, res.stderr
    assert rss < RSS_BOUND_KIB, f"peak RSS {rss >> 10} MiB"


# ------------------------------------------------------------------ malformed times in the config

@pytest.mark.parametrize("created", ["0000-13-99T99:99:99Z", "2021-02-30T00:00:00Z", "9999-12-31T23:59:59+99:99",
                                     12345, ["x"]], ids=["month-13", "feb-30", "tz-99", "number", "list"])
def test_malformed_config_times_do_not_break_listing(rlx, liar, created):
    """The image's config carries its creation time and history: a time that
    is no date, or no string, shows as unknown; images, history and inspect
    still work (before: an internal error)."""
    extra = {"created": created, "history": [{"created": created, "created_by": 7}, "junk", {"comment": ["c"]}]}
    ref = _serve(liar, "odd/times", [(gz(GOOD), OCI_GZ)], [_digest(GOOD)], extra=extra)
    res = rlx.run("pull", "-q", "--tls-verify=false", ref)
    assert res.returncode == 0, res.stderr
    for args in (["images"], ["images", "--format", "json"], ["history", ref], ["image", "inspect", ref],
                 ["inspect", ref]):
        res = rlx.run(*args)
        assert res.returncode == 0 and "internal error" not in res.stderr, (args, res.stderr)


def test_search_catalog_bounded_and_links_kept_to_the_registry(rl, servers):
    """rl search reads a registry's catalog: a 320 MiB answer is refused at
    rl's page limit without being read whole, a Link to another host is not
    followed (nothing asked there), and endless pages stop at rl's count."""
    other = servers(lambda h, scheme: h.send(200, b'{"repositories": ["stolen/by-link"]}'))

    def big(h, scheme):
        if h.path == "/v2/":
            return h.send(200, b"{}")
        h.stream(200, HUGE)
    srv = servers(big)
    res, rss = run_measured(rl, "search", "--tls-verify=false", f"{srv.host}/")
    assert_one_line_125(res, "larger than")
    assert rss < RSS_BOUND_KIB, f"peak RSS {rss >> 10} MiB"

    def elsewhere(h, scheme):
        if h.path == "/v2/":
            return h.send(200, b"{}")
        h.send(200, b'{"repositories": ["here/one"]}',
               headers=[("Link", f'<http://{other.host}/v2/_catalog?n=1000&last=x>; rel="next"')])
    srv = servers(elsewhere)
    res = rl.run("search", "--tls-verify=false", "--format", "{{.Name}}", f"{srv.host}/")
    assert res.returncode == 0 and res.stdout == f"{srv.host}/here/one\n", res.stderr
    assert other.requests() == []

    def endless(h, scheme):
        if h.path == "/v2/":
            return h.send(200, b"{}")
        h.send(200, b'{"repositories": ["again/one"]}',
               headers=[("Link", '</v2/_catalog?n=1000&last=again>; rel="next"')])
    srv = servers(endless)
    res = rl.run("search", "--tls-verify=false", f"{srv.host}/")
    assert_one_line_125(res, "more than 50 pages")
    assert len([r for r in srv.requests() if r["path"].startswith("/v2/_catalog")]) == 50
