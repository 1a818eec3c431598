"""What ps and inspect show: podman's shapes built from a record and its
(truthful) state. Pure functions of their inputs, plus `now`."""

from __future__ import annotations

import os
import time

from rootless.containers.logs import timestamp

TRUNC = 12


def _human(seconds: float) -> str:
    from rootless.images.render import human_duration
    return human_duration(max(0.0, seconds))


def status_text(st: dict, now: float) -> str:
    """podman's STATUS column: Up 5 seconds (healthy), Exited (0) 3 seconds ago, Created."""
    state = st.get("state", "created")
    if st.get("damaged"):
        return f"Damaged ({st['damaged']})"
    if state in ("running", "stopping"):
        text = f"Up {_human(now - (st.get('started') or now))}"
        health = (st.get("health") or {}).get("Status")
        return f"{text} ({health})" if health else text
    if state == "paused":
        return "Paused"
    if state == "starting":
        return "Starting"
    if state in ("exited", "stopped"):
        code = st.get("exit_code")
        return f"Exited ({code if code is not None else -1}) {_human(now - (st.get('finished') or now))} ago"
    return "Created"


def state_name(st: dict) -> str:
    return st.get("state", "created")


def command_text(rec, trunc: bool) -> str:
    args = rec.request.get("command") or []
    cfg = rec.image_config or {}
    if rec.request.get("entrypoint") is None:
        args = list(cfg.get("Entrypoint") or []) + (args or list(cfg.get("Cmd") or []))
    text = " ".join(args)
    return text[:17] + "..." if trunc and len(text) > 20 else text


def ps_json(rec, st: dict, now: float, run_dir=None, pod_name: str = "") -> dict:
    """One entry of `ps --format json`, podman's keys."""
    state = state_name(st)
    return {
        "AutoRemove": bool(rec.request.get("rm")),
        "Command": rec.command or None,
        "Created": int(rec.created),
        "CreatedAt": time.strftime("%Y-%m-%d %H:%M:%S +0000 UTC", time.gmtime(rec.created)),
        "Exited": state in ("exited", "stopped"),
        "ExitedAt": int(st.get("finished") or 0),
        "ExitCode": st.get("exit_code") if st.get("exit_code") is not None else 0,
        "Id": rec.id,
        "Image": image_name(rec),
        "ImageID": rec.image_id,
        "IsInfra": bool(rec.request.get("pod_infra")),
        "Mounts": [m["Destination"] for m in mounts(rec)],
        "Networks": user_networks(rec),
        "Labels": rec.labels() or None,
        "Names": [rec.name],
        "Pid": st.get("pid") or 0,
        "Pod": rec.request.get("pod") or "",
        "PodName": pod_name,
        "Ports": [{"host_ip": m.host_ip or "", "container_port": m.container_port, "host_port": m.host_port,
                   "range": 1, "protocol": m.proto} for m in _mappings(rec, run_dir)] or None,
        "Restarts": st.get("restarts") or 0,
        "StartedAt": int(st.get("started") or 0),
        "State": state,
        "Status": status_text(st, now),
        "Health": (st.get("health") or {}).get("Status", ""),
    }


def ps_row_fields(rec, st: dict, now: float, trunc: bool, run_dir=None, size: str = "", pod_name: str = "") -> dict:
    """Fields a ps --format template can name ({{.ID}}, {{.Names}} ...), typed
    as podman's: Mounts a list of destinations, Labels a map, Networks the
    user networks joined by commas."""
    return {"ID": rec.id[:TRUNC] if trunc else rec.id, "Image": image_name(rec), "ImageID": rec.image_id,
            "Command": command_text(rec, trunc),
            "CreatedAt": time.strftime("%Y-%m-%d %H:%M:%S +0000 UTC", time.gmtime(rec.created)),
            "Created": f"{_human(now - rec.created)} ago", "CreatedHuman": f"{_human(now - rec.created)} ago",
            "RunningFor": f"{_human(now - rec.created)} ago",
            "Status": status_text(st, now), "State": state_name(st), "Ports": _ports(rec, run_dir), "Names": rec.name,
            "Pid": st.get("pid") or 0, "ExitCode": st.get("exit_code") or 0, "Restarts": st.get("restarts") or 0,
            "Mounts": [m["Destination"] for m in mounts(rec)], "Labels": rec.labels(),
            "Networks": ",".join(user_networks(rec)), "Size": size, "IsInfra": bool(rec.request.get("pod_infra")),
            "Pod": (rec.request.get("pod") or "")[:TRUNC] if trunc else rec.request.get("pod") or "",
            "PodName": pod_name,
            "AutoRemove": bool(rec.request.get("rm"))}


