"""Layer tarball -> layer directory, the on-disk format the storage drivers read.

ON-DISK FORMAT (the contract with rootless/storage; both fuse-overlayfs 1.10
and kernel overlayfs mounted in a user namespace with `userxattr` read it):

  * a layer is a plain directory tree holding exactly the layer's own
    entries, with the owners, modes, mtimes and xattrs of the tar;
  * whiteout `.wh.NAME` in the tar -> a character device 0/0 named NAME
    (the overlay whiteout; no `.wh.` files are left on disk);
  * opaque directory (`.wh..wh..opq` in the tar, wherever it appears among its
    siblings) -> the directory gets BOTH xattrs `user.overlay.opaque=y`
    (kernel overlay, userxattr) and `user.fuseoverlayfs.opaque=y`
    (fuse-overlayfs); no marker file is left on disk. Entries of the same
    layer inside an opaque directory are kept: opacity hides lower layers only;
  * device nodes other than 0/0 cannot be created rootless: they are skipped
    and listed in UnpackResult.skipped; AUFS metadata (`.wh..wh.plnk` ...) is
    dropped.

Runs inside the user namespace (see rootless.runtime.userns.run_in_userns), so
container uid N becomes host subuid start+N-1 and 0 the user; setuid bits,
hard links, symlinks, fifos, pax long names and xattrs are kept.

SAFETY: every write goes through directory fds opened component by component
with O_NOFOLLOW from the layer root's fd (openat-style; no realpath), files are
created with O_EXCL|O_NOFOLLOW, so nothing outside the root can be reached:
`..` escaping the root, a symlink planted by an earlier entry then written
through, or a hard link to a file outside all fail the layer with ImageError.
Absolute names are taken relative to the root.

SPEED: a small tar reader of our own (tarfile costs ~5x GNU tar):
decompression (zlib / zstandard, both release the GIL) and the diff_id sha256
run in a separate thread feeding big chunks; file data goes straight from
those chunks to os.write; directory fds are cached; directory modes and mtimes
are applied once at the end (so a 0555 directory cannot block later writes)."""

from __future__ import annotations

import errno
import hashlib
import os
import queue
import stat
import threading
import time
import zlib

from rootless.errors import ImageError
from rootless.plain import field, record

WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"
AUFS_META = (".wh..wh.plnk", ".wh..wh.aufs", ".wh..wh.orph")
OPAQUE_XATTRS = ("user.overlay.opaque", "user.fuseoverlayfs.opaque")

CHUNK_IN = 1 << 20
CHUNK_OUT = 4 << 20
_QUEUE_DEPTH = 8
_FD_CACHE_MAX = 400

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC

_ZERO_BLOCK = bytes(512)
GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


@record
class UnpackResult:
    diff_id: str                 # sha256:<hex> of the uncompressed tar
    tar_size: int                # bytes of the uncompressed tar
    size: int                    # bytes of regular file content
    entries: int
    skipped: list[str] = field(default_factory=list)   # "path: reason"
    current: str = ""            # the entry being written (for error messages)


class LayerUnsafe(ImageError):
    """A layer entry tried to reach outside the layer root."""


# ------------------------------------------------------------------ pure rules

def clean_name(name: str) -> list[str]:
    """Tar entry name -> path components under the root. Leading "/" and "./"
    are dropped, "." removed, ".." resolved lexically; raises LayerUnsafe when
    the path climbs above the root. [] is the root itself."""
    if name.startswith("./"):
        name = name[2:]
    if "//" not in name and "/./" not in name and ".." not in name and not name.startswith(("/", "./")):
        parts = name.rstrip("/").split("/")
        if parts[-1] != "." and parts[0]:
            return parts
        if parts == [""] or parts == ["."]:
            return []
    parts = []
    for comp in name.split("/"):
        if comp in ("", "."):
            continue
        if comp == "..":
            if not parts:
                raise LayerUnsafe(f'layer entry "{name}" points outside the layer root',
                                  hint="the image is malformed or malicious; rl refuses it")
            parts.pop()
            continue
        parts.append(comp)
    return parts


def whiteout_kind(basename: str) -> tuple[str, str | None]:
    """("opaque", None), ("whiteout", victim), ("aufs", None) or ("plain", None)."""
    if basename == OPAQUE_MARKER:
        return "opaque", None
    if basename in AUFS_META or basename.startswith(".wh..wh."):
        return "aufs", None
    if basename.startswith(WHITEOUT_PREFIX):
        victim = basename[len(WHITEOUT_PREFIX):]
        if victim in ("", ".", ".."):
            raise LayerUnsafe(f'invalid whiteout "{basename}"')
        return "whiteout", victim
    return "plain", None


