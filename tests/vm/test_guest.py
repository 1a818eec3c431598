"""The guest is what the systemd/cgroup tests need: systemd as PID 1, the
unified cgroup v2 hierarchy, a lingering user whose manager has the
controllers delegated, and rl seeing exactly that."""

from __future__ import annotations

import json

import pytest

from tests.vm import image

pytestmark = pytest.mark.vm
USER_SERVICE = f"/sys/fs/cgroup/user.slice/user-{image.UID}.slice/user@{image.UID}.service"


def test_systemd_is_pid1(guest):
    assert guest.run("cat /proc/1/comm", user="root", check=True).stdout.strip() == "systemd"


def test_unified_cgroup_hierarchy(guest):
    assert guest.run("stat -fc %T /sys/fs/cgroup", check=True).stdout.strip() == "cgroup2fs"


def test_user_manager_running_with_delegation(guest):
    res = guest.run("systemctl --user is-system-running")
    assert res.stdout.strip() in ("running", "degraded"), res
    ctrls = guest.run(f"cat {USER_SERVICE}/cgroup.controllers", check=True).stdout.split()
    assert set(image.DELEGATE.split()) <= set(ctrls)
    # lingering: the manager was started at boot, not by this login
    linger = guest.run(f"loginctl show-user {image.USER} -p Linger --value", check=True).stdout.strip()
    assert linger == "yes"


def test_exit_status_and_stdin_cross_ssh(guest):
    assert guest.run("exit 7").returncode == 7
    assert guest.run("cat", input="through ssh").stdout == "through ssh"


def test_registry_forward_reaches_host_loopback(guest):
    import http.server
    import threading

    class Hello(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = b"hello from the host"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hello)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        addr = guest.forward_registry(srv.server_address[1])
        got = guest.run(["python3", "-c", "import urllib.request,sys;"
                         f"sys.stdout.write(urllib.request.urlopen('http://{addr}/', timeout=30).read().decode())"],
                        check=True)
        assert got.stdout == "hello from the host"
        # and nothing else: user-mode net is restricted to the forwards
        out = guest.run(["python3", "-c", "import socket; socket.create_connection(('10.0.2.2', 22), 5)"])
        assert out.returncode != 0
    finally:
        srv.shutdown()


def _cgroups_finding(res) -> dict:
    assert res.stdout, res
    found = [f for f in json.loads(res.stdout)["findings"] if f["name"] == "cgroups"]
    assert found, res
    return found[0]


def test_rl_sees_delegated_cgroup_v2_in_user_scope(guest_rl):
    """rl in a Delegate=yes scope of the user's manager (where a systemd user
    unit runs it) finds cgroup v2 with the delegated controllers."""
    cg = _cgroups_finding(guest_rl.run("system", "check", "--format", "json", scope=True))
    assert cg["status"] == "ok", cg
    assert set(image.DELEGATE.split()) <= set(cg["detail"].split(":")[-1].split()), cg


def test_rl_sees_delegated_cgroup_v2_from_login_session(guest_rl):
    """A user at a terminal (an ssh login: session-N.scope) has the same
    delegated controllers through the user's systemd."""
    cg = _cgroups_finding(guest_rl.run("system", "check", "--format", "json"))
    assert cg["status"] == "ok", cg
    assert set(image.DELEGATE.split()) <= set(cg["detail"].split(":")[-1].split()), cg


@pytest.mark.registry
def test_guest_reaches_the_registry_fixture(guest, registry):
    """The only way out of the guest: its forward to the plain registry."""
    addr = guest.forward_registry(registry.plain)
    res = guest.run(["python3", "-c", "import urllib.request,sys;"
                     f"sys.stdout.write(urllib.request.urlopen('http://{addr}/v2/_catalog', timeout=60).read()"
                     ".decode())"], check=True)
    repos = json.loads(res.stdout)["repositories"]
    wanted = {name.rsplit(":", 1)[0] for name in registry.images}
    assert wanted & set(repos), (repos, wanted)
