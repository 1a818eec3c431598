"""Registry configuration, read from podman's own files so one set of
settings serves both tools.

registries.conf (containers-registries.conf(5), version 2 and the old v1 tables):
  * $CONTAINERS_REGISTRIES_CONF, when set, is the main file; else
    $XDG_CONFIG_HOME/containers/registries.conf when it exists (and then the
    system file is not read); else /etc/containers/registries.conf.
  * drop-ins: registries.conf.d/*.conf next to the system file (unless the
    user file is in use) and in the user config dir, in name order, each
    overriding what came before ([[registry]] by prefix, top-level keys when
    present, aliases merged).
  * unqualified-search-registries, [aliases], [[registry]] prefix / location /
    insecure / blocked / mirror-by-digest-only, [[registry.mirror]] location /
    insecure / pull-from-mirror.

auth.json (containers-auth.json(5)): $REGISTRY_AUTH_FILE (or --authfile) alone
when given; else ${XDG_RUNTIME_DIR}/containers/auth.json,
$XDG_CONFIG_HOME/containers/auth.json, ~/.docker/config.json, ~/.dockercfg, the
first with a matching entry winning. Keys may be "host" or "host/namespace/repo"
(the longest match wins).

certs.d: $XDG_CONFIG_HOME/containers/certs.d/HOST[:PORT],
/etc/containers/certs.d/HOST[:PORT], /etc/docker/certs.d/HOST[:PORT]; *.crt are CA
certificates, NAME.cert + NAME.key a client certificate."""

from __future__ import annotations

import base64
import json
import os
import tomllib
from pathlib import Path

from rootless import config, fsutil
from rootless.errors import ImageError, RegistryError
from rootless.images import reference as R
from rootless.plain import field, record

SYSTEM_CONF = Path("/etc/containers/registries.conf")
SYSTEM_CERTS_DIRS = (Path("/etc/containers/certs.d"), Path("/etc/docker/certs.d"))


@record
class Endpoint:
    location: str          # host[:port][/path prefix]
    insecure: bool = False
    pull_from_mirror: str = "all"   # for mirrors: all, digest-only, tag-only


@record
class RegistryEntry:
    prefix: str
    location: str
    insecure: bool = False
    blocked: bool = False
    mirror_by_digest_only: bool = False
    mirrors: list[Endpoint] = field(default_factory=list)


@record
class PullSource:
    """One place to try: rewritten reference + how to reach it."""
    ref: R.Reference
    insecure: bool
    mirror: bool