def detect_compression(head: bytes) -> str:
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(ZSTD_MAGIC):
        return "zstd"
    return "none"


MAX_SPECIAL = 1 << 20   # pax / GNU long-name / long-link headers (Go's archive/tar: the same)
_MAX_INT64 = (1 << 63) - 1
_OCTAL = frozenset(b"01234567")
_FIELDS = {(100, 108): "mode", (108, 116): "uid", (116, 124): "gid", (124, 136): "size",
           (136, 148): "mtime", (148, 156): "checksum", (329, 337): "devmajor", (337, 345): "devminor"}


class TarFormatError(ImageError):
    """A tar header the layer cannot be read with (malformed, not malicious)."""

    def __init__(self, message: str, hint: str | None = None, exit_code: int | None = None):
        super().__init__(message, hint or "the image is malformed or malicious; rl refuses it", exit_code)


def _num(field: bytes, what: str = "numeric", signed: bool = True) -> int:
    """A tar numeric field: octal text (NUL/space padded), or GNU base-256 when
    the high bit is set. Anything else, a negative value where none is allowed,
    or one past int64 is a TarFormatError (never a ValueError)."""
    if field and field[0] & 0x80:
        val = int.from_bytes(field[1:], "big")
        if field[0] == 0xFF:  # negative
            val -= 1 << (8 * (len(field) - 1))
        elif field[0] != 0x80:
            raise TarFormatError(f"corrupt layer: invalid base-256 {what} field in a tar header")
    else:
        text = field.split(b"\0", 1)[0].strip(b" ")
        if text and not set(text) <= _OCTAL:
            raise TarFormatError(f"corrupt layer: invalid {what} field {text[:24]!r} in a tar header")
        val = int(text, 8) if text else 0
    if val < 0 and not signed:
        raise TarFormatError(f"corrupt layer: negative {what} in a tar header")
    if not -_MAX_INT64 - 1 <= val <= _MAX_INT64:
        raise TarFormatError(f"corrupt layer: {what} out of range in a tar header")
    return val


def _pax_int(pax: dict, key: str, name: str) -> int:
    val = pax[key]
    if not (isinstance(val, str) and 0 < len(val) <= 19 and val.isascii() and val.isdigit()) \
            or int(val) > _MAX_INT64:
        raise TarFormatError(f'corrupt layer: invalid pax {key} {str(val)[:24]!r} for "{name[:200]}"')
    return int(val)


_MAX_ID = 0xFFFFFFFE  # 0xFFFFFFFF is chown's "leave unchanged"


def _owner(val: int, what: str, name: str) -> int:
    if val > _MAX_ID:
        raise TarFormatError(f'corrupt layer: {what} {val} out of range for "{name[:200]}"')
    return val


def _str(field: bytes) -> str:
    return field.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")


def parse_pax(data: bytes) -> dict[str, str]:
    """Pax extended header records "LEN key=value\\n"; a malformed record is
    a TarFormatError."""
    out: dict[str, str] = {}
    pos = 0
    while pos < len(data):
        if data[pos] == 0:
            break
        sp = data.find(b" ", pos, pos + 21)
        digits = data[pos:sp] if sp > pos else b""
        if not digits or not set(digits) <= _DECIMAL:
            raise TarFormatError("corrupt layer: malformed pax header record")
        length = int(digits)
        end = pos + length
        if length <= sp + 1 - pos or end > len(data) or data[end - 1:end] != b"\n":
            raise TarFormatError("corrupt layer: malformed pax header record")
        rec = data[sp + 1:end - 1]
        key, eq, val = rec.partition(b"=")
        if not eq or not key:
            raise TarFormatError("corrupt layer: malformed pax header record")
        k = key.decode("utf-8", "surrogateescape")
        # xattr values are binary; names are text
        out[k] = val if k.startswith(("SCHILY.xattr.", "LIBARCHIVE.xattr.")) else val.decode(
            "utf-8", "surrogateescape")
        pos = end
    return out


_DECIMAL = frozenset(b"0123456789")


# ------------------------------------------------------------------ streaming

