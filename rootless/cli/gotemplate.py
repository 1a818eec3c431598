"""Go text/template, as podman's users write it in `--format`.

podman formats its output with Go's text/template plus a few functions of
its own (json, lower, upper, title, join, split, pad, truncate). Scripts
written for podman pass such templates to rl unchanged, so rl implements the
language itself rather than a few patterns: actions and pipelines, fields
and variables, if/else if/else, range (with index/element variables, else,
break, continue), with, comments and trim markers, literals, and Go's
builtins (and, or, not, len, index, slice, print, printf, println, eq, ne,
lt, le, gt, ge). define/template/block are not implemented (refused).

Data is JSON-shaped (dicts, lists, str, int, float, bool, None). Go tells a
struct (an unknown field is an error) from a map (a missing key prints
"<no value>"); here a non-empty dict whose keys all look like exported Go
field names counts as a struct. Field lookups also accept a key that differs
only in case, for rl's own lower-case dicts.

Errors are TemplateError (a UsageError: exit 125), worded like Go's."""

from __future__ import annotations

import json
import re
from typing import Any

from rootless.errors import UsageError
from rootless.plain import field, record


class TemplateError(UsageError):
    pass


NO_VALUE = object()  # a missing map key: Go prints "<no value>"

# ---------------------------------------------------------------- lexing