@record
class RegistriesConf:
    search: list[str] = field(default_factory=list)
    registries: list[RegistryEntry] = field(default_factory=list)
    aliases: dict[str, str] = field(default_factory=dict)
    short_name_mode: str = "permissive"
    files: list[str] = field(default_factory=list)
    search_file: str | None = None  # the file that set the search list last (an explicit [] refuses short names)

    def find(self, name: str) -> RegistryEntry | None:
        """The [[registry]] whose prefix matches `name` (host/path[:tag][@digest]) best."""
        best, best_len = None, -1
        for reg in self.registries:
            n = _prefix_match(reg.prefix, name)
            if n > best_len:
                best, best_len = reg, n
        return best

    def sources(self, ref: R.Reference) -> list[PullSource]:
        """Mirrors first, then the (possibly rewritten) location; raises when blocked."""
        name = str(ref)
        reg = self.find(name)
        if reg is None:
            return [PullSource(ref, False, False)]
        if reg.blocked:
            raise RegistryError(f'registry "{ref.domain}" is blocked in registries.conf',
                                hint=f"remove blocked=true for prefix \"{reg.prefix}\" in {', '.join(self.files)}")
        out = []
        by_digest = ref.digest is not None
        if not (reg.mirror_by_digest_only and not by_digest):
            for m in reg.mirrors:
                if m.pull_from_mirror == "digest-only" and not by_digest:
                    continue
                if m.pull_from_mirror == "tag-only" and by_digest:
                    continue
                out.append(PullSource(_rewrite(ref, reg.prefix, m.location), m.insecure, True))
        out.append(PullSource(_rewrite(ref, reg.prefix, reg.location), reg.insecure, False))
        return out

    def insecure_host(self, host: str) -> bool:
        """Whether registries.conf marks a host (as a location or mirror) insecure."""
        for reg in self.registries:
            if reg.location.split("/")[0] == host and reg.insecure:
                return True
            if any(m.location.split("/")[0] == host and m.insecure for m in reg.mirrors):
                return True
        return False

    def resolve_short(self, text: str) -> list[R.Reference]:
        """Candidates for a short name: an alias, else each search registry;
        docker.io when nothing is configured (rl is lenient where podman errors)."""
        bare = _bare(text)
        if bare in self.aliases:
            target = self.aliases[bare]
            return [R.parse(target + text[len(bare):])]
        if not self.search and self.search_file:
            # an admin's explicit `unqualified-search-registries = []` means "no short names":
            # falling back to docker.io would pull what the admin ruled out (podman refuses too)
            raise ImageError(f'short-name "{text}" did not resolve to an alias and no unqualified-search '
                             f'registries are defined in "{self.search_file}"',
                             hint="use a fully qualified name (e.g. docker.io/library/debian) or add a registry "
                                  "to unqualified-search-registries")
        regs = self.search or [R.DEFAULT_DOMAIN]
        return R.short_candidates(text, regs)


def _prefix_match(prefix: str, name: str) -> int:
    """Length of the match of a registries.conf prefix against a name, or -1.
    A match ends at a component boundary ("/", ":", "@" or the end);
    "*.example.com" matches any subdomain."""
    if prefix.startswith("*."):
        host = name.split("/", 1)[0]
        hostname = host.split(":", 1)[0]
        if hostname.endswith(prefix[1:]) and hostname != prefix[2:]:
            return len(prefix)
        return -1
    if not name.startswith(prefix):
        return -1
    if len(name) == len(prefix) or name[len(prefix)] in "/:@" or prefix.endswith("/"):
        return len(prefix)
    return -1


def _rewrite(ref: R.Reference, prefix: str, location: str) -> R.Reference:
    if prefix.startswith("*.") or not location:
        return ref
    name = ref.repository
    if not name.startswith(prefix):
        return ref
    new = location + name[len(prefix):]
    domain, path = R.split_domain(new)
    if domain is None:
        domain, path = new.split("/", 1) if "/" in new else (new, "")
    return R.Reference(domain, path, ref.tag, ref.digest)


def _load_toml(path: Path) -> dict:
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise ImageError(f"cannot parse {path}: {e}", hint="fix the TOML syntax (see containers-registries.conf(5))")
    except PermissionError as e:
        raise ImageError(f"cannot read {path}: {e.strerror}")


