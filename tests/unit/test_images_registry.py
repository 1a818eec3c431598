"""The registry client against tiny in-process servers on loopback: auth
headers never follow a redirect to another host; basic auth; Range resume."""
import hashlib
import io
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from rootless.errors import RegistryError
from rootless.images import registry

BLOB = b"layer bytes " * 1000
DIGEST = "sha256:" + hashlib.sha256(BLOB).hexdigest()


def _serve(handler):
    srv = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    return srv


@pytest.fixture
def pair():
    seen = {"a": [], "b": []}

    class B(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            seen["b"].append(dict(self.headers))
            self.send_response(200)
            self.send_header("Content-Length", str(len(BLOB)))
            self.end_headers()
            self.wfile.write(BLOB)

    b = _serve(B)

    class A(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            seen["a"].append(dict(self.headers))
            if self.headers.get("Authorization") != "Basic dTpw":  # u:p
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="test"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if self.path == "/v2/":
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(307)
            # another host name for the same machine: a different origin
            self.send_header("Location", f"http://localhost:{b.server_port}/storage/blob")
            self.send_header("Content-Length", "0")
            self.end_headers()

    a = _serve(A)
    yield f"127.0.0.1:{a.server_port}", seen
    a.shutdown()
    b.shutdown()


def test_authorization_dropped_on_cross_host_redirect(pair):
    host, seen = pair
    c = registry.Client(host, tls_verify=False, creds=("u", "p"))
    out = io.BytesIO()
    c.fetch_blob("ns/img", DIGEST, len(BLOB), out)
    assert out.getvalue() == BLOB
    assert any(h.get("Authorization") == "Basic dTpw" for h in seen["a"])
    assert seen["b"] and all("Authorization" not in h for h in seen["b"])


def test_basic_auth_without_credentials(pair, monkeypatch, tmp_path):
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(tmp_path / "none.json"))
    host, _ = pair
    c = registry.Client(host, tls_verify=False)
    with pytest.raises(RegistryError) as e:
        c.fetch_blob("ns/img", DIGEST, len(BLOB), io.BytesIO())
    assert "authentication required" in e.value.message and e.value.hint == f"rl login {host}"


def test_resume_skips_when_range_is_ignored(pair):
    host, _ = pair
    c = registry.Client(host, tls_verify=False, creds=("u", "p"))
    n = 5000
    out = io.BytesIO(BLOB[:n])
    out.seek(n)
    c.fetch_blob("ns/img", DIGEST, len(BLOB), out, resume=n, prior=hashlib.sha256(BLOB[:n]))
    assert out.getvalue() == BLOB


def test_wrong_bytes_are_refused(pair):
    host, _ = pair
    c = registry.Client(host, tls_verify=False, creds=("u", "p"))
    bad = "sha256:" + "0" * 64
    with pytest.raises(RegistryError, match="sha256 mismatch"):
        c.fetch_blob("ns/img", bad, len(BLOB), io.BytesIO())
    with pytest.raises(RegistryError, match="expected 10 bytes"):
        c.fetch_blob("ns/img", DIGEST, 10, io.BytesIO())
