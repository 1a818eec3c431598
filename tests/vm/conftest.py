"""The `vm` marker's fixtures: one systemd guest per session.

Locally, a host that cannot build or boot the guest skips the `vm` tests with
the reason; in CI (CI=true) that is a failure."""

from __future__ import annotations

import os
import time
from typing import Iterator

import pytest

from tests.vm import image
from tests.vm.guest import Guest, GuestError, missing_tools
from tests.vm.pyenv import GuestRl, install_rl

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _unavailable(why: str) -> None:
    if IN_CI:
        pytest.fail(f"[vm] required in CI but unavailable: {why}", pytrace=False)
    pytest.skip(f"[vm] {why}")


# The first vm test's set-up may build the image and the snapshot (~3 min
# here, more on a loaded host): more than the suite's per-test timeout.
VM_TIMEOUT = 1800


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = os.path.dirname(__file__)
    has_timeout = config.pluginmanager.hasplugin("timeout")
    for item in items:
        if str(item.fspath).startswith(here):
            item.add_marker(pytest.mark.vm)
            if has_timeout and item.get_closest_marker("timeout") is None:
                item.add_marker(pytest.mark.timeout(VM_TIMEOUT))


_failed: list[str] = []   # a session fixture that failed once: later tests skip/fail fast


@pytest.fixture(scope="session")
def guest() -> Iterator[Guest]:
    """A booted guest (systemd PID 1, cgroup v2, lingering `tester`)."""
    if _failed:
        _unavailable(_failed[0])
    why = None
    if missing_tools():
        why = (f"not installed: {', '.join(missing_tools())} "
               "(apt-get install qemu-system-x86 qemu-utils openssh-client zstd)")
    else:
        try:
            image_dir = image.ensure(log=_say)
        except (image.BuildError, OSError) as e:
            why = f"cannot build the guest image: {e}"
    if why is None:
        try:
            g = Guest.boot(image_dir, log=_say)
        except (GuestError, OSError) as e:
            why = f"guest did not boot: {e}"
    if why:
        _failed.append(why)
        _unavailable(why)
    try:
        yield g
    finally:
        g.close()


@pytest.fixture(scope="session")
def guest_rl(guest: Guest) -> GuestRl:
    """rl from this checkout, runnable in the guest as `tester`."""
    t0 = time.monotonic()
    r = install_rl(guest, log=_say)
    _say(f"rl installed in the guest in {time.monotonic() - t0:.1f}s")
    return r


def _say(msg: str) -> None:
    # visible with -s; also kept in $RL_TEST_CACHE/vm/session.log
    print(f"[vm] {msg}", flush=True)
    try:
        root = image.cache_root()
        root.mkdir(parents=True, exist_ok=True)
        with open(root / "session.log", "a") as f:
            f.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} [{os.getpid()}] {msg}\n")
    except OSError:
        pass
