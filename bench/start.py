"""Start latency: `rl run --rm IMG true` against rootless `podman --runtime
runc run --rm` on native overlay storage, with --network none and with the
default network (slirp4netns for both), interleaved rounds, median ratios.

    bench/run start [--rounds N] [--tar ROOTFS.tar]

Both tools import the same root filesystem tarball as a one-layer image."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.lib import Podman, Rl, interleave, report, require_unprivileged, scratch  # noqa: E402

IMG = "localhost/rl-bench-start:latest"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--tar", default=os.environ.get("RL_BENCH_ROOTFS_TAR", "/var/tmp/rl-dev/bookworm.tar"))
    ap.add_argument("--no-podman", action="store_true")
    args = ap.parse_args()
    require_unprivileged()
    base = scratch("start")
    rl, podman = Rl(base / "rl"), None
    try:
        rl.run("import", args.tar, IMG)
        cases = {
            "rl --network none": lambda: rl.run("run", "--rm", "--network", "none", IMG, "true"),
            "rl (slirp4netns)": lambda: rl.run("run", "--rm", IMG, "true"),
        }
        if not args.no_podman and shutil.which("podman"):
            podman = Podman(base / "podman")
            podman.run("import", args.tar, IMG)
            cases["podman --network none"] = lambda: podman.run("run", "--rm", "--network", "none", IMG, "true")
            cases["podman (slirp4netns)"] = lambda: podman.run("run", "--rm", IMG, "true")
        samples = interleave(cases, rounds=args.rounds, warmup=2)
        anchor = "podman --network none" if podman else "rl --network none"
        report("start", samples, anchor=anchor, extra={"image": args.tar})
    finally:
        if podman is not None:
            podman.reset()
        # layers belong to subordinate IDs: remove them from inside the user namespace
        from rootless.runtime import userns
        userns.run_in_userns(shutil.rmtree, str(base), ignore_errors=True)
        subprocess.run(["rm", "-rf", str(base)], capture_output=True)


if __name__ == "__main__":
    main()