def _merge(conf: RegistriesConf, data: dict, path: Path) -> None:
    conf.files.append(str(path))
    # v1 format
    v1 = data.get("registries")
    if isinstance(v1, dict):
        search = v1.get("search", {}).get("registries")
        if search is not None:
            conf.search = list(search)
            conf.search_file = str(path)
        for host in v1.get("insecure", {}).get("registries", []):
            _upsert(conf, RegistryEntry(prefix=host, location=host, insecure=True), merge_flags=True)
        for host in v1.get("block", {}).get("registries", []):
            _upsert(conf, RegistryEntry(prefix=host, location=host, blocked=True), merge_flags=True)
    if "unqualified-search-registries" in data:
        val = data["unqualified-search-registries"]
        if not isinstance(val, list) or not all(isinstance(v, str) for v in val):
            raise ImageError(f"{path}: unqualified-search-registries must be a list of strings")
        conf.search = list(val)
        conf.search_file = str(path)
    if "short-name-mode" in data:
        conf.short_name_mode = str(data["short-name-mode"])
    aliases = data.get("aliases", {})
    if isinstance(aliases, dict):
        conf.aliases.update({str(k): str(v) for k, v in aliases.items()})
    regs = data.get("registry", [])
    if not isinstance(regs, list):
        raise ImageError(f"{path}: [[registry]] must be an array of tables (write [[registry]], not [registry])")
    for item in regs:
        if not isinstance(item, dict):
            continue
        location = str(item.get("location", "")).rstrip("/")
        prefix = str(item.get("prefix", "") or location)
        if not prefix:
            raise ImageError(f"{path}: a [[registry]] needs a prefix or a location")
        if prefix.startswith("*.") and location:
            pass  # wildcard prefixes keep the reference's own host
        entry = RegistryEntry(
            prefix=prefix, location=location or prefix,
            insecure=bool(item.get("insecure", False)), blocked=bool(item.get("blocked", False)),
            mirror_by_digest_only=bool(item.get("mirror-by-digest-only", False)))
        for m in item.get("mirror", []) or []:
            if not isinstance(m, dict) or not m.get("location"):
                raise ImageError(f"{path}: a [[registry.mirror]] needs a location")
            entry.mirrors.append(Endpoint(str(m["location"]).rstrip("/"), bool(m.get("insecure", False)),
                                          str(m.get("pull-from-mirror", "all"))))
        _upsert(conf, entry)


def _upsert(conf: RegistriesConf, entry: RegistryEntry, merge_flags: bool = False) -> None:
    for i, old in enumerate(conf.registries):
        if old.prefix == entry.prefix:
            if merge_flags:
                old.insecure = old.insecure or entry.insecure
                old.blocked = old.blocked or entry.blocked
            else:
                conf.registries[i] = entry
            return
    conf.registries.append(entry)


def conf_files(env: dict[str, str] | None = None) -> list[Path]:
    """registries.conf and its drop-ins, in the order they apply."""
    env = os.environ if env is None else env
    user_dir = _config_home(env) / "containers"
    user_file = user_dir / "registries.conf"
    override = env.get("CONTAINERS_REGISTRIES_CONF")
    files: list[Path] = []
    dropin_dirs: list[Path] = []
    if override:
        files.append(Path(override))
        dropin_dirs.append(Path(override).parent / "registries.conf.d")
        dropin_dirs.append(user_dir / "registries.conf.d")
    elif user_file.exists():
        files.append(user_file)
        dropin_dirs.append(user_dir / "registries.conf.d")
    else:
        files.append(SYSTEM_CONF)
        dropin_dirs.append(SYSTEM_CONF.parent / "registries.conf.d")
        dropin_dirs.append(user_dir / "registries.conf.d")
    seen = set()
    for d in dropin_dirs:
        if d in seen:
            continue
        seen.add(d)
        try:
            files += sorted(p for p in d.iterdir() if p.suffix == ".conf" and p.is_file())
        except OSError:
            pass
    return files


def load(env: dict[str, str] | None = None) -> RegistriesConf:
    conf = RegistriesConf()
    for path in conf_files(env):
        if not path.exists():
            continue
        _merge(conf, _load_toml(path), path)
    if conf.short_name_mode not in SHORT_NAME_MODES:
        raise ImageError(f'invalid short-name-mode "{conf.short_name_mode}" in {", ".join(conf.files)}',
                         hint="use enforcing, permissive or disabled")
    # the machine-written aliases (a choice made at a prompt) win over registries.conf's, as podman's
    cache = short_name_aliases_file(env)
    if cache.exists():
        data = _load_toml(cache).get("aliases", {})
        if isinstance(data, dict):
            conf.aliases.update({str(k): str(v) for k, v in data.items() if v})
    return conf


# ---------------------------------------------------------------- short names (containers-registries.conf(5))

SHORT_NAME_MODES = ("enforcing", "permissive", "disabled")


