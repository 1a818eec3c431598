import base64
import json

import pytest

from rootless.errors import ImageError, RegistryError
from rootless.images import reference as R
from rootless.images import regconf

CONF = '''
unqualified-search-registries = ["quay.io", "docker.io"]

[aliases]
"myalias" = "example.com/team/thing"

[[registry]]
prefix = "docker.io"
location = "docker.io"
[[registry.mirror]]
location = "mirror.local:5000"
insecure = true
[[registry.mirror]]
location = "digests.local"
pull-from-mirror = "digest-only"

[[registry]]
prefix = "example.com/foo"
location = "internal.example.com:8443/bar"

[[registry]]
location = "bad.example.org"
blocked = true

[[registry]]
prefix = "*.corp.example"
insecure = true

[[registry]]
location = "127.0.0.1:5000"
insecure = true
'''


def test_search_and_aliases():
    c = regconf.loads(CONF)
    assert c.search == ["quay.io", "docker.io"]
    assert [str(r) for r in c.resolve_short("debian:12")] == ["quay.io/debian:12",
                                                             "docker.io/library/debian:12"]
    assert [str(r) for r in c.resolve_short("myalias:v1")] == ["example.com/team/thing:v1"]
    assert [str(r) for r in regconf.RegistriesConf().resolve_short("alpine")] == [
        "docker.io/library/alpine:latest"]


def test_mirrors_first_then_location():
    c = regconf.loads(CONF)
    srcs = c.sources(R.parse("debian"))
    assert [(str(s.ref), s.insecure, s.mirror) for s in srcs] == [
        ("mirror.local:5000/library/debian:latest", True, True),
        ("docker.io/library/debian:latest", False, False)]
    d = "sha256:" + "b" * 64
    srcs = c.sources(R.parse(f"debian@{d}"))
    assert [s.ref.domain for s in srcs] == ["mirror.local:5000", "digests.local", "docker.io"]


def test_prefix_rewrite_and_boundaries():
    c = regconf.loads(CONF)
    srcs = c.sources(R.parse("example.com/foo/app:1"))
    assert [str(s.ref) for s in srcs] == ["internal.example.com:8443/bar/app:1"]
    # "example.com/foobar" does not match the prefix "example.com/foo"
    srcs = c.sources(R.parse("example.com/foobar:1"))
    assert [str(s.ref) for s in srcs] == ["example.com/foobar:1"]


def test_blocked():
    c = regconf.loads(CONF)
    with pytest.raises(RegistryError, match="blocked"):
        c.sources(R.parse("bad.example.org/x"))


def test_wildcard_and_insecure():
    c = regconf.loads(CONF)
    srcs = c.sources(R.parse("a.corp.example/x/y"))
    assert srcs[0].insecure and str(srcs[0].ref) == "a.corp.example/x/y:latest"
    assert c.sources(R.parse("127.0.0.1:5000/x"))[0].insecure
    assert c.insecure_host("127.0.0.1:5000") and c.insecure_host("mirror.local:5000")
    assert not c.insecure_host("docker.io")


def test_v1_format():
    c = regconf.loads('''
[registries.search]
registries = ["r1.io"]
[registries.insecure]
registries = ["r2.io"]
[registries.block]
registries = ["r3.io"]
''')
    assert c.search == ["r1.io"]
    assert c.sources(R.parse("r2.io/x"))[0].insecure
    with pytest.raises(RegistryError):
        c.sources(R.parse("r3.io/x"))


@pytest.mark.parametrize("text", ["[registry]\nlocation='x'", "unqualified-search-registries = 'x'", "=bad"])
def test_bad_files(text):
    with pytest.raises(ImageError):
        regconf.loads(text)


