"""A pathlib.Path for rl's own paths that costs nothing to import.

Importing pathlib costs every rl process about 6 ms (it pulls in re,
fnmatch, urllib.parse and ipaddress), a tenth of what `rl inspect` or
`rl images` may take in all. The modules on every command's path (config,
the container and image stores) build their paths with this class instead:
the same normalisation, str(), repr(), equality, ordering and hash as
Python 3.11's PosixPath, the methods those modules call implemented over
os, and every other attribute taken from a real pathlib.Path made on
demand (importing pathlib only then). Its objects mix with pathlib's: each
accepts the other wherever a path is taken, and equal paths compare equal
either way round.

Not a pathlib subclass: isinstance(p, pathlib.Path) is False (nothing in rl
asks). Methods served by pathlib return pathlib's paths."""

from __future__ import annotations

import errno
import os
import stat as _stat

_IGNORED = (errno.ENOENT, errno.ENOTDIR, errno.EBADF, errno.ELOOP)  # pathlib's "does not exist"


def _split(text: str) -> tuple[str, list[str]]:
    """(root, parts) as PurePosixPath parses text: "//" kept as a root of
    its own (POSIX leaves it implementation-defined), "." and empty parts dropped."""
    if text.startswith("/"):
        root = "//" if text.startswith("//") and not text.startswith("///") else "/"
    else:
        root = ""
    return root, [p for p in text.split("/") if p and p != "."]


