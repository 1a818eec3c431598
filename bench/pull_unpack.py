"""Unpack speed: rl's layer unpacker vs GNU tar, both as root of the user
namespace (run as the unprivileged test user).

    python bench/pull_unpack.py LAYER.tar[.gz|.zst] [--runs N]"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from rootless.images import unpack  # noqa: E402
from rootless.runtime.userns import run_in_userns  # noqa: E402


def _tar(src, dest):
    comp = unpack.detect_compression(open(src, "rb").read(4))
    flag = {"gzip": ["-z"], "zstd": ["--zstd"], "none": []}[comp]
    t = time.perf_counter()
    subprocess.run(["tar", "-x", *flag, "--numeric-owner", "-p", "--xattrs", "-f", src, "-C", dest], stderr=subprocess.DEVNULL)  # device nodes fail rootless
    return time.perf_counter() - t


def _rl(src, dest):
    t = time.perf_counter()
    res = unpack.unpack(src, dest)
    return time.perf_counter() - t, res.entries, res.tar_size


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("layer")
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    base = tempfile.mkdtemp(prefix="rl-bench-", dir=os.environ.get("BENCH_DIR", "/var/tmp"))
    times = {"tar": [], "rl": []}
    try:
        for i in range(a.runs):
            for name, fn in (("tar", _tar), ("rl", _rl)):
                dest = os.path.join(base, f"{name}{i}")
                os.mkdir(dest)
                out = run_in_userns(fn, a.layer, dest)
                secs = out[0] if isinstance(out, tuple) else out
                extra = f"  entries={out[1]} tar={out[2] / 1e6:.1f}MB" if isinstance(out, tuple) else ""
                times[name].append(secs)
                print(f"{name:4s} run {i}: {secs:.3f}s{extra}", flush=True)
                run_in_userns(unpack.remove_tree, dest)
        import statistics
        mt, mr = statistics.median(times["tar"]), statistics.median(times["rl"])
        print(f"median: tar {mt:.3f}s  rl {mr:.3f}s  ratio rl/tar {mr / mt:.2f}")
    finally:
        run_in_userns(unpack.remove_tree, base)


if __name__ == "__main__":
    main()
