"""Security, `rl cp` (threat: a hostile container against the user who runs
rl). Both sides of a copy run in user namespaces where the user's own files
are writable, so a symlink the container planted in the destination (an
earlier copy brought it there) or swaps in while cp runs (a volume it
shares with the host: CVE-2018-15664's rename-exchange race) must never be
followed to one of the user's files, neither to write (container -> host)
nor to read (host -> container).

The races are real: a loop in the container swaps a directory or file with
a symlink to a host path through renameat2(RENAME_EXCHANGE) as fast as it
can, while the host copies a bounded number of times."""

from __future__ import annotations

import os
import platform
import stat

import pytest

from tests.integration.test_lifecycle import run_d, until

pytestmark = [pytest.mark.userns, pytest.mark.fuse]

RENAMEAT2 = {"x86_64": 316, "aarch64": 276}.get(platform.machine())
ROUNDS = 30  # cp runs against a racing container




def _ready(rl, name: str) -> None:
    assert until(lambda: rl.run("exec", name, "test", "-e", "/ready").returncode == 0, timeout=60)


def _untouched_dir(path, mode: int) -> None:
    assert os.listdir(path) == [], f"written through a planted symlink: {os.listdir(path)}"
    assert stat.S_IMODE(os.stat(path).st_mode) == mode, "mode changed through a planted symlink"


def test_cp_from_container_does_not_follow_planted_symlink(rlc, rootfs, tmp_path):
    """A first copy brings the container's symlink dir/sub -> HOSTDIR (a
    symlink is copied as a symlink, as podman does); the container then makes
    dir/sub a directory. Copying dir again must replace the symlink with the
    directory, not chmod HOSTDIR or write into it."""
    target = tmp_path / "hostdir"
    target.mkdir()
    os.chmod(target, 0o700)
    out = tmp_path / "out"
    out.mkdir()
    run_d(rlc, rootfs, "plant", "sh", "-c", f"mkdir /dir && ln -s {target} /dir/sub && touch /ready; sleep 600")
    _ready(rlc, "plant")
    rlc.run("cp", "plant:/dir", str(out), check=True)
    assert os.readlink(out / "dir" / "sub") == str(target)
    rlc.run("exec", "plant", "sh", "-c", "rm /dir/sub && mkdir -m 777 /dir/sub && echo pwned > /dir/sub/f",
            check=True)
    res = rlc.run("cp", "plant:/dir", str(out))
    _untouched_dir(target, 0o700)
    assert res.returncode == 0, res.stderr
    sub = out / "dir" / "sub"
    assert not sub.is_symlink() and sub.is_dir() and (sub / "f").read_text() == "pwned\n"
    assert stat.S_IMODE(sub.stat().st_mode) == 0o777


def test_cp_existing_symlink_at_destination_replaced_not_followed(rlc, rootfs, tmp_path):
    """dir/f was a symlink to the user's file when first copied out; the
    container makes it a regular file. Copying again (the directory, or the
    file onto the same path) replaces the symlink: the user's file keeps its
    content and mode."""
    canary = tmp_path / "canary"
    canary.write_text("precious\n")
    os.chmod(canary, 0o600)
    out = tmp_path / "out"
    out.mkdir()
    run_d(rlc, rootfs, "plant", "sh", "-c", f"mkdir /dir && ln -s {canary} /dir/f && touch /ready; sleep 600")
    _ready(rlc, "plant")
    rlc.run("cp", "plant:/dir", str(out), check=True)
    link = out / "dir" / "f"
    assert os.readlink(link) == str(canary)
    rlc.run("exec", "plant", "sh", "-c", "rm /dir/f && echo pwned > /dir/f && chmod 666 /dir/f", check=True)
    res = rlc.run("cp", "plant:/dir", str(out))
    assert canary.read_text() == "precious\n" and stat.S_IMODE(canary.stat().st_mode) == 0o600
    assert res.returncode == 0, res.stderr
    assert not link.is_symlink() and link.read_text() == "pwned\n"
    # the same with the file itself as the destination path
    os.unlink(link)
    os.symlink(canary, link)
    res = rlc.run("cp", "plant:/dir/f", str(link))
    assert canary.read_text() == "precious\n" and stat.S_IMODE(canary.stat().st_mode) == 0o600
    assert res.returncode == 0, res.stderr
    assert not link.is_symlink() and link.read_text() == "pwned\n"


