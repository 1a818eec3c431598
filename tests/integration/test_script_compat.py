"""A shell script written for podman runs unchanged with rl (issue 14).

The script below is what a user's Makefile or CI job does with podman: pull,
a detached service with a bind mount, a named volume, env, a published port
and labels, exec, logs, cp both ways, inspect with templates, ps with a
filter, stop, rm, prunes, rmi. It calls `podman` by name. It runs twice:
once with the real podman first on PATH, once with a `podman` that runs rl,
and the two outputs must be the same once IDs are masked.

Deliberate differences, kept out of the script:
- `ps --format {{.State}}`: podman 4.3 prints "Up 2 seconds ago", rl the
  state ("running"), as podman 5 does; compose tools and rl's own tests read
  the state.
- `cp CTR:DIR -`: rl's tar names a directory "data/" (Python's tarfile, GNU
  tar), podman 4.3's "data"; the script strips the slash."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.podman import podman  # noqa: F401 - fixture

pytestmark = [pytest.mark.userns, pytest.mark.registry, pytest.mark.fuse, pytest.mark.slirp4netns]

SCRIPT = r"""
set -eu
say() { printf '== %s\n' "$*"; }
say pull
podman pull -q --tls-verify=false "$IMAGE" | sed 's/^[0-9a-f]\{64\}$/ID/'
mkdir -p "$WORK/data" && echo hello from the host > "$WORK/data/in.txt"
say volume
podman volume create appdata
say run
podman run -d --name app -v "$WORK/data:/data" -v appdata:/var/lib/app \
  -e GREETING=hi -e MODE=test -p "127.0.0.1:$PORT:8080" --label app=demo --label tier=web \
  "$IMAGE" sh -c 'echo "$GREETING from $MODE"; cat /data/in.txt; echo kept > /var/lib/app/state; touch /ready; exec sleep 1000' \
  | sed 's/^[0-9a-f]\{64\}$/ID/'
until podman exec app test -e /ready; do sleep 0.2; done
say exec
podman exec app sh -c 'echo "exec sees $GREETING"; ls /var/lib/app; id -u'
podman exec -e EXTRA=1 -w /data app sh -c 'echo "$EXTRA $(pwd)"'
say logs
podman logs app
say inspect
podman inspect --format '{{.Name}} {{.State.Status}} {{.State.Running}} {{index .Config.Labels "tier"}} {{.Config.Labels.app}}' app
podman inspect --format '{{range .Mounts}}{{.Type}} {{.Destination}} {{.RW}}
{{end}}' app | sort
podman inspect --format '{{range $p, $b := .NetworkSettings.Ports}}{{$p}} -> {{(index $b 0).HostIP}}:{{(index $b 0).HostPort}}{{end}}' app
podman inspect --format '{{json .Config.Cmd}}' app
podman container inspect --format '{{.Config.Image}}' app | sed "s|$IMAGE|IMAGE|"
say port
podman port app
podman port app 8080/tcp
say ps
podman ps --filter label=app=demo --format '{{.Names}} {{.Labels.tier}} {{.Image}}' | sed "s|$IMAGE|IMAGE|"
podman ps -a --format '{{.Names}}' --filter name=app
podman ps -q --filter label=app=demo | sed 's/^[0-9a-f]\{12\}$/SHORTID/'
say cp
podman cp app:/var/lib/app/state "$WORK/state.txt" && cat "$WORK/state.txt"
podman cp "$WORK/data/in.txt" app:/tmp/copied && podman exec app cat /tmp/copied
podman cp app:/data - | tar -tf - | sed 's|/$||' | sort
say stop
podman stop -t 1 app
podman inspect --format '{{.State.Status}} {{.State.ExitCode}}' app
podman wait app
say rm
podman rm app
podman ps -a --format '{{.Names}}'
podman volume ls --format '{{.Name}}'
podman volume rm appdata
say prune
podman run --name gone "$IMAGE" true
podman container prune -f | sed 's/^[0-9a-f]\{64\}$/ID/'
podman volume create dangling >/dev/null
podman volume prune -f
podman image prune -f
say exit codes
podman run --rm "$IMAGE" sh -c 'exit 7' 2>/dev/null || echo "run exit $?"
podman inspect no-such-container >/dev/null 2>&1 || echo "inspect exit $?"
podman exec no-such-container true 2>/dev/null || echo "exec exit $?"
say images
podman images --format '{{.Repository}}:{{.Tag}}' | sed "s|^$IMAGE\$|IMAGE|"
podman rmi "$IMAGE" | sed 's/^[0-9a-f]\{64\}$/ID/' | sed "s|^Untagged: $IMAGE\$|Untagged: IMAGE|"
podman images -q | wc -l
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _shim(bindir: Path, argv: list[str], env: dict[str, str]) -> None:
    """A `podman` first on PATH that runs argv with env."""
    bindir.mkdir(parents=True)
    exports = "".join(f"export {k}={_q(v)}\n" for k, v in env.items())
    (bindir / "podman").write_text("#!/bin/sh\n" + exports + "exec " + " ".join(_q(a) for a in argv) + ' "$@"\n')
    (bindir / "podman").chmod(0o755)


def _q(s: str) -> str:
    return "'" + s.replace("'", "'\\''") + "'"


def _run_script(bindir: Path, work: Path, image: str) -> subprocess.CompletedProcess:
    work.mkdir()
    env = {"PATH": f"{bindir}:/usr/local/bin:/usr/bin:/bin", "HOME": os.environ["HOME"], "LANG": "C.UTF-8",
           "IMAGE": image, "WORK": str(work), "PORT": str(_free_port())}
    return subprocess.run(["sh", "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=600)


def _masked(out: str, work: Path) -> str:
    out = out.replace(str(work), "WORK")
    return re.sub(r":\d{4,5}\b", ":PORT", out)


def test_a_podman_script_runs_unchanged_with_rl(rl, registry, podman, tmp_path):  # noqa: F811
    image = f"{registry.plain}/library/debian:bookworm"
    _shim(tmp_path / "rl-bin", [sys.executable, "-m", "rootless"], {**rl.env, **registry.env()})
    _shim(tmp_path / "pm-bin", podman.argv, podman.env)
    got = {}
    for tool in ("rl", "pm"):
        res = _run_script(tmp_path / f"{tool}-bin", tmp_path / f"{tool}-work", image)
        print(f"--- {tool}: exit {res.returncode}\n{res.stdout}\n{res.stderr}")
        assert res.returncode == 0, (tool, res.stderr)
        got[tool] = _masked(res.stdout, tmp_path / f"{tool}-work")
    assert got["rl"].splitlines() == got["pm"].splitlines()
    # the script did all it says: every step printed its mark
    assert got["rl"].count("== ") == 14 and "exec exit 125" in got["rl"]
