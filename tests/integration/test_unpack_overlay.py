"""The unpacked layer format is what both overlay implementations read:
kernel overlayfs (in a user namespace, userxattr) and fuse-overlayfs."""
from __future__ import annotations

import os
import subprocess

import pytest

from tests.integration.test_unpack import make_tar

pytestmark = [pytest.mark.userns, pytest.mark.fuse]


def _stack(base: str, driver: str) -> tuple[list[str], list[str], list[str]]:
    from rootless import linux
    from rootless.images import unpack as U
    for n in ("l1", "l2"):
        os.mkdir(f"{base}/{n}")
        U.unpack(f"{base}/{n}.tar", f"{base}/{n}", [f"{base}/l1"] if n == "l2" else [])
    for d in ("m", "u", "w"):
        os.mkdir(f"{base}/{d}")
    opts = f"lowerdir={base}/l2:{base}/l1,upperdir={base}/u,workdir={base}/w"
    linux.unshare(linux.Clone.NEWNS)  # root of the user namespace mounts in its own mount namespace
    if driver == "overlay":
        linux.mount("overlay", f"{base}/m", "overlay", 0, opts + ",userxattr")
    else:
        res = subprocess.run(["fuse-overlayfs", "-o", opts, f"{base}/m"], capture_output=True, text=True)
        assert res.returncode == 0, res.stderr
    try:
        return (sorted(os.listdir(f"{base}/m/etc")), sorted(os.listdir(f"{base}/m/opq")),
                sorted(os.listdir(f"{base}/m/data")))
    finally:
        if driver == "overlay":
            linux.umount2(f"{base}/m")
        else:
            subprocess.run(["fusermount3", "-u", f"{base}/m"], check=True)


@pytest.mark.parametrize("driver", ["overlay", "fuse-overlayfs"])
def test_whiteouts_and_opaque_dirs_under_overlay(tmp_path, driver):
    from rootless.images.unpack import remove_tree
    from rootless.runtime.userns import run_in_userns
    make_tar(tmp_path / "l1.tar", [("etc", "dir"), ("etc/gone", "file", {"data": b"g"}), ("etc/stay", "file"),
                                   ("opq", "dir"), ("opq/old", "file"), ("data", "dir"),
                                   ("data/f", "file", {"data": b"lower"})])
    make_tar(tmp_path / "l2.tar", [("etc/.wh.gone", "file"), ("opq/new", "file"), ("opq/.wh..wh..opq", "file"),
                                   ("data/hl", "hard", {"link": "data/f"})])
    base = tmp_path / "b"
    base.mkdir()
    for t in ("l1.tar", "l2.tar"):
        os.rename(tmp_path / t, base / t)
    try:
        etc, opq, data = run_in_userns(_stack, str(base), driver)
    finally:
        run_in_userns(remove_tree, str(base))
    assert etc == ["stay"]
    assert opq == ["new"]
    assert data == ["f", "hl"]
