"""`rl run IMAGE`: pulled from the registry fixture, then run from its
layers (the images engineer's store) with the default storage driver."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.registry, pytest.mark.userns, pytest.mark.fuse]


@pytest.fixture
def rlr(rl, registry):
    rl.env.update(registry.env())
    yield rl
    # image layers belong to subordinate IDs: only the user namespace can delete them
    import shutil
    from rootless.runtime import userns
    userns.run_in_userns(shutil.rmtree, str(rl.base / "data"), ignore_errors=True)


def test_run_pulls_and_runs_an_image(rlr):
    res = rlr.run("run", "--rm", "--network", "none", "-q", "debian:bookworm", "cat", "/etc/debian_version")
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip().startswith("12")
    # second run: from the store, no pull
    res = rlr.run("run", "--rm", "--network", "none", "debian:bookworm", "sh", "-c", "echo $PATH; id -u")
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "0"]


@pytest.mark.parametrize("driver", ["fuse-overlayfs", "overlay", "vfs"])
def test_image_layers_under_each_driver(rlr, driver):
    res = rlr.run("--storage-driver", driver, "run", "--rm", "--network", "none", "-q", "debian:bookworm",
                  "sh", "-c", "echo x > /etc/x && cat /etc/x && rm /etc/debian_version && ls /etc/debian_version",
                  timeout=300)
    assert res.returncode == 2, res.stderr  # ls of a deleted file
    assert res.stdout.strip() == "x"


def test_image_cmd_is_the_default_command(rlr):
    # the image's Cmd is ["bash"]: with stdin at /dev/null it exits at once
    res = rlr.run("run", "--rm", "--network", "none", "-q", "debian:bookworm")
    assert res.returncode == 0, res.stderr
    res = rlr.run("run", "--rm", "--network", "none", "-i", "-q", "debian:bookworm", input="echo from-stdin\n")
    assert res.stdout.strip() == "from-stdin"