class _Producer(threading.Thread):
    """Reads the blob, decompresses, hashes, and hands out big chunks."""

    def __init__(self, src_fd: int, compression: str, follow: str | None = None):
        super().__init__(daemon=True, name="rl-decompress")
        self.src_fd = src_fd
        self.follow = follow
        self.compression = compression
        self.q: queue.Queue = queue.Queue(maxsize=_QUEUE_DEPTH)
        self.hash = hashlib.sha256()
        self.size = 0
        self.stop = False

    def _emit(self, chunk: bytes) -> None:
        if not chunk:
            return
        self.hash.update(chunk)
        self.size += len(chunk)
        while not self.stop:
            try:
                self.q.put(chunk, timeout=0.5)
                return
            except queue.Full:
                continue

    def _read(self, n: int) -> bytes:
        data = os.read(self.src_fd, n)
        if data or self.follow is None:
            return data
        # the blob is still being downloaded: wait for more, or for the end marker
        while not self.stop:
            if os.path.exists(self.follow):
                return os.read(self.src_fd, n)
            time.sleep(0.005)
            data = os.read(self.src_fd, n)
            if data:
                return data
        return b""

    def read(self, n: int = -1) -> bytes:  # file-like, for zstandard's stream_reader
        return self._read(CHUNK_IN if n is None or n < 0 else n)

    def run(self) -> None:
        try:
            if self.compression == "gzip":
                self._gunzip()
            elif self.compression == "zstd":
                self._unzstd()
            else:
                while not self.stop:
                    data = self._read(CHUNK_OUT)
                    if not data:
                        break
                    self._emit(data)
            self._put_final(None)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            self._put_final(exc)

    def _put_final(self, item) -> None:
        while not self.stop:
            try:
                self.q.put(item, timeout=0.5)
                return
            except queue.Full:
                continue

    def _gunzip(self) -> None:
        d = zlib.decompressobj(zlib.MAX_WBITS | 32)
        while not self.stop:
            data = self._read(CHUNK_IN)
            if not data:
                break
            while data and not self.stop:
                if d.eof:
                    if not data.strip(b"\0"):
                        break  # zero padding after the last member
                    d = zlib.decompressobj(zlib.MAX_WBITS | 32)  # another gzip member
                self._emit(d.decompress(data, CHUNK_OUT))
                data = d.unused_data if d.eof else d.unconsumed_tail
        if not d.eof and not self.stop:
            raise ImageError("layer is truncated (gzip stream ends early)")

    def _unzstd(self) -> None:
        try:
            import zstandard
        except ImportError:
            raise ImageError("zstd-compressed layer but the zstandard module is missing",
                             hint="pip install zstandard") from None
        dctx = zstandard.ZstdDecompressor()
        frames = _ZstdFrames()
        src = _Tap(self, frames.feed)
        reader = dctx.stream_reader(src, read_size=CHUNK_IN, read_across_frames=True)
        while not self.stop:
            try:
                out = reader.read(CHUNK_OUT)
            except zstandard.ZstdError as e:
                raise ImageError(f"corrupt zstd layer: {e}") from None
            if not out:
                break
            self._emit(out)
        if not self.stop and not frames.complete():
            # python-zstandard ends quietly at the end of the input, even mid-frame
            raise ImageError("layer is truncated (zstd stream ends early)")


class _Tap:
    """A file-like reader that shows every chunk read to `see`."""

    def __init__(self, src, see):
        self.src, self.see = src, see

    def read(self, n: int = -1) -> bytes:
        data = self.src.read(n)
        self.see(data)
        return data


class _ZstdFrames:
    """Walks the frame and block headers of a zstd stream (RFC 8878) without
    decompressing, to tell a complete stream from a truncated one."""

    def __init__(self):
        self.buf = b""
        self.skip = 0            # bytes of block content (or a skippable frame) still to pass
        self.state = "magic"     # magic | header | block | checksum
        self.need = 4
        self.frames = 0
        self.checksum = False
        self.last = False

    def feed(self, data: bytes) -> None:
        pos, n = 0, len(data)
        while pos < n:
            if self.skip:
                k = min(self.skip, n - pos)
                self.skip -= k
                pos += k
                continue
            k = min(self.need - len(self.buf), n - pos)
            self.buf += data[pos:pos + k]
            pos += k
            if len(self.buf) < self.need:
                return
            self._step()

    def _step(self) -> None:
        b, self.buf = self.buf, b""
        if self.state == "magic":
            magic = int.from_bytes(b[:4], "little")
            if magic == 0xFD2FB528:
                self.state, self.need = "fhd", 1
            elif magic & 0xFFFFFFF0 == 0x184D2A50:
                self.state, self.need = "skipsize", 4
            else:
                raise ImageError("corrupt zstd layer: bad frame magic")
        elif self.state == "skipsize":
            self.skip = int.from_bytes(b, "little")
            self.state, self.need = "magic", 4
            self.frames += 1
            if not self.skip:
                return
        elif self.state == "fhd":
            fhd = b[0]
            fcs_flag, single, self.checksum, did_flag = fhd >> 6, (fhd >> 5) & 1, bool(fhd & 4), fhd & 3
            rest = (0 if single else 1) + (0, 1, 2, 4)[did_flag] + (
                (1 if single else 0), 2, 4, 8)[fcs_flag]
            self.state, self.need = "block", 3
            if rest:
                self.skip = rest
        elif self.state == "block":
            hdr = int.from_bytes(b, "little")
            last, btype, size = hdr & 1, (hdr >> 1) & 3, hdr >> 3
            if btype == 3:
                raise ImageError("corrupt zstd layer: reserved block type")
            self.skip = 1 if btype == 1 else size
            if last:
                self.state, self.need = ("checksum", 4) if self.checksum else ("magic", 4)
                if not self.checksum:
                    self.frames += 1
            else:
                self.need = 3
        elif self.state == "checksum":
            self.state, self.need = "magic", 4
            self.frames += 1

    def complete(self) -> bool:
        return self.frames > 0 and self.state == "magic" and not self.buf and not self.skip


