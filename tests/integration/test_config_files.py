"""podman's configuration files bind rl too (issue 19 items 31, 32, 34):
containers.conf defaults reach the container as podman's do (the same
invocation through both, compared), keys rl cannot honour are named, a bad
file is one error naming it; storage.conf moves rl's store; `info --format`
renders templates and has podman's fields."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.podman import first_line_error, load_image, podman  # noqa: F401 - fixture

pytestmark = [pytest.mark.userns]

CONF = """[containers]
env = ["FROM_CONF=yes", "SHADOWED=conf"]
default_capabilities = ["CHOWN", "KILL"]
dns_servers = ["192.0.2.53"]
dns_searches = ["conf.example"]
"""

PROBE = ("echo FROM_CONF=$FROM_CONF SHADOWED=$SHADOWED; grep CapBnd /proc/self/status; "
         "grep -E '^(nameserver|search)' /etc/resolv.conf")


@pytest.fixture
def pod(podman):  # noqa: F811
    return podman  # its runtime dir is its own already (tests/podman.py)


@pytest.fixture
def both(rl, registry, pod):
    podman = pod
    rl.env.update(registry.env())
    img = load_image(podman, registry)
    assert rl.run("pull", "-q", "debian:bookworm").returncode == 0
    yield rl, podman, img
    rl.run("rm", "-af", "-t", "0")


@pytest.mark.registry
@pytest.mark.fuse
@pytest.mark.slirp4netns
def test_containers_conf_defaults_reach_the_container_as_podmans(both, tmp_path):
    """Before: rl ignored containers.conf (an admin's narrowed capabilities
    gave more under rl). The user's file, as podman reads it."""
    rl, podman, img = both
    for cfg in (rl.base / "config", tmp_path / "podman" / "config"):
        (cfg / "containers").mkdir(parents=True, exist_ok=True)
        (cfg / "containers" / "containers.conf").write_text(CONF)
    mine = rl.run("run", "--rm", "-e", "SHADOWED=flag", "debian:bookworm", "sh", "-c", PROBE)
    theirs = podman.run("run", "--rm", "-e", "SHADOWED=flag", img, "sh", "-c", PROBE)
    print(f"rl: {mine.stdout!r} {mine.stderr!r}\npodman: {theirs.stdout!r} {theirs.stderr!r}")
    assert mine.returncode == theirs.returncode == 0
    assert mine.stdout == theirs.stdout
    assert "FROM_CONF=yes SHADOWED=flag" in mine.stdout
    assert "CapBnd:\t0000000000000021" in mine.stdout  # CHOWN (0) and KILL (5) only
    assert "nameserver 192.0.2.53" in mine.stdout and "conf.example" in mine.stdout


@pytest.mark.registry
@pytest.mark.fuse
def test_flags_still_win_over_containers_conf(both, tmp_path):
    rl, podman, img = both
    conf = tmp_path / "cc.conf"
    conf.write_text(CONF)
    env = {"CONTAINERS_CONF": str(conf)}
    cmd = ["run", "--rm", "--cap-add", "NET_RAW", "--network", "none"]
    probe = "grep CapBnd /proc/self/status"
    mine = rl.run(*cmd, "debian:bookworm", "sh", "-c", probe, env=env)
    theirs = podman.run(*cmd, img, "sh", "-c", probe, env=env)
    assert mine.returncode == theirs.returncode == 0, mine.stderr + theirs.stderr
    assert mine.stdout == theirs.stdout == "CapBnd:\t0000000000002021\n"  # + NET_RAW (13)


def test_bad_containers_conf_is_one_error_naming_file_and_line(rl, pod, tmp_path):
    podman = pod
    conf = tmp_path / "containers.conf"
    conf.write_text('[containers]\nenv = ["A=1"\ntz = "UTC"\n')
    mine = rl.run("run", "--rm", "--rootfs", str(tmp_path), "true", env={"CONTAINERS_CONF": str(conf)})
    theirs = podman.run("run", "--rm", "--rootfs", str(tmp_path), "true", env={"CONTAINERS_CONF": str(conf)})
    print(f"rl: {mine.returncode} {mine.stderr!r}\npodman: {theirs.returncode} {theirs.stderr!r}")
    assert mine.returncode == 125 and theirs.returncode != 0  # podman fails before its CLI: exit 1
    assert str(conf) in theirs.stderr and "line 3" in theirs.stderr
    line = first_line_error(mine.stderr)
    assert str(conf) in line and "line 3" in line, line
    assert len(mine.stderr.strip().splitlines()) <= 2 and "Traceback" not in mine.stderr


