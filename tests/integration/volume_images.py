"""Images for the volume tests, built without rl: the fixture's minbase
bookworm rootfs tarball with extra members appended by Python's tarfile
(owners, modes, times, hard links, symlinks the tests need), wrapped in a
docker-archive (manifest.json + config + one layer) that `rl load` and
`podman load` both read, so both tools run the very same image."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.integration.test_run_support import _tarball

PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
MTIME = 1234567890


@dataclass
class Entry:
    name: str
    kind: str = "file"            # file, dir, symlink, hardlink
    data: bytes = b""
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    link: str = ""                # symlink target, or the hard link's first name
    mtime: int = MTIME
    xattrs: dict = field(default_factory=dict)


def _member(e: Entry) -> tuple[tarfile.TarInfo, io.BytesIO | None]:
    ti = tarfile.TarInfo(e.name)
    ti.mode, ti.uid, ti.gid, ti.mtime = e.mode, e.uid, e.gid, e.mtime
    ti.uname = ti.gname = ""
    if e.xattrs:
        ti.pax_headers = {f"SCHILY.xattr.{k}": v for k, v in e.xattrs.items()}
    if e.kind == "dir":
        ti.type = tarfile.DIRTYPE
    elif e.kind == "symlink":
        ti.type, ti.linkname = tarfile.SYMTYPE, e.link
    elif e.kind == "hardlink":
        ti.type, ti.linkname = tarfile.LNKTYPE, e.link
    else:
        ti.size = len(e.data)
        return ti, io.BytesIO(e.data)
    return ti, None


def build_archive(work: Path, tag: str, entries: list[Entry], config: dict | None = None) -> Path:
    """A docker-archive of the rootfs plus entries, tagged tag, with config
    (Volumes, User...) merged into the image's config; its path."""
    base = _tarball()
    if base is None:
        pytest.skip("no rootfs tarball: mmdebstrap is not installed and RL_TEST_ROOTFS_TAR is unset")
    work.mkdir(parents=True, exist_ok=True)
    layer = work / "layer.tar"
    shutil.copyfile(base, layer)
    with tarfile.open(layer, "a", format=tarfile.PAX_FORMAT) as tf:
        for e in entries:
            tf.addfile(*_member(e))
    h = hashlib.sha256()
    with open(layer, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    diff_id = "sha256:" + h.hexdigest()
    cfg = json.dumps({"architecture": "amd64", "os": "linux", "created": "2023-11-14T22:13:20Z",
                      "config": {"Env": [PATH_ENV], "Cmd": ["bash"], **(config or {})},
                      "rootfs": {"type": "layers", "diff_ids": [diff_id]}}).encode()
    cfg_name = hashlib.sha256(cfg).hexdigest() + ".json"
    manifest = json.dumps([{"Config": cfg_name, "RepoTags": [tag], "Layers": ["layer.tar"]}]).encode()
    archive = work / "image.tar"
    with tarfile.open(archive, "w") as tf:
        for name, data in ((cfg_name, cfg), ("manifest.json", manifest)):
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
        tf.add(layer, "layer.tar")
    layer.unlink()
    return archive