class _Reader:
    def __init__(self, producer: _Producer):
        self.p = producer
        self.buf = b""
        self.mv = memoryview(b"")
        self.pos = 0
        self.eof = False

    def _next(self) -> bool:
        item = self.p.q.get()
        if item is None:
            self.eof = True
            return False
        if isinstance(item, BaseException):
            self.eof = True
            if isinstance(item, zlib.error):
                raise ImageError(f"corrupt gzip layer: {item}")
            raise item
        self.buf = item
        self.mv = memoryview(item)
        self.pos = 0
        return True

    def read(self, n: int) -> bytes:
        end = self.pos + n
        if end <= len(self.buf):
            out = self.buf[self.pos:end]
            self.pos = end
            return out
        parts = [self.buf[self.pos:]]
        need = n - len(parts[0])
        self.pos = len(self.buf)
        while need > 0:
            if self.eof or not self._next():
                raise ImageError("layer is truncated (tar stream ends inside an entry)")
            take = self.buf[:need]
            parts.append(take)
            self.pos = len(take)
            need -= len(take)
        return b"".join(parts)

    def header(self) -> bytes | None:
        """The next 512-byte block, or None at the clean end of the stream."""
        if self.pos >= len(self.buf) and (self.eof or not self._next()):
            return None
        return self.read(512)

    def copy(self, fd: int, n: int) -> None:
        while n > 0:
            if self.pos >= len(self.buf):
                if self.eof or not self._next():
                    raise ImageError("layer is truncated (tar stream ends inside a file)")
            k = min(len(self.buf) - self.pos, n)
            view = self.mv[self.pos:self.pos + k]
            while view:
                w = os.write(fd, view)
                view = view[w:]
            self.pos += k
            n -= k

    def skip(self, n: int) -> None:
        while n > 0:
            if self.pos >= len(self.buf):
                if self.eof or not self._next():
                    raise ImageError("layer is truncated (tar stream ends early)")
            k = min(len(self.buf) - self.pos, n)
            self.pos += k
            n -= k

    def drain(self) -> None:
        """Consume the rest (the diff_id covers every byte, padding included)."""
        while not self.eof:
            self._next()


# ------------------------------------------------------------------ the writer

