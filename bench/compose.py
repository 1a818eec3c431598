"""podman-compose (PyPI, unchanged) bringing a project up and down: rl against
rootless podman (--runtime runc, native overlay storage, its own store, as
bench/lib.py configures it; netavark + aardvark-dns where installed, as the
compose tests run it: under CNI no name resolves on podman's networks), side by
side in one run on the same machine, reported as ratios rl/podman.

    bench/run compose [--pairs N] [--warmup W] [--trace]

The project is issue 13's (b), written by the compose tests' own kit
(tests/integration/composekit.write_project_b): three services on two
networks with aliases, a named volume, a published port, api `depends_on` db
with `condition: service_healthy`; db turns healthy 3 s after its start.

A pair is one timed cycle by rl and one by podman, back to back; which tool
goes first alternates from round to round, so drift in the machine's load
hits both alike. A cycle is `podman-compose up -d` then `podman-compose
down`, each timed from fork to exit (the figure is their sum; up and down are
reported apart too). After `up -d` returns, untimed, the cycle checks that
the published port answers (a cycle that did not bring the project up is no
sample); after `down`, that no container is left.

Two cases:
  b as written   the project as the tests write it. podman-compose enforces
                 `condition: service_healthy` for podman >= 4.6.0 only: for rl
                 (which reports 4.6.0) `up` waits for db's health, about 3 s of
                 its time; for podman 4.3.1 it skips the wait with a warning
                 and starts api at once. So this case compares unequal work.
  b started      the same file with `condition: service_started` in place of
                 `service_healthy`: the same calls for both tools, the
                 like-for-like figure.

The figure per case is the median over N pairs (default 5) of rl's time /
podman's time, with the smallest and largest pair ratio; the medians of each
tool's own times beside it. Absolute times depend on whatever else the
machine runs; the ratios are what to read. Nothing here is a threshold.

Images come from the test suite's loopback registry fixture, pulled into
each store before the first round (untimed); the registry stays up (nothing
in a cycle pulls: the image is present). One warm-up round is not counted.

--trace N: after the rounds, N more cycles of `b started` per tool through a
--podman-path that runs each call podman-compose makes under /usr/bin/time;
printed grouped by verb (calls per cycle, wall total per cycle, median wall
and CPU per call), the biggest total first. CPU time (user + sys of the
command, not of a monitor it leaves) says more than wall time on a loaded
machine.
Where the time of a cycle goes, not a ratio."""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.lib import (Podman, Rl, _fixture_python, fixture_registry, machine,  # noqa: E402
                       require_unprivileged, save, scratch)
from tests.fixture.podman import netavark  # noqa: E402 (stdlib only)

CASES = ("b as written", "b started")


def compose_python() -> str:
    """A Python that has podman_compose: the bench's own, else the test venv's (pyproject's test extras)."""
    for py in (sys.executable, _fixture_python()):
        if subprocess.run([py, "-c", "import podman_compose"], capture_output=True).returncode == 0:
            return py
    sys.exit("podman-compose is not installed (pip install podman-compose==1.6.0, or run helpers/test once)")


def write_project(py: str, directory: Path, image: str, port: int, started: bool) -> None:
    """Project (b) as tests/integration/composekit.py writes it (run by the Python that has pytest:
    the kit imports it), with service_started in place of service_healthy if `started`."""
    directory.mkdir(parents=True, exist_ok=True)
    code = ("import sys, pathlib\n"
            "from tests.integration.composekit import write_project_b\n"
            "class W:\n"
            "    def write(self, text, name='compose.yaml'):\n"
            "        pathlib.Path(sys.argv[1], name).write_text(text)\n"
            "write_project_b(W(), sys.argv[2], int(sys.argv[3]))\n")
    subprocess.run([py, "-c", code, str(directory), image, str(port)], check=True, cwd=Path(__file__).parent.parent)
    if started:
        f = directory / "compose.yaml"
        text = f.read_text()
        assert "condition: service_healthy" in text
        f.write_text(text.replace("condition: service_healthy", "condition: service_started"))


