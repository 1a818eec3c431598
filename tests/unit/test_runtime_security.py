from __future__ import annotations

import pytest

from rootless.errors import UsageError
from rootless.runtime import security
from rootless.runtime.seccomp_default import PROFILE


def test_default_caps_are_podmans():
    caps, added = security.resolve_caps([], [])
    assert caps == security.DEFAULT_CAPS and added == frozenset()
    assert security.mask(caps) == 0x800405FB


def test_cap_add_drop_names_are_normalised():
    caps, added = security.resolve_caps(["cap_net_admin"], ["CAP_CHOWN", "kill"])
    assert caps == security.DEFAULT_CAPS - {"CHOWN", "KILL"} | {"NET_ADMIN"}
    assert added == {"NET_ADMIN"}


def test_drop_all_then_add():
    caps, _ = security.resolve_caps(["NET_BIND_SERVICE"], ["ALL"])
    assert caps == {"NET_BIND_SERVICE"}


def test_privileged_and_add_all():
    assert security.resolve_caps([], [], privileged=True)[0] == security.all_caps()
    assert security.resolve_caps(["ALL"], [])[0] == security.all_caps()
    assert "SYS_ADMIN" not in security.resolve_caps(["ALL"], ["SYS_ADMIN"])[0]


def test_unknown_cap_is_a_usage_error():
    with pytest.raises(UsageError, match="unknown capability"):
        security.resolve_caps(["CAP_FLY"], [])


def test_security_opts():
    assert security.parse_security_opts([]) == ("default", False)
    assert security.parse_security_opts(["no-new-privileges"]) == ("default", True)
    assert security.parse_security_opts(["no-new-privileges:true", "seccomp=unconfined"]) == (None, True)
    assert security.parse_security_opts(["label=disable"]) == ("default", False)
    with pytest.raises(UsageError):
        security.parse_security_opts(["bogus=1"])
    with pytest.raises(UsageError, match="cannot read seccomp profile"):
        security.parse_security_opts(["seccomp=/no/such.json"])


def test_profile_rules_filtered_by_caps_and_arch():
    rules = {tuple(r["names"]): r for r in PROFILE["syscalls"] if r["names"] in (["chroot"],)}
    allow = next(r for r in PROFILE["syscalls"] if r["names"] == ["chroot"] and r["action"] == "SCMP_ACT_ALLOW")
    deny = next(r for r in PROFILE["syscalls"] if r["names"] == ["chroot"] and r["action"] == "SCMP_ACT_ERRNO")
    assert rules
    assert security._applies(allow, frozenset({"SYS_CHROOT"}))
    assert not security._applies(deny, frozenset({"SYS_CHROOT"}))
    assert security._applies(deny, frozenset())
    assert not security._applies({"includes": {"arches": ["s390x"]}}, frozenset())


def test_default_profile_denies_keyring_with_eperm():
    eperm = {n for r in PROFILE["syscalls"] if r["action"] == "SCMP_ACT_ERRNO" and r.get("errnoRet") == 1
             and not r.get("includes") and not r.get("excludes") for n in r["names"]}
    allowed = {n for r in PROFILE["syscalls"] if r["action"] == "SCMP_ACT_ALLOW" for n in r["names"]}
    assert {"keyctl", "add_key", "request_key", "kexec_load"} <= eperm
    assert not {"keyctl", "add_key", "request_key"} & allowed
    assert PROFILE["defaultErrnoRet"] == 38


def test_seccomp_program_is_cached(tmp_path):
    prog = security.seccomp_program("default", security.DEFAULT_CAPS, str(tmp_path))
    assert prog and len(prog) % 8 == 0
    cached = list(tmp_path.iterdir())
    assert len(cached) == 1
    cached[0].write_bytes(b"\0" * 8)  # the cache is what gets used
    assert security.seccomp_program("default", security.DEFAULT_CAPS, str(tmp_path)) == b"\0" * 8
    assert security.seccomp_program(None, security.DEFAULT_CAPS, str(tmp_path)) is None
    other = security.seccomp_program("default", frozenset({"SYS_ADMIN"}), str(tmp_path))
    assert other != prog and len(list(tmp_path.iterdir())) == 2
