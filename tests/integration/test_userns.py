"""The user namespace primitive, on the real kernel with the real newuidmap."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.userns

CHILD = r"""
import os, sys
from rootless.runtime import userns, idmap
target = sys.argv[1]
def inside():
    os.mkdir(target + "/d")
    os.chown(target + "/d", 1000, 1000)
    with open(target + "/f", "w") as f:
        f.write("x")
    os.chown(target + "/f", 0, 0)
    return open("/proc/self/uid_map").read(), open("/proc/self/gid_map").read(), os.getuid(), os.getgid()
uid_map, gid_map, uid, gid = userns.run_in_userns(inside)
print(repr((uid_map, gid_map, uid, gid)))
"""


def _my_range():
    from rootless import config
    from rootless.runtime import idmap
    entries = idmap.parse_subid(open("/etc/subuid").read())
    return idmap.ranges_for(entries, config.user_name(), os.getuid())[0]


def test_full_subordinate_range_is_mapped_and_owners_land_on_subuids(tmp_path):
    res = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    uid_map, gid_map, uid, gid = eval(res.stdout)
    rng = _my_range()
    lines = [ln.split() for ln in uid_map.splitlines()]
    assert lines == [["0", str(os.getuid()), "1"], ["1", str(rng.start), str(rng.count)]]
    assert gid_map.split()[:3] == ["0", str(os.getgid()), "1"]
    assert (uid, gid) == (0, 0)
    st = os.stat(tmp_path / "d")
    assert (st.st_uid, st.st_gid) == (rng.start + 999, rng.start + 999)  # container 1000 -> start+999
    assert os.stat(tmp_path / "f").st_uid == os.getuid()                # container root -> the user


def test_exception_inside_comes_back_typed():
    code = ("from rootless.runtime import userns\n"
            "def bad(): open('/nonexistent/x')\n"
            "try:\n  userns.run_in_userns(bad)\n"
            "except FileNotFoundError as e:\n  print('caught', e.filename)\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.stdout.strip() == "caught /nonexistent/x", res.stderr
