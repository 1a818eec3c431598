"""The shared podman oracle (tests/podman.py) with a runtime directory of its
own: podman keeps its rootless pause process and its tmp dir under
XDG_RUNTIME_DIR, and other sessions' podman runs (`system reset` included)
under the same user share the default one, which made runs fail at random
("open .../libpod/tmp/pause.pid: no such file or directory"). Its
storage.conf names the same graphroot and runroot as its command line:
`podman commit` (4.3) otherwise fails with "runroot must be set"."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from pathlib import Path

import pytest

from tests.podman import podman  # noqa: F401 - fixture


@pytest.fixture
def podman_own(podman):  # noqa: F811
    run = Path(tempfile.mkdtemp(prefix="rlpr-", dir="/tmp"))
    run.chmod(0o700)
    conf = podman.base / "config/containers/storage.conf"
    conf.write_text(f'[storage]\ndriver = "overlay"\nrunroot = "{podman.runroot}"\n'
                    f'graphroot = "{podman.base / "storage"}"\n')
    shared = podman.env.get("XDG_RUNTIME_DIR")
    podman.env["XDG_RUNTIME_DIR"] = str(run)
    yield podman
    podman.close()
    for pidfile in run.glob("libpod/tmp/pause.pid"):
        try:
            os.kill(int(pidfile.read_text().strip()), signal.SIGKILL)
        except (OSError, ValueError):
            pass
    shutil.rmtree(run, ignore_errors=True)
    if shared is None:
        podman.env.pop("XDG_RUNTIME_DIR", None)
    else:
        podman.env["XDG_RUNTIME_DIR"] = shared
