"""Start latency: `rl run --rm IMG true` against rootless `podman --runtime
runc run --rm` on native overlay storage, with --network none and with the
default network (slirp4netns for both), interleaved rounds, median ratios.

    bench/run start [--rounds N] [--tar ROOTFS.tar]

Both tools import the same root filesystem tarball as a one-layer image."""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.lib import Podman, Rl, interleave, report, require_unprivileged, rootfs_tar, scratch  # noqa: E402

IMG = "localhost/rl-bench-start:latest"
ENGINE_ONLY = """import sys
from rootless.config import default_paths
from rootless.containers.run import RunRequest, run
sys.exit(run(default_paths(), RunRequest(image=sys.argv[1], command=["true"], rm=True, network="none")))
"""


def _counting(name: str, fn, failures: dict):
    """A case that must not abort the benchmark on one failure (podman's
    slirp4netns start occasionally fails under load): count and go on."""
    def run():
        try:
            fn()
        except subprocess.CalledProcessError as e:
            if name not in failures:
                print(f"{name}: exit {e.returncode}: {(e.stderr or '').strip()[-300:]}", file=sys.stderr)
            failures[name] = failures.get(name, 0) + 1
            return False
        return True
    return run


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--tar", help="a rootfs tarball (default: $RL_BENCH_ROOTFS_TAR, else the test fixture's)")
    ap.add_argument("--no-podman", action="store_true")
    args = ap.parse_args()
    require_unprivileged()
    args.tar = rootfs_tar(args.tar)
    base = scratch("start")
    rl, podman = Rl(base / "rl"), None
    try:
        rl.run("import", args.tar, IMG)
        # the same run without the CLI layer: what typer's parsing costs (it builds a
        # pydantic TypeAdapter per option, importing pydantic: ~100 ms)
        engine = [sys.executable, "-c", ENGINE_ONLY, IMG]
        cases = {
            "rl --network none": lambda: rl.run("run", "--rm", "--network", "none", IMG, "true"),
            "rl (slirp4netns)": lambda: rl.run("run", "--rm", IMG, "true"),
            "rl kernel overlay, none": lambda: rl.run("--storage-driver", "overlay", "run", "--rm", "--network", "none",
                                                      IMG, "true"),
            "rl engine only, none": lambda: subprocess.run(engine, env=rl.env, check=True, capture_output=True),
        }
        if not args.no_podman and shutil.which("podman"):
            podman = Podman(base / "podman")
            # its own runtime dir: libpod refuses a runtime dir last used with another graphroot
            (base / "podman-xdg").mkdir(mode=0o700)
            podman.env["XDG_RUNTIME_DIR"] = str(base / "podman-xdg")
            podman.run("import", args.tar, IMG)
            cases["podman --network none"] = lambda: podman.run("run", "--rm", "--network", "none", IMG, "true")
            cases["podman (slirp4netns)"] = lambda: podman.run("run", "--rm", IMG, "true")
        failures: dict[str, int] = {}
        samples = interleave({k: _counting(k, fn, failures) for k, fn in cases.items()}, rounds=args.rounds, warmup=2)
        if failures:
            print(f"failed runs (not counted): {failures}", file=sys.stderr)
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
