"""A developer's inner loop: a stdlib Python web app run as the user's own
uid with --userns=keep-id and the project directory bind-mounted; a file
edited on the host is served changed without a restart, and what the app
writes lands in the project owned by the user, readable as usual (0644).

The app is asked from inside (`exec python3 -c urllib...`), as a developer's
curl in the container would; test_keep_id_container_publishes_a_port asks a
published port from the host (slirp4netns used to join keep-id's nested
user namespace and leave its API socket to a subordinate ID: "cannot start
the container: Permission denied").

Defects this found: every exec into a keep-id container failed with "its
storage daemon fuse-overlayfs died" (the live daemon was looked for next to
the nested namespace's holder, not the outer namespace side:
tests/integration/test_dead_storage.py keep-id); keep-id + -p (above)."""

from __future__ import annotations

import os

import pytest

from tests.workloads.lib import compare, free_port, http_get, until

GET = ("import sys, urllib.request\n"
       "try:\n    r = urllib.request.urlopen('http://127.0.0.1:8000' + sys.argv[1], timeout=10)\n"
       "    print(r.status, r.read().decode(), end='')\n"
       "except Exception as e:\n    print(0, e)\n")

pytestmark = [pytest.mark.timeout(1200), pytest.mark.registry,
              pytest.mark.userns, pytest.mark.fuse, pytest.mark.slirp4netns]

APP = '''\
import http.server, os, pathlib

class App(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/whoami":
            body = f"{os.getuid()}:{os.getgid()} {os.environ.get('HOME')}"
        elif self.path.startswith("/write/"):
            out = pathlib.Path("out")
            out.mkdir(exist_ok=True)
            (out / self.path[len("/write/"):]).write_text("written by the app\\n")
            body = "ok"
        else:
            body = pathlib.Path("message.txt").read_text().strip()
        data = (body + "\\n").encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

http.server.ThreadingHTTPServer(("", 8000), App).serve_forever()
'''


def _get(side, name, path="/"):
    """(status, body) from inside the container, as a developer's curl would;
    (0, what went wrong) when the request or the exec itself failed."""
    res = side.run("exec", name, "python3", "-c", GET, path)
    status, _, body = res.stdout.partition(" ")
    if not status.isdigit():
        return 0, f"{side.name} exec exited {res.returncode}: {res.stderr.strip()[-300:] or res.stdout!r}"
    return int(status), body


def _ok(side, name, path="/") -> str:
    """The body of a request that must succeed."""
    status, body = _get(side, name, path)
    assert status == 200, f"{side.name}: GET {path} failed: {body}"
    return body


def test_devloop_keep_id_app_serves_host_edits_and_writes_user_owned_files(sides, wl_image, tmp_path):
    seen = {}
    for side in sides:
        proj = tmp_path / side.name
        proj.mkdir()
        (proj / "app.py").write_text(APP)
        msg = proj / "message.txt"
        msg.write_text("hello v1\n")
        name = "wl-dev"
        obs = {}
        try:
            side.ok("run", "-d", "--name", name, "--userns=keep-id", "-v", f"{proj}:/src", "-w", "/src",
                    wl_image, "python3", "-u", "app.py")
            obs["first"] = until(lambda: (r := _get(side, name))[0] == 200 and r) or _get(side, name)
            assert obs["first"][0] == 200, f"{side.name}: the app never answered: {obs['first'][1]}"
            who = _ok(side, name, "/whoami")
            obs["whoami"] = (200, who.split()[0])
            # HOME differs, reported: podman adds a passwd entry whose home is the workdir
            # (/src), rl leaves an unknown uid's HOME at /
            print(f"{side.name}: HOME of the keep-id user: {who.split()[1:]}")
            msg.write_text("hello v2\n")  # the developer saves the file
            obs["after host edit"] = _get(side, name)
            obs["write"] = _get(side, name, "/write/result.txt")
            made = proj / "out" / "result.txt"
            st, dst = made.stat(), made.parent.stat()
            obs["written file: owner, mode"] = (st.st_uid == os.getuid(), st.st_gid == os.getgid(),
                                               oct(st.st_mode & 0o777), oct(dst.st_mode & 0o777))
            obs["content"] = made.read_text()
        finally:
            side.cleanup([name])
        seen[side.name] = obs
    compare("developer loop: keep-id app, host edit, files written", seen)
    rl = seen["rl"]
    assert rl["first"] == (200, "hello v1\n")
    assert rl["whoami"] == (200, f"{os.getuid()}:{os.getgid()}")
    assert rl["after host edit"] == (200, "hello v2\n")
    assert rl["written file: owner, mode"] == (True, True, "0o644", "0o755")


def test_keep_id_container_publishes_a_port(sides, wl_image, tmp_path):
    seen = {}
    for side in sides:
        port, name = free_port(), "wl-dev-port"
        try:
            res = side.run("run", "-d", "--name", name, "--userns=keep-id", "-p", f"127.0.0.1:{port}:8000",
                           wl_image, "python3", "-m", "http.server", "-d", "/etc", "8000")
            status = until(lambda: http_get(port, "/hostname")[0] == 200) if res.returncode == 0 else False
            seen[side.name] = (res.returncode, res.stderr.strip()[-200:] if res.returncode else "", status)
        finally:
            side.cleanup([name])
    compare("keep-id container with a published port", seen)
    assert seen["rl"] == (0, "", True)