def image_name(rec) -> str:
    """The image as podman names it in ps and inspect: its full name."""
    return rec.image_name or rec.image


_NET_MODES = ("slirp4netns", "pasta", "none", "host", "private", "default", "container", "ns", "")
# --network values (no options) that name no user network: NetworkSettings.Networks is empty
_NO_USER_NETWORK = (None, "", "none", "host", "slirp4netns", "pasta", "private", "default")


def user_networks(rec) -> list[str]:
    several = rec.request.get("networks") or []
    if several:
        return [e["name"] for e in several]
    value = rec.request.get("network") or ""
    if value.partition(":")[0] in _NET_MODES:
        return []
    return [n for n in value.split(",") if n]


def network_settings(rec, running: bool, paths) -> dict:
    """inspect's NetworkSettings.Networks, podman's shape: each user network
    with the container's address, gateway, MAC and aliases there (addresses
    only while it runs: they are given at start, as podman's)."""
    if not running and not rec.request.get("networks") and rec.request.get("network") in _NO_USER_NETWORK:
        return {}  # what both ways below give, without building a RunRequest (a 60-field dataclass)
    from rootless.containers.request import RunRequest, user_networks as joined  # not run: no runtime for inspect
    try:
        req = RunRequest(**rec.request)
    except TypeError:
        return {n: {"NetworkID": n} for n in user_networks(rec)}
    live: dict = {}
    if running and paths is not None:
        from rootless.network import usernet
        live = usernet.memberships(paths, rec.id)
    out = {}
    for name, aliases, _ip in joined(req) + [(n, [], None) for n in live if n not in user_networks(rec)]:
        m = live.get(name) or {}
        gateway, prefix = "", 0
        if m:
            from rootless.network import networks
            try:
                net = networks.load(paths, name)
                gateway, prefix = net.gateway, net.prefixlen
            except Exception:
                pass
        out[name] = {"EndpointID": "", "Gateway": gateway, "IPAddress": m.get("ip", ""), "IPPrefixLen": prefix,
                     "IPv6Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
                     "MacAddress": m.get("mac") or "", "NetworkID": name, "DriverOpts": None,
                     "IPAMConfig": None, "Links": None,
                     "Aliases": list((m.get("names") or [rec.name, *aliases])[1:]),
                     "DNSNames": list(m.get("names") or [rec.name, *aliases])}
    return out


def mounts(rec, volumes_dir=None) -> list[dict]:
    """inspect's Mounts: binds as binds, named volumes as volumes (podman's shape)."""
    return [_mount(v, volumes_dir) for v in rec.request.get("volumes") or []]


def port_bindings(rec, run_dir) -> dict:
    """NetworkSettings.Ports as podman and Docker shape it:
    {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}]}."""
    out: dict = {}
    for m in _mappings(rec, run_dir):
        out.setdefault(f"{m.container_port}/{m.proto}", []).append(
            {"HostIp": m.host_ip or "", "HostPort": str(m.host_port)})
    return out


