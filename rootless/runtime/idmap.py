"""Subordinate ID maths: parsing /etc/subuid-style files and building the
uid_map/gid_map lines newuidmap/newgidmap write. Pure functions, no I/O."""

from __future__ import annotations

from collections import namedtuple

# collections' namedtuples, not typing's NamedTuple: typing's import is ~3 ms of every `rl run`

SUBID_MIN = 65536  # what one container with a full 16-bit ID space needs


class SubRange(namedtuple("SubRange", "start count")):
    __slots__ = ()

    @property
    def end(self) -> int:  # exclusive
        return self.start + self.count


IdMap = namedtuple("IdMap", "container host size")  # ints


# owner: a login name or a numeric uid, as written in the file; start, count: ints
SubIdEntry = namedtuple("SubIdEntry", "owner start count")


def parse_subid(text: str) -> list[SubIdEntry]:
    """Parse an /etc/subuid or /etc/subgid file; malformed lines are skipped
    (shadow-utils does the same)."""
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(":")
        if len(parts) != 3:
            continue
        try:
            start, count = int(parts[1]), int(parts[2])
        except ValueError:
            continue
        if start < 0 or count <= 0:
            continue
        out.append(SubIdEntry(parts[0], start, count))
    return out


# lineno: 1-based, as an editor shows it; entry: a SubIdEntry; text: the line as written
SubIdLine = namedtuple("SubIdLine", "lineno entry text")


def parse_subid_lines(text: str) -> list[SubIdLine]:
    """parse_subid, keeping where each entry was: findings name the lines."""
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        parsed = parse_subid(line)
        if parsed:
            out.append(SubIdLine(n, parsed[0], line.strip()))
    return out


SubIdProblem = namedtuple("SubIdProblem", "detail fix")  # strs


def _span(start: int, count: int) -> str:
    return f"{start}-{start + count - 1}"


def subid_problems(lines: list[SubIdLine], user: str, uid: int, path: str, kind: str = "uid") -> list[SubIdProblem]:
    """Why newuid/gidmap would refuse this user's ranges (a map whose host
    IDs overlap: "write to uid_map failed: Invalid argument"), or why another
    user shares its IDs: two of its own ranges overlapping, one overlapping
    another user's, or one holding its own ID. Each with the exact usermod
    commands that repair it (usermod --del-sub{kind}s trims every range of
    the user that touches the span, --add-sub{kind}s appends one)."""
    mine = [ln for ln in lines if ln.entry.owner in (user, str(uid))]
    others = [ln for ln in lines if ln.entry.owner not in (user, str(uid))]
    every = [ln.entry for ln in lines]
    flag = f"sub{kind}s"
    out: list[SubIdProblem] = []

    def replace(spans: list[tuple[int, int]], count: int, avoid: list[SubIdEntry]) -> str:
        """del each span, then add one free range of count IDs."""
        r = suggest_free_range(avoid, count)
        dels = " ".join(f"--del-{flag} {_span(a, n)}" for a, n in spans)
        return f"sudo usermod {dels} {user} && sudo usermod --add-{flag} {_span(r.start, r.count)} {user}"

    seen: set[int] = set()
    ordered = sorted(mine, key=lambda ln: ln.entry.start)
    for i, a in enumerate(ordered):
        for b in ordered[i + 1:]:
            if b.entry.start >= a.entry.start + a.entry.count:
                continue
            lo = a.entry.start
            hi = max(a.entry.start + a.entry.count, b.entry.start + b.entry.count)
            union = (lo, hi - lo)
            clash = [o.entry for o in others if o.entry.start < hi and lo < o.entry.start + o.entry.count]
            if clash:
                fix = replace([union], union[1], every)
            else:
                fix = (f"sudo usermod --del-{flag} {_span(*union)} {user} && "
                       f"sudo usermod --add-{flag} {_span(*union)} {user}")
            out.append(SubIdProblem(
                f"lines {a.lineno} and {b.lineno} of {path} overlap: {a.text} ({_span(a.entry.start, a.entry.count)})"
                f" and {b.text} ({_span(b.entry.start, b.entry.count)}); new{kind}map refuses such a map "
                f"(write to {kind}_map failed: Invalid argument)", fix))
            seen.update((a.lineno, b.lineno))
    for a in mine:
        a0, a1 = a.entry.start, a.entry.start + a.entry.count
        for o in others:
            o0, o1 = o.entry.start, o.entry.start + o.entry.count
            if o0 < a1 and a0 < o1:
                out.append(SubIdProblem(
                    f"line {a.lineno} of {path} ({a.text}) overlaps line {o.lineno} ({o.text}) of user "
                    f"{o.entry.owner}: IDs {_span(max(a0, o0), min(a1, o1) - max(a0, o0))} belong to both",
                    replace([(a0, a1 - a0)], a.entry.count, every)))
        if a0 <= uid < a1:
            out.append(SubIdProblem(
                f"line {a.lineno} of {path} ({a.text}) holds {user}'s own ID {uid}; new{kind}map refuses "
                f"such a map (write to {kind}_map failed: Invalid argument)",
                replace([(a0, a1 - a0)], a.entry.count, every + [SubIdEntry(user, uid, 1)])))
    return out


