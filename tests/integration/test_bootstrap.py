"""`rl image bootstrap`: an image from the package archive, no registry."""

import pytest

pytestmark = [pytest.mark.userns, pytest.mark.fuse, pytest.mark.registry]


def test_bootstrap_then_run(rl):
    res = rl.run("image", "bootstrap", "-q", "debian:bookworm", timeout=900)
    assert res.returncode == 0, res.stderr
    image_id = res.stdout.strip().splitlines()[-1]
    assert len(image_id) == 64
    listed = rl.run("images", "--format", "{{.Repository}}:{{.Tag}}", check=True).stdout.split()
    assert "docker.io/library/debian:bookworm" in listed
    # no registry is configured in this test's environment: the image is found locally
    out = rl.run("run", "--rm", "--network", "none", "debian:bookworm", "sh", "-c",
                 "cut -d. -f1 /etc/debian_version; stat -c %U /var/lib/dpkg; echo $PATH", check=True).stdout
    assert out.split()[0] == "12"
    assert out.split()[1] == "root"
    assert "/usr/sbin" in out


def test_unknown_suite_is_one_clear_line(rl):
    res = rl.run("image", "bootstrap", "-q", "debian:no-such-suite", timeout=300)
    assert res.returncode == 125
    lines = res.stderr.strip().splitlines()
    assert lines[0].startswith("Error: mmdebstrap could not build no-such-suite")
    assert "Traceback" not in res.stderr
    assert rl.run("images", "-q").stdout.strip() == ""
