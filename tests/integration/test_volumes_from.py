"""--volumes-from compared with podman: a container mounts another's named
volume, anonymous volume and bind mount at the same places, writes through
them are seen by the source, `:ro` makes all of them read-only, its own -v
on a destination wins, and an unknown source fails before anything is
made."""

from __future__ import annotations

import pytest

from tests.podman import load_image, podman  # noqa: F401 - fixture

pytestmark = [pytest.mark.userns, pytest.mark.registry, pytest.mark.fuse]

IMG = "debian:bookworm"
PROBE = ("for d in /named /anon /bound /own; do "
         "if touch $d/probe 2>/dev/null; then echo \"$d rw $(cat $d/who 2>/dev/null)\"; "
         "else echo \"$d ro $(cat $d/who 2>/dev/null)\"; fi; done")


def test_volumes_from_like_podman(rl, registry, podman, tmp_path):  # noqa: F811
    rl.env.update(registry.env())
    full = load_image(podman, registry)
    assert rl.run("pull", "-q", IMG).returncode == 0
    seen = {}
    for tool, img in ((rl, IMG), (podman, full)):
        t = "rl" if tool is rl else "podman"
        bound, own = tmp_path / f"{t}-bound", tmp_path / f"{t}-own"
        bound.mkdir()
        own.mkdir()
        (bound / "who").write_text("host-bind\n")
        (own / "who").write_text("own-bind\n")
        res = tool.run("create", "--name", "src", "-v", "data:/named", "-v", "/anon", "-v", f"{bound}:/bound",
                       "-v", f"{bound}:/own", img, "sh", "-c",
                       "echo named > /named/who; echo anon > /anon/who")
        assert res.returncode == 0, res.stderr
        assert tool.run("start", "--attach", "src").returncode == 0
        out = []
        for extra in ([], [":ro"]):
            res = tool.run("run", "--rm", "--volumes-from", "src" + "".join(extra), "-v", f"{own}:/own", img,
                           "sh", "-c", PROBE)
            assert res.returncode == 0, (t, res.stderr)
            out.append(res.stdout.splitlines())
        # a write through the shared volume is the source's
        res = tool.run("run", "--rm", "--volumes-from", "src", img, "sh", "-c", "echo from-user > /named/who")
        assert res.returncode == 0, res.stderr
        out.append((bound / "probe").exists())
        missing = tool.run("run", "--rm", "--volumes-from", "no-such-ctr", img, "true")
        out.append(missing.returncode)
        out.append(sorted(tool.run("ps", "-a", "--format", "{{.Names}}").stdout.split()))
        res = tool.run("run", "--rm", "-v", "data:/named", img, "cat", "/named/who")
        out.append(res.stdout)
        seen[t] = out
        print(t, out)
    assert seen["rl"] == seen["podman"]
    assert seen["rl"][0] == ["/named rw named", "/anon rw anon", "/bound rw host-bind", "/own rw own-bind"]
    assert seen["rl"][1] == ["/named ro named", "/anon ro anon", "/bound ro host-bind", "/own rw own-bind"]
    assert seen["rl"][3] == 125 and seen["rl"][5] == "from-user\n"


def test_bad_volumes_from_is_one_line(rl):
    res = rl.run("create", "--volumes-from", "src:sideways", "--rootfs", "/", "true")
    assert res.returncode == 125 and res.stderr.startswith("Error: --volumes-from 'src:sideways'")
    assert "Traceback" not in res.stderr
