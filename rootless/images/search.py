"""`rl search`: repositories of a registry whose name contains a term, or
the tags of one repository, as podman finds them on a v2 registry.

A v2 registry lists its repositories at /v2/_catalog (paged with `n` and a
Link header) and a repository's tags at /v2/NAME/tags/list; there are no
descriptions, stars or official marks there, so those fields stay empty, as
podman leaves them. Docker Hub has no catalog, only its own search API,
which rl does not speak: a search there is refused in one line. Every
answer is read bounded (pages, bytes) and parsed as untrusted JSON."""

from __future__ import annotations

from rootless.errors import RegistryError, UsageError

DEFAULT_LIMIT = 25  # podman's when --limit is not given
MAX_PAGES = 50
MAX_PAGE_BYTES = 4 << 20
PAGE = 1000
HUB = ("docker.io", "index.docker.io", "registry-1.docker.io")


def _split(term: str) -> tuple[str | None, str]:
    """(registry or None, the rest): a first component with a dot, a colon or
    "localhost" names a registry, as in an image reference."""
    head, sep, rest = term.partition("/")
    if sep and ("." in head or ":" in head or head == "localhost"):
        return head, rest
    return None, term


def _result(host: str, name: str, tag: str = "") -> dict:
    return {"Index": host, "Name": f"{host}/{name}", "Description": "", "Stars": 0,
            "Official": "", "Automated": "", "Tag": tag}


def _strings(doc: dict, key: str, what: str) -> list[str]:
    items = doc.get(key) or []
    if not isinstance(items, list) or not all(isinstance(x, str) for x in items):
        raise RegistryError(f"{what}: {key!r} is not a list of names")
    return items


def _paged(client, path: str, key: str, what: str, repo: str | None = None) -> list[str]:
    out: list[str] = []
    for _ in range(MAX_PAGES):
        doc, path = client.get_page(path, what, MAX_PAGE_BYTES, repo=repo)
        out += _strings(doc, key, f"{client.host}: {what}")
        if not path:
            return out
    raise RegistryError(f"{client.host}: {what}: more than {MAX_PAGES} pages")


def _filters(filters: list[str]):
    """podman's search filters: stars=N, is-official, is-automated (a v2
    registry has neither stars nor marks: what they keep follows from that)."""
    checks = []
    for f in filters:
        key, sep, value = f.partition("=")
        value = value.strip().lower()
        if key == "stars" and sep:
            try:
                n = int(value)
            except ValueError:
                raise UsageError(f"invalid filter {f!r}: stars needs a number", hint="--filter stars=3") from None
            checks.append(lambda r, n=n: r["Stars"] >= n)
        elif key in ("is-official", "is-automated") and value in ("", "true", "false"):
            want = value != "false"
            field = "Official" if key == "is-official" else "Automated"
            checks.append(lambda r, want=want, field=field: (r[field] == "[OK]") == want)
        else:
            raise UsageError(f"invalid filter {f!r}", hint="stars=N, is-official=true|false, is-automated=true|false")
    return lambda r: all(c(r) for c in checks)


def search(term: str, *, limit: int | None = None, list_tags: bool = False, filters: list[str] | None = None,
           tls_verify: bool | None = None, creds: tuple[str, str] | None = None,
           authfile: str | None = None, cert_dir: str | None = None) -> list[dict]:
    """Results in podman's shape (Index, Name, Description, Stars, Official,
    Automated, Tag), in the registry's order, at most limit of them."""
    from rootless.images import regconf, registry
    keep = _filters(filters or [])
    if limit is not None and limit < 1:
        raise UsageError(f"invalid --limit {limit}: it must be at least 1")
    limit = limit or DEFAULT_LIMIT
    host, rest = _split(term)
    conf = regconf.load()
    hosts = [host] if host else list(conf.search or ["docker.io"])
    if any(h in HUB for h in hosts):
        raise RegistryError("searching docker.io: Docker Hub has no v2 catalog and rl does not speak its search API",
                            hint="search a registry that lists its catalog: rl search REGISTRY/TERM")
    if list_tags:
        if "@" not in rest and ":" in rest.rsplit("/", 1)[-1]:
            rest = rest.rsplit(":", 1)[0]  # as podman: the tags of the repository a tag names
        if not host or not rest or "@" in rest:
            raise UsageError(f"--list-tags needs a full image name without a digest, not {term!r}",
                             hint="rl search --list-tags REGISTRY/NAME")
    out: list[dict] = []
    for h in hosts:
        client = registry.Client(h, insecure=conf.insecure_host(h), tls_verify=tls_verify, creds=creds,
                                 authfile=authfile, cert_dir=cert_dir)
        try:
            if list_tags:
                tags = _paged(client, f"/v2/{rest}/tags/list?n={PAGE}", "tags", f"the tags of {rest}", repo=rest)
                out += [_result(h, rest, t) for t in tags]
            else:
                repos = _paged(client, f"/v2/_catalog?n={PAGE}", "repositories", "the catalog")
                out += [_result(h, r) for r in repos if rest in r]
        finally:
            client.close()
    return [r for r in out if keep(r)][:limit]
