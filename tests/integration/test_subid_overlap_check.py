"""issue 19 item 41: `rl system check` said `ok subuid 131072 IDs` for two
overlapping ranges of one user, and every container then failed. The check
reads the layout from a copy (RL_SUBUID_FILE / RL_SUBGID_FILE: the test user
cannot edit /etc/subuid) and names the lines with the usermod fix."""

from __future__ import annotations

import json

import pytest

from rootless import config

pytestmark = [pytest.mark.userns]


def _check(rl, tmp_path, text: str) -> dict:
    for name in ("subuid", "subgid"):
        (tmp_path / name).write_text(text)
    env = {"RL_SUBUID_FILE": str(tmp_path / "subuid"), "RL_SUBGID_FILE": str(tmp_path / "subgid")}
    res = rl.run("system", "check", "--format", "json", env=env)
    data = json.loads(res.stdout)
    return res, [f for f in data["findings"] if f["name"] in ("subuid", "subgid")]


def test_overlapping_ranges_of_this_user_fail_the_check_with_the_usermod_fix(rl, tmp_path):
    user = config.user_name()
    res, found = _check(rl, tmp_path, f"root:100000:65536\n{user}:362144:65536\n{user}:400000:65536\n")
    assert res.returncode == 1
    assert [f["status"] for f in found] == ["error", "error"], found
    sub = found[0]
    assert f"lines 2 and 3 of {tmp_path / 'subuid'} overlap" in sub["detail"]
    assert sub["fix"] == (f"sudo usermod --del-subuids 362144-465535 {user} && "
                          f"sudo usermod --add-subuids 362144-465535 {user}")
    assert "--del-subgids 362144-465535" in found[1]["fix"]
    text = rl.run("system", "check", env={"RL_SUBUID_FILE": str(tmp_path / "subuid")}).stdout
    assert "ERROR subuid" in text and "NOT ready" in text


def test_overlap_with_another_user_fails_the_check(rl, tmp_path):
    user = config.user_name()
    res, found = _check(rl, tmp_path, f"{user}:100000:65536\nsomeoneelse:150000:65536\n")
    assert res.returncode == 1
    assert "of user someoneelse" in found[0]["detail"] and found[0]["status"] == "error"
    assert found[0]["fix"].startswith(f"sudo usermod --del-subuids 100000-165535 {user} && ")


def test_distinct_ranges_still_pass(rl, tmp_path):
    user = config.user_name()
    _, found = _check(rl, tmp_path, f"{user}:100000:65536\n{user}:165536:65536\nx:231072:65536\n")
    assert [f["status"] for f in found] == ["ok", "ok"], found
    assert found[0]["detail"] == "131072 IDs (100000-165535, 165536-231071)"
