"""Subordinate ID maths: parsing /etc/subuid-style files and building the
uid_map/gid_map lines newuidmap/newgidmap write. Pure functions, no I/O."""

from __future__ import annotations

from typing import NamedTuple

SUBID_MIN = 65536  # what one container with a full 16-bit ID space needs


class SubRange(NamedTuple):
    start: int
    count: int

    @property
    def end(self) -> int:  # exclusive
        return self.start + self.count


class IdMap(NamedTuple):
    container: int
    host: int
    size: int


class SubIdEntry(NamedTuple):
    owner: str  # a login name or a numeric uid, as written in the file
    start: int
    count: int


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