def short_name_aliases_file(env: dict[str, str] | None = None) -> Path:
    """Where a short name chosen at the prompt is recorded: podman's
    $XDG_CACHE_HOME (~/.cache)/containers/short-name-aliases.conf, shared
    with podman so both tools resolve the name the same way afterwards."""
    env = os.environ if env is None else env
    val = env.get("CONTAINERS_SHORT_NAME_ALIAS_CONF")
    if val:
        return Path(val)
    cache = env.get("XDG_CACHE_HOME")
    base = Path(cache) if cache and os.path.isabs(cache) else Path(env.get("HOME") or str(Path.home())) / ".cache"
    return base / "containers" / "short-name-aliases.conf"


@record
class ShortNamePlan:
    candidates: list[R.Reference]
    record_as: str | None = None    # the alias to record after a successful pull (a prompted choice)


def _bare(text: str) -> str:
    name = text.split("@", 1)[0]
    slash, colon = name.rfind("/"), name.rfind(":")
    return name[:colon] if colon > slash else name


def plan_short_name(conf: RegistriesConf, text: str, choose=None) -> ShortNamePlan:
    """podman's rules for a short name to pull: an alias needs no choice; a
    single search registry neither; else in enforcing and permissive mode a
    terminal user picks one (recorded as an alias after the pull); without a
    terminal enforcing refuses and permissive (and disabled) try each in order.
    `choose(candidates) -> index` asks the user; None means no terminal."""
    cands = conf.resolve_short(text)
    bare = _bare(text)
    if bare in conf.aliases or len(cands) <= 1 or conf.short_name_mode == "disabled":
        return ShortNamePlan(cands)
    if choose is None:
        if conf.short_name_mode == "enforcing":
            raise ImageError("short-name resolution enforced but cannot prompt without a TTY",
                             hint=f'use a fully qualified name (e.g. {cands[0]}), or add an alias for "{bare}" '
                                  f"in registries.conf")
        return ShortNamePlan(cands)
    picked = cands[choose(cands)]
    return ShortNamePlan([picked], record_as=bare)


def record_short_name_alias(name: str, target: str, env: dict[str, str] | None = None) -> Path:
    """Add `name = target` to the user's short-name-aliases.conf (podman's
    format: an [aliases] table), keeping what is there."""
    path = short_name_aliases_file(env)
    aliases: dict[str, str] = {}
    if path.exists():
        data = _load_toml(path).get("aliases", {})
        if isinstance(data, dict):
            aliases = {str(k): str(v) for k, v in data.items()}
    aliases[name] = target
    body = "[aliases]\n" + "".join(f"  {json.dumps(k)} = {json.dumps(v)}\n" for k, v in sorted(aliases.items()))
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fsutil.atomic_write(path, body, 0o600)
    return path


def loads(text: str, name: str = "<string>") -> RegistriesConf:
    """Parse one registries.conf text (for tests and diagnostics)."""
    conf = RegistriesConf()
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ImageError(f"cannot parse {name}: {e}")
    _merge(conf, data, Path(name))
    return conf


def _config_home(env) -> Path:
    val = env.get("XDG_CONFIG_HOME")
    if val and os.path.isabs(val):
        return Path(val)
    return Path(env.get("HOME") or str(Path.home())) / ".config"


# ---------------------------------------------------------------- auth.json

def auth_files(authfile: str | None = None, env: dict[str, str] | None = None) -> list[Path]:
    env = os.environ if env is None else env
    if authfile:
        return [Path(authfile)]
    if env.get("REGISTRY_AUTH_FILE"):
        return [Path(env["REGISTRY_AUTH_FILE"])]
    files = []
    run = env.get("XDG_RUNTIME_DIR")
    if run:
        files.append(Path(run) / "containers" / "auth.json")
    files.append(_config_home(env) / "containers" / "auth.json")
    home = Path(env.get("HOME") or str(Path.home()))
    files += [home / ".docker" / "config.json", home / ".dockercfg"]
    return files


