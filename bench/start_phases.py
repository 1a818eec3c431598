"""Where `rl run --rm --network none IMG true` spends its time: each phase's
start, from interpreter start, medians over N runs (one fresh interpreter per
run, the wrapper marks written to a pipe by whichever process reaches them).

    bench/run start_phases [--rounds N] [--tar ROOTFS.tar] [--network none|slirp4netns]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.lib import Rl, require_unprivileged, rootfs_tar, scratch  # noqa: E402

IMG = "localhost/rl-bench-phases:latest"

# runs inside the measured interpreter: wraps the phase functions to print marks
PROBE = r'''
import os, sys, time
T0 = time.perf_counter()
def mark(label):
    os.write(2, f"MARK {label} {(time.perf_counter() - T0) * 1000:.2f}\n".encode())
def wrap(obj, name, before, after=None):
    fn = getattr(obj, name)
    def w(*a, **k):
        mark(before)
        r = fn(*a, **k)
        if after:
            mark(after)
        return r
    setattr(obj, name, w)
from rootless.cli import containers as cli_containers  # the CLI's run command (no typer)
mark("cli imported")
from rootless.containers import run as engine
from rootless.runtime import child, create, mounts, parent, userns
from rootless.storage import fuse_overlayfs
from rootless import network
mark("engine imported")
wrap(engine, "_image", "image lookup", "image found")
wrap(engine, "build_spec", "spec build", "spec built")
wrap(userns, "write_maps", "newuidmap+newgidmap", "maps written")
wrap(fuse_overlayfs.FuseOverlayfs, "mount", "fuse mount", "fuse mounted")
from rootless.storage import overlay
wrap(overlay.KernelOverlay, "mount", "overlay mount", "overlay mounted")
wrap(mounts, "build_rootfs", "rootfs world (PID 1)", "rootfs built")
wrap(mounts, "pivot", "pivot_root")
wrap(network, "start_slirp4netns", "slirp4netns", "slirp4netns ready")
wrap(create, "_setup_error", "setup error")
wrap(userns, "wait_status", "exec'd; waiting", "namespace side gone")
from rootless.cli import run
rc = run(sys.argv[1:])
mark("exit")
sys.exit(rc)
'''


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--tar", help="a rootfs tarball (default: $RL_BENCH_ROOTFS_TAR, else the test fixture's)")
    ap.add_argument("--network", default="none")
    ap.add_argument("--storage-driver", default=None, help="fuse-overlayfs (rl's default), overlay, vfs")
    args = ap.parse_args()
    require_unprivileged()
    args.tar = rootfs_tar(args.tar)
    base = scratch("phases")
    rl = Rl(base / "rl")
    try:
        rl.run("import", args.tar, IMG)
        marks: dict[str, list[float]] = {}
        for i in range(args.rounds + 1):
            driver = ["--storage-driver", args.storage_driver] if args.storage_driver else []
            res = subprocess.run([sys.executable, "-c", PROBE, *driver, "run", "--rm", "--network", args.network, IMG,
                                  "true"],
                                 env=rl.env, capture_output=True, text=True)
            if res.returncode != 0:
                sys.exit(f"run failed: {res.stderr}")
            if i == 0:
                continue  # warm-up
            for line in res.stderr.splitlines():
                if line.startswith("MARK "):
                    label, ms = line[5:].rsplit(" ", 1)
                    marks.setdefault(label, []).append(float(ms))
        print(f"== rl {' '.join(driver)} run --rm --network {args.network} IMG true: phase start times, "
              f"median of {args.rounds} (ms)")
        rows = sorted(((statistics.median(v), k) for k, v in marks.items()))
        prev = 0.0
        for t, label in rows:
            print(f"  {t:8.1f}  (+{t - prev:6.1f})  {label}")
            prev = t
    finally:
        from rootless.runtime import userns
        userns.run_in_userns(shutil.rmtree, str(base), ignore_errors=True)
        subprocess.run(["rm", "-rf", str(base)], capture_output=True)


if __name__ == "__main__":
    main()
