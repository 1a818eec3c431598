"""auth.json handling as podman's (issue 19 item 35): a missing --authfile is
an error rather than a later "authentication required"; credHelpers entries
run `docker-credential-NAME get`; `login --get-login`. Differential with
rootless podman against the loopback registries."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from tests.podman import first_line_error, podman  # noqa: F401 - fixture

pytestmark = [pytest.mark.userns, pytest.mark.registry]


@pytest.fixture
def pod(podman):  # noqa: F811
    return podman  # its runtime dir is its own already (tests/podman.py)


@pytest.mark.parametrize("verb", ["pull", "push"])
def test_missing_authfile_is_an_error(rl, pod, registry, verb):
    """Before: the typo was ignored and the pull went on anonymously."""
    ref = f"{registry.basic}/rl-test/multi:oci"
    args = [verb, "--tls-verify=false", "--authfile", "/nonexistent/auth.json", ref]
    mine = rl.run(*args, stdin=subprocess.DEVNULL)
    theirs = pod.run(*args, stdin=subprocess.DEVNULL)
    print(f"rl: {mine.returncode} {mine.stderr!r}\npodman: {theirs.returncode} {theirs.stderr!r}")
    assert mine.returncode == theirs.returncode == 125
    needle = "stat /nonexistent/auth.json: no such file or directory"
    assert needle in first_line_error(theirs.stderr)
    assert needle in first_line_error(mine.stderr)
    assert "authentication required" not in mine.stderr


def test_missing_registry_auth_file_is_an_error(rl, pod, registry):
    ref = f"{registry.basic}/rl-test/multi:oci"
    env = {"REGISTRY_AUTH_FILE": "/nonexistent/auth.json"}
    mine = rl.run("pull", "--tls-verify=false", ref, env=env)
    theirs = pod.run("pull", "--tls-verify=false", ref, env=env)
    assert mine.returncode == theirs.returncode == 125
    assert "stat /nonexistent/auth.json" in first_line_error(mine.stderr)


HELPER = """#!/bin/sh
# a docker credential helper: the server on stdin, JSON credentials on stdout
read -r server || true
echo "$1 $server" >> "{log}"
if [ "$1" = get ] && [ "$server" = "{host}" ]; then
    printf '{{"ServerURL":"%s","Username":"{user}","Secret":"{secret}"}}\\n' "$server"
    exit 0
fi
echo "credentials not found in native keychain"
exit 1
"""


def _helper(tmp_path, registry) -> tuple[dict[str, str], str, object]:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    log = tmp_path / "helper.log"
    script = bindir / "docker-credential-rltest"
    user, secret = registry.creds
    script.write_text(HELPER.format(log=log, host=registry.basic, user=user, secret=secret))
    script.chmod(0o755)
    auth = tmp_path / "auth.json"
    auth.write_text(json.dumps({"auths": {}, "credHelpers": {registry.basic: "rltest"}}))
    env = {"PATH": f"{bindir}:{os.environ['PATH']}"}
    return env, str(auth), log


def test_cred_helpers_are_asked(rl, pod, registry, tmp_path):
    """Before: the credHelpers entry was ignored and the pull was refused."""
    env, auth, log = _helper(tmp_path, registry)
    ref = f"{registry.basic}/rl-test/multi:oci"
    mine = rl.run("pull", "-q", "--tls-verify=false", "--authfile", auth, ref, env=env)
    assert mine.returncode == 0, mine.stderr
    assert f"get {registry.basic}" in log.read_text()
    theirs = pod.run("pull", "-q", "--tls-verify=false", "--authfile", auth, ref, env=env)
    assert theirs.returncode == 0, theirs.stderr
    # and without the helper's answer both are refused
    log.unlink()
    auth_none = tmp_path / "none.json"
    auth_none.write_text(json.dumps({"auths": {}}))
    refused = rl.run("pull", "-q", "--tls-verify=false", "--authfile", str(auth_none),
                     f"{registry.basic}/rl-test/multi:docker", env=env)
    assert refused.returncode == 125 and "authentication required" in refused.stderr


def test_login_get_login(rl, pod, registry, tmp_path):
    auth = str(tmp_path / "auth.json")
    user, secret = registry.creds
    ok = rl.run("login", "--tls-verify=false", "--authfile", auth, "-u", user, "--password-stdin", registry.basic,
                input=secret)
    assert ok.returncode == 0, ok.stderr
    mine = rl.run("login", "--authfile", auth, "--get-login", registry.basic)
    theirs = pod.run("login", "--authfile", auth, "--get-login", registry.basic)
    assert (mine.returncode, mine.stdout) == (theirs.returncode, theirs.stdout) == (0, f"{user}\n")
    mine = rl.run("login", "--authfile", auth, "--get-login", registry.token)
    theirs = pod.run("login", "--authfile", auth, "--get-login", registry.token)
    print(f"rl: {mine.returncode} {mine.stderr!r}\npodman: {theirs.returncode} {theirs.stderr!r}")
    assert mine.returncode == theirs.returncode == 125
    assert first_line_error(mine.stderr) == first_line_error(theirs.stderr) == f"Error: not logged into {registry.token}"


def test_get_login_through_a_cred_helper(rl, registry, tmp_path):
    env, auth, _ = _helper(tmp_path, registry)
    res = rl.run("login", "--authfile", auth, "--get-login", registry.basic, env=env)
    assert (res.returncode, res.stdout) == (0, f"{registry.creds[0]}\n"), res.stderr
