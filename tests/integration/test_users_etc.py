"""Users and /etc inside the container (issue 19 items 6, 9, 14, 16, 17,
24): the same invocation through rl and rootless podman from the same image,
what the container sees compared. Values that cannot agree (container IDs,
podman's `container=podman`) are left out of what is compared."""

from __future__ import annotations

import socket
import threading

import pytest

from tests.podman import first_line_error, load_image, podman  # noqa: F401 - fixture

pytestmark = [pytest.mark.userns, pytest.mark.registry, pytest.mark.fuse, pytest.mark.slirp4netns]

IMG = "debian:bookworm"


@pytest.fixture
def both(rl, registry, podman):  # noqa: F811
    """run(*args) -> (rl's result, podman's result), IMG standing for the image."""
    rl.env.update(registry.env())
    full = load_image(podman, registry)
    assert rl.run("pull", "-q", IMG).returncode == 0

    def run(*args, **kw):
        mine = rl.run(*args, **kw)
        theirs = podman.run(*[full if a == IMG else a for a in args], **kw)
        print(f"$ {' '.join(args)}\nrl {mine.returncode}: {mine.stdout!r} {mine.stderr!r}\n"
              f"podman {theirs.returncode}: {theirs.stdout!r} {theirs.stderr!r}")
        return mine, theirs
    return run


def test_user_bind_on_resolv_conf_wins(both, tmp_path):
    """item 6: rl's generated files were mounted over the user's -v on them."""
    args = []
    for name in ("resolv.conf", "hosts", "hostname"):
        f = tmp_path / name
        f.write_text(f"# the user's own {name}\n")
        args += ["-v", f"{f}:/etc/{name}"]
    mine, theirs = both("run", "--rm", *args, IMG, "cat", "/etc/resolv.conf", "/etc/hosts", "/etc/hostname")
    want = "".join(f"# the user's own {n}\n" for n in ("resolv.conf", "hosts", "hostname"))
    assert theirs.returncode == 0 and theirs.stdout == want
    assert mine.returncode == 0 and mine.stdout == want
    # the files themselves are left as the user wrote them
    assert (tmp_path / "hosts").read_text() == "# the user's own hosts\n"


PROBE = "id; whoami; echo $HOME; getent passwd $(id -u); getent group $(id -g); cd ~ && pwd"


@pytest.mark.parametrize("extra", [[], ["-w", "/tmp"], ["--read-only"]], ids=["plain", "workdir", "read-only"])
def test_keep_id_has_passwd_entry_and_home(both, extra):
    """item 9: keep-id gave no passwd/group entry (whoami failed, ~ was /)."""
    mine, theirs = both("run", "--rm", "--userns=keep-id", *extra, IMG, "sh", "-c", PROBE)
    assert theirs.returncode == 0
    assert mine.returncode == 0, mine.stderr
    assert mine.stdout == theirs.stdout
    assert mine.stdout.splitlines()[1] == "rltest" or "cannot find name" not in mine.stderr


def test_keep_id_entry_survives_restart_once(rl, registry):
    """The entry is added once: a restarted container does not grow /etc/passwd."""
    rl.env.update(registry.env())
    assert rl.run("create", "--name", "k", "--userns=keep-id", IMG, "sh", "-c",
                  "grep -cF ':*:' /etc/passwd").returncode == 0
    first = rl.run("start", "-a", "k")
    again = rl.run("start", "-a", "k")
    assert first.returncode == again.returncode == 0, (first.stderr, again.stderr)
    assert first.stdout == again.stdout == "1\n"


def test_group_add(both, rl):
    """item 14: --group-add was missing (numbers, names in the image's group file, keep-groups)."""
    for args in (["--group-add", "mail", "--group-add", "4242"], ["-u", "nobody", "--group-add", "mail"],
                 ["--group-add", "keep-groups"]):
        mine, theirs = both("run", "--rm", *args, IMG, "id")
        assert theirs.returncode == 0 and mine.returncode == 0, mine.stderr
        assert mine.stdout == theirs.stdout
    mine, theirs = both("run", "--rm", "--group-add", "keep-groups", "--group-add", "mail", IMG, "id")
    assert mine.returncode == theirs.returncode == 125
    assert first_line_error(mine.stderr) == first_line_error(theirs.stderr)
    mine, theirs = both("run", "--rm", "--group-add", "nosuchgroup", IMG, "id")
    assert mine.returncode != 0 and theirs.returncode != 0 and mine.stdout == theirs.stdout == ""
    assert "unable to find group nosuchgroup" in mine.stderr.lower()
    assert "unable to find group nosuchgroup" in theirs.stderr.lower()
    # exec gets the container's groups too
    mine, theirs = both("run", "-d", "--name", "g", "--group-add", "mail", IMG, "sleep", "300")
    assert mine.returncode == theirs.returncode == 0
    mine, theirs = both("exec", "g", "id", "-G")
    assert mine.returncode == theirs.returncode == 0 and mine.stdout == theirs.stdout == "0 8\n"


