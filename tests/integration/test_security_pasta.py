"""Security, class: a compromised container against the user's host-loopback
services (issue 11, item 8).

With `--network pasta`, pasta by default maps the container's gateway
address to the host's loopback: a container could then talk to anything
the user bound to 127.0.0.1 (databases, debug ports, agents) by connecting
to its default route. rl passes `--no-map-gw` as podman does; `--network
pasta:--map-gw` is podman's explicit opt-in. The attack here is real: a
loopback-only HTTP service on the host with a secret, and a container that
asks for it through its gateway address and through 127.0.0.1."""

from __future__ import annotations

import secrets
import shutil
import socket
import struct
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.conftest import IN_CI

pytestmark = [pytest.mark.registry, pytest.mark.userns, pytest.mark.fuse]

IMAGE = "debian:bookworm"
# perl-base is in the minbase image; a bounded connect so that a dropped SYN ends too
CLIENT = (r'use IO::Socket::INET; $|=1; for my $h (@ARGV) { my $s=IO::Socket::INET->new(PeerAddr=>$h,'
          r' Timeout=>5); if (!$s) { print "$h: no connection\n"; next } print $s "GET / HTTP/1.0\r\n\r\n";'
          r' my $body=join("", <$s>); $body =~ s/\s+/ /g; print "$h: $body\n"; }')


def _default_gateway() -> str | None:
    """The host's IPv4 default gateway: pasta gives the container the same."""
    with open("/proc/net/route") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if fields[1] == "00000000" and int(fields[3], 16) & 2:  # RTF_GATEWAY
                return socket.inet_ntoa(struct.pack("<I", int(fields[2], 16)))
    return None


@pytest.fixture
def loopback_service():
    """A host service bound to 127.0.0.1 only, answering with a secret."""
    secret = secrets.token_hex(16)

    class H(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            body = f"SECRET={secret}\n".encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv.server_address[1], secret
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def rlp(rl, registry):
    if not shutil.which("pasta"):
        why = "pasta is not installed (helpers/setup-host installs passt)"
        if IN_CI:
            pytest.fail(why, pytrace=False)
        pytest.skip(why)
    gw = _default_gateway()
    if gw is None:
        pytest.skip("no IPv4 default route: pasta has nothing to copy")
    rl.env.update(registry.env())
    rl.run("pull", "-q", IMAGE, check=True)
    rl.gateway = gw
    return rl


def _ask(rl, network: str, port: int) -> dict[str, str]:
    targets = [f"{rl.gateway}:{port}", f"127.0.0.1:{port}"]
    res = rl.run("run", "--rm", "--network", network, IMAGE, "perl", "-e", CLIENT, *targets, timeout=120)
    assert res.returncode == 0, res.stderr
    out = {}
    for t in targets:
        line = next((x for x in res.stdout.splitlines() if x.startswith(f"{t}: ")), "")
        out[t.rsplit(":", 1)[0]] = line
    return out


def test_pasta_container_cannot_reach_host_loopback_through_the_gateway(rlp, loopback_service):
    port, secret = loopback_service
    seen = _ask(rlp, "pasta", port)
    assert secret not in seen[rlp.gateway], seen
    assert secret not in seen["127.0.0.1"], seen  # the container's own loopback, never the host's


def test_pasta_map_gw_is_the_explicit_opt_in(rlp, loopback_service):
    """podman's `pasta:--map-gw`: the gateway address reaches the host's
    loopback (and --map-gw, not a pasta option, is not passed to pasta)."""
    port, secret = loopback_service
    seen = _ask(rlp, "pasta:--map-gw", port)
    assert secret in seen[rlp.gateway], seen
    assert secret not in seen["127.0.0.1"], seen
    # other pasta options still pass through beside the default
    seen = _ask(rlp, "pasta:--mtu,1500", port)
    assert secret not in seen[rlp.gateway], seen
