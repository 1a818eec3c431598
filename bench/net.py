"""Network throughput and connection rate through a published port:
iperf3 host -> container and container -> host (-R), and short TCP
connections per second, for rl (slirp4netns's forwarding, and rl's own
splice forwarder: port_handler=rl), rootless podman (its default
rootlesskit port handler, and port_handler=slirp4netns) and plain host
loopback as the ceiling.

    bench/run net [--seconds 5] [--rounds 3] [--no-podman] [--tar ROOTFS.tar]

iperf3 inside the container is the host's binary and libraries bind-mounted
(same Debian release as the image), so both ends run the same iperf3."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.lib import RESULTS, Podman, Rl, require_unprivileged, rootfs_tar, scratch

IMG = "localhost/rl-bench-net:latest"
LIBS = ("/usr/lib/x86_64-linux-gnu/libiperf.so.0", "/usr/lib/x86_64-linux-gnu/libcrypto.so.3",
        "/usr/lib/x86_64-linux-gnu/libsctp.so.1")
ACCEPTOR = (r'use IO::Socket::INET; $|=1; $SIG{TERM}=sub{exit 0}; my $s=IO::Socket::INET->new(LocalPort=>7000,Listen=>128,ReuseAddr=>1)'
            r' or die $!; while (my $c=$s->accept) { print $c "x"; close $c }')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _mounts() -> list[str]:
    out = ["-v", f"{shutil.which('iperf3')}:/usr/local/bin/iperf3:ro"]
    for lib in LIBS:
        real = os.path.realpath(lib)
        out += ["-v", f"{real}:/usr/local/lib/{os.path.basename(lib)}:ro"]
    return out + ["-e", "LD_LIBRARY_PATH=/usr/local/lib"]


def wait_port(port: int, timeout: float = 30) -> None:
    """Until a TCP connect to port gets bytes back or a clean accept (the
    forwarders accept before the inside server exists: poll the server itself)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.settimeout(1)
                if s.recv(1):
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"nothing answers on {port}")


def iperf(port: int, seconds: int, reverse: bool) -> float:
    args = ["iperf3", "-c", "127.0.0.1", "-p", str(port), "-t", str(seconds), "-J"] + (["-R"] if reverse else [])
    for attempt in range(20):
        res = subprocess.run(args, capture_output=True, text=True)
        try:
            return json.loads(res.stdout)["end"]["sum_received"]["bits_per_second"] / 1e9
        except (ValueError, KeyError):
            pass  # refused, or reset by a forwarder whose inside server is not up yet
        time.sleep(0.3)  # the server inside may not listen yet
    raise RuntimeError(f"iperf3 failed: {res.stdout[-400:]} {res.stderr[-400:]}")


def conn_rate(port: int, seconds: float = 3.0) -> tuple[float, int]:
    """Sequential connect + one byte + close per second; and how many failed."""
    n, failed, t0 = 0, 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                if s.recv(1) == b"x":
                    n += 1
                    continue
        except OSError:
            pass
        failed += 1
    return n / (time.perf_counter() - t0), failed