# The container swaps each A (a real directory or file) with its B (a
# symlink to a host path) with renameat2(RENAME_EXCHANGE), round and round as
# fast as it can; when a copy has replaced a symlink, it plants a new one.
RACE = r"""
my ($host, $dir, $ready, @args) = @ARGV;
my @pairs;
push @pairs, [splice(@args, 0, 2)] while @args;
sub plant {
    my ($a, $b) = @_;
    if (!-e $a) { if ($dir) { mkdir $a } else { open(my $f, ">", $a); print $f "x" x 63, "\n"; close $f } }
    symlink($host, $b);
}
plant(@$_) for @pairs;
open(my $r, ">", $ready); close $r;
my $n = 0;
while (1) {
    for my $p (@pairs) {
        my ($a, $b) = @$p;
        if (!-l $a && !-l $b) { rename($b, "$b.spare" . $n++) if -e $b; plant($a, $b) }
        syscall(%d, -100, $a, -100, $b, 2);
    }
}
""" % (RENAMEAT2 or 0)


def _racer(rl, rootfs, name: str, vol, loops, prep: str = "true") -> None:
    """A container running one RACE loop per (host path, directory?, pairs) of loops."""
    assert RENAMEAT2, f"no renameat2 number for {platform.machine()}"
    cmds = " & ".join(f'perl -e "$0" {host} {int(d)} /ready{i} ' + " ".join(f"{a} {b}" for a, b in pairs)
                      for i, (host, d, pairs) in enumerate(loops))
    run_d(rl, rootfs, name, "sh", "-c", f"{prep} && {cmds} & sleep 600", RACE, extra=("-v", f"{vol}:/vol"))
    for i in range(len(loops)):
        assert until(lambda: rl.run("exec", name, "test", "-e", f"/ready{i}").returncode == 0, timeout=60)


def test_cp_rename_exchange_race_cannot_redirect_write(rlc, rootfs, tmp_path):
    """The destination is a volume the container shares: while the host copies
    ctr:/src into it, the container swaps the directory being filled
    (vol/out/src/sub) with a symlink to a host directory. No copy may write
    into that directory or change its mode, whatever the interleaving."""
    canary = tmp_path / "canary"
    canary.mkdir()
    os.chmod(canary, 0o700)
    vol = tmp_path / "vol"
    (vol / "out" / "src").mkdir(parents=True)
    prep = "mkdir -p /src/sub && echo data > /src/sub/f && chmod 777 /src/sub"
    _racer(rlc, rootfs, "racer", vol, [(canary, True, [("/vol/out/src/sub", "/vol/evil")])], prep)
    codes = []
    for _ in range(ROUNDS):
        codes.append(rlc.run("cp", "racer:/src", str(vol / "out")).returncode)
        _untouched_dir(canary, 0o700)
    assert set(codes) <= {0, 125}, codes  # refusing a planted symlink is fine; following one is not


def test_cp_to_container_never_reads_host_file_through_planted_symlink(rlc, rootfs, tmp_path):
    """The source is a volume the container shares: while the host copies
    vol/src into the container, the container swaps vol/src/fNN with a symlink
    to the user's secret (16 files), and vol/src/d with a symlink to a host
    directory holding files of the same names. The secret must never reach
    the container."""
    secret = tmp_path / "id_rsa"
    secret.write_text("HOSTSECRET" + "s" * 53 + "\n")  # the size of the file it is swapped with
    hostdir = tmp_path / "hostdir"
    hostdir.mkdir()
    vol = tmp_path / "vol"
    (vol / "src" / "d").mkdir(parents=True)
    for k in range(16):  # the same names on both sides: a read through the symlink finds them all
        (hostdir / f"k{k:02}").write_text(secret.read_text())
        (vol / "src" / "d" / f"k{k:02}").write_text("x" * 63 + "\n")
    files = [(f"/vol/src/f{k:02}", f"/vol/l{k:02}") for k in range(16)]
    _racer(rlc, rootfs, "racer", vol, [(secret, False, files), (hostdir, True, [("/vol/src/d", "/vol/ld")])],
           prep="mkdir /got")
    for i in range(ROUNDS):
        rlc.run("cp", str(vol / "src"), f"racer:/got/{i}")
    res = rlc.run("exec", "racer", "sh", "-c", "grep -rl HOSTSECRET /got || true", check=True)
    assert res.stdout == "", f"a host file was read through a planted symlink: {res.stdout}"
    # the copies themselves happened
    assert rlc.run("exec", "racer", "ls", "/got", check=True).stdout.split()
