"""Pure rules of the lifecycle: restart policies and their backoff, Go-style
durations, healthcheck outcomes. No I/O here (unit-tested)."""

from __future__ import annotations


from rootless.errors import UsageError
from rootless.plain import Frozen

POLICIES = ("no", "on-failure", "always", "unless-stopped")


class Restart(Frozen):
    FIELDS = ("name", "max_retries")

    def __init__(self, name: str = "no", max_retries: int = 0):  # on-failure:N; 0 = unlimited
        self._set(name=name, max_retries=max_retries)


def parse_restart(value: str | None) -> Restart:
    name, _, n = (value or "no").partition(":")
    if name not in POLICIES:
        raise UsageError(f"invalid --restart {value!r}", hint="no, on-failure[:N], always or unless-stopped")
    if n and name != "on-failure":
        raise UsageError(f"--restart {name} takes no retry count", hint="only on-failure:N does")
    if n and not n.isdigit():
        raise UsageError(f"invalid --restart {value!r}: the retry count must be a number")
    return Restart(name, int(n or 0))


def should_restart(policy: Restart, exit_code: int, restarts: int, stopped_by_user: bool) -> bool:
    """After an exit: start again? `restarts` is how many restarts already ran."""
    if stopped_by_user or policy.name == "no":
        return False
    if policy.name == "on-failure":
        return exit_code != 0 and (policy.max_retries == 0 or restarts < policy.max_retries)
    return True  # always, unless-stopped


def backoff(restarts: int) -> float:
    """Delay before restart number restarts+1: 100 ms doubling, at most a minute (docker's)."""
    return min(0.1 * (2 ** min(restarts, 20)), 60.0)


_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str | None, default: float) -> float:
    """Go's time.ParseDuration subset: 30s, 1m30s, 500ms, 1h; a bare number is seconds."""
    if text is None or text == "":
        return default
    t = text.strip()
    try:
        return float(t)
    except ValueError:
        pass
    total, num, i = 0.0, "", 0
    while i < len(t):
        ch = t[i]
        if ch.isdigit() or ch == ".":
            num += ch
            i += 1
            continue
        unit = next((u for u in ("ns", "us", "µs", "ms", "s", "m", "h") if t.startswith(u, i)), None)
        if unit is None or not num:
            raise UsageError(f"invalid duration {text!r}", hint="e.g. 30s, 1m30s, 500ms")
        total += float(num) * _UNITS[unit]
        num = ""
        i += len(unit)
    if num:
        raise UsageError(f"invalid duration {text!r}: missing unit", hint="e.g. 30s, 1m30s, 500ms")
    return total


class HealthConfig(Frozen):
    FIELDS = ("cmd", "interval", "retries", "start_period", "timeout")

    def __init__(self, cmd: list[str], interval: float = 30.0, retries: int = 3, start_period: float = 0.0,
                 timeout: float = 30.0):
        self._set(cmd=cmd, interval=interval, retries=retries, start_period=start_period, timeout=timeout)


def health_config(cmd: str | None, interval: str | None, retries: str | int | None, start_period: str | None,
                  timeout: str | None, image_health: dict | None = None) -> HealthConfig | None:
    """The flags (else the image's Healthcheck) -> a config; None: no check.
    --health-cmd takes a shell string or a JSON array (CMD / CMD-SHELL forms)."""
    test: list[str] | None = None
    if cmd:
        if cmd.lower() == "none":
            return None
        if cmd.startswith("["):
            import json
            try:
                test = json.loads(cmd)
            except ValueError:
                raise UsageError(f"invalid --health-cmd {cmd!r}: not a JSON array") from None
            if test[:1] == ["CMD"]:
                test = test[1:]
            elif test[:1] == ["CMD-SHELL"]:
                test = ["/bin/sh", "-c", " ".join(test[1:])]
            elif len(test) == 1:  # as podman: one command line (podman-compose's CMD-SHELL test) is for a shell
                test = ["/bin/sh", "-c", test[0]]
        else:
            test = ["/bin/sh", "-c", cmd]
    elif image_health and image_health.get("Test"):
        t = list(image_health["Test"])
        if t[0] == "NONE":
            return None
        test = t[1:] if t[0] == "CMD" else ["/bin/sh", "-c", " ".join(t[1:])]
    if not test:
        return None
    ih = image_health or {}
    ns = 1e-9
    try:
        n_retries = int(retries) if retries not in (None, "") else int(ih.get("Retries") or 3)
    except ValueError:
        raise UsageError(f"invalid --health-retries {retries!r}") from None
    return HealthConfig(
        test,
        interval=parse_duration(interval, (ih.get("Interval") or 30e9) * ns),
        retries=n_retries,
        start_period=parse_duration(start_period, (ih.get("StartPeriod") or 0) * ns),
        timeout=parse_duration(timeout, (ih.get("Timeout") or 30e9) * ns))


def health_after(prev: dict | None, exit_code: int, cfg: HealthConfig, in_start_period: bool,
                 entry: dict) -> dict:
    """podman's state machine: a success makes it healthy; failures count
    towards `retries` (not during the start period) and then unhealthy."""
    h = dict(prev or {"Status": "starting", "FailingStreak": 0, "Log": []})
    log = (list(h.get("Log") or []) + [entry])[-5:]
    if exit_code == 0:
        h.update(Status="healthy", FailingStreak=0)
    elif not in_start_period:
        streak = int(h.get("FailingStreak") or 0) + 1
        h["FailingStreak"] = streak
        if streak >= cfg.retries:
            h["Status"] = "unhealthy"
    h["Log"] = log
    return h


SIGNALS = {"HUP": 1, "INT": 2, "QUIT": 3, "ILL": 4, "TRAP": 5, "ABRT": 6, "BUS": 7, "FPE": 8, "KILL": 9,
           "USR1": 10, "SEGV": 11, "USR2": 12, "PIPE": 13, "ALRM": 14, "TERM": 15, "STKFLT": 16, "CHLD": 17,
           "CONT": 18, "STOP": 19, "TSTP": 20, "TTIN": 21, "TTOU": 22, "URG": 23, "XCPU": 24, "XFSZ": 25,
           "VTALRM": 26, "PROF": 27, "WINCH": 28, "IO": 29, "PWR": 30, "SYS": 31}


SIGKILL = SIGNALS["KILL"]
_NAMES = {n: "SIG" + name for name, n in SIGNALS.items()} | {34: "SIGRTMIN", 64: "SIGRTMAX"}


def signal_name(n: int) -> str:
    """15 -> SIGTERM, as signal.Signals(n).name (whose enum costs every `rl stop` ~5 ms to import); else the number."""
    return _NAMES.get(n, str(n))


def parse_signal(value: str | int | None, default: int = 15) -> int:
    """SIGTERM, TERM, 15 -> 15 (podman's spellings)."""
    if value in (None, ""):
        return default
    v = str(value).strip().upper()
    if v.isdigit():
        n = int(v)
        if 1 <= n <= 64:
            return n
    v = v[3:] if v.startswith("SIG") else v
    if v in SIGNALS:
        return SIGNALS[v]
    if v.startswith("RTMIN"):
        return 34 + int(v[5:] or 0)
    raise UsageError(f"invalid signal {value!r}", hint="a name (TERM, SIGKILL) or a number")
