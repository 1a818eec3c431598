"""Everyday commands that return at once: rl against rootless podman
(--runtime runc, native overlay storage, its own store), side by side in
one run on the same machine, reported as ratios rl/podman.

    bench/run cli [--pairs N] [--warmup W] [--containers C]

A pair is one timed run of a case by rl and one by podman, back to back; which
tool goes first alternates from case to case and from round to round, so drift
in the machine's load hits both alike. Each round runs every case once, in a
fixed order (the order below). The figure per case is the median over N pairs
(default 9) of rl's time / podman's time, with the smallest and largest pair
ratio as the spread; the medians of each tool's own times are reported beside
it. Absolute times depend on whatever else the machine runs; the ratios are
what to read. Nothing here is a threshold.

What each case times (wall time of one command, from fork to exit, its output
read from a pipe; stdin is /dev/null):
  --version       `rl --version` / `podman --version` (podman-compose calls it
                  before anything else)
  volume ls       `volume ls` with 3 named volumes
  images          `images` with 5 image rows: debian:bookworm, its zstd twin
                  debian:bookworm-zstd and rl-test/multi:oci (a small image)
                  pulled, debian tagged twice more
  inspect image   `inspect debian:bookworm` (the top-level inspect users type)
  inspect ctr     `inspect NAME` of an exited container
  ps -a           `ps -a` with C containers (default 20: exited, created, and
                  one running)
  logs 10k        `logs NAME` of an exited container that printed 10,000 lines
                  (`seq 1 10000`, --log-driver k8s-file for both)
  stop -t 0       `stop -t 0 NAME` of a running detached container
                  (`run -d --network none IMG sleep 100000`)
  rm exited       `rm NAME` of an exited container (`run --network none IMG true`)

Beside the wall-time ratio, a CPU-time ratio per case: the user + system CPU
time of the command and of the children it waited for (RUSAGE_CHILDREN), the
median over the pairs. On a loaded machine it moves far less than wall time;
it does not see work done by processes the command did not wait for (rl
stop's wait for the monitor's exit record; podman's conmon).

Excluded from the timed part: pulling, tagging and creating everything the
cases read (once, before the first round); per round, creating, starting and
waiting for the fresh container that `rm exited` removes and the detached
container that `stop -t 0` stops (both before the round's first case); and
removing the stopped container (after the round's last case). Deletions
and creations are thus never back to back inside the timed part: on this
disk (ext4 without a journal) creating files right after deleting many is
slow, and `rm exited`, the one timed deletion, is the last case of a round;
the next timed command comes after the next round's untimed set-up.

Containers use --network none (the network is measured by bench/start and
bench/net). Images come from the test suite's loopback registry fixture
(tests/fixture/registry.py: its cached images, built by independent tools),
pulled over plain HTTP by both tools. One warm-up round (not counted) fills
the page cache and both tools' first-run state."""

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
from bench.lib import Podman, Rl, fixture_registry, machine, require_unprivileged, save, scratch  # noqa: E402

LOGS, INSPECT = "bench-logs", "bench-inspect"
VOLUMES = ("bench-v1", "bench-v2", "bench-v3")
CASES = ("--version", "volume ls", "images", "inspect image", "inspect ctr", "ps -a", "logs 10k", "stop -t 0",
         "rm exited")


def argv_for(case: str, rnd: int, img: str) -> list[str]:
    return {
        "--version": ["--version"],
        "volume ls": ["volume", "ls"],
        "images": ["images"],
        "inspect image": ["inspect", img],
        "inspect ctr": ["inspect", INSPECT],
        "ps -a": ["ps", "-a"],
        "logs 10k": ["logs", LOGS],
        "stop -t 0": ["stop", "-t", "0", f"bench-stop{rnd}"],
        "rm exited": ["rm", f"bench-rm{rnd}"],
    }[case]


