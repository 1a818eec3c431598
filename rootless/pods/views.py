"""What `pod ps` and `pod inspect` show, in podman's shapes: pure functions
of a pod record, its containers' records and their states (and `now`)."""

from __future__ import annotations

import re
import time

from rootless.pods.store import Pod

TRUNC = 12


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int((t % 1) * 1e9):09d}Z"


def _human_ago(now: float, t: float) -> str:
    from rootless.images.render import human_duration
    return f"{human_duration(max(0.0, now - t))} ago"


def ps_fields(pod: Pod, recs, ctr_states: list[str], status: str, now: float, trunc: bool = True) -> dict:
    """The fields a `pod ps --format` template names ({{.Name}}, {{.ID}}, ...)."""
    cut = (lambda s: s[:TRUNC]) if trunc else (lambda s: s)
    return {
        "ID": cut(pod.id), "Id": pod.id, "Name": pod.name, "Status": status,
        "Created": _human_ago(now, pod.created), "CreatedAt": _created_at(pod.created),
        "InfraID": cut(pod.infra_id) if pod.infra_id else "", "InfraId": pod.infra_id,
        "NumberOfContainers": len(recs), "Labels": dict(pod.labels), "Networks": ",".join(pod.network),
        "Cgroup": "", "Namespace": "",
        "ContainerIds": ",".join(cut(r.id) for r in recs),
        "ContainerNames": ",".join(r.name for r in recs),
        "ContainerStatuses": ",".join(ctr_states),
    }


def _created_at(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S +0000 UTC", time.gmtime(t))


def ps_json(pod: Pod, recs, ctr_states: list[str], status: str) -> dict:
    """One entry of `pod ps --format json`, podman's keys (Labels left out
    when there are none, as podman's omitempty)."""
    out = {
        "Cgroup": "",
        "Containers": [{"Id": r.id, "Names": r.name, "Status": s} for r, s in zip(recs, ctr_states)],
        "Created": _iso(pod.created),
        "Id": pod.id,
        "InfraId": pod.infra_id,
        "Name": pod.name,
        "Namespace": "",
        "Networks": list(pod.network),
        "Status": status,
    }
    if pod.labels:
        out["Labels"] = dict(pod.labels)
    return out


def port_bindings(specs: list[str]) -> dict:
    """InfraConfig.PortBindings from -p specs as given: {"80/tcp": [{"HostIp", "HostPort"}]}."""
    from rootless.network import ports
    out: dict = {}
    for m in ports.parse_all(list(specs), False, None):
        out.setdefault(f"{m.container_port}/{m.proto}", []).append(
            {"HostIp": m.host_ip or "", "HostPort": str(m.host_port or "")})
    return out


def inspect(pod: Pod, recs, ctr_states: list[str], status: str) -> dict:
    """`pod inspect`'s object, podman 4's keys; those podman leaves out when
    empty (omitempty) are left out here too."""
    out: dict = {
        "Id": pod.id,
        "Name": pod.name,
        "Created": _iso(pod.created),
        "CreateCommand": list(pod.create_command),
        "ExitPolicy": pod.exit_policy,
        "State": status,
        "Hostname": pod.hostname,
    }
    if pod.labels:
        out["Labels"] = dict(pod.labels)
    out.update({"CreateCgroup": False, "CgroupParent": "", "CreateInfra": pod.infra})
    if pod.infra:
        out["InfraContainerID"] = pod.infra_id
        out["InfraConfig"] = {
            "PortBindings": port_bindings(pod.publish),
            "HostNetwork": pod.network[:1] == ["host"],
            "StaticIP": "", "StaticMAC": "",
            "NoManageResolvConf": False,
            "DNSServer": list(pod.dns) or None, "DNSSearch": list(pod.dns_search) or None,
            "DNSOption": list(pod.dns_option) or None,
            "NoManageHosts": pod.no_hosts, "HostAdd": list(pod.add_host) or None,
            "Networks": list(pod.network) or None, "NetworkOptions": None,
            "pid_ns": "private", "userns": "host", "uts_ns": "private",
        }
    if pod.share:
        out["SharedNamespaces"] = list(pod.share)
    out["NumContainers"] = len(recs)
    if recs:
        out["Containers"] = [{"Id": r.id, "Name": r.name, "State": s} for r, s in zip(recs, ctr_states)]
    return out


FILTER_KEYS = ("id", "name", "label", "status", "ctr-names", "ctr-ids", "ctr-status", "ctr-number", "network")
POD_STATUSES = ("stopped", "running", "paused", "exited", "dead", "created", "degraded")


def check_filters(filters: list[str]) -> None:
    from rootless.errors import UsageError
    for f in filters:
        k, eq, v = f.partition("=")
        if not eq:
            raise UsageError(f'invalid filter "{f}"', hint="filters are KEY=VALUE, e.g. --filter name=web")
        if k not in FILTER_KEYS:
            raise UsageError(f"{k} is an invalid filter", hint="valid keys: " + ", ".join(FILTER_KEYS))
        if k == "status" and v not in POD_STATUSES:
            raise UsageError(f"{v} is not a valid status", hint="one of " + ", ".join(POD_STATUSES))


def matches(pod: Pod, recs, ctr_states: list[str], status: str, filters: list[str]) -> bool:
    """--filter KEY=VALUE: different keys AND, one key's values OR (podman)."""
    by_key: dict[str, list[str]] = {}
    for f in filters:
        k, _, v = f.partition("=")
        by_key.setdefault(k, []).append(v)
    for k, values in by_key.items():
        if k == "id":
            ok = any(pod.id.startswith(v) for v in values)
        elif k == "name":
            ok = any(re.search(v, pod.name) for v in values)
        elif k == "label":
            ok = any((lambda kv: pod.labels.get(kv[0]) == kv[2] if kv[1] else kv[0] in pod.labels)(v.partition("="))
                     for v in values)
        elif k == "status":
            ok = status.lower() in values
        elif k == "ctr-names":
            ok = any(re.search(v, r.name) for v in values for r in recs)
        elif k == "ctr-ids":
            ok = any(r.id.startswith(v) for v in values for r in recs)
        elif k == "ctr-status":
            ok = any(s in values for s in ctr_states)
        elif k == "ctr-number":
            ok = any(v.isdigit() and int(v) == len(recs) for v in values)
        else:  # network
            ok = any(v in pod.network for v in values)
        if not ok:
            return False
    return True
