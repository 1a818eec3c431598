"""apt inside a running, detached container: the issue's own example,
`apt-get update && apt-get install -y nginx && exec nginx` on a published
port. apt's downloads run as its _apt sandbox user, who must read
/etc/resolv.conf: with a 0600 file (a detached container under its
monitor's umask 077) no name resolves and nginx never gets installed.
Needs the Debian mirror."""

from __future__ import annotations

import pytest

from tests.workloads.lib import compare, free_port, http_get, until

pytestmark = [pytest.mark.timeout(1200), pytest.mark.registry,
              pytest.mark.userns, pytest.mark.fuse, pytest.mark.slirp4netns,
              pytest.mark.mirror]

INSTALL = "apt-get update -q && apt-get install -y -q --no-install-recommends nginx && exec nginx -g 'daemon off;'"


def test_apt_installs_nginx_in_a_detached_container(sides):
    seen = {}
    for side in sides:
        port, name = free_port(), "wl-apt"
        obs = {}
        try:
            side.ok("run", "-d", "--name", name, "-p", f"127.0.0.1:{port}:80", "debian:bookworm", "sh", "-c", INSTALL)

            def served():
                if side.inspect(name)["State"]["Status"] != "running":
                    return "exited"
                status, body = http_get(port)
                return status == 200 and "Welcome to nginx" in body and "served"
            obs["nginx"] = until(served, timeout=900, step=1)
            logs = side.run("logs", name)
            obs["apt fetched as _apt"] = "Temporary failure resolving" not in logs.stdout + logs.stderr
            if obs["nginx"] != "served":
                print(f"{side.name} logs:\n{logs.stdout[-3000:]}\n{logs.stderr[-3000:]}")
        finally:
            side.cleanup([name])
        seen[side.name] = obs
    compare("apt-get install nginx in a detached container", seen)
    assert seen["rl"] == {"nginx": "served", "apt fetched as _apt": True}
