"""issue 19 item 41: overlapping subordinate ranges passed `rl system check`
and every container then failed with newuidmap's bare "write to uid_map
failed: Invalid argument". The overlap rules on parsed text, the lines they
name and the usermod commands they give."""

from __future__ import annotations

import os

from rootless import config
from rootless.runtime import idmap, userns

ISSUE = """\
root:100000:65536
nosudo:362144:65536
nosudo:400000:65536
other:500000:65536
"""


def _problems(text, user="nosudo", uid=1002, kind="uid"):
    return idmap.subid_problems(idmap.parse_subid_lines(text), user, uid, "/etc/subuid", kind)


def test_the_issues_two_ranges_of_one_user_are_named_by_line_with_the_usermod_fix():
    (p,) = _problems(ISSUE)
    assert "lines 2 and 3 of /etc/subuid overlap" in p.detail
    assert "nosudo:362144:65536" in p.detail and "nosudo:400000:65536" in p.detail
    assert "Invalid argument" in p.detail
    # one range covering both: nothing else lies in 362144-465535
    assert p.fix == ("sudo usermod --del-subuids 362144-465535 nosudo && "
                     "sudo usermod --add-subuids 362144-465535 nosudo")


def test_the_fix_applied_leaves_no_problem():
    """What usermod does with the fix (trim every range touching the span, then append one)."""
    lines = [ln for ln in ISSUE.splitlines() if not ln.startswith("nosudo:")] + ["nosudo:362144:103392"]
    assert _problems("\n".join(lines)) == []


def test_gid_ranges_get_the_subgid_flags():
    (p,) = _problems(ISSUE, kind="gid")
    assert "--del-subgids 362144-465535" in p.fix and "--add-subgids" in p.fix and "newgidmap" in p.detail


def test_overlap_with_another_user_moves_this_users_range_to_a_free_one():
    text = "alice:100000:65536\nbob:150000:65536\ncarol:215536:10\n"
    (p,) = _problems(text, user="alice", uid=1000)
    assert "line 1 of /etc/subuid (alice:100000:65536) overlaps line 2 (bob:150000:65536) of user bob" in p.detail
    assert "150000-165535" in p.detail
    free = idmap.suggest_free_range(idmap.parse_subid(text))
    assert free.start == 215546
    assert p.fix == ("sudo usermod --del-subuids 100000-165535 alice && "
                     "sudo usermod --add-subuids 215546-281081 alice")


def test_another_users_overlap_with_a_third_is_not_this_users_problem():
    text = "alice:100000:65536\nbob:300000:65536\ncarol:310000:65536\n"
    assert _problems(text, user="alice", uid=1000) == []


def test_a_range_holding_the_users_own_id():
    (p,) = _problems("rltest:1000:65536\n", user="rltest", uid=1001)
    assert "holds rltest's own ID 1001" in p.detail
    assert p.fix.startswith("sudo usermod --del-subuids 1000-66535 rltest && sudo usermod --add-subuids ")


def test_owner_by_number_counts_as_the_user():
    (p,) = _problems("1002:362144:65536\nnosudo:400000:65536\n")
    assert "lines 1 and 2" in p.detail


def test_distinct_ranges_have_no_problem():
    assert _problems("nosudo:100000:65536\nnosudo:165536:65536\nx:231072:65536\n") == []


def test_newuidmap_einval_gets_the_same_hint(tmp_path, monkeypatch):
    """The error a user sees when newuidmap refuses the map names the lines and the fix."""
    user, uid = config.user_name(), os.getuid()
    f = tmp_path / "subuid"
    f.write_text(f"{user}:362144:65536\n{user}:400000:65536\n")
    monkeypatch.setattr(userns, "SUBUID_FILE", str(f))
    detail, hint = userns._einval_explained("newuidmap", "newuidmap: write to uid_map failed: Invalid argument")
    assert detail.startswith("newuidmap: write to uid_map failed: Invalid argument: lines 1 and 2 of ")
    assert hint == (f"sudo usermod --del-subuids 362144-465535 {user} && "
                    f"sudo usermod --add-subuids 362144-465535 {user}")
