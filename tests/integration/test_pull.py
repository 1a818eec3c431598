"""`rl pull` and friends against the registry fixture (real docker-registry
servers on loopback), as the unprivileged test user."""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import pytest

pytestmark = [pytest.mark.registry, pytest.mark.userns]


def store_dir(rl) -> Path:
    return Path(rl.env["XDG_DATA_HOME"]) / "rl" / "images"


def layer_names(rl) -> list[str]:
    d = store_dir(rl) / "layers"
    return sorted(os.listdir(d)) if d.exists() else []


def records(rl) -> list[dict]:
    d = store_dir(rl) / "records"
    return [json.loads(p.read_text()) for p in sorted(d.glob("*.json"))] if d.exists() else []


def pull(rl, *args, ok=True):
    res = rl.run("pull", *args)
    if ok:
        assert res.returncode == 0, res.stderr
    return res


def _xattr(path, name):
    try:
        return os.getxattr(path, name, follow_symlinks=False)
    except OSError:
        return None


def final_tree(rl, image: str) -> dict:
    """Merge the image's layers in Python (overlay rules) to check what a container would see."""
    insp = json.loads(rl.run("image", "inspect", image, check=True).stdout)[0]
    layers = [store_dir(rl) / "layers" / d[7:] / "diff" for d in insp["RootFS"]["Layers"]]
    tree: dict[str, os.stat_result] = {}
    where: dict[str, Path] = {}
    for layer in layers:
        for dp, dns, fns in os.walk(layer):
            rel_dir = os.path.relpath(dp, layer)
            if rel_dir != "." and b"y" == _xattr(dp, "user.overlay.opaque"):
                for k in [k for k in tree if k.startswith(rel_dir + "/")]:
                    del tree[k]
            for n in dns + fns:
                p = Path(dp) / n
                rel = os.path.normpath(os.path.join(rel_dir, n))
                st = os.lstat(p)
                if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                    for k in [k for k in tree if k == rel or k.startswith(rel + "/")]:
                        del tree[k]
                    continue
                tree[rel] = st
                where[rel] = p
    return {"stat": tree, "path": where}


def test_short_name_through_the_mirror(rlr, registry):
    res = pull(rlr, "debian:bookworm")
    want = registry.images["library/debian:bookworm"]
    assert res.stdout.strip() == want["config"][7:]
    recs = records(rlr)
    assert len(recs) == 1 and recs[0]["names"] == ["docker.io/library/debian:bookworm"]
    assert f"docker.io/library/debian@{want['digest']}" in recs[0]["digests"]
    out = rlr.run("images", "--format", "{{.Repository}}:{{.Tag}}", check=True).stdout.split()
    assert out == ["docker.io/library/debian:bookworm"]
    # the layer is the rootfs tarball, verified against its diff_id
    tree = final_tree(rlr, "debian:bookworm")
    assert (tree["path"]["etc/debian_version"]).read_text().startswith("12")
    # the runtime's view: the public API, short links included
    from rootless.config import Paths
    from rootless.images import ImageStore
    img = ImageStore(Paths(store_dir(rlr).parent, Path(rlr.env["XDG_RUNTIME_DIR"]))).lookup("debian:bookworm")
    assert img.id == want["config"][7:] and img.config["config"]["Cmd"] == ["bash"]
    links = img.layer_links()
    assert [p.resolve() for p in links] == [p.resolve() for p in img.layer_dirs()]
    assert all(len(str(p)) < len(str(d)) for p, d in zip(links, img.layer_dirs()))
    # pulling again is a no-op that still prints the ID
    again = pull(rlr, "debian:bookworm")
    assert again.stdout.strip() == res.stdout.strip()


def test_shared_layers_stored_once(rlr, registry):
    a = pull(rlr, "debian:bookworm").stdout.strip()
    b = pull(rlr, "docker.io/library/debian:buster").stdout.strip()
    c = pull(rlr, "debian:bookworm-zstd").stdout.strip()
    d = pull(rlr, "debian:bookworm-oci").stdout.strip()
    assert a == b
    assert len(layer_names(rlr)) == 1  # gzip and zstd blobs of one tar: one unpacked layer
    assert len({a, c, d}) >= 1
    recs = {r["id"]: r for r in records(rlr)}
    assert set(recs[a]["names"]) >= {"docker.io/library/debian:bookworm", "docker.io/library/debian:buster"}
    # rmi of one name keeps the image and the layer
    res = rlr.run("rmi", "debian:buster", check=True)
    assert "Untagged: docker.io/library/debian:buster" in res.stdout
    assert len(layer_names(rlr)) == 1
    res = rlr.run("rmi", "-a", "-f", check=True)
    assert layer_names(rlr) == [] and records(rlr) == []
    assert os.listdir(store_dir(rlr) / "tmp") == [] or all(n.endswith(".lock") for n in os.listdir(store_dir(rlr) / "tmp"))


