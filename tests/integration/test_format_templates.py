"""--format templates and the shapes they read, against podman (issue 19
items 7 and 8): the same container created by rl and by podman from the same
image, the same templates, the outputs compared. Values that cannot agree
(IDs, times, the image ID where podman's store re-digests, the runtime's
own `container=` variable) are left out of the templates, not papered over."""

from __future__ import annotations


import pytest

from tests.podman import load_image, podman  # noqa: F401 - fixture

pytestmark = [pytest.mark.userns, pytest.mark.registry, pytest.mark.fuse, pytest.mark.slirp4netns]

PS = [
    # not {{.State}}: podman 4.3 renders it as the status text ("Up 2 seconds ago"); rl gives "running",
    # as Docker and podman 5 do (a deliberate difference: scripts compare it with "running")
    "{{.Names}}|{{.Command}}|{{.Ports}}|{{.Mounts}}|{{.Networks}}|{{.Labels}}|{{.Image}}",
    "table {{.Names}}\\t{{.Image}}\\t{{.Ports}}",
    "{{json .Labels}} {{len .Mounts}} {{index .Labels \"a\"}}",
    "{{range .Mounts}}<{{.}}>{{end}}",
    '{{if .Labels}}labelled{{else}}bare{{end}} {{.Names | upper}} {{printf "%-4s|" .Names}}',
]
INSPECT = [
    "{{.Name}}|{{.State.Status}}|{{.ImageName}}|{{.HostConfig.NetworkMode}}|{{.Path}} {{.Args}}",
    "{{json .NetworkSettings.Ports}}",
    "{{range $p, $b := .NetworkSettings.Ports}}{{$p}} {{(index $b 0).HostPort}}{{end}}",
    "{{.NetworkSettings.IPAddress}}|{{json .Config.Labels}}|{{json .Config.Cmd}}",
    "{{range .Mounts}}{{.Type}} {{.Name}} {{.Destination}} {{.RW}};{{end}}",
    '{{range .Config.Env}}{{if eq . "X=1"}}{{.}}{{end}}{{end}}',
]
IMAGES = ["{{.Repository}}:{{.Tag}} {{len .ID}}", "{{.Created}}|{{.CreatedSince}}|{{.Size}}",
          "table {{.Repository}}\\t{{.Tag}}"]
BAD = ["{{.Nope}}", "{{.Names", "{{bogus .Names}}"]


def _collect(run) -> dict:
    out = {}
    for verb, tpls, args in (("ps", PS, ["-a"]), ("inspect", INSPECT, ["t1"]), ("images", IMAGES, []),
                             ("bad-ps", BAD, ["-a"]), ("bad-inspect", BAD, ["t1"])):
        for t in tpls:
            cmd = verb.removeprefix("bad-")
            r = run(cmd, "--format", t, *args) if cmd != "inspect" else run(cmd, "--format", t, *args)
            out[f"{verb} {t}"] = (r.returncode, r.stdout)
    return out


def test_templates_and_shapes_as_podmans(rl, registry, podman, tmp_path):  # noqa: F811
    rl.env.update(registry.env())
    img = load_image(podman, registry)
    assert rl.run("pull", "-q", "debian:bookworm").returncode == 0
    bind = tmp_path / "site"
    bind.mkdir()
    seen = {}
    try:
        for tool, run, image in (("rl", rl.run, "debian:bookworm"), ("podman", podman.run, img)):
            res = run("run", "-d", "--name", "t1", "-e", "X=1", "--label", "a=b", "-p", "127.0.0.1:18099:80",
                      "-v", f"{bind}:/site", "-v", "vol1:/data", image, "sleep", "120")
            assert res.returncode == 0, (tool, res.stderr)
            seen[tool] = _collect(run)  # one tool at a time: both publish the same port
            run("rm", "-f", "-t", "0", "t1")
            run("volume", "rm", "vol1")
    finally:
        rl.run("rm", "-af", "-t", "0")
    mine, theirs = seen["rl"], seen["podman"]
    differ = {k: (mine[k], theirs[k]) for k in mine if mine[k] != theirs[k]}
    print(f"{len(mine)} invocations compared, {len(differ)} differ")
    for k, (a, b) in differ.items():
        print(f"  {k}\n    rl:     {a!r}\n    podman: {b!r}")
    # item 8: a named volume was shown as a bind of $PWD/NAME
    assert "volume vol1 /data true;" in mine["inspect {{range .Mounts}}{{.Type}} {{.Name}} {{.Destination}} {{.RW}};{{end}}"][1]
    assert not differ


def test_bad_templates_one_line_no_traceback(rl):
    for t in ("{{.Names", "{{bogus .Names}}", "{{end}}"):  # parse errors fail even with nothing to list
        res = rl.run("ps", "-a", "--format", t)
        assert res.returncode == 125, (t, res)
        assert res.stderr.startswith("Error: template: ") and "Traceback" not in res.stderr, res.stderr
