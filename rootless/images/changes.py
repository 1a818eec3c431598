"""Dockerfile instructions applied to an image config: podman's `--change`
of `commit` and `import` (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD,
STOPSIGNAL, USER, VOLUME, WORKDIR). Pure functions (unit-tested)."""

from __future__ import annotations

import json

from rootless.errors import UsageError

CHANGES = ("CMD", "ENTRYPOINT", "ENV", "EXPOSE", "LABEL", "ONBUILD", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR")


def _signal_number(text: str) -> int | None:
    """SIGTERM, TERM, 15, RTMIN+3 -> its Linux number; None for anything else."""
    import signal
    v = text.strip().upper()
    if v.isdigit():
        n = int(v)
        return n if 1 <= n <= 64 else None
    v = v[3:] if v.startswith("SIG") else v
    if v.startswith("RTMIN"):
        off = v[5:]
        if not off:
            return 34
        return 34 + int(off) if off[:1] in "+-" and off[1:].isdigit() else None
    sig = getattr(signal, "SIG" + v, None) if v.isalnum() else None
    return int(sig) if isinstance(sig, signal.Signals) and 1 <= sig <= 31 else None


def _exec_form(text: str) -> list[str]:
    """A JSON array as is; anything else the shell form, as a Containerfile's."""
    if text.startswith("["):
        try:
            val = json.loads(text)
        except ValueError:
            val = None
        if isinstance(val, list) and all(isinstance(x, str) for x in val):
            return val
    return ["/bin/sh", "-c", text]


def _pair(text: str, what: str, change: str) -> tuple[str, str]:
    """`K=V` as podman reads it (one pair: the value is the rest, `LABEL a=x
    b=y` is a="x b=y"), or Docker's older `K V`; quotes around the value dropped."""
    k, eq, v = text.partition("=")
    if not eq or " " in k.strip():
        k, _, v = text.strip().partition(" ")
    k, v = k.strip(), v.strip()
    if not k:
        raise UsageError(f"invalid --change {change!r}: {what} needs KEY=VALUE")
    if len(v) >= 2 and v[0] == v[-1] and v[0] in "\"'":
        v = v[1:-1]
    return k, v


def apply(cfg: dict, changes: list[str]) -> dict:
    """podman's `commit --change`: INSTRUCTION VALUE (or INSTRUCTION=VALUE)."""
    cfg = json.loads(json.dumps(cfg or {}))
    for change in changes or []:
        text = change.strip()
        word, sep, rest = text.partition(" ")
        if not sep or "=" in word:
            word, sep, rest = text.partition("=")
        word, rest = word.strip().upper(), rest.strip()
        if word not in CHANGES:
            raise UsageError(f"invalid --change {change!r}: unknown instruction {word or text!r}",
                             hint="valid: " + ", ".join(CHANGES))
        if not rest and word not in ("CMD", "ENTRYPOINT"):
            raise UsageError(f"invalid --change {change!r}: {word} needs a value")
        if word == "CMD":
            cfg["Cmd"] = _exec_form(rest) if rest else []
        elif word == "ENTRYPOINT":
            cfg["Entrypoint"] = _exec_form(rest) if rest else []
        elif word == "ENV":
            env = [e for e in cfg.get("Env") or []]
            k, v = _pair(rest, "ENV", change)
            env = [e for e in env if e.partition("=")[0] != k] + [f"{k}={v}"]
            cfg["Env"] = env
        elif word == "LABEL":
            labels = dict(cfg.get("Labels") or {})
            labels.update([_pair(rest, "LABEL", change)])
            cfg["Labels"] = labels
        elif word == "EXPOSE":
            ports = dict(cfg.get("ExposedPorts") or {})
            for p in rest.split():
                num, _, proto = p.partition("/")
                if not num.replace("-", "").isdigit() or proto not in ("", "tcp", "udp", "sctp"):
                    raise UsageError(f"invalid --change {change!r}: bad port {p!r}", hint="EXPOSE 8080/tcp")
                ports[f"{num}/{proto or 'tcp'}"] = {}
            cfg["ExposedPorts"] = ports
        elif word == "VOLUME":
            vols = dict(cfg.get("Volumes") or {})
            paths = _exec_form(rest) if rest.startswith("[") else rest.split()
            if paths[:2] == ["/bin/sh", "-c"]:
                paths = rest.split()
            for p in paths:
                vols[p] = {}
            cfg["Volumes"] = vols
        elif word == "ONBUILD":
            cfg["OnBuild"] = list(cfg.get("OnBuild") or []) + [rest]
        elif word == "STOPSIGNAL":
            num = _signal_number(rest)  # a bad name is refused now, not at the image's first stop
            if num is None:
                raise UsageError(f"invalid --change {change!r}: invalid signal {rest!r}",
                                 hint="a name (TERM, SIGKILL) or a number")
            cfg["StopSignal"] = str(num)  # as podman records it: the number
        elif word == "USER":
            cfg["User"] = rest
        elif word == "WORKDIR":
            cfg["WorkingDir"] = rest
    return cfg