_ACTION = re.compile(r"{{(-\s)?(.*?)(\s-)?}}", re.S)
_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<decl>:=) | (?P<assign>=) | (?P<pipe>\|) | (?P<lp>\() | (?P<rp>\)) | (?P<comma>,)
  | (?P<str>"(?:[^"\\]|\\.)*")
  | (?P<raw>`[^`]*`)
  | (?P<char>'(?:[^'\\]|\\.)')
  | (?P<num>[+-]?(?:0[xX][0-9a-fA-F_]+|(?:\d[\d_]*)?\.?\d[\d_]*(?:[eE][+-]?\d+)?))
  | (?P<field>(?:\.[A-Za-z_][A-Za-z0-9_]*)+|\.)
  | (?P<var>\$[A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
""", re.X)


@record
class Tok:
    kind: str
    text: str


def _tokens(src: str, where: str) -> list[Tok]:
    out, pos = [], 0
    while pos < len(src):
        m = _TOKEN.match(src, pos)
        if not m:
            raise TemplateError(f"template: {where}: unexpected {src[pos]!r} in command")
        kind = m.lastgroup
        if kind != "ws":
            out.append(Tok(kind, m.group()))
        pos = m.end()
    return out


# ---------------------------------------------------------------- the tree

@record
class Field:
    names: list[str]          # .A.B -> ["A", "B"]; "." alone -> []


@record
class Var:
    name: str                 # "$" or "$x"
    names: list[str] = field(default_factory=list)


@record
class Lit:
    value: Any


@record
class Func:
    name: str


@record
class Pipe:
    decl: list[str]           # variables declared (:=) or assigned (=)
    assign: bool
    cmds: list[list[Any]]     # each command: operands
    chain: list[str] = field(default_factory=list)  # (pipe).Field


@record
class Action:
    pipe: Pipe


@record
class Block:
    kind: str                 # if | range | with
    pipe: Pipe
    body: list
    else_: list | None = None


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


@record
class Ctl:
    kind: str                 # break | continue


BUILTINS = {"and", "or", "not", "len", "index", "slice", "print", "printf", "println", "eq", "ne", "lt",
            "le", "gt", "ge", "json", "lower", "upper", "title", "join", "split", "pad", "truncate", "html",
            "urlquery", "js"}


class _Parser:
    def __init__(self, text: str, funcs: set[str]):
        self.funcs = funcs
        self.items = self._split(text)
        self.i = 0
        self.vars: list[set[str]] = [{"$"}]

    @staticmethod
    def _split(text: str) -> list:
        """Text and actions, with {{- and -}} trimming the neighbouring space."""
        items: list = []
        pos = 0
        line = 1
        for m in _ACTION.finditer(text):
            chunk = text[pos:m.start()]
            if m.group(1):
                chunk = chunk.rstrip()
            items.append(["text", chunk])
            items.append(["action", m.group(2), m.group(3) is not None, line + text.count("\n", 0, m.start())])
            pos = m.end()
        rest = text[pos:]
        if "{{" in rest:
            raise TemplateError(f"template: :{line + text.count(chr(10), 0, pos)}: unclosed action")
        items.append(["text", rest])
        for k, item in enumerate(items):  # -}} trims the text after it
            if item[0] == "action" and item[2] and k + 1 < len(items):
                items[k + 1][1] = items[k + 1][1].lstrip()
        return items

    def parse(self) -> list:
        body, end = self._list(())
        if end is not None:
            raise TemplateError(f"template: :{end[1]}: unexpected {{{{{end[0]}}}}}")
        return body

    def _list(self, stops: tuple[str, ...]) -> tuple[list, tuple | None]:
        out: list = []
        while self.i < len(self.items):
            item = self.items[self.i]
            self.i += 1
            if item[0] == "text":
                if item[1]:
                    out.append(item[1])
                continue
            src, line = item[1].strip(), item[3]
            where = f":{line}"
            if src.startswith("/*"):
                if not src.endswith("*/"):
                    raise TemplateError(f"template: {where}: unclosed comment")
                continue
            toks = _tokens(src, where)
            if not toks:
                raise TemplateError(f"template: {where}: missing value for command")
            head = toks[0]
            if head.kind == "ident" and head.text in ("end", "else"):
                if head.text not in stops:
                    raise TemplateError(f"template: {where}: unexpected {{{{{head.text}}}}}")
                return out, (head.text, line, toks[1:])
            if head.kind == "ident" and head.text in ("if", "range", "with"):
                out.append(self._block(head.text, toks[1:], where))
            elif head.kind == "ident" and head.text in ("break", "continue"):
                out.append(Ctl(head.text))
            elif head.kind == "ident" and head.text in ("define", "template", "block"):
                raise TemplateError(f"template: {where}: {{{{{head.text}}}}} is not supported by rl")
            else:
                out.append(Action(self._pipe(toks, where)))
        if stops:
            raise TemplateError("template: unexpected EOF")
        return out, None

    def _block(self, kind: str, toks: list[Tok], where: str) -> Block:
        self.vars.append(set())
        pipe = self._pipe(toks, where, in_range=kind == "range")
        body, end = self._list(("end", "else"))
        blk = Block(kind, pipe, body)
        self.vars[-1] = set()
        if end[0] == "else":
            rest = end[2]
            if rest and rest[0].kind == "ident" and rest[0].text in ("if", "with") and kind != "range":
                # {{else if X}}: a nested block that ends at this block's own {{end}}
                blk.else_ = [self._block(rest[0].text, rest[1:], f":{end[1]}")]
            elif rest:
                raise TemplateError(f"template: :{end[1]}: unexpected {rest[0].text!r} in else")
            else:
                blk.else_, _ = self._list(("end",))
        self.vars.pop()
        return blk

    def _pipe(self, toks: list[Tok], where: str, in_range: bool = False) -> Pipe:
        decl: list[str] = []
        assign = False
        # $x := ..., $i, $e := ... (range), $x = ...
        j = 0
        names = []
        while j < len(toks) and toks[j].kind == "var":
            names.append(toks[j].text)
            if j + 1 < len(toks) and toks[j + 1].kind == "comma" and in_range:
                j += 2
                continue
            break
        if names and j + 1 < len(toks) and toks[j + 1].kind in ("decl", "assign"):
            assign = toks[j + 1].kind == "assign"
            decl = names
            toks = toks[j + 2:]
            if assign:
                for n in decl:
                    if not any(n in scope for scope in self.vars):
                        raise TemplateError(f"template: {where}: undefined variable {n!r}")
        cmds = self._commands(toks, where)
        if not cmds:
            raise TemplateError(f"template: {where}: missing value for command")
        if not assign:
            self.vars[-1].update(decl)
        return Pipe(decl, assign, cmds)

    def _commands(self, toks: list[Tok], where: str) -> list[list[Any]]:
        cmds: list[list[Any]] = [[]]
        k = 0
        while k < len(toks):
            t = toks[k]
            if t.kind == "pipe":
                if not cmds[-1]:
                    raise TemplateError(f"template: {where}: missing command before |")
                cmds.append([])
                k += 1
                continue
            if t.kind == "lp":
                depth, m = 1, k + 1
                while m < len(toks) and depth:
                    depth += {"lp": 1, "rp": -1}.get(toks[m].kind, 0)
                    m += 1
                if depth:
                    raise TemplateError(f"template: {where}: unclosed left paren")
                inner = Pipe([], False, self._commands(toks[k + 1:m - 1], where))
                k = m
                if k < len(toks) and toks[k].kind == "field" and toks[k].text != ".":
                    inner.chain = toks[k].text.split(".")[1:]
                    k += 1
                cmds[-1].append(inner)
                continue
            cmds[-1].append(self._operand(t, where))
            k += 1
        if cmds and not cmds[-1]:
            raise TemplateError(f"template: {where}: missing command after |")
        for cmd in cmds:
            for arg in cmd[1:]:
                if isinstance(arg, Func) and arg.name not in ("nil",):
                    pass
        return cmds

    def _operand(self, t: Tok, where: str) -> Any:
        if t.kind == "field":
            return Field([] if t.text == "." else t.text.split(".")[1:])
        if t.kind == "var":
            name, _, rest = t.text.partition(".")
            base = t.text.split(".")[0]
            if not any(base in scope for scope in self.vars):
                raise TemplateError(f"template: {where}: undefined variable {base!r}")
            return Var(base, t.text.split(".")[1:] if "." in t.text else [])
        if t.kind == "str":
            return Lit(json.loads(t.text.replace("\\'", "'")))
        if t.kind == "raw":
            return Lit(t.text[1:-1])
        if t.kind == "char":
            return Lit(ord(json.loads('"' + t.text[1:-1] + '"')))
        if t.kind == "num":
            text = t.text.replace("_", "")
            try:
                return Lit(int(text, 0))
            except ValueError:
                return Lit(float(text))
        if t.kind == "ident":
            if t.text in ("true", "false"):
                return Lit(t.text == "true")
            if t.text == "nil":
                return Lit(None)
            if t.text not in self.funcs:
                raise TemplateError(f'template: {where}: function "{t.text}" not defined')
            return Func(t.text)
        raise TemplateError(f"template: {where}: unexpected {t.text!r} in operand")


# ---------------------------------------------------------------- values

_EXPORTED = re.compile(r"[A-Z][A-Za-z0-9_]*$")


def _is_struct(d: dict) -> bool:
    return bool(d) and all(isinstance(k, str) and _EXPORTED.match(k) for k in d)


def _type_name(v: Any) -> str:
    return {dict: "map[string]interface {}", list: "[]interface {}", str: "string", int: "int",
            float: "float64", bool: "bool"}.get(type(v), "interface {}")


def _field(v: Any, name: str, shown: str) -> Any:
    if v is None or v is NO_VALUE:
        return None  # lenient where Go would say "nil pointer evaluating": rl's nulls are unset fields
    if isinstance(v, dict):
        if name in v:
            return v[name]
        low = name.lower()
        for k in v:
            if isinstance(k, str) and k.lower() == low:
                return v[k]
        if _is_struct(v):
            raise TemplateError(f"template: executing at <{shown}>: can't evaluate field {name} in type struct")
        return NO_VALUE
    raise TemplateError(f"template: executing at <{shown}>: can't evaluate field {name} in type {_type_name(v)}")


def truth(v: Any) -> bool:
    if v is None or v is NO_VALUE:
        return False
    if isinstance(v, (bool, int, float, str, list, dict, tuple)):
        return bool(v)
    return True


def show(v: Any) -> str:
    """How Go's fmt prints a value in a template."""
    if v is NO_VALUE:
        return "<no value>"
    if v is None:
        return "<nil>"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(int(v)) if v.is_integer() and abs(v) < 1e21 else format(v, "g")
    if isinstance(v, (list, tuple)):
        return "[" + " ".join(show(x) for x in v) + "]"
    if isinstance(v, dict):
        return "map[" + " ".join(f"{k}:{show(v[k])}" for k in sorted(v, key=str)) + "]"
    return str(v)


def _json(v: Any) -> str:
    return json.dumps(None if v is NO_VALUE else v, separators=(",", ":"), ensure_ascii=False)


_VERB = re.compile(r"%([-+# 0]*)(\d+|\*)?(?:\.(\d+|\*))?([a-zA-Z%])")


def sprintf(fmt: str, args: list) -> str:
    """Go's fmt.Sprintf for the verbs templates use (v s d q x X o b f e g t c %)."""
    out, k, pos = [], 0, 0
    for m in _VERB.finditer(fmt):
        out.append(fmt[pos:m.start()])
        pos = m.end()
        flags, width, prec, verb = m.groups()
        if verb == "%":
            out.append("%")
            continue
        if k >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        a = args[k]
        k += 1
        spec = flags.replace("#", "") + (width or "") + (f".{prec}" if prec else "")
        try:
            if verb in "vs":
                text = show(a)
                out.append(f"%{spec}s" % text)
            elif verb == "q":
                out.append(f"%{spec}s" % json.dumps(show(a), ensure_ascii=False))
            elif verb in "dxXob":
                n = int(a)
                out.append(format(n, spec + {"d": "d", "x": "x", "X": "X", "o": "o", "b": "b"}[verb]))
            elif verb in "feEgG":
                out.append(f"%{spec or '.6' if verb == 'f' else spec}{verb}" % float(a))
            elif verb == "t":
                out.append(f"%{spec}s" % show(bool(a)))
            elif verb == "c":
                out.append(chr(int(a)))
            else:
                out.append(f"%!{verb}({_type_name(a)}={show(a)})")
        except (TypeError, ValueError):
            out.append(f"%!{verb}({_type_name(a)}={show(a)})")
    out.append(fmt[pos:])
    if k < len(args):
        out.append("%!(EXTRA " + ", ".join(f"{_type_name(a)}={show(a)}" for a in args[k:]) + ")")
    return "".join(out)


def _sprint(args: list) -> str:
    """fmt.Sprint: a space between operands when neither is a string."""
    out = ""
    for i, a in enumerate(args):
        if i and not isinstance(a, str) and not isinstance(args[i - 1], str):
            out += " "
        out += show(a)
    return out


def _cmp(name: str, a: Any, b: Any) -> bool:
    a = None if a is NO_VALUE else a
    b = None if b is NO_VALUE else b
    if name in ("eq", "ne"):
        return (a == b) == (name == "eq")
    if type(a) is not type(b) and not (isinstance(a, (int, float)) and isinstance(b, (int, float))):
        raise TemplateError(f"template: error calling {name}: incompatible types for comparison")
    return {"lt": a < b, "le": a <= b, "gt": a > b, "ge": a >= b}[name]


def _index(v: Any, *keys: Any) -> Any:
    for key in keys:
        if isinstance(v, dict):
            v = v.get(key, NO_VALUE)
        elif isinstance(v, (list, tuple, str)):
            if not isinstance(key, int) or not 0 <= key < len(v):
                raise TemplateError(f"template: error calling index: index out of range: {key}")
            v = v[key]
        elif v is None or v is NO_VALUE:
            raise TemplateError("template: error calling index: index of untyped nil")
        else:
            raise TemplateError(f"template: error calling index: can't index item of type {_type_name(v)}")
    return v


def _len(v: Any) -> int:
    if isinstance(v, (list, tuple, dict, str)):
        return len(v)
    raise TemplateError(f"template: error calling len: len of type {_type_name(v)}")


def _slice(v: Any, *ix: int) -> Any:
    if not isinstance(v, (list, str)):
        raise TemplateError(f"template: error calling slice: can't slice item of type {_type_name(v)}")
    return v[ix[0] if ix else 0: ix[1] if len(ix) > 1 else None]


def _join(v: Any, sep: str) -> str:
    if isinstance(v, dict):
        v = list(v)
    return sep.join(show(x) for x in (v or []))


FUNCS = {
    "not": lambda a: not truth(a),
    "len": _len,
    "index": _index,
    "slice": _slice,
    "print": lambda *a: _sprint(list(a)),
    "println": lambda *a: " ".join(show(x) for x in a) + "\n",
    "printf": lambda f, *a: sprintf(f, list(a)),
    "eq": lambda a, *b: any(_cmp("eq", a, x) for x in b),
    "ne": lambda a, b: _cmp("ne", a, b),
    "lt": lambda a, b: _cmp("lt", a, b), "le": lambda a, b: _cmp("le", a, b),
    "gt": lambda a, b: _cmp("gt", a, b), "ge": lambda a, b: _cmp("ge", a, b),
    # podman's own functions (containers/common's report package)
    "json": _json,
    "lower": lambda s: show(s).lower(),
    "upper": lambda s: show(s).upper(),
    "title": lambda s: re.sub(r"(?<![^\W_])(\w)", lambda m: m.group(1).upper(), show(s)),
    "join": _join,
    "split": lambda s, sep: show(s).split(sep),
    "pad": lambda s, pre, post: (" " * pre + show(s) + " " * post) if show(s) else "",
    "truncate": lambda s, n: show(s)[:n],
    "html": lambda *a: _sprint(list(a)).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"),
    "urlquery": lambda *a: __import__("urllib.parse").parse.quote_plus(_sprint(list(a))),
    "js": lambda *a: json.dumps(_sprint(list(a)))[1:-1],
}


# ---------------------------------------------------------------- execution

class _Exec:
    def __init__(self, root: Any):
        self.scopes: list[dict[str, Any]] = [{"$": root}]

    def var(self, name: str) -> Any:
        for scope in reversed(self.scopes):
            if name in scope:
                return scope[name]
        raise TemplateError(f"template: undefined variable {name!r}")

    def set(self, name: str, value: Any, declare: bool) -> None:
        if declare:
            self.scopes[-1][name] = value
            return
        for scope in reversed(self.scopes):
            if name in scope:
                scope[name] = value
                return

    def run(self, nodes: list, dot: Any, out: list[str]) -> None:
        for n in nodes:
            if isinstance(n, str):
                out.append(n)
            elif isinstance(n, Action):
                v = self.pipe(n.pipe, dot)
                if not n.pipe.decl:
                    out.append(show(v))
            elif isinstance(n, Block):
                self.block(n, dot, out)
            elif isinstance(n, Ctl):
                raise _Break() if n.kind == "break" else _Continue()

    def block(self, b: Block, dot: Any, out: list[str]) -> None:
        self.scopes.append({})
        try:
            if b.kind == "range":
                self._range(b, dot, out)
                return
            v = self.pipe(b.pipe, dot, range_decl=False)
            if truth(v):
                self.run(b.body, v if b.kind == "with" else dot, out)
            elif b.else_ is not None:
                self.scopes[-1] = {}
                self.run(b.else_, dot, out)
        finally:
            self.scopes.pop()

    def _range(self, b: Block, dot: Any, out: list[str]) -> None:
        v = self.pipe(Pipe([], False, b.pipe.cmds, b.pipe.chain), dot)
        if isinstance(v, dict):
            items = [(k, v[k]) for k in sorted(v, key=str)]
        elif isinstance(v, (list, tuple)):
            items = list(enumerate(v))
        elif isinstance(v, int) and not isinstance(v, bool):
            items = [(i, i) for i in range(v)]
        elif v is None or v is NO_VALUE:
            items = []
        else:
            raise TemplateError(f"template: range can't iterate over {show(v)}")
        if not items:
            if b.else_ is not None:
                self.run(b.else_, dot, out)
            return
        for k, elem in items:
            if len(b.pipe.decl) == 1:
                self.scopes[-1][b.pipe.decl[0]] = elem
            elif len(b.pipe.decl) == 2:
                self.scopes[-1][b.pipe.decl[0]] = k
                self.scopes[-1][b.pipe.decl[1]] = elem
            try:
                self.run(b.body, elem, out)
            except _Continue:
                continue
            except _Break:
                break

    def pipe(self, p: Pipe, dot: Any, range_decl: bool = False) -> Any:
        value: Any = NO_VALUE
        first = True
        for cmd in p.cmds:
            value = self.command(cmd, dot, None if first else value, not first)
            first = False
        for name in p.chain:
            value = _field(value, name, "(...)." + name)
        for name in p.decl:
            self.set(name, value, declare=not p.assign)
        return value

    def command(self, cmd: list, dot: Any, prev: Any, has_prev: bool) -> Any:
        head = cmd[0]
        if isinstance(head, Func):
            if head.name in ("and", "or"):
                args = cmd[1:]
                vals_src = [lambda a=a: self.arg(a, dot) for a in args]
                if has_prev:
                    vals_src.append(lambda: prev)
                if not vals_src:
                    raise TemplateError(f"template: wrong number of args for {head.name}: want at least 1 got 0")
                v = None
                for get in vals_src:
                    v = get()
                    if truth(v) != (head.name == "and"):
                        return v
                return v
            args = [self.arg(a, dot) for a in cmd[1:]]
            if has_prev:
                args.append(prev)
            try:
                return FUNCS[head.name](*args)
            except TypeError:
                raise TemplateError(f"template: wrong number of args for {head.name}: got {len(args)}") from None
        if len(cmd) > 1 or has_prev:
            shown = _shown(head)
            raise TemplateError(f"template: executing at <{shown}>: can't give argument to non-function {shown}")
        return self.arg(head, dot)

    def arg(self, a: Any, dot: Any) -> Any:
        if isinstance(a, Lit):
            return a.value
        if isinstance(a, Field):
            v = dot
            for i, name in enumerate(a.names):
                v = _field(v, name, "." + ".".join(a.names[:i + 1]))
            return v
        if isinstance(a, Var):
            v = self.var(a.name)
            for name in a.names:
                v = _field(v, name, a.name + "." + name)
            return v
        if isinstance(a, Pipe):
            return self.pipe(a, dot)
        if isinstance(a, Func):
            return self.command([a], dot, None, False)
        raise TemplateError("template: bad operand")


def _shown(a: Any) -> str:
    if isinstance(a, Field):
        return "." + ".".join(a.names)
    if isinstance(a, Var):
        return ".".join([a.name, *a.names])
    if isinstance(a, Lit):
        return json.dumps(a.value)
    return "?"


class Template:
    """A parsed template; render(data) -> str."""

    def __init__(self, text: str):
        self.text = text
        self.tree = _Parser(text, set(FUNCS) | {"and", "or"}).parse()

    def render(self, data: Any) -> str:
        out: list[str] = []
        try:
            _Exec(data).run(self.tree, data, out)
        except (_Break, _Continue):
            raise TemplateError("template: {{break}} or {{continue}} outside {{range}}") from None
        return "".join(out)

    def fields(self) -> list[list[str]]:
        """The field chains of the top-level actions, in order (for table headers)."""
        out = []
        for n in self.tree:
            if isinstance(n, Action):
                names = _last_field(n.pipe)
                out.append(names)
        return out


def _last_field(p: Pipe) -> list[str]:
    for cmd in p.cmds:
        for a in cmd:
            if isinstance(a, Field) and a.names:
                return a.names
            if isinstance(a, Var) and a.names:
                return a.names
            if isinstance(a, Pipe):
                found = _last_field(a)
                if found:
                    return found
    return []


# ---------------------------------------------------------------- podman's --format conventions

def normalize(fmt: str) -> tuple[str, bool]:
    """(template text, is a table): podman's `table` prefix, and the \\t and
    \\n escapes users type in a shell."""
    table = fmt.startswith("table")
    if table:
        fmt = _spaces_to_tabs(fmt[len("table"):].lstrip())
    return fmt.replace("\\t", "\t").replace("\\n", "\n"), table


def _spaces_to_tabs(fmt: str) -> str:
    """podman's table mode: each space outside {{ }} separates columns
    (`table {{.Name}} x {{.Driver}}` is three columns, two spaces make an
    empty one); spaces inside an action are the template's own."""
    out, depth, i = [], 0, 0
    while i < len(fmt):
        if fmt.startswith("{{", i):
            depth += 1
            out.append("{{")
            i += 2
        elif fmt.startswith("}}", i) and depth:
            depth -= 1
            out.append("}}")
            i += 2
        else:
            out.append("\t" if fmt[i] == " " and not depth else fmt[i])
            i += 1
    return "".join(out)


def header(tpl: Template, names: dict[str, str] | None = None) -> str:
    """A table's header: each top-level action replaced by its field's
    column name (podman's: upper case, words split, a few renamed)."""
    names = names or {}
    out = []
    for n in tpl.tree:
        if isinstance(n, str):
            out.append(n)
        elif isinstance(n, Action):
            chain = _last_field(n.pipe)
            key = chain[-1] if chain else ""
            out.append(names.get(key) or re.sub(r"(?<=[a-z])(?=[A-Z])", " ", key).upper())
    return "".join(out)


def tabwrite(text: str, minwidth: int = 12, padding: int = 2) -> str:
    """Go's tabwriter as podman sets it up (minwidth 12, padding 2, spaces):
    tab-terminated cells align in columns; a column's width is its widest
    cell plus the padding, at least minwidth; columns are blocks of
    consecutive lines that have that cell."""
    lines = [ln.split("\t") for ln in text.split("\n")]
    widths: list[list[int]] = [[0] * (len(c) - 1) for c in lines]

    def fmt(start: int, end: int, col: int) -> None:
        i = start
        while i < end:
            if col >= len(lines[i]) - 1:
                i += 1
                continue
            j = i
            while j < end and col < len(lines[j]) - 1:
                j += 1
            w = max(len(lines[k][col]) for k in range(i, j)) + padding
            w = max(w, minwidth)
            for k in range(i, j):
                widths[k][col] = w
            fmt(i, j, col + 1)
            i = j
    fmt(0, len(lines), 0)
    out = []
    for cells, ws in zip(lines, widths):
        out.append("".join(c.ljust(ws[i]) for i, c in enumerate(cells[:-1])) + cells[-1])
    return "\n".join(out)


def render_rows(fmt: str, rows: list, names: dict[str, str] | None = None, heading: bool = True) -> str:
    """podman's --format: each row through the template (a newline after
    each); with `table`, a header first (unless heading is off) and the
    columns aligned. The template is checked before any row is rendered."""
    text, table = normalize(fmt)
    tpl = Template(text)
    body = [tpl.render(r) for r in rows]
    if table:
        if heading:
            body.insert(0, header(tpl, names))
        return (tabwrite("\n".join(body)) + "\n") if body else ""
    # podman appends a newline to the format, not to the output: a template
    # whose range ends each item with a newline still gets one more
    end = "" if text.endswith("\n") else "\n"
    return "".join(b + end for b in body)
