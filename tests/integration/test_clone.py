"""`rl container clone` compared with podman's: the same invocations on a
container made the same way, the same names, states, labels, env and
command afterwards, and the same errors. Deliberate differences:
- the clone keeps the source's network mode (`--network none` here);
  podman 4.3's clone gets the default network instead;
- `clone --destroy` of a running source without `--force` fails before
  making anything; podman 4.3 fails after making the clone ("gone"), which
  stays behind."""

from __future__ import annotations

import pytest

from tests.podman import first_line_error, load_image, podman  # noqa: F401 - fixture

pytestmark = [pytest.mark.userns, pytest.mark.registry, pytest.mark.fuse]

IMG = "debian:bookworm"


def _view(tool):
    names = tool.run("ps", "-a", "--format", "{{.Names}}").stdout.split()
    out = {}
    for n in sorted(names):
        res = tool.run("inspect", "--format", "{{.State.Status}}|{{.Config.Labels.l}}|{{json .Config.Cmd}}|"
                       "{{range .Config.Env}}{{if eq . \"A=1\"}}A=1{{end}}{{end}}", n)
        out[n] = res.stdout.strip()
    return out


def test_clone_like_podman(rl, registry, podman):  # noqa: F811
    rl.env.update(registry.env())
    full = load_image(podman, registry)
    assert rl.run("pull", "-q", IMG).returncode == 0
    views, outs = {}, {}
    for tool, img in ((rl, IMG), (podman, full)):
        t = "rl" if tool is rl else "podman"
        res = tool.run("create", "--name", "src", "-e", "A=1", "--label", "l=v", "--network", "none",
                       "-v", "/anon", img, "sh", "-c", "echo $A; sleep 100")
        assert res.returncode == 0, res.stderr
        seq = []
        for args in (["src"], ["src"], ["src", "named"], ["--name", "opt", "src"], ["--run", "src", "runner"]):
            res = tool.run("container", "clone", *args)
            assert res.returncode == 0, (t, args, res.stderr)
            seq.append(len(res.stdout.strip()))
        assert tool.run("wait", "--condition", "running", "runner").returncode == 0
        assert tool.run("stop", "-t", "0", "runner").returncode == 0
        # --destroy of a running source: refused without --force (nothing made), done with it
        assert tool.run("start", "src").returncode == 0
        bad = tool.run("container", "clone", "--destroy", "src", "gone")
        good = tool.run("container", "clone", "--destroy", "--force", "src", "last")
        missing = tool.run("container", "clone", "no-such-ctr")
        outs[t] = (seq, bad.returncode, good.returncode, missing.returncode, first_line_error(missing.stderr))
        views[t] = _view(tool)
        print(t, outs[t], views[t])
    assert outs["rl"][:4] == outs["podman"][:4] == ([64] * 5, 125, 0, 125)
    assert "no-such-ctr" in outs["rl"][4]
    views["podman"].pop("gone", None)  # podman's half-done --destroy (see above)
    assert views["rl"] == views["podman"]
    nets = {n: rl.run("inspect", "--format", "{{.HostConfig.NetworkMode}}", n).stdout.strip() for n in views["rl"]}
    assert set(nets.values()) == {"none"}, nets
    # each clone has an anonymous volume of its own at /anon
    fmt = '{{range .Mounts}}{{if eq .Destination "/anon"}}{{.Name}}{{end}}{{end}}'
    anon = {n: rl.run("inspect", "--format", fmt, n).stdout.strip() for n in views["rl"]}
    assert all(anon.values()) and len(set(anon.values())) == len(anon), anon
    assert set(views["rl"]) == {"src-clone", "src-clone1", "named", "opt", "runner", "last"}