def test_wrong_type_in_containers_conf_names_the_key(rl, tmp_path):
    conf = tmp_path / "containers.conf"
    conf.write_text('[containers]\ndefault_capabilities = "CHOWN"\n')
    res = rl.run("run", "--rm", "--rootfs", str(tmp_path), "true", env={"CONTAINERS_CONF": str(conf)})
    assert res.returncode == 125
    assert f"{conf}: default_capabilities in [containers] must be a list of strings" in res.stderr


def test_unsupported_keys_are_named_by_info_and_debug_log(rl, tmp_path):
    conf = tmp_path / "containers.conf"
    conf.write_text('[containers]\ntz = "UTC"\nenv = ["A=1"]\n[engine]\nevents_logger = "file"\n')
    env = {"CONTAINERS_CONF": str(conf)}
    res = rl.run("info", "--format", "{{json .ContainersConf}}", env=env)
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    assert data["Files"] == [str(conf)]
    assert data["UnsupportedKeys"] == [f"containers.tz ({conf})", f"engine.events_logger ({conf})"]
    dbg = rl.run("--log-level", "debug", "info", "--format", "{{.Host.Arch}}", env=env)
    assert "containers.conf: key containers.tz (set in " in dbg.stderr
    assert "containers.env" not in dbg.stderr  # honoured keys are not reported


def test_user_containers_conf_overrides_system_and_dropins_in_order(rl, tmp_path):
    cfg = rl.base / "config" / "containers"
    (cfg / "containers.conf.d").mkdir(parents=True)
    (cfg / "containers.conf").write_text('[containers]\ndns_servers = ["192.0.2.1"]\ntz = "UTC"\n')
    (cfg / "containers.conf.d" / "20-b.conf").write_text('[containers]\ndns_servers = ["192.0.2.3"]\n')
    (cfg / "containers.conf.d" / "10-a.conf").write_text('[containers]\ndns_servers = ["192.0.2.2"]\n')
    (cfg / "containers.conf.d" / "30-c.txt").write_text('not toml at all [[[')
    res = rl.run("info", "--format", "{{json .ContainersConf.Files}}")
    files = json.loads(res.stdout)
    assert files[-3:] == [str(cfg / "containers.conf"), str(cfg / "containers.conf.d" / "10-a.conf"),
                          str(cfg / "containers.conf.d" / "20-b.conf")]
    over = tmp_path / "override.conf"
    over.write_text('[containers]\nulimits = 1\n')
    res = rl.run("info", "--format", "{{json .ContainersConf.UnsupportedKeys}}",
                 env={"CONTAINERS_CONF_OVERRIDE": str(over)})
    assert f"containers.ulimits ({over})" in json.loads(res.stdout)


# ---------------------------------------------------------------- storage.conf (item 32)

