"""Cold pull: `rl pull` against rootless `podman pull` (native overlay
storage), both from the same local docker-registry over plain HTTP on
loopback, every round into an empty store, interleaved, medians.

    bench/run pull [--rounds N] [--tar ROOTFS.tar] [--zstd]

The image is one layer: the root filesystem tarball, gzip (or zstd) compressed."""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.lib import Podman, Rl, interleave, report, require_unprivileged, rootfs_tar, scratch  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _layout(out: Path, tar: Path, zstd: bool) -> None:
    blobs = out / "blobs" / "sha256"
    blobs.mkdir(parents=True)

    def put(data: bytes) -> tuple[str, int]:
        d = hashlib.sha256(data).hexdigest()
        (blobs / d).write_bytes(data)
        return "sha256:" + d, len(data)
    raw = tar.read_bytes()
    diff = "sha256:" + hashlib.sha256(raw).hexdigest()
    if zstd:
        import zstandard
        comp, mt = zstandard.ZstdCompressor(level=3).compress(raw), "application/vnd.oci.image.layer.v1.tar+zstd"
    else:
        comp, mt = gzip.compress(raw, 6), "application/vnd.oci.image.layer.v1.tar+gzip"
    ld, ls = put(comp)
    cd, cs = put(json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["bash"]},
                             "created": "2024-01-01T00:00:00Z", "history": [{"created_by": "bench"}],
                             "rootfs": {"type": "layers", "diff_ids": [diff]}}).encode())
    md, ms = put(json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                             "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd,
                                        "size": cs},
                             "layers": [{"mediaType": mt, "digest": ld, "size": ls}]}).encode())
    (out / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": ms,
         "annotations": {"org.opencontainers.image.ref.name": "latest"}}]}))
    (out / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')


def _check(res: subprocess.CompletedProcess) -> None:
    if res.returncode != 0:
        raise SystemExit(f"{' '.join(res.args)}: exit {res.returncode}\n{res.stderr}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--tar", help="a rootfs tarball (default: $RL_BENCH_ROOTFS_TAR, else the test fixture's)")
    ap.add_argument("--zstd", action="store_true", help="zstd-compressed layer instead of gzip")
    ap.add_argument("--no-podman", action="store_true")
    args = ap.parse_args()
    require_unprivileged()
    args.tar = rootfs_tar(args.tar)
    base = scratch("pull")
    port = _free_port()
    host = f"127.0.0.1:{port}"
    (base / "reg").mkdir()
    (base / "reg" / "config.yml").write_text(
        f"version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {base}/reg/data\n"
        f"http:\n  addr: {host}\n")
    reg = subprocess.Popen(["docker-registry", "serve", str(base / "reg" / "config.yml")],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rl = podman = None
    try:
        _layout(base / "oci", Path(args.tar), args.zstd)
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        ref = f"{host}/bench/debian:latest"
        subprocess.run(["skopeo", "--insecure-policy", "copy", "-q", "--dest-tls-verify=false",
                        f"oci:{base / 'oci'}:latest", f"docker://{ref}"], check=True)
        rl = Rl(base / "rl")
        cases = {"rl pull": lambda: rl.run("pull", "-q", "--tls-verify=false", ref)}
        before = {"rl pull": lambda: rl.run("rmi", "-a", "-f", check=False)}
        if not args.no_podman and shutil.which("podman"):
            podman = Podman(base / "podman")
            cases["podman pull"] = lambda: _check(podman.run("pull", "-q", "--tls-verify=false", ref, check=False))
            before["podman pull"] = lambda: podman.run("rmi", "-a", "-f", check=False)
        samples = interleave(cases, rounds=args.rounds, warmup=1, before_each=before)
        anchor = "podman pull" if podman else "rl pull"
        report("pull-zstd" if args.zstd else "pull", samples, anchor=anchor,
               extra={"image": args.tar, "compression": "zstd" if args.zstd else "gzip"})
    finally:
        reg.terminate()
        reg.wait()
        if podman is not None:
            podman.reset()
        from rootless.images.unpack import remove_tree
        from rootless.runtime import userns
        userns.run_in_userns(remove_tree, str(base))


if __name__ == "__main__":
    main()
