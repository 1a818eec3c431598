"""rl commit's layer: an overlay upper dir's entries in OCI form."""

from __future__ import annotations

import stat

from rootless.containers.copy import layer_entries

DIR = stat.S_IFDIR | 0o755
REG = stat.S_IFREG | 0o644
CHR = stat.S_IFCHR | 0o000


def test_overlay_whiteout_becomes_wh_file():
    assert layer_entries("etc/issue", CHR, 0, False) == [("etc/.wh.issue", False)]
    assert layer_entries("gone", CHR, 0, False) == [(".wh.gone", False)]  # at the top


def test_other_character_devices_are_kept():
    assert layer_entries("dev/null", CHR, (1 << 8) | 3, False) == [("dev/null", True)]


def test_opaque_directory_gets_its_marker():
    assert layer_entries("usr/share/doc", DIR, 0, True) == [
        ("usr/share/doc", True), ("usr/share/doc/.wh..wh..opq", False)]
    assert layer_entries("usr/share/doc", DIR, 0, False) == [("usr/share/doc", True)]


def test_opacity_only_means_something_on_directories():
    assert layer_entries("a/file", REG, 0, True) == [("a/file", True)]


def test_wh_files_are_already_oci():
    assert layer_entries("data/.wh.f", REG, 0, False) == [("data/.wh.f", True)]
    assert layer_entries("d/.wh..wh..opq", REG, 0, False) == [("d/.wh..wh..opq", True)]
