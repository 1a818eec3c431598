"""nginx as people run it in a container: the master as root, workers as
www-data, a site bind-mounted from the host on a published port, a config
edit picked up by `exec nginx -s reload`, access lines in `logs` (the image
links nginx's logs to the container's stdout/stderr, as the official nginx
image does)."""

from __future__ import annotations

import re

import pytest

from tests.workloads.lib import compare, free_port, http_get, until

pytestmark = [pytest.mark.timeout(1200), pytest.mark.registry,
              pytest.mark.userns, pytest.mark.fuse, pytest.mark.slirp4netns]

SITE = ('server {{\n  listen 80 default_server;\n  root /srv/site;\n'
        '  location = /version {{ return 200 "{v}\\n"; }}\n}}\n')


def test_nginx_serves_a_bind_mounted_site_reloads_and_logs(sides, wl_image, tmp_path):
    seen = {}
    for side in sides:
        site = tmp_path / side.name
        site.mkdir()
        page, conf = site / "index.html", site / "site.conf"
        page.write_text("page v1\n")
        conf.write_text(SITE.format(v="v1"))
        port, name = free_port(), "wl-nginx"
        obs = {}
        try:
            side.ok("run", "-d", "--name", name, "-p", f"127.0.0.1:{port}:80", "-v", f"{site}:/srv/site:ro",
                    "-v", f"{conf}:/etc/nginx/sites-enabled/default:ro", wl_image, "nginx", "-g", "daemon off;")
            obs["first page"] = until(lambda: (r := http_get(port))[0] == 200 and r) or http_get(port)
            ps = side.ok("exec", name, "ps", "-o", "user=,args=", "-C", "nginx").splitlines()
            obs["processes"] = sorted({" ".join(line.split()[:3]) for line in ps})
            # the host edits both files in place (the bind mounts keep their inodes)
            page.write_text("page v2\n")
            conf.write_text(SITE.format(v="v2"))
            obs["edited page, no reload"] = http_get(port)
            obs["version before reload"] = http_get(port, "/version")
            side.ok("exec", name, "nginx", "-s", "reload")
            obs["version after reload"] = until(lambda: (r := http_get(port, "/version"))[1] == "v2\n" and r,
                                                timeout=60) or http_get(port, "/version")
            logs = side.run("logs", name)
            lines = re.findall(r'"(GET \S+) HTTP/1\.0" (\d+)', logs.stdout + logs.stderr)
            obs["access lines in logs"] = sorted(set(lines))
            obs["page requests logged"] = sum(1 for req, _ in lines if req == "GET /") >= 2
        finally:
            side.cleanup([name])
        seen[side.name] = obs
    compare("nginx: site, workers, reload, access log", seen)
    rl = seen["rl"]
    assert rl["first page"] == (200, "page v1\n")
    assert rl["processes"] == ["root nginx: master", "www-data nginx: worker"]
    assert rl["edited page, no reload"] == (200, "page v2\n")
    assert rl["version before reload"] == (200, "v1\n") and rl["version after reload"] == (200, "v2\n")
    assert rl["access lines in logs"] == [("GET /", "200"), ("GET /version", "200")]
    assert rl["page requests logged"]