@pytest.mark.parametrize("tag", ["v1", "v1-docker", "v1-zstd"])
def test_layer_semantics(rlr, registry, tag):
    ref = f"{registry.plain}/rl-test/layers:{tag}"
    res = pull(rlr, "--tls-verify=false", ref)
    assert res.stdout.strip() == registry.images[f"rl-test/layers:{tag}"]["config"][7:]
    t = final_tree(rlr, ref)
    st, path = t["stat"], t["path"]
    assert "etc/remove-me" not in st and "var/cache/gone" not in st and "etc/os-release" in st
    assert sorted(k for k in st if k.startswith("opq/")) == ["opq/new1", "opq/newsub", "opq/newsub/new2"]
    assert path["data/hardlink"].read_text() == "hello from the base layer\n"
    assert st["data/new-hardlink"].st_ino == st["data/new.bin"].st_ino
    assert os.readlink(path["data/symlink"]) == "file.txt"
    assert os.readlink(path["data/abs-symlink"]) == "/etc/os-release"
    assert st["bin/tool"].st_mode & 0o7777 == 0o4755
    assert stat.S_ISFIFO(st["run/fifo"].st_mode)
    assert "dev/null" not in st  # devices cannot be created rootless
    assert path["deep/" + "x" * 150 + ".txt"].read_text() == "pax long name\n"
    # uid 1000 in the image is a subordinate uid on the host, root is the user
    assert st["home/user/.profile"].st_uid not in (0, 1000, os.getuid())
    assert st["etc/os-release"].st_uid == os.getuid()


@pytest.mark.parametrize("tag", ["oci", "docker", "attest"])
def test_platform_selection(rlr, registry, tag):
    ref = f"{registry.plain}/rl-test/multi:{tag}"
    pull(rlr, "--tls-verify=false", ref)
    t = final_tree(rlr, ref)
    assert t["path"]["etc/arch"].read_text() == "amd64\n"
    pull(rlr, "--tls-verify=false", "--platform", "linux/arm64", ref)
    t = final_tree(rlr, ref)
    assert t["path"]["etc/arch"].read_text() == "arm64\n"
    res = pull(rlr, "--tls-verify=false", "--platform", "linux/s390x", ref, ok=False)
    assert res.returncode == 125 and "linux/s390x" in res.stderr and "linux/arm64" in res.stderr


def test_token_auth(rlr, registry):
    ref = f"{registry.token}/rl-test/multi:oci"
    pull(rlr, "--tls-verify=false", ref)  # anonymous pull gets a token
    log = [json.loads(line) for line in registry.token_log.read_text().splitlines()]
    assert any(e["scope"] == ["repository:rl-test/multi:pull"] and not e["user"] for e in log)
    user, pw = registry.creds
    pull(rlr, "--tls-verify=false", "--creds", f"{user}:{pw}", ref)
    res = pull(rlr, "--tls-verify=false", "--creds", f"{user}:wrong", ref, ok=False)
    assert res.returncode == 125 and "Error:" in res.stderr
    res = rlr.run("login", "--tls-verify=false", "-u", user, "--password-stdin", registry.token, input="bad\n")
    assert res.returncode == 125 and "invalid username/password" in res.stderr
    res = rlr.run("login", "--tls-verify=false", "-u", user, "-p", pw, registry.token)
    assert res.returncode == 0, res.stderr
    pull(rlr, "--tls-verify=false", f"{registry.token}/rl-test/multi:docker")


def test_basic_auth_login_logout(rlr, registry):
    ref = f"{registry.basic}/rl-test/multi:oci"
    res = pull(rlr, "--tls-verify=false", ref, ok=False)
    assert res.returncode == 125 and "authentication required" in res.stderr
    assert f"rl login {registry.basic}" in res.stderr
    user, pw = registry.creds
    res = rlr.run("login", "--tls-verify=false", "-u", user, "--password-stdin", registry.basic, input="nope\n")
    assert res.returncode == 125 and "invalid username/password" in res.stderr
    res = rlr.run("login", "--tls-verify=false", "-u", user, "--password-stdin", registry.basic, input=pw + "\n")
    assert res.returncode == 0 and "Login Succeeded" in res.stdout, res.stderr
    auth = Path(rlr.env["XDG_RUNTIME_DIR"]) / "containers" / "auth.json"
    assert registry.basic in json.loads(auth.read_text())["auths"]
    pull(rlr, "--tls-verify=false", ref)
    res = rlr.run("logout", registry.basic, check=True)
    assert "Removed login credentials" in res.stdout
    assert pull(rlr, "--tls-verify=false", f"{registry.basic}/rl-test/multi:docker", ok=False).returncode == 125


def test_tls(rlr, registry):
    ref = f"{registry.tls}/rl-test/multi:oci"
    res = pull(rlr, ref, ok=False)
    assert res.returncode == 125 and "not trusted" in res.stderr and "certs.d" in res.stderr
    pull(rlr, "--cert-dir", str(registry.certs_d / registry.tls), ref)
    pull(rlr, "--tls-verify=false", ref)
    certs = Path(rlr.env["XDG_CONFIG_HOME"]) / "containers" / "certs.d"
    shutil.copytree(registry.certs_d, certs)
    pull(rlr, ref)


