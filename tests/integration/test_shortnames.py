"""Short-name resolution as containers-registries.conf(5) sets it (issue 19
item 29): `short-name-mode = "enforcing"` with several search registries
refuses without a terminal and asks on one; the choice is recorded in the
user's short-name-aliases.conf, which podman then reads too. Two loopback
registries serve the same images; nothing may reach an outside registry."""

from __future__ import annotations

import os
import subprocess
import tomllib

import pytest

from tests.integration.test_run_tty import _reap, read_until, spawn
from tests.podman import first_line_error, podman  # noqa: F401 - fixture

pytestmark = [pytest.mark.userns, pytest.mark.registry]


@pytest.fixture
def pod(podman):  # noqa: F811
    return podman  # its runtime dir is its own already (tests/podman.py)

# no shortnames.conf alias covers this name (Debian's podman ships aliases for debian and friends)
SHORT = "rl-test/multi:oci"


def _conf(tmp_path, registry, mode: str, search: list[str]) -> dict[str, str]:
    conf = tmp_path / "registries.conf"
    text = f"unqualified-search-registries = {search!r}\nshort-name-mode = \"{mode}\"\n".replace("'", '"')
    for host in (registry.plain, registry.token):
        text += f'\n[[registry]]\nlocation = "{host}"\ninsecure = true\n'
    conf.write_text(text)
    cache = tmp_path / "cache"
    cache.mkdir(exist_ok=True)
    return {"CONTAINERS_REGISTRIES_CONF": str(conf), "XDG_CACHE_HOME": str(cache)}


def test_enforcing_without_a_tty_refuses_as_podman(rl, pod, registry, tmp_path):
    """Before: rl pulled from the first registry that answered."""
    env = _conf(tmp_path, registry, "enforcing", [registry.plain, registry.token])
    mine = rl.run("pull", SHORT, env=env, stdin=subprocess.DEVNULL)
    theirs = pod.run("pull", SHORT, env=env, stdin=subprocess.DEVNULL)
    print(f"rl: {mine.returncode} {mine.stderr!r}\npodman: {theirs.returncode} {theirs.stderr!r}")
    assert mine.returncode == theirs.returncode == 125
    needle = "short-name resolution enforced but cannot prompt without a TTY"
    assert needle in first_line_error(theirs.stderr)
    assert needle in first_line_error(mine.stderr)
    assert rl.run("images", "-q").stdout.strip() == ""  # nothing pulled
    assert not (tmp_path / "cache" / "containers" / "short-name-aliases.conf").exists()


def test_enforcing_with_one_search_registry_needs_no_prompt(rl, pod, registry, tmp_path):
    env = _conf(tmp_path, registry, "enforcing", [registry.token])
    mine = rl.run("pull", "-q", SHORT, env=env, stdin=subprocess.DEVNULL)
    theirs = pod.run("pull", "-q", SHORT, env=env, stdin=subprocess.DEVNULL)
    assert mine.returncode == 0, mine.stderr
    assert theirs.returncode == 0, theirs.stderr
    assert f"{registry.token}/{SHORT}" in rl.run("images", "--format", "{{.Repository}}:{{.Tag}}").stdout


def test_permissive_without_a_tty_tries_each_registry(rl, registry, tmp_path):
    env = _conf(tmp_path, registry, "permissive", [registry.plain, registry.token])
    res = rl.run("pull", "-q", SHORT, env=env, stdin=subprocess.DEVNULL)
    assert res.returncode == 0, res.stderr
    assert f"{registry.plain}/{SHORT}" in rl.run("images", "--format", "{{.Repository}}:{{.Tag}}").stdout


def test_enforcing_on_a_tty_asks_and_records_the_alias(rl, pod, registry, tmp_path):
    """On a real pty rl lists the candidates; the chosen one is pulled and
    recorded as podman records it, so podman (no terminal, enforcing) then
    resolves the name without asking."""
    env = _conf(tmp_path, registry, "enforcing", [registry.plain, registry.token])
    rl.env.update(env)
    pid, fd = spawn(rl, "pull", SHORT)
    try:
        out = read_until(fd, b"Enter a number [1-2]: ", timeout=60)
        assert f"1) {registry.plain}/{SHORT}".encode() in out
        assert f"2) {registry.token}/{SHORT}".encode() in out
        os.write(fd, b"2\n")
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        _reap(pid, fd)
    names = rl.run("images", "--format", "{{.Repository}}:{{.Tag}}").stdout
    assert f"{registry.token}/{SHORT}" in names and f"{registry.plain}/" not in names
    aliases = tomllib.loads((tmp_path / "cache" / "containers" / "short-name-aliases.conf").read_text())
    assert aliases == {"aliases": {"rl-test/multi": f"{registry.token}/rl-test/multi"}}
    # the recorded alias now decides, without a prompt, for rl and for podman
    again = rl.run("pull", "-q", SHORT, stdin=subprocess.DEVNULL)
    assert again.returncode == 0, again.stderr
    theirs = pod.run("pull", "-q", SHORT, env=env, stdin=subprocess.DEVNULL)
    assert theirs.returncode == 0, theirs.stderr
    listed = pod.run("images", "--format", "{{.Repository}}:{{.Tag}}").stdout
    assert f"{registry.token}/{SHORT}" in listed


def test_bad_short_name_mode_is_an_error(rl, tmp_path):
    conf = tmp_path / "registries.conf"
    conf.write_text('short-name-mode = "strict"\n')
    res = rl.run("pull", SHORT, env={"CONTAINERS_REGISTRIES_CONF": str(conf)}, stdin=subprocess.DEVNULL)
    assert res.returncode == 125
    assert 'invalid short-name-mode "strict"' in res.stderr and "Traceback" not in res.stderr