class _Tree:
    """Directory fds under the root, opened without following symlinks."""

    def __init__(self, root_fd: int):
        self.root = root_fd
        self.cache: dict[tuple[str, ...], int] = {(): root_fd}

    def close(self) -> None:
        for key, fd in self.cache.items():
            if key:
                os.close(fd)
        self.cache = {(): self.root}

    def forget(self) -> None:
        self.close()

    def dir(self, parts: tuple[str, ...] | list[str], create: bool = True) -> int:
        parts = tuple(parts)
        fd = self.cache.get(parts)
        if fd is not None:
            return fd
        # the longest cached prefix
        i = len(parts) - 1
        while i > 0 and parts[:i] not in self.cache:
            i -= 1
        cur = self.cache[parts[:i]]
        if len(self.cache) > _FD_CACHE_MAX:
            keep = {k: v for k, v in self.cache.items() if k == parts[:i] or not k}
            for k, v in self.cache.items():
                if k not in keep:
                    os.close(v)
            self.cache = keep
        for j in range(i, len(parts)):
            name = parts[j]
            try:
                nfd = os.open(name, _DIR_FLAGS, dir_fd=cur)
            except FileNotFoundError:
                if not create:
                    raise
                os.mkdir(name, 0o755, dir_fd=cur)
                nfd = os.open(name, _DIR_FLAGS, dir_fd=cur)
            except OSError as e:
                st = None
                if e.errno == errno.ENOTDIR and create:
                    st = os.stat(name, dir_fd=cur, follow_symlinks=False)
                if st is not None and (stat.S_ISREG(st.st_mode) or stat.S_ISCHR(st.st_mode)
                                       or stat.S_ISFIFO(st.st_mode)):
                    # a file or whiteout earlier in this layer, now a directory's
                    # parent: the later entry wins, as tar's order says
                    os.unlink(name, dir_fd=cur)
                    os.mkdir(name, 0o755, dir_fd=cur)
                    nfd = os.open(name, _DIR_FLAGS, dir_fd=cur)
                elif e.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise LayerUnsafe(
                        f'layer entry under "{"/".join(parts[:j + 1])}" would be written through a '
                        f"symlink or a non-directory", hint="the image is malformed or malicious; rl refuses it"
                    ) from None
                else:
                    raise
            self.cache[parts[:j + 1]] = nfd
            cur = nfd
        return cur


def _remove(dfd: int, name: str, tree: _Tree) -> None:
    """Remove whatever is at name (no symlink following); directories recursively."""
    try:
        st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        _rmtree_at(dfd, name)
        tree.forget()  # cached fds below name are stale; callers re-open their parent
    else:
        os.unlink(name, dir_fd=dfd)


def _rmtree_at(dfd: int, name: str) -> None:
    fd = os.open(name, _DIR_FLAGS, dir_fd=dfd)
    try:
        for entry in os.scandir(fd):
            if entry.is_dir(follow_symlinks=False):
                _rmtree_at(fd, entry.name)
            else:
                os.unlink(entry.name, dir_fd=fd)
    finally:
        os.close(fd)
    os.rmdir(name, dir_fd=dfd)


def unpack(src: str, dest: str, lowers: list[str] | None = None, follow: str | None = None) -> UnpackResult:
    """Unpack the layer blob at `src` (gzip, zstd or plain tar, detected by
    magic) into the existing, empty directory `dest`. `lowers` are the
    unpacked layers below, top first: a hard link whose target is not in this
    layer gets a copy of the file from there. With `follow`, `src` is still
    being written (a download): reading waits for more until the file
    `follow` exists. Call it as root of the user namespace."""
    os.umask(0)
    src_fd = os.open(src, os.O_RDONLY | os.O_CLOEXEC)
    try:
        head = os.pread(src_fd, 4, 0)
        while follow and len(head) < 4 and not os.path.exists(follow):
            time.sleep(0.005)
            head = os.pread(src_fd, 4, 0)
        if follow and len(head) < 4:
            head = os.pread(src_fd, 4, 0)
        producer = _Producer(src_fd, detect_compression(head), follow)
        producer.start()
        root_fd = os.open(dest, _DIR_FLAGS)
        tree = _Tree(root_fd)
        try:
            reader = _Reader(producer)
            res = UnpackResult("", 0, 0, 0)
            try:
                _extract(reader, tree, lowers or [], res)
                reader.drain()
            except OSError as e:
                raise _os_error(e, res.current) from None
            except (ValueError, OverflowError) as e:  # a hostile header rl did not foresee: still one line
                raise TarFormatError(f'corrupt layer: entry "{res.current[:200]}": {e}') from None
            finally:
                _stop(producer)
        finally:
            tree.close()
            os.close(root_fd)
    finally:
        os.close(src_fd)
    res.diff_id = "sha256:" + producer.hash.hexdigest()
    res.tar_size = producer.size
    res.current = ""
    return res


def _stop(producer: "_Producer") -> None:
    producer.stop = True
    while producer.is_alive():  # unblock the producer if it waits on a full queue
        try:
            producer.q.get(timeout=0.1)
        except queue.Empty:
            pass
    producer.join()


def blob_diff_id(src: str) -> str:
    """The diff_id (sha256 of the uncompressed tar) of a layer blob, without
    unpacking it: what checks that a blob really is a layer the store holds."""
    src_fd = os.open(src, os.O_RDONLY | os.O_CLOEXEC)
    try:
        producer = _Producer(src_fd, detect_compression(os.pread(src_fd, 4, 0)))
        producer.start()
        try:
            _Reader(producer).drain()
        finally:
            _stop(producer)
    finally:
        os.close(src_fd)
    return "sha256:" + producer.hash.hexdigest()


