"""--userns=keep-id as podman builds it: a user namespace nested in the
usual one (where 0 is the user and 1.. the subordinate IDs), in which the
user's own ID keeps its number. Pure maths: the nested maps and the
fuse-overlayfs ID mapping that keeps image files' owners right inside."""

from __future__ import annotations

from rootless.runtime.idmap import IdMap


def nested_maps(own_id: int, size: int) -> list[IdMap]:
    """Container ID -> ID of the outer namespace (which holds `size` IDs).
    0..own-1 -> 1..own, own -> 0 (the user), the rest unchanged."""
    if not 0 < own_id < size:
        raise ValueError(f"keep-id needs ID {own_id} inside the {size} IDs the user namespace maps")
    maps = [IdMap(0, 1, own_id), IdMap(own_id, 0, 1)]
    if size - own_id - 1 > 0:
        maps.append(IdMap(own_id + 1, own_id + 1, size - own_id - 1))
    return maps


def map_text(maps: list[IdMap]) -> str:
    """/proc/PID/uid_map contents."""
    return "".join(f"{m.container} {m.host} {m.size}\n" for m in maps)


def fuse_mapping(maps: list[IdMap]) -> str:
    """fuse-overlayfs uidmapping=/gidmapping= for the outer namespace: a file
    stored for container ID c (the layer format keeps container IDs as the
    outer namespace sees them) is shown as the outer ID that the nested
    namespace maps back to c."""
    return ":".join(f"{m.container}:{m.host}:{m.size}" for m in maps)