def wrapper(tool, path: Path) -> Path:
    """--podman-path: podman-compose cannot pass global flags (its --podman-args go after the command)."""
    import shlex
    env_lines = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in tool.env.items() if k.isidentifier())
    path.write_text(f"#!/bin/sh\n{env_lines}exec {shlex.join(tool.argv)} \"$@\"\n")
    path.chmod(0o755)
    return path


def traced_wrapper(tool, path: Path, log: Path) -> Path:
    """A --podman-path that runs the tool under /usr/bin/time and appends one line per call to LOG:
    wall s, user s, sys s (of the command itself: a monitor it leaves behind is not counted), status, args."""
    import shlex
    env_lines = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in tool.env.items() if k.isidentifier())
    path.write_text(f"#!/bin/sh\n{env_lines}tf=$(mktemp)\n"
                    f"/usr/bin/time -o \"$tf\" -f '%e\\t%U\\t%S' {shlex.join(tool.argv)} \"$@\"\nrc=$?\n"
                    f"printf '%s\\t%s\\t%s\\n' \"$(tail -n 1 \"$tf\")\" $rc \"$*\" >> {shlex.quote(str(log))}\n"
                    f"rm -f \"$tf\"\nexit $rc\n")
    path.chmod(0o755)
    return path


def trace_table(log: Path, cycles: int) -> list[dict]:
    """The calls podman-compose made, grouped by verb (the first word, two for network/volume/pod/image;
    flags left out): calls per cycle, wall and CPU (user + sys) per call, medians."""
    groups: dict[str, list[tuple[float, float]]] = {}
    for line in log.read_text().splitlines():
        wall, user, sys_, _rc, argv = line.split("\t", 4)
        words = [w for w in argv.split() if not w.startswith("-")]
        verb = " ".join(words[:2] if words and words[0] in ("network", "volume", "pod", "image") else words[:1])
        groups.setdefault(verb or "--version", []).append((float(wall), float(user) + float(sys_)))
    rows = [{"verb": v, "calls_per_cycle": len(t) / cycles, "wall_total_s": sum(w for w, _ in t) / cycles,
             "wall_median_s": statistics.median(w for w, _ in t), "cpu_median_s": statistics.median(c for _, c in t)}
            for v, t in groups.items()]
    return sorted(rows, key=lambda r: -r["wall_total_s"])


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def answers(port: int, deadline: float = 60) -> bool:
    import socket
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                if s.recv(100).startswith(b"api saw"):
                    return True
        except OSError:
            pass
        time.sleep(0.2)
    return False