def check_authfile(authfile: str | None = None, env: dict[str, str] | None = None) -> None:
    """An auth file named by --authfile or $REGISTRY_AUTH_FILE must exist:
    a typo would otherwise surface later as "authentication required" (podman
    refuses too)."""
    env = os.environ if env is None else env
    path = authfile or env.get("REGISTRY_AUTH_FILE")
    if not path:
        return
    try:
        os.stat(path)
    except OSError as e:
        raise ImageError(f"credential file is not accessible: stat {path}: {_go_errno(e)}",
                         hint="check the --authfile path (or REGISTRY_AUTH_FILE); rl login --authfile FILE creates it")


def _go_errno(e: OSError) -> str:
    return (e.strerror or str(e)).lower()


def login_file(authfile: str | None = None, env: dict[str, str] | None = None) -> Path:
    """Where `rl login` writes: --authfile, $REGISTRY_AUTH_FILE, else the runtime dir (as podman)."""
    env = os.environ if env is None else env
    if authfile:
        return Path(authfile)
    if env.get("REGISTRY_AUTH_FILE"):
        return Path(env["REGISTRY_AUTH_FILE"])
    run = env.get("XDG_RUNTIME_DIR")
    if run:
        return Path(run) / "containers" / "auth.json"
    return _config_home(env) / "containers" / "auth.json"


_DOCKER_KEYS = ("docker.io", "index.docker.io", "registry-1.docker.io", "https://index.docker.io/v1/")


def _normalise_key(key: str) -> str:
    for scheme in ("https://", "http://"):
        if key.startswith(scheme):
            key = key[len(scheme):]
    key = key.rstrip("/")
    if key in ("index.docker.io/v1", "index.docker.io", "registry-1.docker.io"):
        return "docker.io"
    return key


