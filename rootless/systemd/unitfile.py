"""Writing systemd unit files: quoting of command lines and values.

systemd splits Exec lines into words itself (systemd.service(5), "Command
lines"): double quotes group, backslash escapes as in C, `%` starts a
specifier and `$` an environment variable, so both are doubled in any text
taken from a user; specifiers rl means (%t, %n) are written unquoted."""

from __future__ import annotations

_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@%+=:,./-_")


def escape_specifiers(s: str) -> str:
    return s.replace("%", "%%")


def quote_arg(arg: str, literal: bool = True) -> str:
    """One argument of an Exec line, as systemd will split it back. literal:
    % and $ are the argument's own (doubled); else they are unit syntax the
    user wrote on purpose (a Quadlet file's %h, $VAR) and pass through."""
    s = escape_specifiers(arg).replace("$", "$$") if literal else arg
    if s and all(c in _SAFE or c == "$" for c in s):
        return s
    out = []
    for c in s:
        if c == "\\":
            out.append("\\\\")
        elif c == '"':
            out.append('\\"')
        elif c == "\n":
            out.append("\\n")
        elif c == "\t":
            out.append("\\t")
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


def exec_line(key: str, groups: list[list[str]], raw: frozenset[int] = frozenset(), literal: bool = True) -> str:
    """KEY=word word \\ (one group of words per line, as podman writes them).
    Groups whose index is in raw are written as they are (they hold rl's own
    specifiers such as --cidfile=%t/%n.ctr-id)."""
    lines = []
    for i, g in enumerate(groups):
        lines.append(" ".join(g if i in raw else [quote_arg(w, literal) for w in g]))
    return f"{key}=" + " \\\n\t".join(lines)


def render(sections: list[tuple[str, list[str]]], header: list[str] = ()) -> str:
    out = [f"# {h}" if h else "#" for h in header]
    for name, lines in sections:
        if out:
            out.append("")
        out.append(f"[{name}]")
        out.extend(lines)
    return "\n".join(out) + "\n"


def pythonpath_env(env=None) -> list[str]:
    """rl run as `python -m rootless` from a checkout (PYTHONPATH): the unit
    needs the same path to find it."""
    import os
    pp = (os.environ if env is None else env).get("PYTHONPATH")
    return [f"Environment={quote_arg('PYTHONPATH=' + pp)}"] if pp else []
