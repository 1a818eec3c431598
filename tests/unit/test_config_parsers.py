"""containers.conf, storage.conf and short-name plans: the parsers alone."""

from __future__ import annotations

import pytest

from rootless import config, containersconf
from rootless.containers.run import RunRequest
from rootless.errors import ImageError, RlError
from rootless.images import regconf


def test_containers_conf_files_in_podmans_order(tmp_path):
    user = tmp_path / "cfg" / "containers"
    (user / "containers.conf.d").mkdir(parents=True)
    (user / "containers.conf").write_text("")
    (user / "containers.conf.d" / "b.conf").write_text("")
    (user / "containers.conf.d" / "a.conf").write_text("")
    (user / "containers.conf.d" / "c.toml").write_text("")
    env = {"XDG_CONFIG_HOME": str(tmp_path / "cfg"), "HOME": str(tmp_path)}
    files = containersconf.conf_files(env)
    assert files[-3:] == [user / "containers.conf", user / "containers.conf.d" / "a.conf",
                          user / "containers.conf.d" / "b.conf"]
    only = tmp_path / "only.conf"
    only.write_text("")
    over = tmp_path / "over.conf"
    over.write_text("")
    assert containersconf.conf_files({**env, "CONTAINERS_CONF": str(only),
                                      "CONTAINERS_CONF_OVERRIDE": str(over)}) == [only, over]
    with pytest.raises(RlError, match="CONTAINERS_CONF file"):
        containersconf.conf_files({**env, "CONTAINERS_CONF": str(tmp_path / "missing")})


def test_later_files_override_key_by_key(tmp_path):
    a, b = tmp_path / "a.conf", tmp_path / "b.conf"
    a.write_text('[containers]\nenv = ["A=1"]\ndns_servers = ["192.0.2.1"]\n')
    b.write_text('[containers]\nenv = ["B=2"]\n[engine]\nevents_logger = "file"\n')
    conf = containersconf.load({"CONTAINERS_CONF": str(a), "CONTAINERS_CONF_OVERRIDE": str(b), "HOME": str(tmp_path)})
    assert conf.get("containers.env") == ["B=2"]  # a list replaces the one before
    assert conf.get("containers.dns_servers") == ["192.0.2.1"]
    assert conf.unsupported() == [("engine.events_logger", str(b))]


def test_bad_toml_names_file_and_line():
    with pytest.raises(RlError) as e:
        containersconf.parse('[containers]\n\nenv = [\n', "/x/containers.conf")
    assert "/x/containers.conf" in e.value.message and "line" in e.value.message


def test_apply_to_request_fills_only_what_is_unset():
    conf = containersconf.ContainersConf(values={
        "containers.env": ["X=1"], "containers.default_capabilities": ["cap_chown"],
        "containers.dns_servers": ["192.0.2.1"], "containers.init": True, "containers.log_size_max": 1024,
        "containers.no_hosts": True, "network.default_rootless_network_cmd": "pasta"})
    req = RunRequest(image="x", dns=["192.0.2.9"], network="none")
    containersconf.apply_to_request(req, conf)
    assert req.default_env == ["X=1"] and req.default_caps == ["CHOWN"]
    assert req.dns == ["192.0.2.9"] and req.network == "none"  # flags win
    assert req.init and req.no_hosts and req.log_opt == ["max-size=1024"]
    req = RunRequest(image="x")
    containersconf.apply_to_request(req, conf)
    assert req.network == "pasta" and req.dns == ["192.0.2.1"]


def test_storage_conf_driver_mapping_and_roots():
    sc = config.parse_storage_conf('[storage]\ndriver = "overlay"\ngraphroot = "/big/s"\nrunroot = "/run/x"\n'
                                   '[storage.options.overlay]\nmount_program = "/usr/bin/fuse-overlayfs"\n', "f")
    assert (sc.driver, sc.graphroot, sc.runroot) == ("fuse-overlayfs", "/big/s", "/run/x")
    assert config.parse_storage_conf('[storage]\ndriver = "overlay"\n', "f").driver == "overlay"
    assert config.parse_storage_conf('[storage]\ndriver = "vfs"\n', "f").driver == "vfs"
    # the system file's graphroot is root's: only rootless_storage_path applies to a user
    sys_sc = config.parse_storage_conf('[storage]\ngraphroot = "/var/lib/containers"\n'
                                       'rootless_storage_path = "/data/$USER"\n', "sys", user_file=False)
    assert sys_sc.graphroot == f"/data/{config.user_name()}"
    with pytest.raises(RlError, match="line"):
        config.parse_storage_conf("[storage\n", "f")


def _conf(mode: str, search: list[str], aliases=None) -> regconf.RegistriesConf:
    return regconf.RegistriesConf(search=search, short_name_mode=mode, aliases=aliases or {})


def test_short_name_plans():
    two = ["a.example", "b.example"]
    with pytest.raises(ImageError, match="cannot prompt without a TTY"):
        regconf.plan_short_name(_conf("enforcing", two), "img", None)
    assert len(regconf.plan_short_name(_conf("permissive", two), "img", None).candidates) == 2
    assert len(regconf.plan_short_name(_conf("disabled", two), "img", lambda c: 1).candidates) == 2
    one = regconf.plan_short_name(_conf("enforcing", ["a.example"]), "img", None)
    assert [str(c) for c in one.candidates] == ["a.example/img:latest"] and one.record_as is None
    alias = regconf.plan_short_name(_conf("enforcing", two, {"img": "c.example/x/img"}), "img:1", None)
    assert [str(c) for c in alias.candidates] == ["c.example/x/img:1"]
    chosen = regconf.plan_short_name(_conf("enforcing", two), "img:2", lambda c: 1)
    assert [str(c) for c in chosen.candidates] == ["b.example/img:2"] and chosen.record_as == "img"


def test_recorded_alias_is_read_back_with_precedence(tmp_path):
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache"), "HOME": str(tmp_path),
           "CONTAINERS_REGISTRIES_CONF": str(tmp_path / "r.conf")}
    (tmp_path / "r.conf").write_text('[aliases]\n"img" = "a.example/img"\n')
    path = regconf.record_short_name_alias("img", "b.example/img", env)
    assert path == tmp_path / "cache" / "containers" / "short-name-aliases.conf"
    assert regconf.load(env).aliases["img"] == "b.example/img"


@pytest.mark.parametrize("name", ["../../tmp/evil", "/bin/sh", ".hidden", ""])
def test_cred_helper_must_be_a_name(name):
    with pytest.raises(ImageError, match="invalid credential helper name"):
        regconf.helper_credentials(name, "registry.example")
