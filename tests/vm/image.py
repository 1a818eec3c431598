"""The guest image recipe: a Debian bookworm root file system with systemd as
PID 1, a lingering user `tester` whose user@.service delegates every cgroup v2
controller rootless containers use, sshd with key auth, and a static network
for qemu's user-mode net.

Everything that decides the image's content lives in this file; the cache key
hashes it (package list, mirrors, the customize script, mmdebstrap's version),
so a change to the recipe rebuilds the image and nothing else does.

Built with mmdebstrap --mode=unshare (no root needed: only a subordinate ID
range and newuidmap) or --mode=root when run as root; all offline
configuration and `mkfs.ext4 -d` happen in one customize hook, inside
mmdebstrap's user namespace, so the image records the guest's own owners
(0, 1000, ...) rather than the host's subordinate IDs. No loop mounts.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

RECIPE_VERSION = 1
SUITE = "bookworm"
MIRRORS = [
    "deb http://deb.debian.org/debian bookworm main",
    "deb http://deb.debian.org/debian bookworm-updates main",
    "deb http://deb.debian.org/debian-security bookworm-security main",
]
PACKAGES = [
    "systemd", "systemd-sysv", "udev", "dbus", "dbus-user-session", "libpam-systemd",
    "uidmap", "fuse-overlayfs", "fuse3", "slirp4netns", "python3", "python3-venv",
    "openssh-server", "linux-image-cloud-amd64", "initramfs-tools", "iproute2", "procps",
    "kmod", "sudo",
]
IMAGE_SIZE = "3G"          # sparse: only what is written takes space
USER, UID = "tester", 1000
SUBID = "100000:65536"
DELEGATE = "cpu cpuset io memory pids"
GUEST_IP, GATEWAY = "10.0.2.15", "10.0.2.2"
# what the kernel is booted with (not baked into the image, but part of the recipe)
CMDLINE = "root=/dev/vda rw console=ttyS0 systemd.unified_cgroup_hierarchy=1 panic=-1 quiet"

STALE_AFTER = 2 * 24 * 3600   # an image of another recipe unused this long is removed

# Files of a built image directory.
BASE, KERNEL, INITRD, KEY = "base.raw", "vmlinuz", "initrd.img", "id_ed25519"

# Runs inside mmdebstrap's namespace as the guest's root: $1 = root file system,
# $2 = output directory, $3 = the host's mkfs.ext4, $4 = image size.
CUSTOMIZE = r"""
set -eu
R=$1 OUT=$2 MKFS=$3 SIZE=$4
echo vm >"$R/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 vm\n' >"$R/etc/hosts"
# a fixed machine id: no first-boot logic, and the journal has a home at once
od -An -N16 -tx1 /dev/urandom | tr -d ' \n' >"$R/etc/machine-id"; echo >>"$R/etc/machine-id"
printf '/dev/vda / ext4 rw,relatime 0 0\n' >"$R/etc/fstab"

# the unprivileged user: subordinate IDs, ssh key, lingering (what enable-linger writes)
chroot "$R" useradd --create-home --shell /bin/bash --uid @UID@ --user-group @USER@
echo "@USER@:@SUBID@" >"$R/etc/subuid"
echo "@USER@:@SUBID@" >"$R/etc/subgid"
mkdir -p "$R/var/lib/systemd/linger"
touch "$R/var/lib/systemd/linger/@USER@"
for h in root home/@USER@; do
  install -d -m 0700 "$R/$h/.ssh"
  install -m 0600 "$OUT/@KEY@.pub" "$R/$h/.ssh/authorized_keys"
done
chroot "$R" chown -R @USER@:@USER@ /home/@USER@/.ssh
printf '@USER@ ALL=(ALL) NOPASSWD: ALL\n' >"$R/etc/sudoers.d/@USER@"
chmod 0440 "$R/etc/sudoers.d/@USER@"

# delegate every controller rootless containers need to the user's manager
mkdir -p "$R/etc/systemd/system/user@.service.d"
printf '[Service]\nDelegate=@DELEGATE@\n' >"$R/etc/systemd/system/user@.service.d/delegate.conf"
# persistent journal: per-user journals, so journalctl --user works
mkdir -p "$R/var/log/journal"

# qemu user-mode net, static: the guest reaches only what the host forwards
printf '[Match]\nName=en* eth*\n[Network]\nAddress=@GUEST_IP@/24\nGateway=@GATEWAY@\nLinkLocalAddressing=no\nIPv6AcceptRA=no\n' \
  >"$R/etc/systemd/network/10-qemu-user.network"
systemctl --root="$R" enable systemd-networkd.service
systemctl --root="$R" disable systemd-networkd-wait-online.service || true
systemctl --root="$R" mask apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer \
  e2scrub_reap.service fstrim.timer man-db.timer getty@tty1.service
printf 'PasswordAuthentication no\nUseDNS no\n' >"$R/etc/ssh/sshd_config.d/10-rl-test.conf"

# a small initrd that only needs to find /dev/vda
sed -i 's/^MODULES=.*/MODULES=list/' "$R/etc/initramfs-tools/initramfs.conf"
printf 'virtio_pci\nvirtio_blk\next4\n' >>"$R/etc/initramfs-tools/modules"
chroot "$R" update-initramfs -u -k all
cp "$R"/boot/vmlinuz-* "$OUT/@KERNEL@"
cp "$R"/boot/initrd.img-* "$OUT/@INITRD@"