def test_redirects(rlr, registry):
    ref = f"{registry.redirect}/rl-test/layers:v1"
    res = pull(rlr, "--tls-verify=false", ref)
    assert res.stdout.strip() == registry.images["rl-test/layers:v1"]["config"][7:]
    log = [json.loads(line) for line in registry.redirect_log.read_text().splitlines()]
    assert any(e["status"] == 307 and "/blobs/" in e["path"] for e in log)


def test_errors_are_clear(rlr, registry):
    res = rlr.run("pull", "Not/Valid::x")
    assert res.returncode == 125 and res.stderr.startswith("Error: invalid reference")
    res = rlr.run("pull", "--tls-verify=false", f"{registry.plain}/rl-test/nothing:here")
    assert res.returncode == 125 and "manifest unknown" in res.stderr
    res = rlr.run("pull", "127.0.0.1:1/x/y")
    assert res.returncode == 125 and "127.0.0.1:1" in res.stderr
    res = rlr.run("rmi", "nothing-here")
    assert res.returncode == 1 and "image not known" in res.stderr  # podman: 1 for no such image


def test_concurrent_pulls_one_copy(rlr, registry):
    ref = f"{registry.plain}/rl-test/layers:v1"
    procs = [rlr.popen("pull", "-q", "--tls-verify=false", ref, stdout=-1, stderr=-1, text=True) for _ in range(4)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, [o[1] for o in outs]
    assert len({o[0].strip() for o in outs}) == 1
    assert len(records(rlr)) == 1 and len(layer_names(rlr)) == 3
    leftovers = [n for n in os.listdir(store_dir(rlr) / "tmp") if not n.endswith(".lock")]
    assert leftovers == []


def test_killed_pull_leaves_nothing_half_visible(rlr, registry):
    import signal
    import time
    p = rlr.popen("pull", "-q", "debian:bookworm", stdout=-1, stderr=-1)
    tmp = store_dir(rlr) / "tmp"
    deadline = time.monotonic() + 60
    # wait until the unpack has started (a layer dir is being written), then kill
    started = False
    while time.monotonic() < deadline and p.poll() is None:
        if tmp.exists() and any((tmp / n).is_dir() and any((tmp / n).glob("layer-*/diff/*"))
                                for n in os.listdir(tmp)):
            started = True
            break
        time.sleep(0.02)
    assert started and p.poll() is None, "the pull ended before it could be killed mid-unpack"
    p.send_signal(signal.SIGKILL)
    p.wait()
    assert records(rlr) == []
    for name in layer_names(rlr):  # only complete layers are ever visible
        assert (store_dir(rlr) / "layers" / name / "layer.json").exists()
    res = rlr.run("images", "-q", check=True)
    assert res.stdout.strip() == ""
    pull(rlr, "debian:bookworm")
    leftovers = [n for n in os.listdir(tmp) if not n.endswith(".lock")]
    assert leftovers == []


def test_import(rlr, registry, tmp_path):
    res = rlr.run("import", "-c", 'CMD ["/bin/bash"]', str(registry.rootfs_tar), "myroot:1", check=True)
    iid = res.stdout.strip()
    insp = json.loads(rlr.run("inspect", "myroot:1", check=True).stdout)[0]
    assert insp["Id"] == iid and insp["Config"]["Cmd"] == ["/bin/bash"]
    assert insp["RepoTags"] == ["localhost/myroot:1"]
    # same rootfs as the pulled debian image: the layer is shared
    pull(rlr, "debian:bookworm")
    assert len(layer_names(rlr)) == 1


def test_import_changes_are_commits(rlr, registry):
    """import --change takes the instructions commit --change takes (podman's one
    parser): VOLUME and ONBUILD too, ENV replaced by name, STOPSIGNAL as its number;
    a bad one is refused before an image is made."""
    rlr.run("import", "-c", "VOLUME /data", "-c", "ENV A=1", "-c", "ENV A=2", "-c", "STOPSIGNAL SIGINT",
            "-c", "ONBUILD RUN true", str(registry.rootfs_tar), "changed:1", check=True)
    cfg = json.loads(rlr.run("image", "inspect", "changed:1", check=True).stdout)[0]["Config"]
    assert cfg["Volumes"] == {"/data": {}} and cfg["Env"] == ["A=2"]
    assert (cfg["StopSignal"], cfg["OnBuild"]) == ("2", ["RUN true"])
    bad = rlr.run("import", "-c", "STOPSIGNAL NOPE", str(registry.rootfs_tar), "bad:1")
    assert bad.returncode == 125 and "invalid --change" in bad.stderr and "Traceback" not in bad.stderr
    assert rlr.run("image", "exists", "bad:1").returncode == 1