def _os_error(e: OSError, entry: str) -> ImageError:
    what = f'layer entry "{entry}": {e.strerror or e}'
    if e.errno == errno.EINVAL and entry:
        return ImageError(f"{what} (an owner outside the mapped IDs?)",
                          hint="the image needs more subordinate IDs: give the user a 65536-ID range in "
                               "/etc/subuid and /etc/subgid")
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        return ImageError(f"{what}: the disk is full", hint="free space under the rl storage root")
    return ImageError(what)


def _extract(r: _Reader, tree: _Tree, lowers: list[str], res: UnpackResult) -> UnpackResult:
    dirs: dict[tuple[str, ...], tuple[int, int, int, int]] = {}
    long_name: str | None = None
    long_link: str | None = None
    pax: dict[str, str] = {}
    zero_blocks = 0
    while True:
        hdr = r.header()
        if hdr is None:
            break
        if hdr == _ZERO_BLOCK:
            zero_blocks += 1
            if zero_blocks == 2:
                break
            continue
        zero_blocks = 0
        try:
            chk = _num(hdr[148:156], "checksum", signed=False)
        except TarFormatError:
            chk = -1
        if chk != sum(hdr) - sum(hdr[148:156]) + 256:
            raise TarFormatError("corrupt layer: bad tar header checksum")
        typ = hdr[156:157]
        size = _num(hdr[124:136], "size", signed=False)
        padded = (size + 511) & ~511
        if typ in (b"x", b"g", b"L", b"K"):
            if size > MAX_SPECIAL:
                what = {b"x": "pax", b"g": "global pax", b"L": "GNU long-name", b"K": "GNU long-link"}[typ]
                raise TarFormatError(f"corrupt layer: a {what} header of {size} bytes "
                                     f"(more than the {MAX_SPECIAL >> 20} MiB allowed)")
            data = r.read(padded)[:size]
            if typ == b"x":
                pax = parse_pax(data)
            elif typ == b"L":
                long_name = data.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
            elif typ == b"K":
                long_link = data.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
            continue  # global pax headers are ignored
        name = _str(hdr[0:100])
        if hdr[257:263] == b"ustar\0":
            prefix = _str(hdr[345:500])
            if prefix:
                name = f"{prefix}/{name}"
        if long_name is not None:
            name, long_name = long_name, None
        linkname = _str(hdr[157:257])
        if long_link is not None:
            linkname, long_link = long_link, None
        mode = _num(hdr[100:108], "mode", signed=False)
        uid = _num(hdr[108:116], "uid", signed=False)
        gid = _num(hdr[116:124], "gid", signed=False)
        mtime_ns = _mtime_ns(_num(hdr[136:148], "mtime", signed=True))
        xattrs = None
        if pax:
            name = pax.get("path", name)
            linkname = pax.get("linkpath", linkname)
            if "size" in pax:
                size = _pax_int(pax, "size", name)
                padded = (size + 511) & ~511
            if "uid" in pax:
                uid = _pax_int(pax, "uid", name)
            if "gid" in pax:
                gid = _pax_int(pax, "gid", name)
            if "mtime" in pax:
                mtime_ns = _pax_time(pax["mtime"])
            xattrs = {k.split(".", 2)[2]: v for k, v in pax.items()
                      if k.startswith(("SCHILY.xattr.", "LIBARCHIVE.xattr."))} or None
            if any(k.startswith("GNU.sparse.") for k in pax):
                raise ImageError(f'layer entry "{name}" is a sparse file, which rl does not support')
            pax = {}
        uid, gid = _owner(uid, "uid", name), _owner(gid, "gid", name)
        if "\0" in name or "\0" in linkname:
            raise TarFormatError(f"corrupt layer: a NUL byte in the name of entry {name[:200]!r}")
        res.entries += 1
        res.current = name
        try:
            parts = clean_name(name)
        except LayerUnsafe:
            raise
        if typ == b"S":
            raise ImageError(f'layer entry "{name}" is a GNU sparse file, which rl does not support')
        if not parts:  # the root itself
            if typ == b"5":
                dirs[()] = (mode, uid, gid, mtime_ns)
            r.skip(padded)
            continue
        base = parts[-1]
        kind, victim = whiteout_kind(base)
        if kind != "plain":
            r.skip(padded)
            pfd = tree.dir(parts[:-1])
            if kind == "opaque":
                for xa in OPAQUE_XATTRS:
                    os.setxattr(pfd, xa, b"y")
            elif kind == "whiteout":
                _remove(pfd, victim, tree)
                pfd = tree.dir(parts[:-1])
                os.mknod(victim, stat.S_IFCHR | 0o000, os.makedev(0, 0), dir_fd=pfd)
            continue
        pfd = tree.dir(parts[:-1])
        perm = mode & 0o7777
        if typ in (b"0", b"\0", b"7"):
            try:
                fd = os.open(base, _FILE_FLAGS, perm & 0o777, dir_fd=pfd)
            except FileExistsError:
                _remove(pfd, base, tree)
                pfd = tree.dir(parts[:-1])
                fd = os.open(base, _FILE_FLAGS, perm & 0o777, dir_fd=pfd)
            try:
                if size:
                    r.copy(fd, size)
                    r.skip(padded - size)
                if uid or gid:
                    os.fchown(fd, uid, gid)
                if perm & 0o7000:
                    os.fchmod(fd, perm)
                if xattrs:
                    _xattrs(fd, xattrs, name, res)
                os.utime(fd, ns=(mtime_ns, mtime_ns))
            finally:
                os.close(fd)
            res.size += size
        elif typ == b"5":
            t = tuple(parts)
            try:
                os.mkdir(base, 0o700, dir_fd=pfd)
            except FileExistsError:
                st = os.stat(base, dir_fd=pfd, follow_symlinks=False)
                if not stat.S_ISDIR(st.st_mode):
                    _remove(pfd, base, tree)
                    pfd = tree.dir(parts[:-1])
                    os.mkdir(base, 0o700, dir_fd=pfd)
            if uid or gid:
                os.chown(base, uid, gid, dir_fd=pfd, follow_symlinks=False)
            if xattrs:
                dfd = tree.dir(t)
                _xattrs(dfd, xattrs, name, res)
            dirs[t] = (perm, uid, gid, mtime_ns)
            r.skip(padded)
        elif typ == b"2":
            r.skip(padded)
            try:
                os.symlink(linkname, base, dir_fd=pfd)
            except FileExistsError:
                _remove(pfd, base, tree)
                pfd = tree.dir(parts[:-1])
                os.symlink(linkname, base, dir_fd=pfd)
            if uid or gid:
                os.chown(base, uid, gid, dir_fd=pfd, follow_symlinks=False)
            os.utime(base, ns=(mtime_ns, mtime_ns), dir_fd=pfd, follow_symlinks=False)
        elif typ == b"1":
            r.skip(padded)
            tparts = clean_name(linkname)
            if not tparts:
                raise LayerUnsafe(f'hard link "{name}" points at the layer root')
            if tparts == parts:
                continue
            pfd = tree.dir(parts[:-1])
            _remove(pfd, base, tree)
            pfd = tree.dir(parts[:-1])
            try:
                tfd = tree.dir(tparts[:-1], create=False)
                os.link(tparts[-1], base, src_dir_fd=tfd, dst_dir_fd=pfd, follow_symlinks=False)
            except (FileNotFoundError, NotADirectoryError):
                # the target lives in a lower layer: copy it up (a layer cannot link across)
                if not _copy_from_lower(lowers, tparts, pfd, base):
                    raise ImageError(f'hard link "{name}" points at "{linkname}", which is not in the image',
                                     hint="the image is malformed") from None
        elif typ == b"6":
            r.skip(padded)
            _remove(pfd, base, tree)
            pfd = tree.dir(parts[:-1])
            os.mkfifo(base, perm & 0o777, dir_fd=pfd)
            if uid or gid:
                os.chown(base, uid, gid, dir_fd=pfd, follow_symlinks=False)
            if perm & 0o7000:
                os.chmod(base, perm, dir_fd=pfd, follow_symlinks=True)
            os.utime(base, ns=(mtime_ns, mtime_ns), dir_fd=pfd, follow_symlinks=False)
        elif typ in (b"3", b"4"):
            r.skip(padded)
            major = _num(hdr[329:337], "devmajor", signed=False)
            minor = _num(hdr[337:345], "devminor", signed=False)
            if typ == b"3" and major == 0 and minor == 0:
                _remove(pfd, base, tree)
                pfd = tree.dir(parts[:-1])
                os.mknod(base, stat.S_IFCHR, os.makedev(0, 0), dir_fd=pfd)  # already a whiteout
            else:
                kind = "char" if typ == b"3" else "block"
                res.skipped.append(f"/{'/'.join(parts)}: {kind} device {major}:{minor} "
                                   f"cannot be created rootless")
        else:
            r.skip(padded)
            res.skipped.append(f"/{'/'.join(parts)}: unsupported tar entry type {typ!r}")
    # directory modes and mtimes last, deepest first
    for t in sorted(dirs, key=len, reverse=True):
        perm, uid, gid, mtime_ns = dirs[t]
        try:
            dfd = tree.dir(t, create=False)
        except (FileNotFoundError, LayerUnsafe):
            continue  # replaced by a later entry
        if not t and (uid or gid):
            os.fchown(dfd, uid, gid)
        os.fchmod(dfd, perm)
        os.utime(dfd, ns=(mtime_ns, mtime_ns))
    return res


