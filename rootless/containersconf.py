"""containers.conf(5): the defaults podman reads for every container, read
from the same files so an admin's settings bind rl too.

Files, each overriding the keys the ones before it set (tables merge key by
key; a list replaces the list before it):
  * $CONTAINERS_CONF alone when set (it must exist);
  * else /usr/share/containers/containers.conf, its containers.conf.d/*.conf,
    /etc/containers/containers.conf, its containers.conf.d/*.conf, then the
    user's $XDG_CONFIG_HOME/containers/containers.conf and containers.conf.d/
    (drop-ins in name order, *.conf only);
  * then $CONTAINERS_CONF_OVERRIDE.

Keys rl honours are in SUPPORTED; every other key a file sets is reported
(`unsupported()`: `rl info` lists them, `--log-level debug` names each), never
ignored silently. A file that is not TOML, or a key of the wrong type, is one
error naming the file (and the line, from the TOML parser)."""

from __future__ import annotations

import os
import tomllib

from rootless import logconf
from rootless.errors import RlError
from rootless.pathlite import Path
from rootless.plain import field, record

log = logconf.logger(__name__)  # logging imported only if something is logged

SYSTEM_FILES = (Path("/usr/share/containers/containers.conf"), Path("/etc/containers/containers.conf"))


class ConfigFileError(RlError):
    """A configuration file rl reads is malformed."""


def _strings(v) -> bool:
    return isinstance(v, list) and all(isinstance(x, str) for x in v)


# key -> (type check, what it must be)
_TYPES = {
    "containers.env": (_strings, "a list of strings"),
    "containers.env_host": (lambda v: isinstance(v, bool), "true or false"),
    "containers.default_capabilities": (_strings, "a list of strings"),
    "containers.dns_servers": (_strings, "a list of strings"),
    "containers.dns_searches": (_strings, "a list of strings"),
    "containers.dns_options": (_strings, "a list of strings"),
    "containers.init": (lambda v: isinstance(v, bool), "true or false"),
    "containers.init_path": (lambda v: isinstance(v, str), "a string"),
    "containers.log_driver": (lambda v: isinstance(v, str), "a string"),
    "containers.log_size_max": (lambda v: isinstance(v, int) and not isinstance(v, bool), "an integer"),
    "containers.no_hosts": (lambda v: isinstance(v, bool), "true or false"),
    "containers.netns": (lambda v: isinstance(v, str), "a string"),
    "containers.umask": (lambda v: isinstance(v, str), "a string"),
    "network.default_rootless_network_cmd": (lambda v: isinstance(v, str), "a string"),
}


def supported_keys() -> set[str]:
    """What rl applies."""
    return set(_TYPES)


@record
class ContainersConf:
    values: dict = field(default_factory=dict)      # dotted key -> value, after the merge
    origin: dict = field(default_factory=dict)      # dotted key -> the file that set it last
    files: list[str] = field(default_factory=list)  # the files read, in order

    def get(self, key: str, default=None):
        return self.values.get(key, default)

    def unsupported(self) -> list[tuple[str, str]]:
        """(key, file) for every key set that rl does not honour."""
        ok = supported_keys()
        return sorted((k, self.origin[k]) for k in self.values if k not in ok)


def _config_home(env) -> Path:
    val = env.get("XDG_CONFIG_HOME")
    if val and os.path.isabs(val):
        return Path(val)
    return Path(env.get("HOME") or str(Path.home())) / ".config"


def _dropins(d: Path) -> list[Path]:
    try:
        return sorted(p for p in d.iterdir() if p.name.endswith(".conf") and p.is_file())
    except OSError:
        return []


def conf_files(env: dict[str, str] | None = None) -> list[Path]:
    """The files that apply, in order (existing ones only)."""
    env = os.environ if env is None else env
    out: list[Path] = []
    only = env.get("CONTAINERS_CONF")
    if only:
        if not os.path.exists(only):
            raise ConfigFileError(f"CONTAINERS_CONF file: stat {only}: no such file or directory",
                                  hint="point CONTAINERS_CONF at an existing containers.conf, or unset it")
        out.append(Path(only))
    else:
        user = _config_home(env) / "containers" / "containers.conf"
        for main in (*SYSTEM_FILES, user):
            if main.is_file():
                out.append(main)
            out += _dropins(main.parent / "containers.conf.d")
    override = env.get("CONTAINERS_CONF_OVERRIDE")
    if override:
        if not os.path.exists(override):
            raise ConfigFileError(f"CONTAINERS_CONF_OVERRIDE file: stat {override}: no such file or directory")
        out.append(Path(override))
    return out


