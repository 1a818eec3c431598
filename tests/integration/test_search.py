"""`rl search` against the loopback registry (a v2 catalog), compared with
podman's search of the same registry: the same invocation through both, the
same exit code and output. Deliberate differences:
- a search of Docker Hub (an unqualified term with docker.io as the search
  registry) is refused in one line, as rl does not speak Hub's own search
  API (and tests never reach docker.io);
- `--list-tags --format T`: podman 4.3 ignores the format there and prints
  its NAME/TAG table; rl renders the format."""

from __future__ import annotations

import pytest

from tests.podman import first_line_error, podman  # noqa: F401 - fixture

pytestmark = [pytest.mark.registry, pytest.mark.userns]

SAME = [
    ["{R}/debian"],
    ["{R}/"],
    ["{R}/rl"],
    ["{R}/zzz-nothing-matches"],
    ["--limit", "2", "{R}/"],
    ["--list-tags", "{R}/library/debian"],
    ["--list-tags", "--limit", "2", "{R}/library/debian"],
    ["--list-tags", "{R}/library/debian:bookworm"],
    ["--format", "json", "{R}/rl"],
    ["--format", "{{.Name}} {{.Index}} {{.Stars}} {{.Official}}", "{R}/deb"],
    ["--format", "table {{.Name}} {{.Index}}", "{R}/"],
    ["--filter", "stars=1", "{R}/"],
    ["--filter", "is-official=false", "{R}/"],
    ["--filter", "is-automated=true", "{R}/"],
    ["--no-trunc", "{R}/debian"],
]
FAIL = [
    ["--list-tags", "{R}/"],
    ["127.0.0.1:1/x"],
    ["--filter", "colour=blue", "{R}/"],
    ["--format", "{{.Nope", "{R}/"],
]


@pytest.fixture(scope="module")
def quiet_registry(tmp_path_factory):
    """A registry of this file's own, from the same cached storage: other
    tests push into the session's registry while these compare catalogs."""
    from tests.fixture.registry import serve, warm
    with serve(warm(), tmp_path_factory.mktemp("search-registry")) as reg:
        yield reg


def _args(args, reg):
    return ["search", "--tls-verify=false", *(a.replace("{R}", reg.plain) for a in args)]


def test_search_output_matches_podman(rl, quiet_registry, podman):  # noqa: F811
    registry = quiet_registry
    for args in SAME:
        a, b = rl.run(*_args(args, registry)), podman.run(*_args(args, registry))
        print(f"$ {' '.join(args)}\nrl {a.returncode}:\n{a.stdout}{a.stderr}\npodman {b.returncode}:\n{b.stdout}")
        assert a.returncode == b.returncode == 0, (args, a.stderr, b.stderr)
        assert a.stdout == b.stdout, args
    # what the comparison covered: results, tags, an empty answer
    assert rl.run(*_args(["{R}/"], registry)).stdout.count("\n") == 4
    assert "bookworm" in rl.run(*_args(["--list-tags", "{R}/library/debian"], registry)).stdout
    tags = rl.run(*_args(["--format", "{{.Name}}:{{.Tag}}", "--list-tags", "{R}/library/debian"], registry))
    assert f"{registry.plain}/library/debian:bookworm\n" in tags.stdout
    for args in FAIL:
        a, b = rl.run(*_args(args, registry)), podman.run(*_args(args, registry))
        print(f"$ {' '.join(args)}\nrl {a.returncode}: {a.stderr}podman {b.returncode}: {b.stderr}")
        assert a.returncode == b.returncode == 125, (args, a.stderr, b.stderr)
        assert a.stdout == "" and first_line_error(a.stderr).startswith("Error: ") and "Traceback" not in a.stderr


def test_search_of_docker_hub_is_refused_in_one_line(rl, tmp_path):
    conf = tmp_path / "registries.conf"
    conf.write_text('unqualified-search-registries = ["docker.io"]\n')
    res = rl.run("search", "debian", env={"CONTAINERS_REGISTRIES_CONF": str(conf)})
    assert res.returncode == 125 and res.stdout == ""
    assert first_line_error(res.stderr).startswith("Error: searching docker.io: Docker Hub has no v2 catalog")
    assert rl.run("search", "--help").returncode == 0
