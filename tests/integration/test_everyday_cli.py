"""Everyday defects (issue 19) that are about the CLI's answers: the same
invocation through rl and rootless podman, the exit status and the one error
line compared."""

from __future__ import annotations

import pytest

from tests.podman import first_line_error, podman  # noqa: F401 - fixture

pytestmark = [pytest.mark.userns]


@pytest.mark.parametrize("flt", ["status=bogus", "bogus=1", "status", "exited=x"])
def test_bad_ps_filter_is_an_error_even_with_no_containers(rl, podman, flt):  # noqa: F811
    """issue 19 item 21: a filter typo used to list nothing with exit 0."""
    mine = rl.run("ps", "-a", "--filter", flt)
    theirs = podman.run("ps", "-a", "--filter", flt)
    print(f"rl: {mine.returncode} {first_line_error(mine.stderr)!r}\n"
          f"podman: {theirs.returncode} {first_line_error(theirs.stderr)!r}")
    assert mine.returncode == theirs.returncode == 125
    # the same complaint (podman's wording where rl can give it)
    assert first_line_error(mine.stderr)[:30] == first_line_error(theirs.stderr)[:30]
    assert mine.stdout == "" and "Traceback" not in mine.stderr
    assert len(mine.stderr.strip().splitlines()) <= 2  # the error and its hint


def test_good_ps_filters_still_accepted(rl, podman):  # noqa: F811
    for flt in ("status=running", "status=exited", "label=a=b", "name=x", "exited=0"):
        assert rl.run("ps", "-a", "--filter", flt).returncode == podman.run("ps", "-a", "--filter", flt).returncode == 0


def test_empty_unqualified_search_registries_refuses_short_names(rl, podman, tmp_path):  # noqa: F811
    """issue 19 item 30: `unqualified-search-registries = []` must not fall back to docker.io."""
    conf = tmp_path / "registries.conf"
    conf.write_text("unqualified-search-registries = []\n")
    env = {"CONTAINERS_REGISTRIES_CONF": str(conf)}
    # a name no shortnames.conf alias covers (Debian's podman ships aliases for debian and friends),
    # so neither tool may reach for a registry at all
    mine = rl.run("pull", "rl-no-such-short-name", env=env)
    theirs = podman.run("pull", "rl-no-such-short-name", env=env)
    print(f"rl: {mine.returncode} {first_line_error(mine.stderr)!r}\n"
          f"podman: {theirs.returncode} {first_line_error(theirs.stderr)!r}")
    assert mine.returncode == theirs.returncode == 125
    needle = f'no unqualified-search registries are defined in "{conf}"'
    assert needle in mine.stderr and needle in theirs.stderr


@pytest.mark.parametrize("flag", ["--since", "--until"])
def test_bad_since_until_one_line_exit_125(rl, podman, flag):  # noqa: F811
    """issue 19 item 19: was "internal error: ValueError"; checked before the container, as podman."""
    mine = rl.run("logs", flag, "bogus", "nosuch")
    theirs = podman.run("logs", flag, "bogus", "nosuch")
    print(f"rl: {mine.returncode} {first_line_error(mine.stderr)!r}\n"
          f"podman: {theirs.returncode} {first_line_error(theirs.stderr)!r}")
    assert mine.returncode == theirs.returncode == 125
    assert "bogus" in first_line_error(mine.stderr) and "Traceback" not in mine.stderr
    assert "internal error" not in mine.stderr



@pytest.mark.registry
@pytest.mark.fuse
def test_rm_and_rmi_exit_statuses_match_podman(both):
    """issue 19 item 25: scripts test these: 1 no such, 2 running / in use."""
    rl, podman, img = both
    seen = {}
    for tool, run, image in (("rl", rl.run, "debian:bookworm"), ("podman", podman.run, img)):
        assert run("run", "-d", "--name", "busy", "--network", "none", image, "sleep", "60").returncode == 0
        seen[tool] = {
            "rm missing": run("rm", "nosuch").returncode,
            "rm running": run("rm", "busy").returncode,
            "rm missing+running": run("rm", "nosuch", "busy").returncode,
            "rmi missing": run("rmi", "nosuchimage").returncode,
            "rmi in use": run("rmi", image).returncode,
            "exec stopped": (run("stop", "-t", "0", "busy"), run("exec", "busy", "true"))[1].returncode,
            # a missing name among others: the status, and whether the others were removed
            "rm missing+stopped": run("rm", "nosuch", "busy").returncode,
            "stopped survived": run("inspect", "--format", "{{.Name}}", "busy").returncode,
        }
        run("rm", "-f", "busy")
    print(seen)
    assert seen["rl"] == seen["podman"]