# the bulk of what mmdebstrap's cleanup removes later (it still needs the
# lists directory, its lock and its own files in /tmp), then the file system
rm -f "$R"/var/lib/apt/lists/*_Packages "$R"/var/lib/apt/lists/*Release "$R"/var/cache/apt/*.bin \
  "$R"/var/cache/apt/archives/*.deb
# /dev, /proc and /sys are still mounted here: copy the tree through a
# non-recursive bind mount, which shows the directories without what is mounted on them
unshare --mount sh -c 'mount --bind "$1" "$1/mnt" && exec "$2" -q -F -L root -d "$1/mnt" "$3" "$4"' \
  - "$R" "$MKFS" "$OUT/@BASE@" "$SIZE"
"""


def customize_script() -> str:
    s = CUSTOMIZE
    for k, v in dict(UID=str(UID), USER=USER, SUBID=SUBID, KEY=KEY, DELEGATE=DELEGATE,
                     GUEST_IP=GUEST_IP, GATEWAY=GATEWAY, KERNEL=KERNEL, INITRD=INITRD,
                     BASE=BASE).items():
        s = s.replace(f"@{k}@", v)
    return s


class BuildError(RuntimeError):
    pass


def _tool(name: str) -> str | None:
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")


def missing_tools() -> list[str]:
    return [t for t in ("mmdebstrap", "mkfs.ext4", "ssh-keygen") if not _tool(t)]


def recipe_key() -> str:
    """Hash of everything that decides the image: bump RECIPE_VERSION when
    build() changes what it produces."""
    mm = _tool("mmdebstrap")
    ver = subprocess.run([mm, "--version"], capture_output=True, text=True).stdout.strip() if mm else ""
    recipe = [RECIPE_VERSION, SUITE, MIRRORS, PACKAGES, IMAGE_SIZE, customize_script(), ver]
    return hashlib.sha256(json.dumps(recipe).encode()).hexdigest()[:16]


def build(out: Path, log=print) -> None:
    """Build the image into the (empty) directory `out`."""
    if missing_tools():
        raise BuildError(f"not installed: {', '.join(missing_tools())} "
                         "(apt-get install mmdebstrap e2fsprogs openssh-client)")
    t0 = time.monotonic()
    subprocess.run([_tool("ssh-keygen"), "-q", "-t", "ed25519", "-N", "", "-C", "rl-test-vm",
                    "-f", str(out / KEY)], check=True, stdin=subprocess.DEVNULL)
    hook = out / "customize.sh"
    hook.write_text(customize_script())
    # In unshare mode the hook's root is the first subordinate ID, not this
    # user: it may write only into files made writable for it beforehand.
    # (The parent directories are this user's; they are made private below.)
    for name in (BASE, KERNEL, INITRD):
        (out / name).touch()
        (out / name).chmod(0o666)
    mode = "root" if os.getuid() == 0 else "unshare"
    # inside the user namespace the output directory must be writable by the
    # mapped root: it is (namespace root is this user)
    argv = [_tool("mmdebstrap"), f"--mode={mode}", "--variant=apt", "--format=null",
            "--include=" + ",".join(PACKAGES),
            f'--customize-hook=sh -x {hook} "$1" {out} {_tool("mkfs.ext4")} {IMAGE_SIZE}',
            SUITE, "/dev/null", *MIRRORS]
    with open(out / "build.log", "wb") as f:
        res = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT,
                             env={**os.environ, "PATH": os.environ.get("PATH", "") + ":/usr/sbin:/sbin"})
    if res.returncode != 0:
        tail = (out / "build.log").read_text(errors="replace").splitlines()[-20:]
        raise BuildError(f"mmdebstrap --mode={mode} exited {res.returncode}:\n" + "\n".join(tail))
    hook.unlink()
    for name in (BASE, KERNEL, INITRD):
        if not (out / name).stat().st_size:
            raise BuildError(f"build finished without {name}; see {out / 'build.log'}")
        (out / name).chmod(0o644)
    log(f"vm image built in {time.monotonic() - t0:.1f}s ({mode} mode)")


def cache_root() -> Path:
    base = os.environ.get("RL_TEST_CACHE") or Path.home() / ".cache" / "rl-test"
    return Path(base) / "vm"


def ensure(log=print) -> Path:
    """The cached image directory for this recipe, built first if missing.

    Built in a temporary directory beside its final place and renamed in one
    step; a file lock serialises concurrent builders."""
    import fcntl
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"image-{recipe_key()}"
    if (final / BASE).is_file():
        (final / ".used").touch()
        return final
    with open(root / ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (final / BASE).is_file():
            return final
        for p in root.glob(".partial-*"):  # left by a builder that died
            shutil.rmtree(p, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(prefix=".partial-image-", dir=root))
        try:
            tmp.chmod(0o755)
            build(tmp, log)
            os.rename(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        (final / ".used").touch()
        # images of other recipes (another checkout may still use one) go
        # once unused for a while
        for p in root.glob("image-*"):
            try:
                if p != final and time.time() - (p / ".used").stat().st_mtime > STALE_AFTER:
                    shutil.rmtree(p, ignore_errors=True)
            except FileNotFoundError:
                shutil.rmtree(p, ignore_errors=True)
    return final