def _open_lower(root: str, parts: list[str]) -> int | None:
    """A directory fd for parts under a lower layer, never following symlinks;
    None when absent (or hidden by a whiteout)."""
    fd = os.open(root, _DIR_FLAGS)
    for comp in parts:
        try:
            nfd = os.open(comp, _DIR_FLAGS, dir_fd=fd)
        except OSError as e:
            os.close(fd)
            if e.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
                return None
            raise
        os.close(fd)
        fd = nfd
    return fd


def _copy_from_lower(lowers: list[str], tparts: list[str], pfd: int, base: str) -> bool:
    for root in lowers:
        dfd = _open_lower(root, tparts[:-1])
        if dfd is None:
            continue
        try:
            try:
                st = os.stat(tparts[-1], dir_fd=dfd, follow_symlinks=False)
            except FileNotFoundError:
                continue
            if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                return False  # whited out
            if stat.S_ISLNK(st.st_mode):
                os.symlink(os.readlink(tparts[-1], dir_fd=dfd), base, dir_fd=pfd)
                os.chown(base, st.st_uid, st.st_gid, dir_fd=pfd, follow_symlinks=False)
                return True
            if not stat.S_ISREG(st.st_mode):
                return False
            src = os.open(tparts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dfd)
            try:
                dst = os.open(base, _FILE_FLAGS, 0o600, dir_fd=pfd)
                try:
                    left = st.st_size
                    while left > 0:
                        n = os.copy_file_range(src, dst, left)
                        if n == 0:
                            break
                        left -= n
                    os.fchown(dst, st.st_uid, st.st_gid)
                    os.fchmod(dst, stat.S_IMODE(st.st_mode))
                    os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns))
                finally:
                    os.close(dst)
            finally:
                os.close(src)
            return True
        finally:
            os.close(dfd)
    return False


