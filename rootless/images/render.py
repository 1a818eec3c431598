"""Rendering helpers for listings: podman's human sizes and ages, and plain
tables. Pure functions. (--format templates: rootless/cli/gotemplate.py.)"""

from __future__ import annotations

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
    """RFC 3339 with nanoseconds (as image configs carry it) -> epoch
    seconds: YYYY-MM-DDTHH:MM:SS[.digits][Z|+HH:MM|-HH:MM]. None for
    anything else, and for a date that does not exist ("0000-13-99T99:00:00Z"
    comes from the image's config: no date, and no crash either). Read by
    hand, ranges checked as datetime checks them: re and datetime cost
    every `rl images` ~7 ms to import."""
    if not text or not isinstance(text, str):
        return None
    if text.endswith("\n"):
        text = text[:-1]  # as the pattern's $ did
    head, rest = text[:19], text[19:]
    if len(head) != 19 or [head[i] for i in (4, 7, 10, 13, 16)] != ["-", "-", "T", ":", ":"]:
        return None
    fields = (head[0:4], head[5:7], head[8:10], head[11:13], head[14:16], head[17:19])
    if not all(f.isdecimal() for f in fields):
        return None
    year, month, day, hour, minute, second = (int(f) for f in fields)
    frac = ""
    if rest.startswith("."):
        n = 1
        while n < len(rest) and rest[n].isdecimal():
            n += 1
        if n == 1:
            return None
        frac, rest = rest[:n], rest[n:]
    offset = 0
    if rest not in ("", "Z"):
        hh, mm = rest[1:3], rest[4:6]
        if len(rest) != 6 or rest[0] not in "+-" or rest[3] != ":" or not (hh + mm).isdecimal():
            return None
        offset = int(hh) * 3600 + int(mm) * 60
        if offset >= 86400:
            return None  # datetime.timezone refuses a day or more
        offset = offset if rest[0] == "+" else -offset
    if not (1 <= year <= 9999 and 1 <= month <= 12 and 1 <= day <= _month_days(year, month)
            and hour < 24 and minute < 60 and second < 60):
        return None
    seconds = _days_since_epoch(year, month, day) * 86400 + hour * 3600 + minute * 60 + second - offset
    return float(seconds) + float(frac or 0)


def _month_days(year: int, month: int) -> int:
    if month == 2:
        return 29 if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) else 28
    return 30 if month in (4, 6, 9, 11) else 31


def _days_since_epoch(year: int, month: int, day: int) -> int:
    """Days from 1970-01-01 in the proleptic Gregorian calendar (the
    days-from-civil computation: years start in March, so leap days fall last)."""
    y = year - (month <= 2)
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    return era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468


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
