"""`images --digests` and `.Digest` as podman's (issue 19 item 37): a
multi-arch image shows the digest its tag points at (the index), not the
per-platform manifest rl picked; pulling the same image by another name from
another registry does not make one name show a digest that only exists in
the other registry."""

from __future__ import annotations

import pytest

from tests.podman import podman  # noqa: F401 - fixture

pytestmark = [pytest.mark.userns, pytest.mark.registry]

ROWS = "{{.Repository}}:{{.Tag}} {{.Digest}}"


@pytest.fixture
def pod(podman):  # noqa: F811
    return podman  # its runtime dir is its own already (tests/podman.py)


def _pull(rl, pod, ref):
    mine = rl.run("pull", "-q", "--tls-verify=false", ref)
    theirs = pod.run("pull", "-q", "--tls-verify=false", ref)
    assert mine.returncode == 0, mine.stderr
    assert theirs.returncode == 0, theirs.stderr


def _rows(tool, *args) -> list[str]:
    res = tool.run("images", *args)
    assert res.returncode == 0, res.stderr
    return sorted(res.stdout.splitlines())


def test_multi_arch_image_shows_the_index_digest(rl, pod, registry):
    """Before: rl showed the amd64 manifest's digest."""
    ref = f"{registry.plain}/rl-test/multi:oci"
    _pull(rl, pod, ref)
    index = registry.images["rl-test/multi:oci"]["digest"]
    mine, theirs = _rows(rl, "--format", ROWS), _rows(pod, "--format", ROWS)
    print(f"rl: {mine}\npodman: {theirs}\nindex: {index}")
    assert mine == theirs == [f"{ref} {index}"]
    table = rl.run("images", "--digests").stdout
    assert index in table and index in pod.run("images", "--digests").stdout


def test_digest_of_each_name_stays_with_its_registry(rl, pod, registry):
    """The same image pulled by another tag from another registry: podman
    keeps the first digest; rl showed the last-pulled manifest's, a digest
    the first name's registry does not have."""
    first = f"{registry.plain}/rl-test/multi:oci"
    second = f"{registry.token}/rl-test/multi:docker"
    _pull(rl, pod, first)
    _pull(rl, pod, second)
    mine, theirs = _rows(rl, "--format", ROWS), _rows(pod, "--format", ROWS)
    print(f"rl: {mine}\npodman: {theirs}")
    assert mine == theirs
    # the repo digests name both manifests, each with its own registry
    mine = rl.run("image", "inspect", "--format", "{{json .RepoDigests}}", first).stdout
    theirs = pod.run("image", "inspect", "--format", "{{json .RepoDigests}}", first).stdout
    print(f"rl: {mine}\npodman: {theirs}")
    assert f"{registry.plain}/rl-test/multi@{registry.images['rl-test/multi:oci']['digest']}" in mine
