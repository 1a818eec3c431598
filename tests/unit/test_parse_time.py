"""images.render.parse_time, read by hand, against what it replaced: a
regular expression and datetime (kept here as the reference)."""

import random
import re
from datetime import datetime, timedelta, timezone

from rootless.images.render import parse_time


def _reference(text):
    if not text or not isinstance(text, str):
        return None
    m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)?$", text)
    if not m:
        return None
    try:
        d, t = m.group(1).split("T")
        base = datetime(*(int(x) for x in d.split("-")), *(int(x) for x in t.split(":")))
        tz = m.group(3) or "Z"
        if tz == "Z":
            base = base.replace(tzinfo=timezone.utc)
        else:
            sign = 1 if tz[0] == "+" else -1
            base = base.replace(tzinfo=timezone(sign * timedelta(hours=int(tz[1:3]), minutes=int(tz[4:6]))))
        return base.timestamp() + float(m.group(2) or 0)
    except (ValueError, OverflowError, OSError):
        return None


CRAFTED = [
    None, "", 5, "2024-01-02T03:04:05Z", "2024-01-02T03:04:05.123456789Z", "2024-01-02T03:04:05",
    "2024-01-02T03:04:05+02:00", "2024-01-02T03:04:05.5-11:30", "2024-01-02T03:04:05Z\n", "2024-01-02T03:04:05Z\n\n",
    "2024-02-29T00:00:00Z", "2023-02-29T00:00:00Z", "1900-02-29T00:00:00Z", "2000-02-29T00:00:00Z",
    "0000-01-01T00:00:00Z", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "0001-01-01T00:00:00+23:59",
    "9999-12-31T23:59:59-23:59", "2024-13-01T00:00:00Z", "2024-00-10T00:00:00Z", "2024-04-31T00:00:00Z",
    "2024-01-01T24:00:00Z", "2024-01-01T23:60:00Z", "2024-01-01T23:59:60Z", "2024-01-01T00:00:00+24:00",
    "2024-01-01T00:00:00+23:99", "2024-01-01T00:00:00+22:99", "2024-01-01T00:00:00.Z", "2024-01-01T00:00:00.",
    "2024-01-01T00:00:00z", "2024-01-01 00:00:00Z", "2024-1-01T00:00:00Z", "٢٠٢٤-01-01T00:00:00Z",
    "2024-01-01T00:00:00.٥Z", "2024-01-01T00:00:00+0200", "2024-01-01T00:00:00ZZ", "1970-01-01T00:00:00Z",
    "1969-12-31T23:59:59.999Z", "0000-13-99T99:00:00Z",
]


def test_it_reads_what_the_regex_and_datetime_read():
    rng = random.Random(3)
    texts = list(CRAFTED)
    for _ in range(5000):
        y, mo, d = rng.randrange(0, 10000), rng.randrange(0, 14), rng.randrange(0, 33)
        h, mi, s = rng.randrange(0, 26), rng.randrange(0, 62), rng.randrange(0, 62)
        frac = rng.choice(["", ".5", ".000000001", ".123456789", "."])
        tz = rng.choice(["", "Z", "+01:00", "-05:30", "+23:59", "-24:00", "+00:61"])
        texts.append(f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}{frac}{tz}")
    for t in texts:
        assert parse_time(t) == _reference(t), t
