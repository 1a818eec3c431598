"""Detached containers: rl's per-container monitor against podman's conmon.

    bench/run lifecycle [--rounds N] [--tar ROOTFS.tar] [--count 50] [--extra 150]

Measured, rl and podman (--runtime runc, overlay storage) side by side:
  - memory per detached container: what stays resident besides the
    container itself (rl: rl-monitor + its namespace-side shim + the
    fuse-overlayfs daemon, and again with the kernel overlay driver; podman:
    conmon), RSS and PSS, and PSS by process
  - starting COUNT detached containers one after another: time, total memory
  - `ps` and `ps -a --format json` latency with COUNT and COUNT+EXTRA containers
  - `exec CTR true` latency
Containers use --network none (2 cores: 2x50 slirp4netns would measure the
machine). Both tools import the same rootfs tarball as a one-layer image."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.lib import Podman, Rl, interleave, report, require_unprivileged, rootfs_tar, scratch  # noqa: E402

IMG = "localhost/rl-bench-lifecycle:latest"


def _rollup(pid: int) -> tuple[int, int]:
    """(RSS, PSS) in kB."""
    rss = pss = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Rss:"):
                    rss = int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss = int(line.split()[1])
    except OSError:
        pass
    return rss, pss


def _children(pid: int) -> list[int]:
    out = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out += [int(x) for x in f.read().split()]
    except OSError:
        pass
    return out


def holders(tool, name: str) -> list[int]:
    """The processes that keep a detached container going, not the container."""
    fmt = "{{.State.ConmonPid}} {{.State.Pid}}"
    mon, pid1 = (int(x) for x in tool.run("inspect", "--format", fmt, name).stdout.split())
    out, todo = [], [mon]
    while todo:
        p = todo.pop()
        if p == pid1:
            continue  # the container and everything below it
        out.append(p)
        todo += _children(p)
    return out


def memory(tool, names: list[str]) -> tuple[int, int, dict]:
    """Total RSS and PSS (kB) of the holders, and PSS by process name."""
    rss = pss = 0
    by_name: dict[str, int] = {}
    for n in names:
        for p in holders(tool, n):
            r, s = _rollup(p)
            rss += r
            pss += s
            try:
                with open(f"/proc/{p}/comm") as f:
                    comm = f.read().strip()
            except OSError:
                comm = "?"
            by_name[comm] = by_name.get(comm, 0) + s
    return rss, pss, by_name


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--count", type=int, default=50)
    ap.add_argument("--extra", type=int, default=150, help="created (not started) containers added for ps")
    ap.add_argument("--tar", help="a rootfs tarball (default: $RL_BENCH_ROOTFS_TAR, else the test fixture's)")
    ap.add_argument("--no-podman", action="store_true")
    args = ap.parse_args()
    require_unprivileged()
    args.tar = rootfs_tar(args.tar)
    base = scratch("lifecycle")
    tools = {"rl": Rl(base / "rl")}
    if not args.no_podman and shutil.which("podman"):
        podman = Podman(base / "podman")
        (base / "podman-xdg").mkdir(mode=0o700)
        podman.env["XDG_RUNTIME_DIR"] = str(base / "podman-xdg")
        tools["podman"] = podman
    anchor = "podman" if "podman" in tools else "rl"
    extra: dict = {"count": args.count, "extra": args.extra}
    # memory only: rl with the kernel overlay driver (no fuse-overlayfs daemon
    # per container, as podman's overlay storage has none)
    ov = Rl(base / "rl-overlay")
    ov.argv = [*ov.argv, "--storage-driver", "overlay"]
    mem_tools = {**tools, "rl-overlay": ov}
    try:
        for t in mem_tools.values():
            t.run("import", args.tar, IMG)

        # 1. starting COUNT detached containers, one after another
        start_times = {}
        for name, t in mem_tools.items():
            t0 = time.perf_counter()
            for i in range(args.count):
                t.run("run", "-d", "--network", "none", "--name", f"c{i}", IMG, "sleep", "100000")
            start_times[name] = time.perf_counter() - t0
        names = [f"c{i}" for i in range(args.count)]
        mem = {name: memory(t, names) for name, t in mem_tools.items()}
        ov.run("rm", "-f", "--all", check=False, timeout=600)
        for name in mem_tools:
            rss, pss, by_name = mem[name]
            for comm, kb in by_name.items():
                extra[f"{name}_pss_kb_per_container_{comm}"] = kb / args.count
            extra[f"{name}_start_{args.count}_s"] = start_times[name]
            extra[f"{name}_total_rss_kb"] = rss
            extra[f"{name}_total_pss_kb"] = pss
            extra[f"{name}_per_container_pss_kb"] = pss / args.count
            extra[f"{name}_per_container_rss_kb"] = rss / args.count
        print(f"== {args.count} detached containers (--network none)")
        for name in mem_tools:
            print(f"  {name:<10} start all {start_times[name]:.1f}s ({start_times[name] / args.count * 1000:.0f} ms each)"
                  f"  resident besides the containers: RSS {mem[name][0] / 1024:.1f} MB, PSS {mem[name][1] / 1024:.1f} MB"
                  f"  = {mem[name][1] / args.count / 1024:.2f} MB PSS per container")
            print("             per container: " + ", ".join(
                f"{comm} {kb / args.count:.0f} kB" for comm, kb in sorted(mem[name][2].items())))
        if "podman" in tools:
            print(f"  ratio rl/podman: start {start_times['rl'] / start_times['podman']:.2f}, "
                  f"PSS {mem['rl'][1] / max(mem['podman'][1], 1):.2f}, "
                  f"with kernel overlay {mem['rl-overlay'][1] / max(mem['podman'][1], 1):.2f}")

        # 2. ps with COUNT running
        cases = {}
        for name, t in tools.items():
            cases[f"{name} ps ({args.count})"] = (lambda t=t: t.run("ps"))
            cases[f"{name} ps -a json ({args.count})"] = (lambda t=t: t.run("ps", "-a", "--format", "json"))
        ps_small = interleave(cases, rounds=args.rounds)

        # 3. exec true
        exec_cases = {name: (lambda t=t: t.run("exec", "c0", "true")) for name, t in tools.items()}
        execs = interleave(exec_cases, rounds=args.rounds)

        # 4. ps with COUNT + EXTRA (created, not started)
        for t in tools.values():
            for i in range(args.extra):
                t.run("create", "--network", "none", "--name", f"x{i}", IMG, "true")
        cases = {}
        total = args.count + args.extra
        for name, t in tools.items():
            cases[f"{name} ps ({total})"] = (lambda t=t: t.run("ps"))
            cases[f"{name} ps -a json ({total})"] = (lambda t=t: t.run("ps", "-a", "--format", "json"))
        ps_big = interleave(cases, rounds=args.rounds)
        n_json = len(json.loads(tools["rl"].run("ps", "-a", "--format", "json").stdout))
        assert n_json == total, n_json

        ps_all = {**ps_small, **ps_big}
        report("lifecycle_ps", ps_all, anchor=f"{anchor} ps ({args.count})", extra=extra)
        report("lifecycle_exec", execs, anchor=anchor, extra=extra)
        if "podman" in tools:
            print("== ratios rl/podman (medians)")
            for label in (f"ps ({args.count})", f"ps -a json ({args.count})", f"ps ({total})",
                          f"ps -a json ({total})"):
                r = statistics.median(ps_all[f"rl {label}"]) / statistics.median(ps_all[f"podman {label}"])
                print(f"  {label:<22} {r:.2f}")
            print(f"  {'exec true':<22} {statistics.median(execs['rl']) / statistics.median(execs['podman']):.2f}")
    finally:
        sys.stdout.flush()  # the user-namespace helper below forks: an unflushed buffer would print twice
        for name, t in mem_tools.items():
            t.run("rm", "-f", "--all", check=False, timeout=600)
        if "podman" in tools:
            tools["podman"].reset()
        # layers belong to subordinate IDs: remove them from inside the user namespace
        from rootless.runtime import userns
        userns.run_in_userns(shutil.rmtree, str(base), ignore_errors=True)
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