def _children_cpu() -> float:
    """User + system CPU seconds of the children waited for so far."""
    import resource
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def call(tool, args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(tool.cmd(*args), env=tool.env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE)


def must(tool, *args: str, timeout: float = 600) -> str:
    """An untimed set-up step: its stdout, or the benchmark stops with its error."""
    res = subprocess.run(tool.cmd(*args), env=tool.env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                         timeout=timeout)
    if res.returncode != 0:
        raise SystemExit(f"set-up failed: {' '.join(res.args)}: exit {res.returncode}\n{res.stderr.strip()}")
    return res.stdout


def prepare(tool, reg: str, containers: int) -> str:
    """Images, volumes and the containers the read-only cases look at. Returns
    the image reference the containers use."""
    img = f"{reg}/library/debian:bookworm"
    # (not rl-test/layers:v1: podman 4.3 fails to apply its hand-made layers, "processing tar file")
    for ref in (img, f"{reg}/library/debian:bookworm-zstd", f"{reg}/rl-test/multi:oci"):
        must(tool, "pull", "-q", "--tls-verify=false", ref)
    must(tool, "tag", img, "localhost/bench/debian-a:1")
    must(tool, "tag", img, "localhost/bench/debian-b:1")
    for v in VOLUMES:
        must(tool, "volume", "create", v)
    must(tool, "run", "--network", "none", "--log-driver", "k8s-file", "--name", LOGS, img, "seq", "1", "10000")
    must(tool, "run", "--network", "none", "--name", INSPECT, img, "true")
    # the rest of `ps -a`'s containers; a round adds two (the one `rm` removes
    # and the running one `stop` stops), hence C - 4 here
    for i in range(containers - 4):
        if i % 2:
            must(tool, "create", "--network", "none", "--name", f"bench-fill{i}", img, "true")
        else:
            must(tool, "run", "--network", "none", "--name", f"bench-fill{i}", img, "true")
    lines = must(tool, "logs", LOGS).splitlines()
    if len(lines) != 10000 or lines[-1] != "10000":
        raise SystemExit(f"{tool.argv[0]} logs {LOGS}: {len(lines)} lines, expected 10000")
    return img


def per_round(tool, img: str, rnd: int) -> None:
    must(tool, "run", "--network", "none", "--name", f"bench-rm{rnd}", img, "true")
    must(tool, "run", "-d", "--network", "none", "--name", f"bench-stop{rnd}", img, "sleep", "100000")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pairs", "--rounds", type=int, default=9, help="timed pairs per case (default 9)")
    ap.add_argument("--warmup", type=int, default=1, help="rounds run first and not counted (default 1)")
    ap.add_argument("--containers", type=int, default=20, help="containers `ps -a` lists (default 20)")
    args = ap.parse_args()
    require_unprivileged()
    if not shutil.which("podman"):
        sys.exit("this benchmark reports ratios to podman: install podman")
    if args.containers < 4:
        sys.exit("--containers: at least 4")
    base = scratch("cli")
    rl = Rl(base / "rl")
    podman = Podman(base / "podman")
    # its own runtime dir: libpod refuses a runtime dir last used with another graphroot
    (base / "podman-xdg").mkdir(mode=0o700)
    podman.env["XDG_RUNTIME_DIR"] = str(base / "podman-xdg")
    tools = {"rl": rl, "podman": podman}
    host = machine()
    t_start = time.time()
    times: dict[str, dict[str, list[float]]] = {c: {"rl": [], "podman": []} for c in CASES}
    cpu: dict[str, dict[str, list[float]]] = {c: {"rl": [], "podman": []} for c in CASES}
    failures: dict[str, int] = {}
    try:
        with fixture_registry(base / "registry") as reg_env:
            reg = reg_env["RL_REGISTRY"]
            img = {name: prepare(t, reg, args.containers) for name, t in tools.items()}
        for name, t in tools.items():  # the registry has gone: nothing below may pull
            per_round(t, img[name], 0)
            n = len(must(t, "ps", "-a", "-q").split())
            if n != args.containers:
                raise SystemExit(f"{name} ps -a lists {n} containers, expected {args.containers}")
            must(t, "rm", "-f", "bench-rm0", "bench-stop0")
        for rnd in range(1, args.warmup + args.pairs + 1):
            for name, t in tools.items():
                per_round(t, img[name], rnd)
            for k, case in enumerate(CASES):
                order = ["rl", "podman"] if (rnd + k) % 2 == 0 else ["podman", "rl"]
                pair: dict[str, float] = {}
                pair_cpu: dict[str, float] = {}
                for name in order:
                    c0 = _children_cpu()
                    t0 = time.perf_counter()
                    res = call(tools[name], argv_for(case, rnd, img[name]))
                    dt = time.perf_counter() - t0
                    pair_cpu[name] = _children_cpu() - c0
                    if res.returncode != 0:
                        key = f"{name} {case}"
                        if key not in failures:
                            print(f"{key}: exit {res.returncode}: {res.stderr.decode(errors='replace').strip()[-300:]}",
                                  file=sys.stderr)
                        failures[key] = failures.get(key, 0) + 1
                    else:
                        pair[name] = dt
                if rnd > args.warmup and len(pair) == 2:  # a pair with a failed run is no sample
                    for name, dt in pair.items():
                        times[case][name].append(dt)
                        cpu[case][name].append(pair_cpu[name])
            for t in tools.values():
                t.run("rm", "-f", f"bench-stop{rnd}", check=False)
                if failures:  # a failed `rm exited` left its container
                    t.run("rm", "-f", f"bench-rm{rnd}", check=False)
    finally:
        sys.stdout.flush()  # the user-namespace helper below forks: an unflushed buffer would print twice
        for t in tools.values():
            t.run("rm", "-f", "--all", check=False, timeout=600)
            t.run("volume", "rm", "-f", *VOLUMES, check=False)
        podman.reset()
        # layers belong to subordinate IDs: remove them from inside the user namespace
        from rootless.images.unpack import remove_tree
        from rootless.runtime import userns
        userns.run_in_userns(remove_tree, str(base))
        shutil.rmtree(base, ignore_errors=True)

    rows = []
    for case in CASES:
        rl_t, pm_t = times[case]["rl"], times[case]["podman"]
        if not rl_t:
            print(f"  {case}: no pair where both ran, no figure", file=sys.stderr)
            continue
        ratios = [a / b for a, b in zip(rl_t, pm_t)]
        rl_c, pm_c = cpu[case]["rl"], cpu[case]["podman"]
        cpu_ratios = [a / b for a, b in zip(rl_c, pm_c) if b > 0]
        rows.append({"case": case, "argv": argv_for(case, 0, "IMG"), "pairs": len(ratios),
                     "cpu_ratio_median": statistics.median(cpu_ratios) if cpu_ratios else None,
                     "rl_cpu_s": rl_c, "podman_cpu_s": pm_c,
                     "ratio_median": statistics.median(ratios), "ratio_min": min(ratios), "ratio_max": max(ratios),
                     "rl_median_s": statistics.median(rl_t), "podman_median_s": statistics.median(pm_t),
                     "ratios": ratios, "rl_s": rl_t, "podman_s": pm_t})
    host["loadavg_end"] = os.getloadavg()
    print(f"== cli: rl / podman, median of {args.pairs} interleaved pairs per case "
          f"({host.get('podman', 'podman')}, --runtime runc, overlay; rl default storage)")
    print(f"   {host.get('cpus')} CPUs, {host.get('cpu', '?')}, kernel {host['kernel']}, "
          f"load {host.get('loadavg', ('?',))[0]:.1f} -> {host['loadavg_end'][0]:.1f}")
    print(f"  {'case':<14} {'ratio':>6}  {'[min..max]':<13} {'rl ms':>8} {'podman ms':>10}  n  {'cpu ratio':>9}")
    for r in rows:
        spread = f"[{r['ratio_min']:.2f}..{r['ratio_max']:.2f}]"
        cpu_r = "" if r["cpu_ratio_median"] is None else f"{r['cpu_ratio_median']:.2f}"
        print(f"  {r['case']:<14} {r['ratio_median']:>6.2f}  {spread:<13} {r['rl_median_s'] * 1000:>8.1f} "
              f"{r['podman_median_s'] * 1000:>10.1f}  {r['pairs']}  {cpu_r:>9}")
    print("  (cpu ratio: the median per pair of the user+system CPU time of the command and the children it"
          " waited for; less sensitive to the machine's load than wall time, but blind to what runs apart:"
          " stop's wait for rl's monitor)")
    if failures:
        print(f"failed runs (their pairs not counted): {failures}", file=sys.stderr)
    out = {"benchmark": "cli", "ratio": "rl / podman per pair, median and min..max over pairs", "unit": "s",
           "pairs": args.pairs, "warmup": args.warmup, "containers": args.containers, "rows": rows,
           "failures": failures, "machine": host, "duration_s": round(time.time() - t_start, 1),
           "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    save("cli", out)


if __name__ == "__main__":
    main()