def must(tool, *args: str, timeout: float = 600) -> str:
    res = subprocess.run(tool.cmd(*args), env=tool.env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                         timeout=timeout)
    if res.returncode != 0:
        raise SystemExit(f"set-up failed: {' '.join(res.args)}: exit {res.returncode}\n{res.stderr.strip()}")
    return res.stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pairs", "--rounds", type=int, default=5, help="timed pairs per case (default 5)")
    ap.add_argument("--warmup", type=int, default=1, help="rounds run first and not counted (default 1)")
    ap.add_argument("--trace", type=int, default=0, metavar="CYCLES",
                    help="then CYCLES more cycles of 'b started' per tool, each call podman-compose makes timed")
    args = ap.parse_args()
    require_unprivileged()
    if not shutil.which("podman"):
        sys.exit("this benchmark reports ratios to podman: install podman")
    py = compose_python()
    base = scratch("compose")
    rl = Rl(base / "rl")
    podman = Podman(base / "podman")
    (base / "podman-xdg").mkdir(mode=0o700)  # libpod refuses a runtime dir last used with another graphroot
    podman.env["XDG_RUNTIME_DIR"] = str(base / "podman-xdg")
    backend = "netavark" if netavark() else "cni"
    (base / "containers.conf").write_text(f'[network]\nnetwork_backend = "{backend}"\n')
    podman.env["CONTAINERS_CONF"] = str(base / "containers.conf")
    tools = {"rl": rl, "podman": podman}
    host = machine()
    host["podman_network_backend"] = backend
    t_start = time.time()
    times = {c: {n: {"up": [], "down": []} for n in tools} for c in CASES}
    failures: dict[str, int] = {}
    projects: dict[tuple[str, str], tuple[Path, Path, int]] = {}
    traces: dict[str, dict] = {}
    try:
        with fixture_registry(base / "registry") as reg_env:
            img = f"{reg_env['RL_REGISTRY']}/library/debian:bookworm"
            for name, t in tools.items():
                must(t, "pull", "-q", "--tls-verify=false", img)
                wrap = wrapper(t, base / f"{name}-for-compose")
                for case in CASES:
                    port = free_port()
                    d = base / name / case.replace(" ", "-") / "proj"
                    write_project(py, d, img, port, started=case == "b started")
                    projects[(name, case)] = (d, wrap, port)
            for rnd in range(args.warmup + args.pairs):
                for k, case in enumerate(CASES):
                    order = ["rl", "podman"] if (rnd + k) % 2 == 0 else ["podman", "rl"]
                    pair: dict[str, tuple[float, float]] = {}
                    for name in order:
                        d, wrap, port = projects[(name, case)]
                        pc = [py, "-m", "podman_compose", "--podman-path", str(wrap), "--in-pod=false"]

                        def step(*what: str) -> tuple[float, subprocess.CompletedProcess]:
                            t0 = time.perf_counter()
                            res = subprocess.run([*pc, *what], cwd=d, stdin=subprocess.DEVNULL,
                                                 capture_output=True, text=True, timeout=600)
                            return time.perf_counter() - t0, res

                        t_up, up = step("up", "-d")
                        ok = up.returncode == 0 and answers(port)
                        t_down, down = step("down")
                        left = must(tools[name], "ps", "-a", "-q").split()
                        ok = ok and down.returncode == 0 and not left
                        if not ok:
                            key = f"{name} {case}"
                            if key not in failures:
                                print(f"{key}: up {up.returncode}, down {down.returncode}, left {left}\n"
                                      f"{up.stderr.strip()[-600:]}\n{down.stderr.strip()[-300:]}", file=sys.stderr)
                            failures[key] = failures.get(key, 0) + 1
                            tools[name].run("rm", "-af", "-t", "0", check=False)
                        else:
                            pair[name] = (t_up, t_down)
                    if rnd >= args.warmup and len(pair) == 2:  # a pair with a failed cycle is no sample
                        for name, (t_up, t_down) in pair.items():
                            times[case][name]["up"].append(t_up)
                            times[case][name]["down"].append(t_down)
            if args.trace:
                for name, t in tools.items():
                    d, _wrap, port = projects[(name, "b started")]
                    log = base / f"{name}-trace.tsv"
                    wrap = traced_wrapper(t, base / f"{name}-traced", log)
                    pc = [py, "-m", "podman_compose", "--podman-path", str(wrap), "--in-pod=false"]
                    tr = traces.setdefault(name, {"up": [], "down": []})
                    for _ in range(args.trace):
                        for what in (("up", "-d"), ("down",)):
                            t0 = time.perf_counter()
                            subprocess.run([*pc, *what], cwd=d, stdin=subprocess.DEVNULL, capture_output=True,
                                           timeout=600)
                            tr[what[0]].append(round(time.perf_counter() - t0, 3))
                            if what[0] == "up":
                                answers(port)
                    tr["calls"] = trace_table(log, args.trace)
    finally:
        sys.stdout.flush()  # the user-namespace helper below forks: an unflushed buffer would print twice
        for t in tools.values():
            t.run("rm", "-f", "--all", check=False, timeout=600)
            for n in t.run("network", "ls", "--format", "{{.Name}}", check=False).stdout.split():
                if n.startswith("proj_"):
                    t.run("network", "rm", "-f", n, check=False)
            t.run("volume", "prune", "-f", check=False)
        podman.reset()
        from rootless.images.unpack import remove_tree
        from rootless.runtime import userns
        userns.run_in_userns(remove_tree, str(base))
        shutil.rmtree(base, ignore_errors=True)

    rows = []
    for case in CASES:
        r, p = times[case]["rl"], times[case]["podman"]
        if not r["up"]:
            print(f"  {case}: no pair where both ran, no figure", file=sys.stderr)
            continue
        rl_t = [a + b for a, b in zip(r["up"], r["down"])]
        pm_t = [a + b for a, b in zip(p["up"], p["down"])]
        ratios = [a / b for a, b in zip(rl_t, pm_t)]
        rows.append({"case": case, "pairs": len(ratios), "ratio_median": statistics.median(ratios),
                     "ratio_min": min(ratios), "ratio_max": max(ratios),
                     "rl_median_s": statistics.median(rl_t), "podman_median_s": statistics.median(pm_t),
                     "rl_up_median_s": statistics.median(r["up"]), "podman_up_median_s": statistics.median(p["up"]),
                     "rl_down_median_s": statistics.median(r["down"]),
                     "podman_down_median_s": statistics.median(p["down"]),
                     "ratios": ratios, "rl_s": rl_t, "podman_s": pm_t})
    host["loadavg_end"] = os.getloadavg()
    print(f"== compose: podman-compose up -d + down of project (b), rl / podman, median of {args.pairs} "
          f"interleaved pairs ({host.get('podman', 'podman')}, --runtime runc, overlay, {backend}; "
          f"rl default storage)")
    print(f"   {host.get('cpus')} CPUs, {host.get('cpu', '?')}, kernel {host['kernel']}, "
          f"load {host.get('loadavg', ('?',))[0]:.1f} -> {host['loadavg_end'][0]:.1f}")
    print(f"  {'case':<13} {'ratio':>6}  {'[min..max]':<13} {'rl s':>6} {'(up':>6} {'down)':>6} "
          f"{'podman s':>9} {'(up':>6} {'down)':>6}  n")
    for r in rows:
        spread = f"[{r['ratio_min']:.2f}..{r['ratio_max']:.2f}]"
        print(f"  {r['case']:<13} {r['ratio_median']:>6.2f}  {spread:<13} {r['rl_median_s']:>6.2f} "
              f"{r['rl_up_median_s']:>6.2f} {r['rl_down_median_s']:>6.2f} {r['podman_median_s']:>9.2f} "
              f"{r['podman_up_median_s']:>6.2f} {r['podman_down_median_s']:>6.2f}  {r['pairs']}")
    for name, tr in traces.items():
        print(f"  trace, {name}: up -d {statistics.median(tr['up']):.2f} s, down {statistics.median(tr['down']):.2f} s"
              f" (medians of {args.trace}); the calls podman-compose made (they overlap: it starts some at once)")
        print(f"    {'verb':<16} {'per cycle':>9} {'wall total':>10} {'wall/call':>9} {'cpu/call':>8}")
        for c in tr["calls"]:
            print(f"    {c['verb']:<16} {c['calls_per_cycle']:>9.1f} {c['wall_total_s']:>9.2f}s "
                  f"{c['wall_median_s']:>8.2f}s {c['cpu_median_s']:>7.2f}s")
    if failures:
        print(f"failed cycles (their pairs not counted): {failures}", file=sys.stderr)
    out = {"benchmark": "compose", "ratio": "rl / podman per pair (up -d + down), median and min..max over pairs",
           "unit": "s", "pairs": args.pairs, "warmup": args.warmup, "rows": rows, "traces": traces,
           "failures": failures,
           "machine": host, "duration_s": round(time.time() - t_start, 1),
           "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    save("compose", out)


if __name__ == "__main__":
    main()
