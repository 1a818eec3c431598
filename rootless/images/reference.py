"""Image references: parse, validate and normalise them the way podman does.

    debian                      -> docker.io/library/debian:latest
    quay.io/ns/name:1.0         -> quay.io/ns/name:1.0
    localhost:5000/a/b@sha256:… -> localhost:5000/a/b@sha256:…
    name:tag@sha256:…           -> both kept; the digest is what gets pulled

The grammar is the distribution reference grammar: the first component is a
registry host when it contains "." or ":" or is "localhost"; repository path
components are lowercase alphanumerics joined by "." "_" "__" or dashes; a
tag is at most 128 word characters, dots and dashes (not leading "." or "-");
a digest is "algorithm:hex". Pure functions, no I/O."""

from __future__ import annotations

from rootless.errors import ImageError

DEFAULT_DOMAIN = "docker.io"
DEFAULT_TAG = "latest"
LEGACY_DOMAINS = ("index.docker.io", "registry-1.docker.io")
OFFICIAL_NAMESPACE = "library"

# The grammar's character classes, checked by hand rather than with re:
# re's import is ~5 ms that every `rl images` and `rl inspect` would pay.
# tests/unit/test_reference_grammar.py holds the regular expressions they
# implement and compares both on every shape of input.
_LOWER_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")
_ALNUM = _LOWER_ALNUM | frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_HEXDIGITS = frozenset("0123456789abcdef")
_ENCODED = _ALNUM | frozenset("=_-")
_IPV6 = frozenset("0123456789abcdefABCDEF:.")


def _runs(text: str, alnum: frozenset) -> tuple[list[str], list[str]] | None:
    """text as alternating runs: (alnum runs, separator runs between them),
    or None unless it starts and ends with an alnum run."""
    words, seps, cur, in_word = [], [], [], True
    for c in text:
        if (c in alnum) != in_word:
            (words if in_word else seps).append("".join(cur))
            cur, in_word = [], not in_word
        cur.append(c)
    (words if in_word else seps).append("".join(cur))
    if not in_word or not words[0]:
        return None
    return words, seps


def _is_component(text: str) -> bool:
    """[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"""
    runs = _runs(text, _LOWER_ALNUM)
    return runs is not None and all(s in (".", "_", "__") or s == "-" * len(s) for s in runs[1])


def _is_domain(text: str) -> bool:
    """(?:C(?:\\.C)*|\\[[0-9a-fA-F:.]+\\])(?::[0-9]+)?, C: an alnum, or alnums and
    dashes that start and end with an alnum."""
    if text.startswith("["):
        end = text.find("]")
        if end < 2 or not set(text[1:end]) <= _IPV6:
            return False
        port = text[end + 1:]
        if port:
            return port[0] == ":" and _is_port(port[1:])
        return True
    host, colon, port = text.partition(":")
    if colon and not _is_port(port):
        return False
    for label in host.split("."):
        if not label or label[0] == "-" or label[-1] == "-" or not set(label) <= _ALNUM | {"-"}:
            return False
    return True


def _is_port(text: str) -> bool:
    return bool(text) and text.isascii() and text.isdigit()


def _is_tag(text: str) -> bool:
    """[\\w][\\w.-]{0,127}: \\w as re has it for str, a Unicode letter or digit or _."""
    return (0 < len(text) <= 128 and (text[0].isalnum() or text[0] == "_")
            and all(c.isalnum() or c in "_.-" for c in text))


def _is_digest(text: str) -> bool:
    """[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}"""
    algo, colon, encoded = text.partition(":")
    if not colon or len(encoded) < 32 or not set(encoded) <= _ENCODED:
        return False
    runs = _runs(algo, _LOWER_ALNUM)
    return runs is not None and all(len(s) == 1 and s in ".+_-" for s in runs[1])


def _is_hex(text: str, least: int, most: int) -> bool:
    return least <= len(text) <= most and set(text) <= _HEXDIGITS


NAME_MAX = 255

_HINT = "a reference looks like [HOST[:PORT]/]NAMESPACE/NAME[:TAG][@sha256:DIGEST]"


