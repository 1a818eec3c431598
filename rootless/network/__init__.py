"""Container networking for `rl run`: `none` (loopback only) and the
default `slirp4netns` (user-mode TCP/IP: outbound access and DNS). Port
publishing and user networks belong to a fuller module; this one never
imports pyroute2."""

from __future__ import annotations

from rootless.errors import UsageError

MODES = ("slirp4netns", "none", "host")
SLIRP_DNS = "10.0.2.3"
SLIRP_ADDR = "10.0.2.100"


def parse_mode(value: str | None) -> str:
    mode = (value or "slirp4netns").split(":", 1)[0]
    if mode == "private":
        mode = "slirp4netns"
    if mode not in MODES:
        raise UsageError(f"unsupported --network {value!r}", hint="none, slirp4netns or host")
    return mode


def start_slirp4netns(pid: int, log_path: str):
    from rootless.network.slirp4netns import start
    return start(pid, log_path)


def resolv_conf(mode: str, host_text: str) -> str:
    if mode == "slirp4netns":
        search = [line for line in host_text.splitlines() if line.startswith(("search", "options"))]
        return "\n".join(search + [f"nameserver {SLIRP_DNS}"]) + "\n"
    # loopback resolvers of the host are unreachable from the container
    lines = [line for line in host_text.splitlines()
             if not (line.startswith("nameserver") and (" 127." in line or " ::1" in line))]
    return "\n".join(lines) + "\n"


def hosts(mode: str, hostname: str) -> str:
    out = "127.0.0.1 localhost localhost.localdomain\n::1 localhost localhost.localdomain\n"
    addr = SLIRP_ADDR if mode == "slirp4netns" else "127.0.1.1"
    if mode != "host":
        out += f"{addr} {hostname}\n"
    return out
