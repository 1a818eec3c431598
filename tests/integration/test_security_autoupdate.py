"""Security, class: a malicious image (or registry) against the user's
systemd units (issue 11, item 12).

`rl auto-update` restarts the unit named by a container's
PODMAN_SYSTEMD_UNIT label when its io.containers.autoupdate label asks for
updates. Both must be labels the user set on the container: an image that
carries them must not opt itself in, nor pick a unit for rl to restart.
And a unit name starting with `-` must reach systemctl as a name, never as
an option.

The images are written here with plain HTTP against the registry fixture
(a config with the labels, a manifest over the fixture's Debian layer):
never built by rl. systemctl is a recording script first on PATH (there is
no systemd user manager here: tests/vm runs the real one)."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import urllib.request

import pytest

pytestmark = [pytest.mark.registry, pytest.mark.userns, pytest.mark.fuse]

BASE = "library/debian:bookworm"
MANIFEST_TYPES = ("application/vnd.docker.distribution.manifest.v2+json",
                  "application/vnd.oci.image.manifest.v1+json")
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _get(url: str, accept: str = "") -> tuple[bytes, str]:
    req = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    with _OPENER.open(req, timeout=30) as r:
        return r.read(), r.headers.get("Content-Type", "")


def push_variant(host: str, tag: str, labels: dict[str, str], env: list[str] = ()) -> None:
    """library/debian:TAG = the fixture's Debian with these config labels
    (and extra env, to make a newer image under the same tag)."""
    repo, base_tag = BASE.split(":")
    raw, mtype = _get(f"http://{host}/v2/{repo}/manifests/{base_tag}", ", ".join(MANIFEST_TYPES))
    manifest = json.loads(raw)
    cfg = json.loads(_get(f"http://{host}/v2/{repo}/blobs/{manifest['config']['digest']}")[0])
    cfg["config"]["Labels"] = {**(cfg["config"].get("Labels") or {}), **labels}
    cfg["config"]["Env"] = list(cfg["config"].get("Env") or []) + list(env)
    blob = json.dumps(cfg).encode()
    digest = "sha256:" + hashlib.sha256(blob).hexdigest()
    req = urllib.request.Request(f"http://{host}/v2/{repo}/blobs/uploads/", method="POST", data=b"")
    with _OPENER.open(req, timeout=30) as r:
        loc = r.headers["Location"]
    if loc.startswith("/"):
        loc = f"http://{host}{loc}"
    sep = "&" if "?" in loc else "?"
    req = urllib.request.Request(f"{loc}{sep}digest={digest}", method="PUT", data=blob,
                                 headers={"Content-Type": "application/octet-stream"})
    _OPENER.open(req, timeout=30).close()
    manifest["config"] = {**manifest["config"], "digest": digest, "size": len(blob)}
    body = json.dumps(manifest).encode()
    req = urllib.request.Request(f"http://{host}/v2/{repo}/manifests/{tag}", method="PUT", data=body,
                                 headers={"Content-Type": mtype})
    _OPENER.open(req, timeout=30).close()


@pytest.fixture
def fake_systemctl(rl, tmp_path):
    """systemctl first on PATH: records each argv as a JSON line, succeeds."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    log = tmp_path / "systemctl.jsonl"
    script = bindir / "systemctl"
    script.write_text("#!/usr/bin/python3\nimport json, sys\n"
                      f"with open({str(log)!r}, 'a') as f:\n"
                      "    f.write(json.dumps(sys.argv[1:]) + '\\n')\n")
    script.chmod(0o755)
    rl.env["PATH"] = f"{bindir}{os.pathsep}{rl.env['PATH']}"

    def calls() -> list[list[str]]:
        return [json.loads(x) for x in log.read_text().splitlines()] if log.exists() else []
    return calls


def test_auto_update_ignores_image_labels_and_ends_systemctl_options(rl, registry, fake_systemctl):
    rl.env.update(registry.env())
    t = secrets.token_hex(4)
    hostile_labels = {"io.containers.autoupdate": "registry", "PODMAN_SYSTEMD_UNIT": f"hostile-{t}.service"}
    push_variant(registry.plain, f"hostile-{t}", hostile_labels)
    push_variant(registry.plain, f"plain-{t}", {})
    hostile, plain = f"docker.io/library/debian:hostile-{t}", f"docker.io/library/debian:plain-{t}"
    started = [f"img-only-{t}", f"img-unit-{t}", f"user-{t}"]
    try:
        # 1. the image asks for auto-update and names a unit; the user set nothing
        rl.run("run", "-d", "-q", "--name", f"img-only-{t}", "--network", "none", hostile, "sleep", "1000",
               check=True)
        # 2. the user asks for auto-update; only the image names a unit
        rl.run("run", "-d", "-q", "--name", f"img-unit-{t}", "--network", "none",
               "--label", "io.containers.autoupdate=registry", hostile, "sleep", "1000", check=True)
        # 3. the user's own labels, with a unit whose name starts with a dash
        rl.run("run", "-d", "-q", "--name", f"user-{t}", "--network", "none",
               "--label", "io.containers.autoupdate=registry", "--label", f"PODMAN_SYSTEMD_UNIT=-user-{t}.service",
               plain, "sleep", "1000", check=True)
        # newer images under both tags: every candidate would be restarted
        push_variant(registry.plain, f"hostile-{t}", hostile_labels, env=["NEWER=1"])
        push_variant(registry.plain, f"plain-{t}", {}, env=["NEWER=1"])
        res = rl.run("auto-update", "--format", "json")
        assert res.returncode == 0, res.stderr
        reports = json.loads(res.stdout)
        assert [r["unit"] for r in reports] == [f"-user-{t}.service"], reports
        assert reports[0]["updated"] == "true", reports
        assert fake_systemctl() == [["--user", "restart", "--", f"-user-{t}.service"]]
    finally:
        for name in started:
            rl.run("rm", "-f", "--ignore", name)