class Path:
    __slots__ = ("_root", "_parts", "_str")

    def __init__(self, *args):
        root, parts = "", []
        for a in args:
            s = a if isinstance(a, str) else os.fspath(a)
            if not isinstance(s, str):
                raise TypeError(f"argument should be a str or an os.PathLike object returning str, not {type(s)!r}")
            r, p = _split(s)
            if r:  # an absolute argument starts over, as in pathlib
                root, parts = r, p
            else:
                parts = parts + p
        self._root, self._parts = root, parts
        self._str = (root + "/".join(parts)) or "."

    # ------------------------------------------------------------ pure parts

    def __str__(self) -> str:
        return self._str

    def __fspath__(self) -> str:
        return self._str

    def __repr__(self) -> str:
        return f"PosixPath({self._str!r})"

    def __reduce__(self):
        return (Path, (self._str,))

    def _key(self) -> tuple:
        return tuple([self._root] + self._parts if self._root else self._parts)

    @staticmethod
    def _key_of(other) -> tuple | None:
        if isinstance(other, Path):
            return other._key()
        if type(other).__module__ == "pathlib":
            return tuple(other.parts)  # a posix path's parts are its _cparts, what it compares and hashes
        return None

    def __eq__(self, other):
        key = self._key_of(other)
        return NotImplemented if key is None else self._key() == key

    def __hash__(self):
        return hash(self._key())  # as 3.11's PurePosixPath: hash(tuple(_cparts))

    def __lt__(self, other):
        key = self._key_of(other)
        return NotImplemented if key is None else self._key() < key

    def __le__(self, other):
        key = self._key_of(other)
        return NotImplemented if key is None else self._key() <= key

    def __gt__(self, other):
        key = self._key_of(other)
        return NotImplemented if key is None else self._key() > key

    def __ge__(self, other):
        key = self._key_of(other)
        return NotImplemented if key is None else self._key() >= key

    def __truediv__(self, other):
        try:
            return Path(self, other)
        except TypeError:
            return NotImplemented

    def __rtruediv__(self, other):
        try:
            return Path(other, self)
        except TypeError:
            return NotImplemented

    def joinpath(self, *others) -> Path:
        return Path(self, *others)

    @property
    def parts(self) -> tuple[str, ...]:
        return self._key()

    @property
    def name(self) -> str:
        return self._parts[-1] if self._parts else ""

    @property
    def parent(self) -> Path:
        if not self._parts:
            return self
        return Path(self._root + "/".join(self._parts[:-1]))

    @property
    def suffix(self) -> str:
        name = self.name
        i = name.rfind(".")
        return name[i:] if 0 < i < len(name) - 1 else ""

    @property
    def stem(self) -> str:
        name = self.name
        i = name.rfind(".")
        return name[:i] if 0 < i < len(name) - 1 else name

    def with_name(self, name: str) -> Path:
        if not self.name:
            raise ValueError(f"{self!r} has an empty name")
        if not name or "/" in name or name == ".":
            raise ValueError(f"Invalid name {name!r}")
        return self.parent / name

    def is_absolute(self) -> bool:
        return bool(self._root)

    def as_posix(self) -> str:
        return self._str

    # --------------------------------------------------------- the file system

    @classmethod
    def home(cls) -> Path:
        return cls(os.path.expanduser("~"))

    @classmethod
    def cwd(cls) -> Path:
        return cls(os.getcwd())

    def stat(self, *, follow_symlinks: bool = True) -> os.stat_result:
        return os.stat(self._str, follow_symlinks=follow_symlinks)

    def lstat(self) -> os.stat_result:
        return os.lstat(self._str)

    def _mode(self, follow: bool = True) -> int | None:
        try:
            return os.stat(self._str, follow_symlinks=follow).st_mode
        except OSError as e:
            if e.errno not in _IGNORED:
                raise
            return None
        except ValueError:  # an embedded NUL: pathlib says False too
            return None

    def exists(self) -> bool:
        return self._mode() is not None

    def is_dir(self) -> bool:
        m = self._mode()
        return m is not None and _stat.S_ISDIR(m)

    def is_file(self) -> bool:
        m = self._mode()
        return m is not None and _stat.S_ISREG(m)

    def is_symlink(self) -> bool:
        m = self._mode(follow=False)
        return m is not None and _stat.S_ISLNK(m)

    def iterdir(self):
        for name in os.listdir(self._str):
            yield Path(self, name)

    def open(self, mode: str = "r", buffering: int = -1, encoding=None, errors=None, newline=None):
        return open(self._str, mode, buffering, encoding, errors, newline)

    def read_bytes(self) -> bytes:
        with open(self._str, "rb") as f:
            return f.read()

    def read_text(self, encoding=None, errors=None) -> str:
        with open(self._str, encoding=encoding, errors=errors) as f:
            return f.read()

    def write_bytes(self, data) -> int:
        view = memoryview(data)
        with open(self._str, "wb") as f:
            return f.write(view)

    def write_text(self, data: str, encoding=None, errors=None, newline=None) -> int:
        if not isinstance(data, str):
            raise TypeError(f"data must be str, not {type(data).__name__}")
        with open(self._str, "w", encoding=encoding, errors=errors, newline=newline) as f:
            return f.write(data)

    def mkdir(self, mode: int = 0o777, parents: bool = False, exist_ok: bool = False) -> None:
        try:
            os.mkdir(self._str, mode)
        except FileNotFoundError:
            if not parents or self.parent == self:
                raise
            self.parent.mkdir(parents=True, exist_ok=True)
            self.mkdir(mode, parents=False, exist_ok=exist_ok)
        except OSError:
            if not exist_ok or not self.is_dir():
                raise

    def touch(self, mode: int = 0o666, exist_ok: bool = True) -> None:
        if exist_ok:
            try:
                os.utime(self._str, None)
                return
            except OSError:
                pass
        flags = os.O_CREAT | os.O_WRONLY | (0 if exist_ok else os.O_EXCL)
        os.close(os.open(self._str, flags, mode))

    def chmod(self, mode: int, *, follow_symlinks: bool = True) -> None:
        os.chmod(self._str, mode, follow_symlinks=follow_symlinks)

    def unlink(self, missing_ok: bool = False) -> None:
        try:
            os.unlink(self._str)
        except FileNotFoundError:
            if not missing_ok:
                raise

    def rmdir(self) -> None:
        os.rmdir(self._str)

    def rename(self, target) -> Path:
        os.rename(self._str, target)
        return Path(target)

    def replace(self, target) -> Path:
        os.replace(self._str, target)
        return Path(target)

    def readlink(self) -> Path:
        return Path(os.readlink(self._str))

    def symlink_to(self, target, target_is_directory: bool = False) -> None:
        os.symlink(target, self._str, target_is_directory)

    def __getattr__(self, name: str):
        # glob, resolve, with_suffix, relative_to, ...: pathlib's own, on demand
        if name.startswith("_"):
            raise AttributeError(name)
        import pathlib
        return getattr(pathlib.PosixPath(self._str), name)