@pytest.mark.parametrize("stdin", ["", "someone\n"])
def test_login_without_username_reads_it_from_stdin(rl, podman, stdin):  # noqa: F811
    """issue 19 item 40: `rl login HOST </dev/null` talked about a --password-stdin never given.
    Nothing listens on the port: neither tool may get as far as the network."""
    mine = rl.run("login", "127.0.0.1:9", input=stdin)
    theirs = podman.run("login", "127.0.0.1:9", input=stdin)
    print(f"rl: {mine.returncode} {mine.stdout!r} {first_line_error(mine.stderr)!r}\n"
          f"podman: {theirs.returncode} {theirs.stdout!r} {first_line_error(theirs.stderr)!r}")
    assert mine.returncode == theirs.returncode == 125
    assert mine.stdout.startswith("Username: ") and theirs.stdout.startswith("Username: ")
    assert "--password-stdin" not in first_line_error(mine.stderr)
    want = "reading username: EOF" if not stdin else "reading password"
    assert want in first_line_error(mine.stderr) and want in first_line_error(theirs.stderr)


@pytest.mark.registry
@pytest.mark.fuse
def test_label_without_value_and_restart_checks_match_podman(both):
    """issue 19 items 38 and 20: `--label KEY` is an empty value; --restart is checked on
    foreground runs too, and --rm with a restart policy is refused."""
    rl, podman, img = both
    seen = {}
    for tool, run, image in (("rl", rl.run, "debian:bookworm"), ("podman", podman.run, img)):
        create = run("create", "--name", "lab", "--label", "solo", "--label", "k=v", image, "true")
        labels = run("inspect", "--format", "{{.Config.Labels.solo}}|{{.Config.Labels.k}}", "lab")
        run("rm", "-f", "lab")
        bogus = run("run", "--rm", "--network", "none", "--restart", "bogus", image, "true")
        rm_always = run("run", "--rm", "--network", "none", "--restart", "always", image, "true")
        seen[tool] = {"create": create.returncode, "labels": labels.stdout.strip(),
                      "restart bogus": bogus.returncode, "rm+always": rm_always.returncode,
                      "rm+always says": "conflicts with --restart" in rm_always.stderr}
    print(seen)
    assert seen["rl"] == seen["podman"]
    assert seen["rl"]["labels"] == "|v" and seen["rl"]["restart bogus"] == 125


def test_network_ls_inspect_exists_as_podmans(rl, podman):  # noqa: F811
    """issue 19 item 38 (network inspect --format) and the list calls podman-compose makes."""
    seen = {}
    for tool, run in (("rl", rl.run), ("podman", podman.run)):
        assert run("network", "create", "--label", "proj=a", "neta").returncode == 0
        assert run("network", "create", "--label", "proj=b", "netb").returncode == 0
        seen[tool] = {
            "ls label": run("network", "ls", "--filter", "label=proj=a", "--noheading", "--format", "{{.Name}}").stdout,
            "ls name": sorted(run("network", "ls", "-q", "--filter", "name=^net").stdout.split()),
            "inspect fmt": run("network", "inspect", "--format", "{{.Name}} {{.Driver}} {{index .Labels \"proj\"}}",
                               "netb").stdout,
            "exists": run("network", "exists", "neta").returncode,
            "exists missing": run("network", "exists", "nosuch").returncode,
            "bad filter": run("network", "ls", "--filter", "bogus").returncode,
        }
        run("network", "rm", "neta", "netb")
    print(seen)
    assert seen["rl"] == seen["podman"]
