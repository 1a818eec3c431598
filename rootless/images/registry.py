"""A Distribution API v2 client on the standard library (http.client + ssl).

Ping (GET /v2/), bearer tokens from the WWW-Authenticate challenge (one per
repository scope, anonymous when no credentials), basic auth, TLS with the
certs.d CA directories or unverified with --tls-verify=false (then falling
back to plain HTTP, as podman does for insecure registries), redirects
(Authorization dropped when the host changes), manifest lists / OCI indexes
resolved to one platform, every blob checked for size and sha256 on the exact
bytes received. Connections are kept alive per thread."""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import platform as _platform
import re
import socket
import ssl
import threading
import urllib.parse
from typing import BinaryIO, Callable

from rootless.errors import ImageError, RegistryError
from rootless.images import regconf
from rootless.plain import record

DOCKER_V2S2 = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_V2S1 = ("application/vnd.docker.distribution.manifest.v1+json",
               "application/vnd.docker.distribution.manifest.v1+prettyjws")
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MANIFEST_TYPES = (OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_V2S2)
_GENERIC_TYPES = ("", "application/json", "text/plain", "application/octet-stream")
INDEX_TYPES = (OCI_INDEX, DOCKER_LIST)
IMAGE_TYPES = (OCI_MANIFEST, DOCKER_V2S2)

MAX_MANIFEST = 4 << 20
MAX_CONFIG = 8 << 20
MAX_TOKEN = 1 << 20        # a token server's answer (containers/image: the same)
MAX_ERROR_BODY = 64 << 10  # error, redirect and other bodies rl only glances at
TIMEOUT = 60
USER_AGENT = "rl/0.1 (rootless containers)"
_CHUNK = 1 << 20

_DOCKER_HUB = {"docker.io": "registry-1.docker.io"}


@record(frozen=True)
class Platform:
    os: str
    arch: str
    variant: str | None = None

    def __str__(self) -> str:
        return "/".join(x for x in (self.os, self.arch, self.variant) if x)


_ARCH = {"x86_64": ("amd64", None), "amd64": ("amd64", None), "aarch64": ("arm64", "v8"),
         "arm64": ("arm64", "v8"), "armv7l": ("arm", "v7"), "armv6l": ("arm", "v6"),
         "i686": ("386", None), "i386": ("386", None), "ppc64le": ("ppc64le", None),
         "s390x": ("s390x", None), "riscv64": ("riscv64", None)}


def host_platform() -> Platform:
    arch, variant = _ARCH.get(_platform.machine(), (_platform.machine(), None))
    return Platform("linux", arch, variant)


def parse_platform(text: str | None) -> Platform:
    if not text:
        return host_platform()
    parts = text.split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise ImageError(f'invalid platform "{text}"', hint="use OS/ARCH[/VARIANT], e.g. linux/arm64/v8")
    arch = parts[1]
    arch, default_variant = {"x86_64": ("amd64", None), "aarch64": ("arm64", None)}.get(arch, (arch, None))
    return Platform(parts[0], arch, parts[2] if len(parts) == 3 else default_variant)


_DIGEST_RE = re.compile(r"sha256:[0-9a-f]{64}")
_HOSTILE_HINT = "the registry sent a malformed or malicious manifest; rl refuses it"


def check_digest(value: object, what: str) -> str:
    """A digest taken from an index, manifest or config: exactly
    sha256:<64 lowercase hex>, or a RegistryError. It becomes a URL and a path
    in the store, so a tag, "../" or another algorithm never gets that far."""
    if not (isinstance(value, str) and _DIGEST_RE.fullmatch(value)):
        raise RegistryError(f"{what}: invalid digest {str(value)[:80]!r} (rl takes only sha256:<64 hex digits>)",
                            hint=_HOSTILE_HINT)
    return value


def parse_json(body: bytes, what: str) -> object:
    """JSON from a registry or an archive; any failure (a syntax error, nesting
    deep enough to exhaust the parser) is one RegistryError."""
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        raise RegistryError(f"{what} is not valid JSON", hint=_HOSTILE_HINT) from None