class Case:
    """One way to reach a server: start it, return its host port, stop it."""

    def __init__(self, name: str, argv_prefix: list[str] | None, env: dict | None, net: str | None):
        self.name, self.argv, self.env, self.net = name, argv_prefix, env, net
        self.proc: subprocess.Popen | None = None

    def start(self, ctr_port: int, cmd: list[str]) -> int:
        port = free_port()
        if self.argv is None:  # plain loopback: the server runs on the host
            host_cmd = [c.replace(str(ctr_port), str(port)) for c in cmd]
            if cmd[0] == "perl":
                host_cmd = ["perl", "-e", ACCEPTOR.replace("7000", str(port))]
            self.proc = subprocess.Popen(host_cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            return port
        net = ["--network", self.net] if self.net else []
        self.proc = subprocess.Popen([*self.argv, "run", "--rm", *net, "-p", f"127.0.0.1:{port}:{ctr_port}",
                                      *_mounts(), IMG, *cmd], env=self.env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        return port

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None


def measure(case: Case, seconds: int) -> dict:
    out = {}
    for label, reverse in (("host->ctr Gbit/s", False), ("ctr->host Gbit/s", True)):
        port = case.start(5201, ["iperf3", "-s", "-1", "-p", "5201"] if case.argv else
                          ["iperf3", "-s", "-1", "-p", "5201", "-B", "127.0.0.1"])
        try:
            out[label] = iperf(port, seconds, reverse)
        except RuntimeError as e:
            err = ""
            if case.proc is not None and case.proc.poll() is not None and case.proc.stderr:
                err = case.proc.stderr.read()
            raise RuntimeError(f"{case.name}: {e} {err}") from None
        finally:
            case.stop()
    port = case.start(7000, ["perl", "-e", ACCEPTOR])
    try:
        wait_port(port)
        out["connections/s"], failed = conn_rate(port)
        if failed:
            print(f"{case.name}: {failed} short connections failed", file=sys.stderr)
    finally:
        case.stop()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--tar", help="a rootfs tarball (default: $RL_BENCH_ROOTFS_TAR, else the test fixture's)")
    ap.add_argument("--no-podman", action="store_true")
    args = ap.parse_args()
    require_unprivileged()
    args.tar = rootfs_tar(args.tar)
    base = scratch("net")
    rl, podman = Rl(base / "rl"), None
    try:
        rl.run("import", args.tar, IMG)
        cases = [Case("loopback", None, None, None),
                 Case("rl slirp4netns", rl.argv, rl.env, None),
                 Case("rl port_handler=rl", rl.argv, rl.env, "slirp4netns:port_handler=rl")]
        if not args.no_podman and shutil.which("podman"):
            podman = Podman(base / "podman")
            # a short runtime dir: podman puts slirp4netns's API socket under it, and a
            # path of 108+ bytes makes port_handler=slirp4netns fail
            import tempfile
            xdg = tempfile.mkdtemp(prefix="pn-", dir="/tmp")
            podman.env["XDG_RUNTIME_DIR"] = xdg
            podman.run("import", args.tar, IMG)
            cases += [Case("podman (rootlesskit)", podman.argv, podman.env, "slirp4netns"),
                      Case("podman port_handler=slirp4netns", podman.argv, podman.env,
                           "slirp4netns:port_handler=slirp4netns")]
        samples: dict[str, dict[str, list[float]]] = {c.name: {} for c in cases}
        for r in range(args.rounds):
            order = cases[r % len(cases):] + cases[:r % len(cases)]
            for c in order:
                for k, v in measure(c, args.seconds).items():
                    samples[c.name].setdefault(k, []).append(v)
        rows = []
        loop = {k: statistics.median(v) for k, v in samples["loopback"].items()}
        print(f"== net (median of {args.rounds} interleaved rounds, {args.seconds}s iperf3 each; ratio = case / loopback)")
        for name, metrics in samples.items():
            med = {k: statistics.median(v) for k, v in metrics.items()}
            rows.append({"case": name, **med, **{f"{k} ratio": med[k] / loop[k] for k in med}})
            print(f"  {name:<34}" + "  ".join(f"{k} {med[k]:8.2f} ({med[k] / loop[k]:.2f})" for k in med))
        out = {"benchmark": "net", "host": os.uname().release, "rows": rows, "seconds": args.seconds,
               "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "net.json").write_text(json.dumps(out, indent=1))
    finally:
        for c in cases if "cases" in dir() else []:
            c.stop()
        if podman is not None:
            podman.reset()
        from rootless.runtime import userns
        userns.run_in_userns(shutil.rmtree, str(base), ignore_errors=True)
        subprocess.run(["rm", "-rf", str(base)] + ([xdg] if "xdg" in dir() else []), capture_output=True)


if __name__ == "__main__":
    main()