class Reference:
    """domain: registry host[:port], e.g. "docker.io"; path: the repository
    path, e.g. "library/debian"; tag: None when only a digest was given;
    digest: "sha256:<64 hex>". Frozen, compared and hashed by its fields, as
    the frozen dataclass it was (not one: `rl images` pays for every import)."""
    __slots__ = ("domain", "path", "tag", "digest")

    def __init__(self, domain: str, path: str, tag: str | None = None, digest: str | None = None):
        object.__setattr__(self, "domain", domain)
        object.__setattr__(self, "path", path)
        object.__setattr__(self, "tag", tag)
        object.__setattr__(self, "digest", digest)

    def _values(self) -> tuple:
        return (self.domain, self.path, self.tag, self.digest)

    def __eq__(self, other):
        if not (other.__class__ is self.__class__):
            return NotImplemented
        return other._values() == self._values()

    def __hash__(self):
        return hash(self._values())

    def __repr__(self):
        return (f"Reference(domain={self.domain!r}, path={self.path!r}, tag={self.tag!r}, "
                f"digest={self.digest!r})")

    def __setattr__(self, name, value):
        raise AttributeError(f"cannot assign to field {name!r}")

    def __delattr__(self, name):
        raise AttributeError(f"cannot delete field {name!r}")

    def __reduce__(self):  # pickle and copy through __init__ (the slots are frozen)
        return (Reference, self._values())

    @property
    def repository(self) -> str:
        """host/path, what podman calls the name (no tag, no digest)."""
        return f"{self.domain}/{self.path}"

    @property
    def short_path(self) -> str:
        """The path without docker.io's implicit library/ (as `docker` shows it)."""
        if self.domain == DEFAULT_DOMAIN and self.path.startswith(OFFICIAL_NAMESPACE + "/"):
            return self.path[len(OFFICIAL_NAMESPACE) + 1:]
        return self.path

    def with_tag(self, tag: str | None) -> "Reference":
        return Reference(self.domain, self.path, tag, self.digest)

    def with_digest(self, digest: str | None) -> "Reference":
        return Reference(self.domain, self.path, self.tag, digest)

    @property
    def tagged(self) -> str:
        """repository:tag (tag defaulted to latest)."""
        return f"{self.repository}:{self.tag or DEFAULT_TAG}"

    @property
    def digested(self) -> str | None:
        return f"{self.repository}@{self.digest}" if self.digest else None

    @property
    def manifest_ref(self) -> str:
        """What to ask the registry for: the digest when known, else the tag."""
        return self.digest or self.tag or DEFAULT_TAG

    def __str__(self) -> str:
        s = self.repository
        if self.tag:
            s += f":{self.tag}"
        if self.digest:
            s += f"@{self.digest}"
        return s


def _bad(text: str, why: str) -> ImageError:
    return ImageError(f'invalid reference "{text}": {why}', hint=_HINT)


def validate_digest(digest: str, text: str | None = None) -> str:
    if not _is_digest(digest):
        raise _bad(text or digest, f'invalid digest "{digest}"')
    algo, _, hexpart = digest.partition(":")
    if algo == "sha256":
        if not _is_hex(hexpart, 64, 64):
            raise _bad(text or digest, "a sha256 digest is 64 lowercase hex characters")
    elif algo in ("sha384", "sha512"):
        want = 96 if algo == "sha384" else 128
        if not _is_hex(hexpart, want, want):
            raise _bad(text or digest, f"a {algo} digest is {want} lowercase hex characters")
    else:
        raise _bad(text or digest, f'unsupported digest algorithm "{algo}"')
    return digest


def split_domain(name: str) -> tuple[str | None, str]:
    """("host[:port]", "rest") when the first component names a registry, else (None, name)."""
    first, sep, rest = name.partition("/")
    if not sep:
        return None, name
    if "." in first or ":" in first or first == "localhost" or first.lower() != first:
        return first, rest
    return None, name


def is_short_name(text: str) -> bool:
    """True when no registry host is named (podman resolves these through
    unqualified-search-registries or aliases)."""
    name = text.split("@", 1)[0]
    return split_domain(name)[0] is None


def parse(text: str, default_domain: str = DEFAULT_DOMAIN, default_tag: bool = True) -> Reference:
    """Parse and normalise a reference. A short name gets `default_domain`
    (and library/ on docker.io); a reference with neither tag nor digest
    gets :latest unless default_tag is False."""
    if not isinstance(text, str) or not text:
        raise _bad(str(text), "empty")
    if text != text.strip() or any(c.isspace() for c in text):
        raise _bad(text, "whitespace is not allowed")
    if text.startswith(("docker://", "oci://")):
        raise _bad(text, "transport prefixes are not supported here; give the bare reference")
    rest, digest = text, None
    if "@" in rest:
        rest, _, digest = rest.partition("@")
        if "@" in digest:
            raise _bad(text, "more than one @")
        validate_digest(digest, text)
    tag = None
    # a ":" after the last "/" is a tag; one before it belongs to host:port
    slash = rest.rfind("/")
    colon = rest.rfind(":")
    if colon > slash:
        rest, tag = rest[:colon], rest[colon + 1:]
        if not _is_tag(tag):
            raise _bad(text, f'invalid tag "{tag}"')
    if not rest:
        raise _bad(text, "no repository name")
    domain, path = split_domain(rest)
    if domain is None:
        domain = default_domain
    else:
        if not _is_domain(domain):
            raise _bad(text, f'invalid registry host "{domain}"')
        if domain in LEGACY_DOMAINS:
            domain = DEFAULT_DOMAIN
    if not path:
        raise _bad(text, "no repository name")
    for comp in path.split("/"):
        if not comp:
            raise _bad(text, "empty path component")
        if not _is_component(comp):
            if comp.lower() != comp and _is_component(comp.lower()):
                raise _bad(text, "repository name must be lowercase")
            raise _bad(text, f'invalid repository name component "{comp}"')
    if domain == DEFAULT_DOMAIN and "/" not in path:
        path = f"{OFFICIAL_NAMESPACE}/{path}"
    if len(domain) + 1 + len(path) > NAME_MAX:
        raise _bad(text, f"repository name longer than {NAME_MAX} characters")
    if tag is None and digest is None and default_tag:
        tag = DEFAULT_TAG
    return Reference(domain, path, tag, digest)


def looks_like_id(text: str) -> bool:
    """A full or short image ID (hex prefix, optionally sha256:)."""
    if text.startswith("sha256:"):
        text = text[7:]
    return _is_hex(text, 3, 64)


def short_candidates(text: str, search_registries: list[str]) -> list[Reference]:
    """The fully-qualified references a short name may mean, in the order
    podman tries them (one per unqualified-search registry)."""
    return [parse(text, default_domain=reg) for reg in search_registries]