def test_storage_conf_graphroot_and_driver_move_rls_store(rl, pod, tmp_path):
    podman = pod
    """Before: storage.conf was ignored and rl filled the old disk. rl keeps
    its own store in `rl` under podman's graphroot (never podman's layout)."""
    big = tmp_path / "big" / "storage"
    conf = rl.base / "config" / "containers" / "storage.conf"
    conf.parent.mkdir(parents=True, exist_ok=True)
    conf.write_text(f'[storage]\ndriver = "overlay"\ngraphroot = "{big}"\n'
                    '[storage.options.overlay]\nmount_program = "/usr/bin/fuse-overlayfs"\n')
    res = rl.run("info", "--format", "{{.Store.GraphRoot}} {{.Store.GraphDriverName}} {{.Store.ConfigFile}}")
    assert res.returncode == 0, res.stderr
    assert res.stdout == f"{big}/rl fuse-overlayfs {conf}\n"
    conf.write_text(f'[storage]\ndriver = "vfs"\ngraphroot = "{big}"\n')
    assert rl.run("info", "--format", "{{.Store.GraphDriverName}}").stdout == "vfs\n"
    conf.write_text('[storage]\ndriver = "overlay"\n')
    assert rl.run("info", "--format", "{{.Store.GraphDriverName}}").stdout == "overlay\n"
    # podman reads the same file the same way (its graphroot is the directory itself)
    pconf = tmp_path / "podman" / "config" / "containers" / "storage.conf"
    pconf.write_text(f'[storage]\ndriver = "vfs"\ngraphroot = "{big}-podman"\n')
    theirs = subprocess.run(["podman", "info", "--format", "{{.Store.GraphRoot}} {{.Store.GraphDriverName}}"],
                            env=podman.env, capture_output=True, text=True, timeout=120)
    assert theirs.stdout == f"{big}-podman vfs\n", theirs.stderr


@pytest.mark.registry
def test_storage_conf_graphroot_holds_pulled_images(rl, registry, tmp_path):
    big = tmp_path / "big" / "storage"
    conf = rl.base / "config" / "containers" / "storage.conf"
    conf.parent.mkdir(parents=True, exist_ok=True)
    conf.write_text(f'[storage]\ngraphroot = "{big}"\n')
    rl.env.update(registry.env())
    res = rl.run("pull", "-q", f"{registry.plain}/rl-test/multi:oci")
    assert res.returncode == 0, res.stderr
    assert (big / "rl" / "images").is_dir()
    assert not (rl.base / "data" / "rl" / "images").exists()
    assert rl.run("images", "-q").stdout.strip()


# ---------------------------------------------------------------- info (item 34)

@pytest.mark.parametrize("tpl", ["{{.Host.Arch}}", "{{.Host.OS}} {{.Host.Kernel}}", "{{.Host.NetworkBackend}}"])
def test_info_format_template_as_podman(rl, pod, tpl):
    """Before: the template was ignored and the whole document printed."""
    mine = rl.run("info", "--format", tpl)
    theirs = pod.run("info", "--format", tpl)
    print(f"rl: {mine.stdout!r} {mine.stderr!r}\npodman: {theirs.stdout!r}")
    assert mine.returncode == theirs.returncode == 0
    if "NetworkBackend" in tpl:
        assert mine.stdout.strip() in ("slirp4netns", "pasta")  # rl's own backends (podman: cni/netavark)
    else:
        assert mine.stdout == theirs.stdout


def test_info_unknown_field_is_an_error_as_podman(rl, pod):
    mine = rl.run("info", "--format", "{{.Host.Bogus}}")
    theirs = pod.run("info", "--format", "{{.Host.Bogus}}")
    assert mine.returncode == theirs.returncode == 125
    assert "can't evaluate field Bogus" in mine.stderr and "can't evaluate field Bogus" in theirs.stderr


def test_info_json_has_podmans_sections(rl, pod, tmp_path):
    conf = tmp_path / "registries.conf"
    conf.write_text('unqualified-search-registries = ["registry.example"]\n')
    env = {"CONTAINERS_REGISTRIES_CONF": str(conf)}
    mine = json.loads(rl.run("info", "--format", "json", env=env).stdout)
    theirs = json.loads(pod.run("info", "--format", "json", env=env).stdout)
    for section in ("host", "store", "registries", "version"):
        assert section in mine and section in theirs
    for key in ("networkBackend", "ociRuntime", "arch", "os", "idMappings"):
        assert key in mine["host"] and key in theirs["host"]
    assert mine["host"]["ociRuntime"]["name"]
    assert mine["registries"]["search"] == theirs["registries"]["search"] == ["registry.example"]
    for key in ("graphRoot", "runRoot", "graphDriverName", "configFile", "volumePath"):
        assert key in mine["store"] and key in theirs["store"]
    assert "Version" in mine["version"] and "Version" in theirs["version"]
