"""rl inside the guest: the checkout copied in over ssh, and a venv made from
the guest's own python3 holding rl's dependencies (the guest has no network).

The dependencies are installed on the host for the guest's interpreter and
platform, cached beside the image, keyed by rl's dependency list pinned to
the versions the host's test interpreter has, so the guest runs the same
versions as the host suite."""

from __future__ import annotations

import hashlib
import json
import shlex
import shutil
import subprocess
import sys
import tempfile
import tomllib
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from rootless import tools
from tests.vm import image
from tests.vm.guest import Guest, GuestError

REPO = Path(__file__).resolve().parents[2]
# the guest's interpreter: bookworm's python3.11 on glibc 2.36 (pip does not
# widen a --platform to older manylinux tags: list them)
GUEST_PY = ("3.11", "cp311", ("manylinux_2_36_x86_64", "manylinux_2_28_x86_64", "manylinux_2_17_x86_64",
                              "manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64"))


def requirements() -> list[str]:
    """rl's dependencies, pinned to what the host has installed when it has them."""
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    out = []
    for spec in deps:
        name = spec.split(">")[0].split("<")[0].split("=")[0].split("[")[0].strip()
        try:
            out.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            out.append(spec)
    return out


def site_packages(log=print) -> Path:
    """rl's dependencies installed for the guest's interpreter, on the host.

    pip runs here, where it is ~12x faster than in the TCG guest (in the guest,
    venv + `pip install --no-index --find-links` of these wheels took 123 s);
    the guest gets the installed tree, copied into a venv made --without-pip."""
    reqs = requirements()
    key = hashlib.sha256(json.dumps([reqs, GUEST_PY, "strip-debug"]).encode()).hexdigest()[:16]
    final = image.cache_root() / f"site-{key}"
    if final.is_dir():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".partial-{final.name}-", dir=final.parent))
    ver, abi, plats = GUEST_PY
    res = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check",
                          "--only-binary=:all:", "--python-version", ver, "--implementation", "cp",
                          "--abi", abi, *(f"--platform={p}" for p in plats), "--target", str(tmp), *reqs],
                         capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=600)
    if res.returncode:
        shutil.rmtree(tmp, ignore_errors=True)
        raise GuestError(f"pip install --target of {' '.join(reqs)} for the guest failed:\n{res.stderr[-2000:]}")
    # manylinux wheels ship their extensions with debug info (zstandard: 24 of
    # 54 MB); the guest's copy runs at a few MB/s under TCG
    strip = shutil.which("strip")
    if strip:
        subprocess.run([strip, "--strip-debug", *map(str, tmp.rglob("*.so"))], capture_output=True)
    try:
        tmp.rename(final)
    except OSError:  # a concurrent session got there first
        shutil.rmtree(tmp, ignore_errors=True)
    log(f"guest site-packages ({' '.join(reqs)}) in {final}")
    return final


@dataclass
class GuestRl:
    """rl installed in a guest for one user."""
    guest: Guest
    user: str
    src: str      # the checkout in the guest
    venv: str     # the venv's directory in the guest

    def env_prefix(self) -> str:
        return f"PYTHONPATH={shlex.quote(self.src)} "

    def run(self, *args: str, check: bool = False, timeout: float = 600,
            scope: bool = False) -> subprocess.CompletedProcess:
        """`rl ARGS` in the guest, from the user's login session (an ssh
        session scope, as a user at a terminal), or with scope=True in a
        Delegate=yes scope of the user's systemd (as a user unit would)."""
        wrap = "systemd-run --user --scope --quiet -p Delegate=yes " if scope else ""
        cmd = (f"cd {shlex.quote(self.src)} && {wrap}env {self.env_prefix()}{shlex.quote(self.venv)}/bin/python "
               f"-m rootless {shlex.join(args)}")
        return self.guest.run(cmd, user=self.user, check=check, timeout=timeout)


def install_rl(guest: Guest, user: str = image.USER, log=print) -> GuestRl:
    """Copy the checkout and rl's dependencies in; make the venv."""
    site = site_packages(log)
    src = guest.copy_in(REPO, "rl-src", user=user)
    home = src.rsplit("/", 1)[0]
    venv = f"{home}/rl-venv"
    guest.run(f"/usr/bin/python3 -m venv --without-pip {venv}", user=user, check=True)
    sp = guest.run(f"{venv}/bin/python -c 'import sysconfig; print(sysconfig.get_path(\"purelib\"))'",
                   user=user, check=True).stdout.strip()
    guest.copy_in(site, sp[len(home) + 1:], user=user)
    # rl-monitor built here (the guest has no compiler), static: any guest libc
    # runs it; where rl looks for it by default, so units need no RL_MONITOR
    name = tools.monitor_name()
    with tempfile.TemporaryDirectory() as tmp:
        built = Path(tmp) / name
        tools.build_monitor(str(built), static=True)
        guest.copy_in(built, f".cache/rl/libexec/{name}", user=user)
    return GuestRl(guest, user, src, venv)