def check_size(value: object, what: str) -> int | None:
    """A descriptor's size: a non-negative integer, or absent (None)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0 or value > (1 << 62):
        raise RegistryError(f"{what}: invalid size {str(value)[:40]!r}", hint=_HOSTILE_HINT)
    return value


def check_descriptor(desc: object, what: str) -> dict:
    """A descriptor object with a valid digest, size and (string) media type."""
    if not isinstance(desc, dict):
        raise RegistryError(f"{what}: not a descriptor object", hint=_HOSTILE_HINT)
    check_digest(desc.get("digest"), what)
    check_size(desc.get("size"), what)
    mt = desc.get("mediaType")
    if mt is not None and not isinstance(mt, str):
        raise RegistryError(f"{what}: invalid media type {str(mt)[:80]!r}", hint=_HOSTILE_HINT)
    return desc


def _variant_ok(want: Platform, have: dict) -> bool:
    v = have.get("variant")
    if want.variant is None:
        return True
    if want.arch == "arm64" and want.variant == "v8":
        return v in (None, "", "v8")
    return v == want.variant


def select_platform(index: dict, want: Platform) -> dict:
    """The manifest descriptor of an index for a platform; attestations
    (unknown/unknown) never match. Raises ImageError listing what exists.
    The index comes from a registry or an archive: its shape is checked here,
    the chosen descriptor by the caller (check_descriptor) before any use."""
    manifests = index.get("manifests") if isinstance(index, dict) else None
    if not isinstance(manifests, list) or not all(
            isinstance(m, dict) and isinstance(m.get("platform") or {}, dict) for m in manifests):
        raise RegistryError("the manifest list is malformed (manifests must be a list of descriptors)",
                            hint=_HOSTILE_HINT)
    return _select_platform(manifests, want)


def _select_platform(manifests: list, want: Platform) -> dict:
    index = {"manifests": manifests}
    cands = []
    for m in index.get("manifests", []):
        p = m.get("platform") or {}
        if p.get("os") == "unknown" or p.get("architecture") == "unknown":
            continue
        if m.get("mediaType") not in IMAGE_TYPES + (None,):
            continue
        cands.append(m)
        if p.get("os") == want.os and p.get("architecture") == want.arch and _variant_ok(want, p):
            # an exact variant beats a missing one (arm64 v8 vs none)
            if want.variant and p.get("variant") != want.variant:
                for m2 in index.get("manifests", []):
                    p2 = m2.get("platform") or {}
                    if (p2.get("os"), p2.get("architecture"), p2.get("variant")) == (
                            want.os, want.arch, want.variant):
                        return m2
            return m
    have = sorted({"/".join(x for x in ((c.get("platform") or {}).get("os"),
                                         (c.get("platform") or {}).get("architecture"),
                                         (c.get("platform") or {}).get("variant")) if x) for c in cands})
    raise ImageError(f"no image for platform {want} in the manifest list",
                     hint=f"available: {', '.join(have) or 'none'}; choose one with --platform")


# ------------------------------------------------------------------ auth

_CHALLENGE_RE = re.compile(r'(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """'Bearer realm="x",service="y"' -> ("bearer", {"realm": "x", "service": "y"})."""
    scheme, _, rest = header.strip().partition(" ")
    params = {}
    for m in _CHALLENGE_RE.finditer(rest):
        params[m.group(1).lower()] = m.group(2) if m.group(2) is not None else m.group(3)
    return scheme.lower(), params


class _Conns(threading.local):
    def __init__(self):
        self.by_key: dict[tuple[str, str], http.client.HTTPConnection] = {}


class Client:
    """One registry host, as reached from this process."""

    def __init__(self, host: str, *, insecure: bool = False, tls_verify: bool | None = None,
                 creds: tuple[str, str] | None = None, authfile: str | None = None,
                 cert_dir: str | None = None):
        self.host = host
        self.netloc = _DOCKER_HUB.get(host, host)
        self.tls_verify = (not insecure) if tls_verify is None else tls_verify
        self.allow_http = not self.tls_verify
        self.creds = creds
        self.authfile = authfile
        self.cert_dir = cert_dir
        self.scheme: str | None = None
        self._conns = _Conns()
        self._tokens: dict[str, str] = {}
        self._basic = False
        self._lock = threading.Lock()
        self._ctx: dict[str, ssl.SSLContext] = {}
        self.actions = "pull"   # "pull,push" for pushes: part of the token scope

    # -------------------------------------------------------------- transport

    def _ssl(self, netloc: str) -> ssl.SSLContext:
        ctx = self._ctx.get(netloc)
        if ctx is not None:
            return ctx
        if not self.tls_verify:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        else:
            ctx = ssl.create_default_context()
        cas, clients = regconf.tls_files(netloc, self.cert_dir)
        for ca in cas:
            try:
                ctx.load_verify_locations(cafile=str(ca))
            except (ssl.SSLError, OSError) as e:
                raise RegistryError(f"cannot load CA certificate {ca}: {e}") from None
        for cert, key in clients:
            try:
                ctx.load_cert_chain(str(cert), str(key))
            except (ssl.SSLError, OSError) as e:
                raise RegistryError(f"cannot load client certificate {cert}: {e}") from None
        self._ctx[netloc] = ctx
        return ctx

    def _conn(self, scheme: str, netloc: str, fresh: bool = False) -> http.client.HTTPConnection:
        key = (scheme, netloc)
        conn = self._conns.by_key.get(key)
        if conn is not None and not fresh:
            return conn
        if conn is not None:
            conn.close()
        if scheme == "https":
            conn = http.client.HTTPSConnection(netloc, timeout=TIMEOUT, context=self._ssl(netloc))
        else:
            conn = http.client.HTTPConnection(netloc, timeout=TIMEOUT)
        self._conns.by_key[key] = conn
        return conn

    def close(self) -> None:
        for conn in self._conns.by_key.values():
            conn.close()
        self._conns.by_key.clear()

    def _send(self, method: str, url: str, headers: dict[str, str], body=None) -> http.client.HTTPResponse:
        u = urllib.parse.urlsplit(url)
        path = u.path + (f"?{u.query}" if u.query else "")
        for attempt in (0, 1):
            conn = self._conn(u.scheme, u.netloc, fresh=attempt == 1)
            try:
                data = body() if callable(body) else body
                conn.request(method, path or "/", body=data, headers={"User-Agent": USER_AGENT, **headers})
                return conn.getresponse()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError,
                    http.client.CannotSendRequest, http.client.ResponseNotReady):
                conn.close()
                if attempt:
                    raise

    def _net_error(self, e: BaseException, url: str) -> RegistryError:
        err = self._net_error_(e, url)
        err.retryable = not isinstance(e, (ssl.SSLError, socket.gaierror))  # type: ignore[attr-defined]
        return err

    def _net_error_(self, e: BaseException, url: str) -> RegistryError:
        where = urllib.parse.urlsplit(url).netloc
        if isinstance(e, ssl.SSLCertVerificationError):
            return RegistryError(
                f"TLS certificate of {where} is not trusted: {e.verify_message}",
                hint=f"put its CA in ~/.config/containers/certs.d/{where}/ca.crt, or use --tls-verify=false")
        if isinstance(e, ssl.SSLError):
            return RegistryError(f"TLS with {where} failed: {e.reason or e}",
                                 hint="if the registry speaks plain HTTP, mark it insecure in registries.conf "
                                      "or pass --tls-verify=false")
        if isinstance(e, socket.gaierror):
            return RegistryError(f"cannot resolve {where}: {e.strerror}", hint="check the registry name and DNS")
        if isinstance(e, (socket.timeout, TimeoutError)):
            return RegistryError(f"{where} did not answer within {TIMEOUT}s")
        if isinstance(e, OSError):
            return RegistryError(f"cannot connect to {where}: {e.strerror or e}",
                                 hint="is the registry running and reachable?")
        return RegistryError(f"talking to {where}: {type(e).__name__}: {e}")

    def request(self, method: str, url: str, headers: dict[str, str] | None = None,
                repo: str | None = None, body=None) -> http.client.HTTPResponse:
        """Send with auth and redirects; returns the final response (status < 400
        or a registry error status for the caller to read)."""
        headers = dict(headers or {})
        headers.pop("Authorization", None)
        # credentials (a token or the password) go to the registry's own origin
        # (scheme and host:port) only: never to an upload Location or a redirect
        # on another host, never in clear after an https -> http downgrade
        home = (self.scheme, self.netloc)
        ours = self._origin(url) == home
        auth = self._auth_header(repo) if ours else None
        if auth:
            headers["Authorization"] = auth
        tried_auth = False
        origin = urllib.parse.urlsplit(url).netloc
        for _ in range(10):
            try:
                resp = self._send(method, url, headers, body)
            except (OSError, http.client.HTTPException) as e:
                raise self._net_error(e, url) from None
            if resp.status == 401 and not tried_auth and ours:
                challenge = resp.getheader("WWW-Authenticate", "")
                self._discard(resp, url)
                tried_auth = True
                auth = self._authenticate(challenge, repo)
                if auth:
                    headers["Authorization"] = auth
                    continue
                return self._raise_status(401, url, b"", challenge)
            if resp.status in (301, 302, 303, 307, 308):
                loc = resp.getheader("Location")
                self._discard(resp, url)
                if not loc:
                    raise RegistryError(f"{origin} sent a redirect without a Location")
                new = urllib.parse.urljoin(url, loc)
                scheme = urllib.parse.urlsplit(new).scheme
                if scheme not in ("http", "https"):
                    raise RegistryError(f"{origin} redirected to an unsupported URL {new[:200]}")
                if urllib.parse.urlsplit(url).scheme == "https" and scheme == "http" and self.tls_verify:
                    raise RegistryError(f"{origin} redirected from https to plain http ({new[:200]})",
                                        hint="rl does not leave TLS for a registry it verifies; if the registry "
                                             "really serves plain HTTP, use --tls-verify=false")
                if self._origin(new) != self._origin(url):
                    headers.pop("Authorization", None)
                    ours = False
                url = new
                if resp.status == 303:
                    method = "GET"
                continue
            return resp
        raise RegistryError(f"too many redirects from {origin}")

    @staticmethod
    def _origin(url: str) -> tuple[str, str]:
        u = urllib.parse.urlsplit(url)
        return u.scheme, u.netloc

    def _discard(self, resp: http.client.HTTPResponse, url: str) -> None:
        """Drop a body rl does not need; a long one is not read: the
        connection is closed instead (a registry must not make rl read forever)."""
        body = resp.read(MAX_ERROR_BODY + 1)
        if len(body) > MAX_ERROR_BODY or not resp.isclosed():
            self._drop(url)

    def _drop(self, url: str) -> None:
        conn = self._conns.by_key.pop(self._origin(url), None)
        if conn is not None:
            conn.close()

    def read_bounded(self, resp: http.client.HTTPResponse, limit: int, what: str, url: str) -> bytes:
        """A response body of at most `limit` bytes, else a RegistryError."""
        declared = resp.getheader("Content-Length")
        if declared and declared.strip().isdigit() and int(declared) > limit:
            self._drop(url)
            raise RegistryError(f"{self.host}: {what} of {int(declared)} bytes, more than the {limit} allowed",
                                hint=_HOSTILE_HINT.replace("a malformed or malicious manifest", "an oversized answer"))
        try:
            body = resp.read(limit + 1)
        except (OSError, http.client.HTTPException) as e:
            raise self._net_error(e, url) from None
        if len(body) > limit:
            self._drop(url)
            raise RegistryError(f"{self.host}: {what} larger than the {limit} bytes allowed",
                                hint=_HOSTILE_HINT.replace("a malformed or malicious manifest", "an oversized answer"))
        return body

    def _raise_status(self, status: int, url: str, body: bytes, challenge: str = "") -> RegistryError:
        detail = ""
        try:
            errs = json.loads(body or b"{}").get("errors") or []
            if errs:
                detail = ": " + "; ".join(f"{e.get('code', '')} {e.get('message', '')}".strip() for e in errs)
                detail = " ".join(detail.split())[:500]  # one line, whatever the registry sent
        except (ValueError, AttributeError, TypeError, RecursionError):
            pass
        if status == 401:
            hint = (f"rl login {self.host}" if not self.creds else
                    "check the user name and password (rl login, --creds or --authfile)")
            raise RegistryError(f"{self.host}: authentication required{detail}", hint=hint)
        if status == 403:
            raise RegistryError(f"{self.host}: access denied{detail}",
                                hint=f"check your permissions on {self.host} (rl login {self.host})")
        if status == 429:
            raise RegistryError(f"{self.host}: too many requests (rate limited){detail}",
                                hint="wait and retry, or log in for a higher limit")
        err = RegistryError(f"{self.host}: {url.split('/v2/', 1)[-1]}: HTTP {status}{detail}")
        err.retryable = status >= 500  # type: ignore[attr-defined]
        raise err

    # -------------------------------------------------------------- auth

    def _credentials(self, repo: str | None) -> tuple[str, str] | None:
        if self.creds:
            return self.creds
        return regconf.find_credentials(f"{self.host}/{repo}" if repo else self.host, self.authfile)

    def _auth_header(self, repo: str | None) -> str | None:
        with self._lock:
            if self._basic:
                c = self._credentials(repo)
                return "Basic " + base64.b64encode(f"{c[0]}:{c[1]}".encode()).decode() if c else None
            tok = self._tokens.get(repo or "")
            return f"Bearer {tok}" if tok else None

    def _authenticate(self, challenge: str, repo: str | None) -> str | None:
        scheme, params = parse_challenge(challenge)
        if scheme == "basic":
            c = self._credentials(repo)
            if not c:
                return None
            with self._lock:
                self._basic = True
            return "Basic " + base64.b64encode(f"{c[0]}:{c[1]}".encode()).decode()
        if scheme != "bearer" or "realm" not in params:
            return None
        scope = f"repository:{repo}:{self.actions}" if repo else params.get("scope")
        query = {}
        if params.get("service"):
            query["service"] = params["service"]
        if scope:
            query["scope"] = scope
        realm = params["realm"]
        url = realm + ("&" if "?" in realm else "?") + urllib.parse.urlencode(query)
        headers = {}
        c = self._credentials(repo)
        if c and urllib.parse.urlsplit(realm).scheme != "https" and self.scheme == "https":
            raise RegistryError(f"{self.host}: the token server {realm[:200]} is plain http: rl does not send "
                                f"the password there in clear", hint="fix the registry's token realm")
        if urllib.parse.urlsplit(realm).scheme not in ("http", "https"):
            raise RegistryError(f"{self.host}: unsupported token server URL {realm[:200]}")
        if c:
            headers["Authorization"] = "Basic " + base64.b64encode(f"{c[0]}:{c[1]}".encode()).decode()
        try:
            resp = self._send("GET", url, headers)
        except (OSError, http.client.HTTPException) as e:
            raise self._net_error(e, url) from None
        body = self.read_bounded(resp, MAX_TOKEN, "the token server's answer", url)
        if resp.status in (401, 403):
            raise RegistryError(f"{self.host}: the token server refused "
                                f"{'the credentials' if c else 'anonymous access'} for {repo or 'the registry'}",
                                hint=f"rl login {self.host}" if not c else "check the user name and password")
        if resp.status != 200:
            raise RegistryError(f"{self.host}: token server {urllib.parse.urlsplit(realm).netloc}: HTTP {resp.status}")
        try:
            data = json.loads(body)
            tok = data.get("token") or data.get("access_token")
        except (ValueError, RecursionError, AttributeError):
            tok = None
        if not isinstance(tok, str) or not tok.isascii() or not tok.isprintable():
            tok = None
        if not tok:
            raise RegistryError(f"{self.host}: the token server's answer has no token")
        with self._lock:
            self._tokens[repo or ""] = tok
        return f"Bearer {tok}"

    # -------------------------------------------------------------- API

    def base(self) -> str:
        if self.scheme is None:
            self.ping()
        return f"{self.scheme}://{self.netloc}"

    def ping(self) -> None:
        """Find the scheme: https first, plain http when allowed."""
        errors = []
        for scheme in ("https", "http") if self.allow_http else ("https",):
            url = f"{scheme}://{self.netloc}/v2/"
            try:
                resp = self._send("GET", url, {})
                self._discard(resp, url)
            except (OSError, http.client.HTTPException) as e:
                self._conns.by_key.pop((scheme, self.netloc), None)
                errors.append(self._net_error(e, url))
                continue
            if resp.status in (200, 401, 403) or resp.getheader("Docker-Distribution-API-Version"):
                self.scheme = scheme
                return
            errors.append(RegistryError(f"{self.netloc} is not a registry (GET /v2/: HTTP {resp.status})"))
        raise errors[0] if len(errors) == 1 or not isinstance(errors[0], RegistryError) else errors[0]

    def get_manifest(self, repo: str, ref: str) -> tuple[bytes, str, str]:
        """(body, media type, sha256 digest of the body)."""
        url = f"{self.base()}/v2/{repo}/manifests/{ref}"
        resp = self.request("GET", url, {"Accept": ", ".join(MANIFEST_TYPES)}, repo=repo)
        if resp.status >= 400:
            body = self._error_body(resp, url)
        else:
            body = self.read_bounded(resp, MAX_MANIFEST, "the manifest", url)
        if resp.status == 404:
            raise RegistryError(f"{self.host}/{repo}:{ref}: manifest unknown",
                                hint=f"check the name and tag (rl search --list-tags {self.host}/{repo} "
                                     "lists the tags)"
                                ) if not ref.startswith("sha256:") else RegistryError(
                f"{self.host}/{repo}@{ref}: manifest unknown")
        if resp.status >= 400:
            self._raise_status(resp.status, url, body)
        if len(body) > MAX_MANIFEST:
            raise RegistryError(f"{self.host}/{repo}: manifest larger than {MAX_MANIFEST} bytes")
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        if ref.startswith("sha256:") and digest != ref:
            raise RegistryError(f"{self.host}/{repo}: manifest digest mismatch: asked {ref}, got {digest}",
                                hint="the registry or a proxy altered the manifest")
        mt = (resp.getheader("Content-Type") or "").split(";")[0].strip()
        doc = parse_json(body, f"{self.host}/{repo}:{ref}: the manifest")
        if not isinstance(doc, dict):
            raise RegistryError(f"{self.host}/{repo}:{ref}: the manifest is not a JSON object")
        if doc.get("mediaType") in MANIFEST_TYPES:
            mt = doc["mediaType"]
        elif mt not in MANIFEST_TYPES:
            if doc.get("schemaVersion") == 1 or mt in DOCKER_V2S1:
                raise RegistryError(f"{self.host}/{repo}:{ref}: schema 1 manifests are not supported",
                                    hint="push the image again with a current tool")
            declared = doc.get("mediaType") or (mt if mt not in _GENERIC_TYPES else None)
            if declared:
                raise RegistryError(f"{self.host}/{repo}:{ref}: unsupported manifest type {declared}",
                                    hint="rl reads OCI and Docker v2 image manifests and indexes")
            # no type anywhere (umoci leaves the optional field out; some servers
            # answer application/json): the shape tells
            mt = OCI_INDEX if "manifests" in doc else OCI_MANIFEST
        return body, mt, digest

    def fetch_blob(self, repo: str, digest: str, size: int | None, out: BinaryIO,
                   progress: Callable[[int], None] | None = None, resume: int = 0,
                   prior: "hashlib._Hash | None" = None) -> None:
        """Stream a blob into `out`, verifying size and sha256 of the exact
        bytes. With resume=N (and `prior`, the hash of the N bytes `out`
        already holds) only the rest is written: a Range request, or the
        first N bytes skipped when the registry ignores Range; `out` stays
        append-only, so a reader following it never sees bytes change."""
        algo, _, want = digest.partition(":")
        if algo != "sha256":
            raise RegistryError(f"unsupported digest algorithm in {digest}")
        url = f"{self.base()}/v2/{repo}/blobs/{digest}"
        headers = {"Range": f"bytes={resume}-"} if resume else {}
        resp = self.request("GET", url, headers, repo=repo)
        if resp.status >= 400:
            if resp.status == 404:
                self._discard(resp, url)
                raise RegistryError(f"{self.host}/{repo}: blob {digest} unknown")
            self._raise_status(resp.status, url, self._error_body(resp, url))
        h = prior.copy() if (resume and prior is not None) else hashlib.sha256()
        got = resume
        skip = resume if (resume and resp.status != 206) else 0
        try:
            while True:
                chunk = resp.read(_CHUNK)
                if not chunk:
                    break
                if skip:
                    n = min(skip, len(chunk))
                    chunk, skip = chunk[n:], skip - n
                    if not chunk:
                        continue
                h.update(chunk)
                out.write(chunk)
                got += len(chunk)
                if size is not None and got > size:
                    break
                if progress:
                    progress(len(chunk))
        except (OSError, http.client.HTTPException) as e:
            out.flush()
            raise self._net_error(e, url) from None
        out.flush()
        if size is not None and got != size:
            self.close()  # the connection is in an unknown state
            err = RegistryError(f"blob {digest[:19]} from {self.host}: expected {size} bytes, received "
                                f"{'more' if got > size else got}", hint="the registry or a proxy is broken; retry")
            err.retryable = got < size  # type: ignore[attr-defined] - a dropped transfer
            raise err
        if h.hexdigest() != want:
            raise RegistryError(f"blob {digest[:19]} from {self.host}: sha256 mismatch (got sha256:{h.hexdigest()[:12]})",
                                hint="the blob is corrupted in the registry or in transit")

    def _error_body(self, resp: http.client.HTTPResponse, url: str) -> bytes:
        """The start of an error answer, for its message; the rest is dropped."""
        try:
            body = resp.read(MAX_ERROR_BODY)
        except (OSError, http.client.HTTPException):
            body = b""
        if not resp.isclosed():
            self._drop(url)
        return body

    def get_page(self, path: str, what: str, limit: int, repo: str | None = None) -> tuple[dict, str]:
        """A listing's JSON object at path (at most limit bytes) and the path of
        its next page from the Link header ("" for none; a link to another
        origin is not followed)."""
        url = f"{self.base()}{path}"
        resp = self.request("GET", url, {"Accept": "application/json"}, repo=repo)
        if resp.status >= 400:
            body = self._error_body(resp, url)
            if resp.status == 404:
                raise RegistryError(f"{self.host}: {what}: not found")
            raise self._raise_status(resp.status, url, body)
        doc = parse_json(self.read_bounded(resp, limit, what, url), f"{self.host}: {what}")
        if not isinstance(doc, dict):
            raise RegistryError(f"{self.host}: {what} is not a JSON object")
        link = resp.getheader("Link") or ""
        if 'rel="next"' not in link or "<" not in link or ">" not in link:
            return doc, ""
        target = urllib.parse.urlsplit(link[link.index("<") + 1:link.index(">")])
        if target.netloc and target.netloc != self.netloc or not target.path.startswith("/v2/"):
            return doc, ""
        return doc, target.path + (f"?{target.query}" if target.query else "")

    def get_blob_bytes(self, repo: str, digest: str, size: int | None, limit: int = MAX_CONFIG) -> bytes:
        """A small blob (a config) in memory: at most `limit` bytes whether or
        not its descriptor declares a size."""
        if size is not None and size > limit:
            raise RegistryError(f"blob {digest[:19]} is {size} bytes, more than the {limit} allowed here",
                                hint=_HOSTILE_HINT)
        buf = _Capped(limit, f"blob {digest[:19]} from {self.host}")
        try:
            self.fetch_blob(repo, digest, size, buf)
        except _TooBig:
            self.close()  # the rest of the body is not read
            raise RegistryError(f"blob {digest[:19]} from {self.host} is larger than the {limit} bytes allowed "
                                f"here", hint=_HOSTILE_HINT) from None
        return buf.getvalue()

    def blob_exists(self, repo: str, digest: str) -> bool:
        url = f"{self.base()}/v2/{repo}/blobs/{digest}"
        resp = self.request("HEAD", url, {}, repo=repo)
        self._discard(resp, url)
        if resp.status == 200:
            return True
        if resp.status == 404:
            return False
        self._raise_status(resp.status, url, b"")
        return False

    def upload_blob(self, repo: str, digest: str, size: int, opener: Callable[[], BinaryIO | bytes]) -> None:
        """Monolithic upload: POST for a session, PUT the bytes with ?digest=."""
        url = f"{self.base()}/v2/{repo}/blobs/uploads/"
        resp = self.request("POST", url, {"Content-Length": "0"}, repo=repo, body=b"")
        if resp.status != 202:
            self._raise_status(resp.status, url, self._error_body(resp, url))
        self._discard(resp, url)
        loc = resp.getheader("Location")
        if not loc:
            raise RegistryError(f"{self.host}: upload session without a Location")
        loc = urllib.parse.urljoin(url, loc)
        sep = "&" if urllib.parse.urlsplit(loc).query else "?"
        put = f"{loc}{sep}digest={urllib.parse.quote(digest)}"
        resp = self.request("PUT", put, {"Content-Type": "application/octet-stream", "Content-Length": str(size)},
                            repo=repo, body=opener)
        if resp.status not in (201, 204):
            self._raise_status(resp.status, put, self._error_body(resp, put))
        self._discard(resp, put)

    def put_manifest(self, repo: str, ref: str, body: bytes, media_type: str) -> str:
        url = f"{self.base()}/v2/{repo}/manifests/{ref}"
        resp = self.request("PUT", url, {"Content-Type": media_type, "Content-Length": str(len(body))},
                            repo=repo, body=body)
        if resp.status not in (200, 201, 202):
            self._raise_status(resp.status, url, self._error_body(resp, url))
        self._discard(resp, url)
        # the digest of the bytes sent, not whatever the registry says it is
        return "sha256:" + hashlib.sha256(body).hexdigest()

    def check_login(self) -> None:
        """For `rl login`: authenticate against /v2/ with the given credentials."""
        url = f"{self.base()}/v2/"
        resp = self.request("GET", url, {}, repo=None)
        if resp.status >= 400:
            self._raise_status(resp.status, url, self._error_body(resp, url))
        self._discard(resp, url)



class _TooBig(Exception):
    pass


class _Capped:
    """A write-only in-memory buffer that refuses to grow past `limit`."""

    def __init__(self, limit: int, what: str):
        import io
        self.buf = io.BytesIO()
        self.limit = limit
        self.what = what

    def write(self, data: bytes) -> int:
        if self.buf.tell() + len(data) > self.limit:
            raise _TooBig(self.what)
        return self.buf.write(data)

    def flush(self) -> None:
        pass

    def getvalue(self) -> bytes:
        return self.buf.getvalue()