def config_env(rec) -> list[str]:
    """What the container's command gets: the image's environment, then
    --env-file and -e (a bare -e NAME took the host's value at run time, which
    is not recorded here), then what the runtime adds."""
    from rootless.containers import options
    cfg = rec.image_config or {}
    req = rec.request
    env = options.image_env(cfg.get("Env"))
    try:
        env.update(options.parse_env(list(req.get("env") or []), environ={}))
    except Exception:  # noqa: BLE001 - a record written by an older rl: show what parses
        pass
    env.setdefault("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    if not req.get("hostname") and req.get("network") == "host":
        import socket
        env.setdefault("HOSTNAME", socket.gethostname())  # --network host: the host's name
    env.setdefault("HOSTNAME", req.get("hostname") or rec.id[:TRUNC])
    env.setdefault("container", "rl")
    env.setdefault("TERM", "xterm")  # with or without -t, as podman
    return [f"{k}={v}" for k, v in env.items()]


def _mappings(rec, run_dir) -> list:
    """The ports as published (random host ports resolved), podman's PORTS."""
    if not rec.request.get("publish") and not rec.request.get("publish_all"):
        return []
    from rootless.network import ports
    return ports.for_container(str(run_dir), rec.request) if run_dir else []


def _ports(rec, run_dir) -> str:
    mappings = _mappings(rec, run_dir)
    if not mappings:
        return ""  # what format_ports([]) gives, without importing the port code (socket) for `rl ps`
    from rootless.network import ports
    return ports.format_ports(mappings)


FILTER_KEYS = ("id", "name", "status", "exited", "ancestor", "health", "label", "pod")
STATUSES = ("created", "running", "paused", "stopping", "exited", "stopped", "unknown")


def check_filters(filters: list[str]) -> None:
    """Refuse a malformed --filter before listing anything: with no containers
    (or none reaching the test) a typo would otherwise pass silently."""
    from rootless.errors import UsageError
    for f in filters:
        k, eq, v = f.partition("=")
        if not eq:
            raise UsageError(f'invalid filter "{f}"', hint="filters are KEY=VALUE, e.g. --filter status=running")
        if k not in FILTER_KEYS:
            raise UsageError(f"{k} is an invalid filter", hint="valid keys: " + ", ".join(FILTER_KEYS))
        if k == "status" and v not in STATUSES:
            raise UsageError(f"unknown container state: {v}", hint="status is one of " + ", ".join(STATUSES))
        if k == "exited" and not v.lstrip("-").isdigit():
            raise UsageError(f"exited code out of range {v!r}", hint="--filter exited=CODE takes a number")


def matches(rec, st: dict, filters: list[str]) -> bool:
    """--filter KEY=VALUE, podman's keys: id, name, status, exited, ancestor,
    health, label. Different keys AND together, one key's values OR."""
    import re
    by_key: dict[str, list[str]] = {}
    for f in filters:
        k, _, v = f.partition("=")
        by_key.setdefault(k, []).append(v)
    state = state_name(st)
    for k, values in by_key.items():
        if k == "id":
            ok = any(rec.id.startswith(v) for v in values)
        elif k == "name":
            ok = any(re.search(v, rec.name) for v in values)
        elif k == "status":
            ok = any(v == state or (v == "exited" and state == "stopped") for v in values)
        elif k == "exited":
            ok = state in ("exited", "stopped") and any(str(st.get("exit_code")) == v for v in values)
        elif k == "ancestor":
            ok = any(v == rec.image or rec.image.endswith("/" + v) or rec.image.split("/")[-1].startswith(v)
                     for v in values)
        elif k == "pod":  # pod IDs (the CLI turns names into IDs) or ID prefixes
            ok = bool(rec.request.get("pod")) and any(rec.request["pod"].startswith(v) for v in values if v)
        elif k == "health":
            ok = (st.get("health") or {}).get("Status") in values
        elif k == "label":
            have = rec.labels()
            ok = any((lambda kv: have.get(kv[0]) == kv[2] if kv[1] else kv[0] in have)(v.partition("="))
                     for v in values)
        else:
            from rootless.errors import UsageError
            raise UsageError(f"invalid filter {k!r}", hint="id, name, status, exited, ancestor, health, label")
        if not ok:
            return False
    return True


def _iso(t: float | None) -> str:
    return timestamp(t) if t else "0001-01-01T00:00:00Z"


def inspect(rec, st: dict, paths_info: dict) -> dict:
    """podman inspect's shape (the fields rl knows)."""
    req = rec.request
    cfg = rec.image_config or {}
    state = state_name(st)
    health = st.get("health")
    restart, _, count = (req.get("restart") or "no").partition(":")
    args = command_text(rec, False).split(" ") if rec else []
    log_size = 0
    for o in req.get("log_opt") or []:
        if o.startswith("max-size="):
            log_size = o.split("=", 1)[1]
    out = {
        "Id": rec.id,
        "Created": _iso(rec.created),
        "Path": args[0] if args else "",
        "Args": args[1:],
        "State": {
            "OciVersion": "1.1.0",
            "Status": state,
            "Running": state == "running",
            "Paused": state == "paused",
            "Restarting": False,
            "OOMKilled": bool(st.get("oom_killed")),
            "Dead": False,
            "Pid": st.get("pid") or 0,
            "ConmonPid": st.get("monitor") or 0,
            "ExitCode": st.get("exit_code") if st.get("exit_code") is not None else 0,
            "Error": st.get("reason") or "",
            "StartedAt": _iso(st.get("started")),
            "FinishedAt": _iso(st.get("finished")),
        },
        "Image": rec.image_id or rec.image,
        "ImageName": image_name(rec),
        "Rootfs": rec.image if req.get("rootfs") else "",
        "Name": rec.name,
        "RestartCount": st.get("restarts") or 0,
        "Driver": rec.driver,
        "LogPath": paths_info.get("log", ""),
        # podman lists volumes before bind mounts
        "Mounts": sorted(mounts(rec, paths_info.get("volumes")), key=lambda m: m["Type"] != "volume"),
        "Config": {
            "Hostname": req.get("hostname") or rec.id[:12],
            "User": req.get("user") or cfg.get("User") or "",
            "Env": config_env(rec),
            "Cmd": rec.command or cfg.get("Cmd"),
            "Image": image_name(rec),
            "WorkingDir": req.get("workdir") or cfg.get("WorkingDir") or "/",
            "Entrypoint": req.get("entrypoint") if req.get("entrypoint") is not None else cfg.get("Entrypoint"),
            "Labels": rec.labels(),
            "StopSignal": _stop_signal(req, cfg),  # a number, as podman 4.3 shows it
            "StopTimeout": int(float(req.get("stop_timeout") or 10)),
            "Tty": bool(req.get("tty")),
            "OpenStdin": bool(req.get("interactive")),
            "Healthcheck": {"Test": ["CMD-SHELL", req["health_cmd"]]} if req.get("health_cmd") else None,
        },
        "NetworkSettings": {
            # as podman's: slirp4netns's fixed 10.0.2.100 is not reported as the container's address
            "IPAddress": "",
            "Ports": port_bindings(rec, paths_info.get("run_dir")),
            "Networks": network_settings(rec, state == "running", paths_info.get("paths")),
            "SandboxKey": f"/proc/{st['pid']}/ns/net" if st.get("pid") and state == "running" else "",
        },
        "HostConfig": {
            "NetworkMode": req.get("network") or "slirp4netns",
            "Binds": req.get("volumes") or [],
            "RestartPolicy": {"Name": "" if restart == "no" else restart, "MaximumRetryCount": int(count or 0)},
            "AutoRemove": bool(req.get("rm")),
            "Privileged": bool(req.get("privileged")),
            "CapAdd": req.get("cap_add") or [],
            "CapDrop": req.get("cap_drop") or [],
            "ReadonlyRootfs": bool(req.get("read_only")),
            "SecurityOpt": req.get("security_opt") or [],
            "LogConfig": {"Type": req.get("log_driver") or "k8s-file", "Path": paths_info.get("log", ""),
                          "Size": str(log_size or "0B")},
        },
    }
    from rootless.containers import runextras
    for section, fields in runextras.inspect_fields(req).items():  # --annotation, --tz, --ulimit, --shm-size, ...
        out[section].update(fields)
    for port in req.get("expose") or []:  # exposed, not published: listed without a binding, as podman's
        out["NetworkSettings"]["Ports"].setdefault(port, None)
    if health is not None:
        out["State"]["Health"] = health
        out["State"]["Healthcheck"] = health  # podman 4 spells it both ways
    return out


def _stop_signal(req: dict, cfg: dict) -> int:
    from rootless.containers import policy
    from rootless.errors import UsageError
    try:
        return policy.parse_signal(req.get("stop_signal") or cfg.get("StopSignal"), 15)
    except UsageError:
        return 15


def _mount(vol: str, volumes_dir=None) -> dict:
    parts = vol.split(":")
    opts = parts[2].split(",") if len(parts) > 2 else []
    rw = "ro" not in opts
    if len(parts) == 1:  # -v /path: an anonymous volume
        return {"Type": "volume", "Name": "", "Source": "", "Destination": parts[0], "Driver": "local",
                "Mode": "", "Options": [], "RW": True, "Propagation": ""}
    src = parts[0]
    if not src.startswith(("/", ".")):  # a name, not a path: a named volume (podman's shape)
        data = os.path.join(str(volumes_dir), src, "_data") if volumes_dir else ""
        return {"Type": "volume", "Name": src, "Source": data, "Destination": parts[1], "Driver": "local",
                "Mode": "", "Options": ["nosuid", "nodev", "rbind"], "RW": rw, "Propagation": "rprivate"}
    return {"Type": "bind", "Name": "", "Source": os.path.abspath(src), "Destination": parts[1], "Driver": "", "Mode": "",
            "Options": ["rbind"], "RW": rw, "Propagation": "rprivate"}
