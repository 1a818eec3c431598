"""rl-generator: Quadlet-style `.container` files into systemd services.

systemd runs generators early, as `GENERATOR NORMAL_DIR [EARLY_DIR LATE_DIR]`
(systemd.generator(7)); this one reads `~/.config/containers/systemd/*.container`
(or the directories in $QUADLET_UNIT_DIRS, colon-separated) and writes
`NAME.service` into NORMAL_DIR, plus `TARGET.wants/` links for [Install]
WantedBy=/RequiredBy=. Keys follow podman's Quadlet ([Container] Image=,
Exec=, ContainerName=, PublishPort=, Volume=, Environment=, Network=, ...);
[Unit] and [Service] pass through. A file with an unknown key is reported
(on stderr: the journal) and skipped, as Quadlet does.

Install (systemd reads user generators from system directories only, not
from ~/.config; systemd.generator(7)): as root,
    ln -s "$(command -v rl-generator)" /etc/systemd/user-generators/rl-generator
(or a script there running `python -m rootless.systemd.quadlet "$@"`), then
as the user: systemctl --user daemon-reload. It then runs in every user's
manager, reading that user's files."""

from __future__ import annotations

import logging
import os
import shlex
import sys

from rootless import fsutil
from rootless.systemd.unitfile import exec_line, pythonpath_env, render

CIDFILE = "%t/%N.cid"


class QuadletError(Exception):
    pass