def ranges_for(entries: list[SubIdEntry], name: str, uid: int) -> list[SubRange]:
    """The ranges a user owns, by login name or by numeric ID, in file order."""
    return [SubRange(e.start, e.count) for e in entries if e.owner in (name, str(uid))]


def total(ranges: list[SubRange]) -> int:
    return sum(r.count for r in ranges)


def overlaps(entries: list[SubIdEntry]) -> list[tuple[SubIdEntry, SubIdEntry]]:
    """Pairs of entries of different owners whose ranges intersect."""
    found = []
    ordered = sorted(entries, key=lambda e: e.start)
    for i, a in enumerate(ordered):
        for b in ordered[i + 1:]:
            if b.start >= a.start + a.count:
                break
            if a.owner != b.owner:
                found.append((a, b))
    return found


def suggest_free_range(entries: list[SubIdEntry], count: int = SUBID_MIN, floor: int = 100000) -> SubRange:
    """The lowest range of `count` IDs at or above `floor` no entry uses: what
    the hint tells the administrator to add."""
    start = floor
    for e in sorted(entries, key=lambda e: e.start):
        if e.start + e.count <= start:
            continue
        if e.start >= start + count:
            break
        start = e.start + e.count
    return SubRange(start, count)


def root_maps(own_id: int, ranges: list[SubRange]) -> list[IdMap]:
    """Container root is the user; IDs 1.. come from the subordinate ranges."""
    maps = [IdMap(0, own_id, 1)]
    nxt = 1
    for r in ranges:
        maps.append(IdMap(nxt, r.start, r.count))
        nxt += r.count
    return maps


def keep_id_maps(own_id: int, ranges: list[SubRange]) -> list[IdMap]:
    """The user's own ID keeps its number inside (podman's --userns=keep-id);
    every other container ID 0.. comes from the subordinate ranges, skipping
    own_id. Raises ValueError when the ranges cannot cover 0..own_id-1."""
    if total(ranges) < own_id:
        raise ValueError(f"keep-id needs at least {own_id} subordinate IDs, have {total(ranges)}")
    maps: list[IdMap] = []
    cid = 0
    for r in ranges:
        host, left = r.start, r.count
        while left:
            if cid == own_id:
                cid += 1
            limit = own_id - cid if cid < own_id else left
            n = min(left, limit)
            maps.append(IdMap(cid, host, n))
            cid += n
            host += n
            left -= n
    maps.append(IdMap(own_id, own_id, 1))
    return sorted(maps)


def newidmap_args(maps: list[IdMap]) -> list[str]:
    args: list[str] = []
    for m in maps:
        args += [str(m.container), str(m.host), str(m.size)]
    return args


def to_host(maps: list[IdMap], cid: int) -> int | None:
    for m in maps:
        if m.container <= cid < m.container + m.size:
            return m.host + cid - m.container
    return None


def parse_proc_map(text: str) -> list[IdMap]:
    """Parse /proc/PID/uid_map."""
    return [IdMap(*map(int, line.split())) for line in text.splitlines() if line.strip()]
