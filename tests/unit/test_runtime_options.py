from __future__ import annotations

import pytest

from rootless.containers import options
from rootless.errors import UsageError
from rootless.runtime import mounts
from rootless.runtime.spec import BindMount


def test_env_forms():
    host = {"HOSTVAR": "h", "PRE_A": "1", "PRE_B": "2"}
    assert options.parse_env(["A=1", "B=", "HOSTVAR", "MISSING", "PRE_*", "C=x=y"], host) == {
        "A": "1", "B": "", "HOSTVAR": "h", "PRE_A": "1", "PRE_B": "2", "C": "x=y"}
    with pytest.raises(UsageError):
        options.parse_env(["=x"], host)


def test_env_file(tmp_path):
    f = tmp_path / "e"
    f.write_text("# c\n\nA=1\n  B=2\n")
    assert options.read_env_file(str(f)) == ["A=1", "B=2"]


def test_volume(tmp_path):
    assert options.parse_volume(f"{tmp_path}:/data:ro") == BindMount(str(tmp_path), "/data", True)
    assert options.parse_volume(f"{tmp_path}:/data/:rw,z") == BindMount(str(tmp_path), "/data", False)
    for bad in ("nohost", f"{tmp_path}:relative", f"{tmp_path}:/d:bogus", "/no/such/dir:/d", "named:/d"):
        with pytest.raises(UsageError):
            options.parse_volume(bad)


def test_command_rules():
    cfg = {"Entrypoint": ["/ep"], "Cmd": ["default"]}
    assert options.command(cfg, None, []) == ["/ep", "default"]
    assert options.command(cfg, None, ["x"]) == ["/ep", "x"]
    assert options.command(cfg, "sh", []) == ["sh"]
    assert options.command(cfg, "", ["ls"]) == ["ls"]
    assert options.command(cfg, '["a", "b"]', ["c"]) == ["a", "b", "c"]
    assert options.command({}, None, []) == []


def test_tmpfs_options():
    flags, data = mounts.tmpfs_options("rw,noexec,nosuid,nodev")
    assert data == "mode=1777"
    flags2, data2 = mounts.tmpfs_options("size=1m,exec,mode=700")
    assert data2 == "size=1m,mode=700"
    assert flags2 & mounts.NOEXEC == 0 and flags & mounts.NOEXEC


def test_secure_join_keeps_symlinks_inside(tmp_path):
    root = tmp_path / "root"
    (root / "usr" / "lib").mkdir(parents=True)
    (root / "lib").symlink_to("/usr/lib")
    (root / "escape").symlink_to("../../../../etc")
    (root / "loop").symlink_to("loop")
    assert mounts.secure_join(str(root), "/lib/x") == str(root / "usr/lib/x")
    assert mounts.secure_join(str(root), "/escape/passwd") == str(root / "etc/passwd")
    assert mounts.secure_join(str(root), "/../../etc") == str(root / "etc")
    with pytest.raises(OSError):
        mounts.secure_join(str(root), "/loop/x")


def test_volume_option_U_marks_the_tree_for_the_container_user(tmp_path):
    from rootless.containers.options import parse_volume
    b = parse_volume(f"{tmp_path}:/d:U,ro")
    assert b.chown and b.readonly and b.target == "/d"
    assert not parse_volume(f"{tmp_path}:/d").chown