def test_file_precedence_and_dropins(tmp_path):
    env = {"HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "cfg")}
    main = tmp_path / "etc" / "registries.conf"
    main.parent.mkdir()
    main.write_text('unqualified-search-registries = ["a.io"]\n')
    d = tmp_path / "etc" / "registries.conf.d"
    d.mkdir()
    (d / "20-b.conf").write_text('unqualified-search-registries = ["b.io"]\n')
    (d / "10-a.conf").write_text('[[registry]]\nlocation = "x.io"\ninsecure = true\n')
    (d / "ignored.txt").write_text('garbage = [')
    env["CONTAINERS_REGISTRIES_CONF"] = str(main)
    c = regconf.load(env)
    assert c.search == ["b.io"]
    assert c.find("x.io/y").insecure
    assert [p.split("/")[-1] for p in c.files] == ["registries.conf", "10-a.conf", "20-b.conf"]
    # the user's file replaces the system one when no override is set
    del env["CONTAINERS_REGISTRIES_CONF"]
    user = tmp_path / "cfg" / "containers" / "registries.conf"
    user.parent.mkdir(parents=True)
    user.write_text('unqualified-search-registries = ["user.io"]\n')
    assert regconf.load(env).search == ["user.io"]


def _auth(user, pw):
    return {"auth": base64.b64encode(f"{user}:{pw}".encode()).decode()}


def test_auth_lookup_order(tmp_path):
    run, cfg, home = tmp_path / "run", tmp_path / "cfg", tmp_path / "home"
    env = {"XDG_RUNTIME_DIR": str(run), "XDG_CONFIG_HOME": str(cfg), "HOME": str(home)}
    (run / "containers").mkdir(parents=True)
    (run / "containers" / "auth.json").write_text(json.dumps({"auths": {
        "reg.io": _auth("a", "1"), "reg.io/team": _auth("b", "2")}}))
    (home / ".docker").mkdir(parents=True)
    (home / ".docker" / "config.json").write_text(json.dumps({"auths": {
        "https://index.docker.io/v1/": _auth("d", "3"), "other.io": {"username": "o", "password": "p"}}}))
    f = regconf.find_credentials
    assert f("reg.io/x/y", env=env) == ("a", "1")
    assert f("reg.io/team/y", env=env) == ("b", "2")
    assert f("reg.io/teamx/y", env=env) == ("a", "1")
    assert f("docker.io/library/debian", env=env) == ("d", "3")
    assert f("other.io/z", env=env) == ("o", "p")
    assert f("none.io/z", env=env) is None
    env["REGISTRY_AUTH_FILE"] = str(tmp_path / "only.json")
    assert f("reg.io/x", env=env) is None


def test_login_logout_roundtrip(tmp_path):
    env = {"XDG_RUNTIME_DIR": str(tmp_path), "HOME": str(tmp_path)}
    path = regconf.save_credentials("r.io:5000", "u", "p:w", env=env)
    assert path == tmp_path / "containers" / "auth.json"
    assert path.stat().st_mode & 0o777 == 0o600
    assert regconf.find_credentials("r.io:5000/a", env=env) == ("u", "p:w")
    assert regconf.remove_credentials("r.io:5000", env=env)
    assert not regconf.remove_credentials("r.io:5000", env=env)
    assert regconf.find_credentials("r.io:5000/a", env=env) is None


def test_certs_dirs(tmp_path):
    env = {"XDG_CONFIG_HOME": str(tmp_path), "HOME": str(tmp_path)}
    d = tmp_path / "containers" / "certs.d" / "127.0.0.1:5000"
    d.mkdir(parents=True)
    (d / "ca.crt").write_text("x")
    (d / "client.cert").write_text("x")
    (d / "client.key").write_text("x")
    cas, clients = regconf.tls_files("127.0.0.1:5000", env=env)
    assert cas == [d / "ca.crt"] and clients == [(d / "client.cert", d / "client.key")]
    assert regconf.tls_files("other:1", env=env) == ([], [])


def test_empty_unqualified_search_refuses_short_names_naming_the_file():
    """issue 19 item 30: an explicit empty list means no short names, not docker.io."""
    c = regconf.loads("unqualified-search-registries = []\n")
    with pytest.raises(ImageError) as e:
        c.resolve_short("debian")
    assert "no unqualified-search registries are defined in" in e.value.message
    assert c.search_file and c.search_file in e.value.message
    # an alias still resolves, and a fully qualified name never asks
    c = regconf.loads('unqualified-search-registries = []\n[aliases]\n"deb" = "example.com/deb"\n')
    assert [str(r) for r in c.resolve_short("deb")] == ["example.com/deb:latest"]
