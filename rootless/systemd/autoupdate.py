"""`rl auto-update`: containers the user labelled io.containers.autoupdate=registry
and started by a systemd unit (the PODMAN_SYSTEMD_UNIT label their unit
gave them) get their image pulled
again; where the registry has a newer one, their unit is restarted (a --new
unit creates the container from the new image) and, when the restart fails,
the old image is tagged back and the unit restarted again (rollback).
Nothing prints here: the CLI renders the reports.

Only the labels the user put on the container count (`--label`, a unit's
PODMAN_SYSTEMD_UNIT), never the image's: an image labelled for auto-update
must not opt itself in, nor name a unit for rl to restart. Unit names reach
systemctl after `--`, so one starting with `-` is never taken as an option."""

from __future__ import annotations

import subprocess

from rootless.plain import record


LABEL = "io.containers.autoupdate"


@record
class Report:
    unit: str
    container: str     # "ID12 (name)"
    image: str
    policy: str
    updated: str       # "true", "false", "pending" (dry run), "rolled back", "failed"
    error: str = ""


def _systemctl(verb: str, *units: str, timeout: float = 300) -> subprocess.CompletedProcess:
    from rootless import tools
    return tools.run(["systemctl", "--user", verb, "--", *units], capture_output=True, text=True,
                          timeout=timeout, check=False)


def user_labels(rec) -> dict:
    """The labels set on the container itself (its recorded --label
    options), without the image's that Record.labels() merges in."""
    out = {}
    for item in (rec.request or {}).get("label") or []:
        k, _, v = item.partition("=")
        out[k] = v
    return out


def candidates(paths) -> list:
    """(record, policy, unit) of the running containers to consider."""
    from rootless.containers.records import Store
    store = Store(paths)
    out = []
    for rec in store.all():
        lab = user_labels(rec)
        policy = lab.get(LABEL)
        if policy not in ("registry", "image") or not lab.get("PODMAN_SYSTEMD_UNIT"):
            continue
        if store.state(rec).get("state") != "running":
            continue
        out.append((rec, policy, lab["PODMAN_SYSTEMD_UNIT"]))
    return out


def auto_update(paths, *, dry_run: bool = False, rollback: bool = True, systemctl=_systemctl,
                pull=None) -> list[Report]:
    from rootless.errors import RlError
    from rootless.images import ImageStore
    if pull is None:
        from rootless.images import pull
    images = ImageStore(paths)
    reports = []
    done_units = set()
    for rec, policy, unit in candidates(paths):
        ref = (rec.request or {}).get("image") or rec.image
        r = Report(unit, f"{rec.short_id} ({rec.name})", ref, policy, "false")
        reports.append(r)
        if unit in done_units:
            continue
        try:
            old = images.lookup(ref)
            if policy == "image":  # podman: a local image newer than the container's
                new = old
                changed = [str(d) for d in old.layer_dirs()] != list(rec.layers)
            else:
                if dry_run:
                    r.updated = "pending"  # rl cannot ask for a digest without pulling yet
                    continue
                new = pull(paths, ref, quiet=True)
                changed = new.id != old.id
        except RlError as e:
            r.updated, r.error = "failed", e.message
            continue
        if not changed:
            continue
        if dry_run:
            r.updated = "pending"
            continue
        done_units.add(unit)
        res = systemctl("restart", unit)
        if res.returncode == 0:
            r.updated = "true"
            continue
        lines = (res.stderr or res.stdout or "").strip().splitlines()
        r.error = lines[-1] if lines else f"systemctl restart {unit} failed"
        if not rollback or policy != "registry":
            r.updated = "failed"
            continue
        for name in [n for n in new.names if n not in old.names]:  # the name(s) the pull moved
            images.tag(old, name)
        res = systemctl("restart", unit)
        r.updated = "rolled back" if res.returncode == 0 else "failed"
    return reports