def _decode(entry: dict, path: Path, key: str) -> tuple[str, str] | None:
    if not isinstance(entry, dict):
        return None
    if entry.get("auth"):
        try:
            user, _, pw = base64.b64decode(entry["auth"]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            raise ImageError(f'{path}: the "auth" of "{key}" is not valid base64 user:password')
        return user, pw
    if entry.get("username"):
        return entry["username"], entry.get("password", "")
    return None


def _read_file(path: Path) -> dict:
    try:
        with open(path) as f:
            data = json.load(f)
    except (FileNotFoundError, NotADirectoryError):
        return {}
    except (OSError, ValueError) as e:
        raise ImageError(f"cannot read {path}: {e}", hint="fix or remove the file")
    return data if isinstance(data, dict) else {}


def _read_auths(path: Path) -> dict:
    data = _read_file(path)
    if path.name == ".dockercfg":
        return data
    auths = data.get("auths", {})
    return auths if isinstance(auths, dict) else {}


def _cred_helpers(path: Path) -> dict:
    if path.name == ".dockercfg":
        return {}
    helpers = _read_file(path).get("credHelpers", {})
    return helpers if isinstance(helpers, dict) else {}


_NOT_FOUND = "credentials not found in native keychain"


def helper_credentials(helper: str, server: str) -> tuple[str, str] | None:
    """Ask `docker-credential-HELPER get` (the docker credential-helper
    protocol: the server on stdin, {"Username","Secret"} JSON on stdout), as
    podman does for an auth.json credHelpers entry."""
    import shutil
    import subprocess
    prog = f"docker-credential-{helper}"
    if not helper or "/" in helper or helper.startswith("."):
        # a name, looked up on PATH: never a path an auth file could point anywhere
        raise ImageError(f'invalid credential helper name "{helper}" for {server} in credHelpers',
                         hint="give the helper's name (docker-credential-NAME on PATH), not a path")
    exe = shutil.which(prog)
    if exe is None:
        raise ImageError(f"credential helper {prog} for {server} is not installed (or not on PATH)",
                         hint=f'install {prog}, or remove "{server}" from credHelpers in auth.json')
    try:
        from rootless import tools
        res = tools.run([exe, "get"], input=server, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise ImageError(f"credential helper {prog} for {server}: {e}")
    out = (res.stdout or "").strip()
    if res.returncode != 0:
        if _NOT_FOUND in out or _NOT_FOUND in res.stderr:
            return None
        raise ImageError(f"credential helper {prog} for {server} failed: {(out or res.stderr).strip()}")
    try:
        data = json.loads(out)
        user, secret = data.get("Username", ""), data.get("Secret", "")
    except (ValueError, AttributeError):
        raise ImageError(f"credential helper {prog} for {server} printed no JSON credentials") from None
    if not secret:
        return None
    return str(user), str(secret)


def find_credentials(repository: str, authfile: str | None = None,
                     env: dict[str, str] | None = None) -> tuple[str, str] | None:
    """(user, password) for host/path, the most specific key of the first file
    that has one; a credHelpers entry for the host in a file is asked first."""
    host = repository.split("/", 1)[0]
    for path in auth_files(authfile, env):
        helpers = _cred_helpers(path)
        helper = next((h for k, h in helpers.items() if _normalise_key(k) == host), None)
        if helper:
            cred = helper_credentials(str(helper), host)
            if cred:
                return cred
        auths = _read_auths(path)
        best, best_len = None, -1
        for key, entry in auths.items():
            k = _normalise_key(key)
            if repository == k or repository.startswith(k + "/"):
                if len(k) > best_len:
                    cred = _decode(entry, path, key)
                    if cred:
                        best, best_len = cred, len(k)
        if best:
            return best
    return None


def save_credentials(key: str, user: str, password: str, authfile: str | None = None,
                     env: dict[str, str] | None = None) -> Path:
    path = login_file(authfile, env)
    data = {}
    if path.exists():
        try:
            data = json.loads(path.read_text() or "{}")
        except ValueError as e:
            raise ImageError(f"cannot read {path}: {e}", hint="fix or remove the file")
    data.setdefault("auths", {})[key] = {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}
    _write_private(path, data)
    return path


def remove_credentials(key: str | None, authfile: str | None = None,
                       env: dict[str, str] | None = None) -> bool:
    """Remove one key (or all with key=None). True when something was removed."""
    path = login_file(authfile, env)
    auths = _read_auths(path) if path.exists() else {}
    if not auths:
        return False
    if key is None:
        removed, auths = True, {}
    else:
        matches = [k for k in auths if _normalise_key(k) == key]
        removed = bool(matches)
        for k in matches:
            del auths[k]
    data = json.loads(path.read_text() or "{}")
    data["auths"] = auths
    _write_private(path, data)
    return removed


def _write_private(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fsutil.atomic_write(path, json.dumps(data, indent="\t") + "\n", 0o600, fsync=True)


# ---------------------------------------------------------------- certs.d

def certs_dirs(host: str, cert_dir: str | None = None, env: dict[str, str] | None = None) -> list[Path]:
    """Directories holding a host's CA certificates, existing ones only."""
    env = os.environ if env is None else env
    if cert_dir:
        return [Path(cert_dir)] if Path(cert_dir).is_dir() else []
    cands = [_config_home(env) / "containers" / "certs.d" / host]
    cands += [d / host for d in SYSTEM_CERTS_DIRS]
    return [c for c in cands if c.is_dir()]


def tls_files(host: str, cert_dir: str | None = None, env: dict[str, str] | None = None
              ) -> tuple[list[Path], list[tuple[Path, Path]]]:
    """(CA files, [(client cert, key)]) for a host."""
    cas: list[Path] = []
    clients: list[tuple[Path, Path]] = []
    for d in certs_dirs(host, cert_dir, env):
        for p in sorted(d.iterdir()):
            if p.suffix == ".crt":
                cas.append(p)
            elif p.suffix == ".cert":
                key = p.with_suffix(".key")
                if not key.exists():
                    raise ImageError(f"missing key {key.name} for client certificate {p}")
                clients.append((p, key))
    return cas, clients


def config_dir() -> Path:
    return config.config_home() / "containers"