def parse_unit(text: str) -> list[tuple[str, list[tuple[str, str]]]]:
    """systemd's unit syntax: [Section], KEY=VALUE (repeatable), # and ;
    comments, a trailing backslash continues the line."""
    sections: list[tuple[str, list[tuple[str, str]]]] = []
    pending = ""
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not pending and (not line or line[0] in "#;"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        if line.startswith("["):
            if not line.endswith("]"):
                raise QuadletError(f"line {n}: bad section header {line!r}")
            sections.append((line[1:-1], []))
            continue
        key, eq, value = line.partition("=")
        if not eq or not sections:
            raise QuadletError(f"line {n}: expected KEY=VALUE in a section, got {line!r}")
        sections[-1][1].append((key.strip(), value.strip()))
    return sections


def _words(value: str) -> list[str]:
    try:
        return shlex.split(value)
    except ValueError as e:
        raise QuadletError(f"cannot split {value!r}: {e}") from None


def _bool(value: str) -> bool:
    return value.strip().lower() in ("1", "yes", "true", "on")


# [Container] key -> how it becomes `rl run` flags
def _flag(flag):
    return lambda v: [[flag, v]]


def _each_word(flag):
    return lambda v: [[flag, w] for w in _words(v)]


def _switch(flag):
    return lambda v: [[flag]] if _bool(v) else []


KEYS = {
    "PublishPort": _flag("--publish"),
    "Volume": _flag("--volume"),
    "Tmpfs": _flag("--tmpfs"),
    "Environment": _each_word("--env"),
    "EnvironmentFile": _flag("--env-file"),
    "Network": _flag("--network"),
    "Memory": _flag("--memory"),
    "PidsLimit": _flag("--pids-limit"),
    "User": _flag("--user"),
    "WorkingDir": _flag("--workdir"),
    "Entrypoint": _flag("--entrypoint"),
    "HostName": _flag("--hostname"),
    "DNS": _flag("--dns"),
    "AddHost": _flag("--add-host"),
    "AddCapability": _each_word("--cap-add"),
    "DropCapability": _each_word("--cap-drop"),
    "SecurityLabelDisable": lambda v: [],
    "NoNewPrivileges": lambda v: [["--security-opt", "no-new-privileges"]] if _bool(v) else [],
    "ReadOnly": _switch("--read-only"),
    "RunInit": _switch("--init"),
    "UserNS": _flag("--userns"),
    "HealthCmd": _flag("--health-cmd"),
    "HealthInterval": _flag("--health-interval"),
    "HealthRetries": _flag("--health-retries"),
    "HealthStartPeriod": _flag("--health-start-period"),
    "HealthTimeout": _flag("--health-timeout"),
    "LogDriver": _flag("--log-driver"),
    "StopTimeout": _flag("--stop-timeout"),
    "PodmanArgs": lambda v: [[w] for w in _words(v)],
}


def _group(user: str, group: str) -> str:
    return f"{user}:{group}" if group else user


def service(name: str, source: str, text: str, rl: list[str], env_extra: list[str] = ()) -> tuple[str, list[str]]:
    """(unit text, targets that want it) for one .container file."""
    sections = parse_unit(text)
    container = [kv for s, kvs in sections if s == "Container" for kv in kvs]
    if not any(s == "Container" for s, _ in sections):
        raise QuadletError("no [Container] section")
    unit_lines = [kv for s, kvs in sections if s == "Unit" for kv in kvs]
    service_lines = [kv for s, kvs in sections if s == "Service" for kv in kvs]
    install = [kv for s, kvs in sections if s == "Install" for kv in kvs]
    image = None
    exec_args: list[str] = []
    cname = "systemd-%N"
    flags: list[list[str]] = []
    user = group = ""
    notify = False
    for key, value in container:
        if key == "Image":
            image = value
        elif key == "Exec":
            exec_args = _words(value)
        elif key == "ContainerName":
            cname = value
        elif key == "User":
            user = value
        elif key == "Group":
            group = value
        elif key == "Notify":
            notify = _bool(value)
        elif key in KEYS:
            flags += KEYS[key](value)
        else:
            raise QuadletError(f"unsupported key {key!r} in [Container]")
    if not image:
        raise QuadletError("no Image= in [Container]")
    if notify:
        raise QuadletError("Notify=yes (the container's own sd_notify) is not supported yet")
    if user or group:
        flags.append(["--user", _group(user, group)])
    start = [[*rl, "run"], ["--name", cname], [f"--cidfile={CIDFILE}"], ["--replace"], ["--rm"],
             ["--cgroups=no-conmon"], ["--sdnotify=conmon"], ["-d"], *flags, [image, *exec_args]]
    unit = ["Wants=network-online.target", "After=network-online.target", f"SourcePath={source}",
            "RequiresMountsFor=%t"] + [f"{k}={v}" for k, v in unit_lines]
    svc = ["Environment=PODMAN_SYSTEMD_UNIT=%n", *env_extra, "KillMode=mixed",
           exec_line("ExecStop", [[*rl, "stop"], ["--ignore"], [f"--cidfile={CIDFILE}"]], raw=frozenset({2})),
           exec_line("ExecStopPost", [["-" + rl[0], *rl[1:], "rm"], ["-f", "--ignore"], [f"--cidfile={CIDFILE}"]],
                     raw=frozenset({2})),
           "Type=notify", "NotifyAccess=all", "SyslogIdentifier=%N",
           exec_line("ExecStart", start, raw=frozenset({2}), literal=False)]
    # the user's [Service] keys come last: they win where they repeat ours (Restart=, TimeoutStopSec=)
    svc += [f"{k}={v}" for k, v in service_lines]
    wanted = [t for k, v in install if k in ("WantedBy", "RequiredBy") for t in v.split()]
    header = [f"Automatically generated by rl-generator from {source}"]
    return render([("Unit", unit), ("Service", svc)], header), wanted


def unit_dirs(env=None) -> list[str]:
    env = os.environ if env is None else env
    if env.get("QUADLET_UNIT_DIRS"):
        return [d for d in env["QUADLET_UNIT_DIRS"].split(":") if d]
    config = env.get("XDG_CONFIG_HOME") or os.path.join(env.get("HOME") or os.path.expanduser("~"), ".config")
    return [os.path.join(config, "containers", "systemd")]


def generate(outdir: str, dirs: list[str], rl: list[str], env_extra: list[str] = (), log=None) -> list[str]:
    """Write a service per .container file; the names written. A bad file
    is reported through log and skipped; the others still get their units."""
    log = log or logging.getLogger(__name__).warning
    done: list[str] = []
    seen = set()
    for d in dirs:
        try:
            names = sorted(os.listdir(d))
        except OSError:
            continue
        for fn in names:
            if not fn.endswith(".container") or fn in seen:
                continue
            seen.add(fn)  # the first directory's file wins, as in systemd's search path
            path = os.path.join(d, fn)
            unit = fn[:-len(".container")] + ".service"
            try:
                with open(path) as f:
                    text, wanted = service(unit[:-len(".service")], path, f.read(), rl, env_extra)
            except (OSError, UnicodeDecodeError, QuadletError) as e:
                log(f"{path}: {e}")
                continue
            try:
                os.makedirs(outdir, exist_ok=True)
                _write(os.path.join(outdir, unit), text)
                for target in wanted:
                    wants = os.path.join(outdir, f"{target}.wants")
                    os.makedirs(wants, exist_ok=True)
                    link = os.path.join(wants, unit)
                    if not os.path.lexists(link):
                        os.symlink(f"../{unit}", link)
            except OSError as e:
                log(f"cannot write {unit} into {outdir}: {e.strerror or e}")
                continue
            done.append(unit)
    return done


def _write(path: str, text: str) -> None:
    fsutil.atomic_write(path, text, mode=None)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args:
        print("usage: rl-generator NORMAL_DIR [EARLY_DIR LATE_DIR]", file=sys.stderr)
        return 2
    rl = [sys.executable, "-m", "rootless"]
    generate(args[0], unit_dirs(), rl, pythonpath_env(), log=lambda m: print(f"rl-generator: {m}", file=sys.stderr))
    return 0  # a generator's failure would fail daemon-reload for every other unit too


if __name__ == "__main__":
    sys.exit(main())
