"""Each storage driver reads the layer on-disk format the unpacker writes:
whiteouts are 0/0 character devices, opaque directories carry
user.overlay.opaque=y and user.fuseoverlayfs.opaque=y. Layers are built by
hand inside a user namespace (mknod 0/0 needs it)."""

from __future__ import annotations

import os
import shutil

import pytest

from rootless import storage
from rootless.linux import Clone
from rootless.runtime import userns

pytestmark = [pytest.mark.userns]


def _build_and_view(base: str, driver_name: str) -> dict:
    lower, upper_layer = os.path.join(base, "l0"), os.path.join(base, "l1")
    for d in (lower, upper_layer):
        os.makedirs(d)
    os.makedirs(os.path.join(lower, "d"))
    for name in ("d/a", "d/b", "x", "keep"):
        with open(os.path.join(lower, name), "w") as f:
            f.write(name)
    os.chown(os.path.join(lower, "keep"), 1000, 1000)
    os.mknod(os.path.join(upper_layer, "x"), 0o600 | 0o020000, os.makedev(0, 0))  # whiteout
    os.makedirs(os.path.join(upper_layer, "d"))
    with open(os.path.join(upper_layer, "d", "c"), "w") as f:
        f.write("c")
    for attr in ("user.overlay.opaque", "user.fuseoverlayfs.opaque"):
        os.setxattr(os.path.join(upper_layer, "d"), attr, b"y")
    upper, work, target = (os.path.join(base, n) for n in ("upper", "work", "merged"))
    for d in (upper, work, target):
        os.makedirs(d)
    drv = storage.driver(driver_name)
    drv.mount([lower, upper_layer], upper, work, target)
    try:
        view = {
            "top": sorted(os.listdir(target)),
            "d": sorted(os.listdir(os.path.join(target, "d"))),
            "keep_owner": os.stat(os.path.join(target, "keep")).st_uid,
        }
        with open(os.path.join(target, "new"), "w") as f:
            f.write("new")
        os.unlink(os.path.join(target, "keep"))
        view["after"] = sorted(os.listdir(target))
    finally:
        drv.unmount(target)
    view["upper"] = sorted(os.listdir(upper))
    view["lower_intact"] = sorted(os.listdir(lower))
    shutil.rmtree(base)
    return view


@pytest.mark.parametrize("driver", [pytest.param("fuse-overlayfs", marks=pytest.mark.fuse), "overlay", "vfs"])
def test_driver_honours_whiteouts_and_opaque_dirs(driver, tmp_path):
    base = tmp_path / "layers"
    view = userns.run_in_userns(_build_and_view, str(base), driver, more_flags=Clone.NEWNS)
    assert view["top"] == ["d", "keep"]          # x whited out
    assert view["d"] == ["c"]                    # opaque: a and b hidden
    assert view["keep_owner"] == 1000            # mapped owners seen as-is
    assert view["after"] == ["d", "new"]
    assert "new" in view["upper"]
    assert view["lower_intact"] == ["d", "keep", "x"]


def test_probe_and_cache(tmp_path):
    name = storage.choose(None, tmp_path)
    assert name in storage.NAMES
    assert (tmp_path / "storage-driver").read_text().strip() == name
    (tmp_path / "storage-driver").write_text("vfs\n")
    assert storage.choose(None, tmp_path) == "vfs"   # probed once, then cached
    assert storage.choose("overlay", tmp_path) == "overlay"  # the flag wins
