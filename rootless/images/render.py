"""Rendering helpers for image listings: podman's human sizes and ages, and a
small subset of Go templates ({{.Field}}, {{.A.B}}, {{json .X}}, "table ...").
Pure functions."""

from __future__ import annotations

import json
import re
import time
from datetime import datetime, timezone
from typing import Any

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
    base = datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S")
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


def go_value(v: Any) -> str:
    """How Go's text/template prints a value."""
    if v is None:
        return "<no value>"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list):
        return "[" + " ".join(go_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "map[" + " ".join(f"{k}:{go_value(v[k])}" for k in sorted(v)) + "]"
    return str(v)


_TPL = re.compile(r"{{\s*(json\s+)?\.([A-Za-z0-9_.]*)\s*}}")


def _lookup(obj: Any, path: str) -> Any:
    if not path:
        return obj
    for part in path.split("."):
        if isinstance(obj, dict):
            if part in obj:
                obj = obj[part]
                continue
            low = {k.lower(): k for k in obj}
            if part.lower() in low:
                obj = obj[low[part.lower()]]
                continue
            return None
        return None
    return obj


def render_template(tpl: str, obj: Any) -> str:
    def sub(m: re.Match) -> str:
        val = _lookup(obj, m.group(2))
        if m.group(1):
            return json.dumps(val)
        return go_value(val)
    out = _TPL.sub(sub, tpl)
    return out.replace("\\t", "\t").replace("\\n", "\n")


def template_header(tpl: str) -> str:
    """The header line of a "table ..." template: field names upper-cased."""
    def sub(m: re.Match) -> str:
        name = m.group(2).split(".")[-1]
        return {"ID": "IMAGE ID", "CreatedSince": "CREATED", "CreatedAt": "CREATED AT"}.get(
            name, re.sub(r"(?<=[a-z])(?=[A-Z])", " ", name).upper())
    return _TPL.sub(sub, tpl).replace("\\t", "\t")


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