def _pax_time(val: str) -> int:
    """A pax time ("-?SECONDS[.FRACTION]") in ns; TarFormatError when malformed."""
    sec, _, frac = val.partition(".")
    digits = sec[1:] if sec.startswith("-") else sec
    if not (digits.isascii() and digits.isdigit() and len(digits) <= 12
            and (not frac or (frac.isascii() and frac.isdigit()))):
        raise TarFormatError(f"corrupt layer: invalid pax time {val[:32]!r}")
    ns = int(sec) * 1_000_000_000
    if frac:
        frac = (frac + "000000000")[:9]
        ns += int(frac) if not sec.startswith("-") else -int(frac)
    return ns


def _mtime_ns(sec: int) -> int:
    if abs(sec) > 10 ** 12:  # 30,000 years: past what any filesystem stores
        raise TarFormatError(f"corrupt layer: mtime {sec} out of range in a tar header")
    return sec * 1_000_000_000


def _xattrs(fd: int, xattrs: dict, name: str, res: UnpackResult) -> None:
    for key, val in xattrs.items():
        if key.startswith("trusted.") or key.startswith(("user.overlay.", "user.fuseoverlayfs.")):
            res.skipped.append(f"{name}: xattr {key} not kept")
            continue
        if isinstance(val, str):
            val = val.encode("utf-8", "surrogateescape")
        try:
            os.setxattr(fd, key, val)
        except ValueError:  # a NUL in the name
            res.skipped.append(f"{name}: xattr {key!r} is not a valid name")
        except OSError as e:
            res.skipped.append(f"{name}: xattr {key}: {e.strerror}")


def remove_tree(path: str) -> None:
    """Remove a layer tree (call it in the user namespace: the files belong to subuids)."""
    import shutil

    def onerror(func, p, exc_info):
        exc = exc_info[1]
        if isinstance(exc, FileNotFoundError):
            return
        if isinstance(exc, PermissionError):
            try:
                os.chmod(os.path.dirname(p), 0o700)
                func(p)
                return
            except OSError:
                pass
        raise exc

    if os.path.lexists(path):
        shutil.rmtree(path, onerror=onerror)