def _flatten(data: dict, prefix: str, out: dict) -> None:
    for k, v in data.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            _flatten(v, key + ".", out)
        else:
            out[key] = v


def toml_error(e: Exception, text: str) -> str:
    """tomllib's message, with a line number even at the end of the file."""
    msg = str(e)
    if "(at end of document)" in msg:
        msg = msg.replace("(at end of document)", f"(at line {text.count(chr(10)) + 1}, the end of the file)")
    return msg


def parse(text: str, name: str) -> dict:
    """One file's keys, flattened ("containers.env": [...]), type-checked."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigFileError(f"{name}: {toml_error(e, text)}", hint="fix the TOML syntax (see containers.conf(5))") from None
    flat: dict = {}
    _flatten(data, "", flat)
    for key, v in flat.items():
        check = _TYPES.get(key)
        if check and not check[0](v):
            raise ConfigFileError(f"{name}: {key.split('.', 1)[1]} in [{key.split('.', 1)[0]}] must be {check[1]}",
                                  hint="see containers.conf(5)")
    return flat


def load(env: dict[str, str] | None = None) -> ContainersConf:
    conf = ContainersConf()
    for path in conf_files(env):
        try:
            text = path.read_text()
        except OSError as e:
            raise ConfigFileError(f"cannot read {path}: {e.strerror}") from None
        except UnicodeDecodeError:
            raise ConfigFileError(f"{path}: not UTF-8 text") from None
        conf.files.append(str(path))
        for k, v in parse(text, str(path)).items():
            conf.values[k] = v
            conf.origin[k] = str(path)
    return conf


_cached: ContainersConf | None = None
_reported = False


def current() -> ContainersConf:
    """This process's containers.conf (read once); the first call names each
    unsupported key on stderr at --log-level debug."""
    global _cached, _reported
    if _cached is None:
        _cached = load()
    if not _reported:
        _reported = True
        if log.isEnabledFor(logconf.DEBUG):
            for key, path in _cached.unsupported():
                log.debug(f"containers.conf: key {key} (set in {path}) is not supported by rl")
    return _cached


# ---------------------------------------------------------------- applying it to `rl run`

def apply_to_request(req, conf: ContainersConf | None = None) -> None:
    """Fill what the user left unset in a RunRequest from containers.conf.
    Flags always win; env stays below the image's and the user's."""
    conf = current() if conf is None else conf
    g = conf.get
    base_env: list[str] = list(g("containers.env", []))
    if g("containers.env_host", False):
        base_env += [f"{k}={v}" for k, v in os.environ.items()]
    req.default_env = base_env
    caps = g("containers.default_capabilities")
    if caps is not None:
        req.default_caps = [c.upper().removeprefix("CAP_") for c in caps]
    if not req.dns and g("containers.dns_servers"):
        req.dns = list(g("containers.dns_servers"))
    if not req.dns_search and g("containers.dns_searches"):
        req.dns_search = list(g("containers.dns_searches"))
    if not req.dns_option and g("containers.dns_options"):
        req.dns_option = list(g("containers.dns_options"))
    if g("containers.init") and not req.init:
        req.init = True
    if g("containers.init_path"):
        req.init_path = g("containers.init_path")
    if req.log_driver is None and g("containers.log_driver"):
        req.log_driver = g("containers.log_driver")
    size = g("containers.log_size_max")
    if size and size > 0 and not any(o.startswith("max-size=") for o in req.log_opt):
        req.log_opt = [*req.log_opt, f"max-size={size}"]
    if g("containers.no_hosts"):
        req.no_hosts = True
    if req.network is None:
        netns = g("containers.netns")
        cmd = g("network.default_rootless_network_cmd")
        if netns and netns not in ("private", "bridge"):
            req.network = netns
        elif cmd:
            req.network = cmd
    umask = g("containers.umask")
    if umask and hasattr(req, "umask") and not getattr(req, "umask"):
        req.umask = umask
