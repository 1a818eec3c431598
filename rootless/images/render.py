"""Rendering helpers for listings: podman's human sizes and ages, and plain
tables. Pure functions. (--format templates: rootless/cli/gotemplate.py.)"""

from __future__ import annotations

import re
import time

_UNITS = ("B", "kB", "MB", "GB", "TB", "PB")


def human_size(n: float) -> str:
    """go-units HumanSizeWithPrecision(n, 3): decimal units, 3 significant digits."""
    n = float(n)
    i = 0
    while n >= 1000 and i < len(_UNITS) - 1:
        n /= 1000
        i += 1
    return f"{n:.3g} {_UNITS[i]}"


def human_duration(seconds: float) -> str:
    """go-units HumanDuration."""
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    m = s // 60
    if m == 1:
        return "About a minute"
    if m < 60:
        return f"{m} minutes"
    h = round(s / 3600)
    if h == 1:
        return "About an hour"
    if h < 48:
        return f"{h} hours"
    if h < 24 * 7 * 2:
        return f"{h // 24} days"
    if h < 24 * 30 * 2:
        return f"{h // 24 // 7} weeks"
    if h < 24 * 365 * 2:
        return f"{h // 24 // 30} months"
    return f"{h // 24 // 365} years"


def parse_time(text: str | None) -> float | None:
    """RFC 3339 with nanoseconds (as image configs carry it) -> epoch seconds."""
    if not text or not isinstance(text, str):
        return None
    m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)?$", text)
    if not m:
        return None
    try:  # the image's config says it: "0000-13-99T99:00:00Z" is no date, and no crash either
        return _parse_time(m)
    except (ValueError, OverflowError, OSError):
        return None


def _parse_time(m: "re.Match[str]") -> float:
    # the regex fixed the digits' places: datetime() checks the ranges as strptime
    # did (ValueError alike), without importing _strptime, calendar and locale for `rl images`;
    # datetime imported here: rl ps renders its table through this module and never parses a time
    from datetime import datetime, timezone
    d, t = m.group(1).split("T")
    base = datetime(*(int(x) for x in d.split("-")), *(int(x) for x in t.split(":")))
    tz = m.group(3) or "Z"
    if tz == "Z":
        base = base.replace(tzinfo=timezone.utc)
    else:
        sign = 1 if tz[0] == "+" else -1
        from datetime import timedelta
        base = base.replace(tzinfo=timezone(sign * timedelta(hours=int(tz[1:3]), minutes=int(tz[4:6]))))
    frac = float(m.group(2) or 0)
    return base.timestamp() + frac


def since(text: str | None, now: float | None = None) -> str:
    t = parse_time(text)
    if t is None:
        return "N/A"
    return human_duration((now or time.time()) - t) + " ago"


def table(rows: list[list[str]], header: list[str]) -> str:
    """Columns padded like Go's tabwriter (min width, padding 2... podman uses 2)."""
    widths = [len(h) for h in header]
    for r in rows:
        for i, cell in enumerate(r):
            widths[i] = max(widths[i], len(cell))
    lines = []
    for r in [header] + rows:
        line = "  ".join(c.ljust(widths[i]) for i, c in enumerate(r[:-1]))
        line = (line + "  " + r[-1]) if len(r) > 1 else r[-1]
        lines.append(line.rstrip())
    return "\n".join(lines)