def test_network_host_hostname_resolves(both):
    """item 16: --network host gave the container a random name nothing resolved."""
    mine, theirs = both("run", "--rm", "--network", "host", IMG, "sh", "-c",
                        "hostname; echo $HOSTNAME; getent hosts $(hostname) | wc -l")
    assert theirs.returncode == 0 and mine.returncode == 0, mine.stderr
    assert mine.stdout == theirs.stdout
    name = socket.gethostname()
    assert mine.stdout.splitlines()[:2] == [name, name] and mine.stdout.splitlines()[2] != "0"


@pytest.mark.parametrize("extra", [["-u", "1234"], ["-u", "1234:5678", "-w", "/srv"], ["-u", "1234:mail"],
                                   ["-u", "1234", "--read-only"]], ids=["uid", "uid-gid-workdir", "uid-name", "ro"])
def test_u_uid_without_passwd_entry_gets_one(both, extra):
    """item 17: -u UID unknown to the image: whoami failed, no entry."""
    mine, theirs = both("run", "--rm", *extra, IMG, "sh", "-c",
                        "id; whoami; echo $HOME; getent passwd $(id -u); getent group $(id -g) || true")
    assert theirs.returncode == 0
    assert mine.returncode == 0, mine.stderr
    assert mine.stdout == theirs.stdout


def test_host_containers_internal(both, rl):
    """item 24: host.containers.internal was missing; it names the host's
    address (podman 4's choice with slirp4netns, whose host loopback is off),
    and a service the host listens on answers there."""
    mine, theirs = both("run", "--rm", IMG, "getent", "hosts", "host.containers.internal")
    assert theirs.returncode == 0 and mine.returncode == 0, mine.stderr
    assert mine.stdout == theirs.stdout
    mine, theirs = both("run", "--rm", "--add-host", "host.containers.internal:192.0.2.77", IMG,
                        "getent", "hosts", "host.containers.internal")
    assert mine.stdout == theirs.stdout and "192.0.2.77" in mine.stdout
    # reach a service on the host through it
    srv = socket.socket()
    srv.bind(("0.0.0.0", 0))
    srv.listen(4)
    port = srv.getsockname()[1]

    def serve():
        for _ in range(2):
            try:
                c, _ = srv.accept()
            except OSError:
                return
            c.sendall(b"hello from the host\n")
            c.close()
    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        mine, theirs = both("run", "--rm", IMG, "bash", "-c",
                            f"exec 3<>/dev/tcp/host.containers.internal/{port}; cat <&3", timeout=60)
    finally:
        srv.close()
    assert theirs.stdout == "hello from the host\n"
    assert mine.returncode == 0 and mine.stdout == "hello from the host\n", mine.stderr


def test_passwd_entry_never_written_through_a_planted_symlink(rl, registry, tmp_path):
    """An image whose /etc/passwd is a symlink into a volume path: rl adds the
    -u UID entry before volumes are mounted and only to a regular file, so
    the user's file behind the volume is never appended to."""
    rl.env.update(registry.env())
    assert rl.run("run", "--name", "planter", IMG, "sh", "-c",
                  "mkdir -p /data && ln -sf /data/victim /etc/passwd").returncode == 0
    assert rl.run("commit", "planter", "localhost/planted:1").returncode == 0
    victim = tmp_path / "vol"
    victim.mkdir()
    (victim / "victim").write_text("precious\n")
    res = rl.run("run", "--rm", "-u", "1234", "-v", f"{victim}:/data", "localhost/planted:1", "id", "-u")
    assert res.returncode == 0 and res.stdout == "1234\n", res.stderr
    assert (victim / "victim").read_text() == "precious\n"


def test_user_bind_on_hosts_left_alone_on_a_user_network(rl, registry, tmp_path):
    """item 6: a member of a user network gets its peers' names written into
    its /etc/hosts; a user's own file bound there is neither replaced nor
    rewritten when another container joins."""
    rl.env.update(registry.env())
    hosts = tmp_path / "hosts"
    hosts.write_text("192.0.2.1\tmine\n")
    assert rl.run("network", "create", "un1").returncode == 0
    res = rl.run("run", "-d", "--name", "a", "--network", "un1", "-v", f"{hosts}:/etc/hosts", IMG, "sleep", "300")
    assert res.returncode == 0, res.stderr
    res = rl.run("run", "--rm", "--name", "b", "--network", "un1", IMG, "getent", "hosts", "a")
    assert res.returncode == 0, res.stderr  # the peer still resolves the bound container by name
    assert rl.run("exec", "a", "cat", "/etc/hosts").stdout == "192.0.2.1\tmine\n"
    assert hosts.read_text() == "192.0.2.1\tmine\n"
    assert rl.run("rm", "-f", "a").returncode == 0
