"""systemd units for containers, for real: the lingering user's systemd in
the guest runs a `rl generate systemd --new` unit (Type=notify: active once
the monitor reports READY=1, restarted by Restart=on-failure after a crash,
the container removed on stop) and a Quadlet `.container` file turned into a
service by rl-generator at daemon-reload. Few rl calls: each costs seconds
under TCG."""

from __future__ import annotations

import json
import os
import shlex
import time

import pytest

pytestmark = [pytest.mark.vm, pytest.mark.registry]

IMAGE = "docker.io/library/debian:bookworm"
UNITS = "/home/tester/.config/systemd/user"


class Rl:
    def __init__(self, guest_rl, conf: str):
        self.g = guest_rl.guest
        self.src, self.venv = guest_rl.src, guest_rl.venv
        self.base = (f"cd {shlex.quote(self.src)} && env {guest_rl.env_prefix()}"
                     f"CONTAINERS_REGISTRIES_CONF={shlex.quote(conf)} {shlex.quote(self.venv)}/bin/python -m rootless")

    def __call__(self, *args: str, timeout: float = 600):
        return self.g.run(f"{self.base} {shlex.join(args)}", timeout=timeout)

    def sh(self, script: str, timeout: float = 300):
        return self.g.run(script, timeout=timeout)


@pytest.fixture(scope="module")
def rl(guest_rl, registry):
    addr = guest_rl.guest.forward_registry(registry.plain)
    conf = "/home/tester/.config/rl-test-systemd/registries.conf"
    guest_rl.guest.run(
        f"mkdir -p {os.path.dirname(conf)} && cat > {conf} <<'EOF'\n"
        'unqualified-search-registries = ["docker.io"]\nshort-name-mode = "permissive"\n'
        '[[registry]]\nprefix = "docker.io"\nlocation = "registry-1.docker.io"\n'
        f'[[registry.mirror]]\nlocation = "{addr}"\ninsecure = true\n'
        f'[[registry]]\nlocation = "{addr}"\ninsecure = true\nEOF', check=True)
    r = Rl(guest_rl, conf)
    r.addr = addr
    ok(r("pull", "-q", IMAGE))
    return r


def ok(res):
    assert res.returncode == 0, f"exit {res.returncode}\nstdout: {res.stdout}\nstderr: {res.stderr}"
    return res.stdout


def _show(rl, unit: str, *props: str) -> dict:
    out = ok(rl.sh(f"systemctl --user show {unit} " + " ".join(f"-p {p}" for p in props)))
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def _journal(rl, unit: str) -> str:
    return rl.sh(f"journalctl --user -u {unit} --no-pager -n 40 2>&1; systemctl --user status {unit} 2>&1").stdout


def _state(rl, name: str) -> dict:
    res = rl("inspect", "--format", "{{json .State}}", name)
    return json.loads(res.stdout) if res.returncode == 0 and res.stdout.strip() else {}


def test_generated_new_unit_notify_restart_and_stop(rl):
    name = f"sdnew-{os.getpid()}"
    unit = f"container-{name}.service"
    ok(rl("create", "--name", name, "--network", "none", IMAGE, "sh", "-c", "echo up 100%; exec sleep 1000"))
    text = ok(rl("generate", "systemd", "--new", "--name", "--restart-sec", "1", name))
    ok(rl("rm", name))  # the unit creates its own
    ok(rl.sh(f"mkdir -p {UNITS} && cat > {UNITS}/{unit} <<'EOF'\n{text}EOF"))
    try:
        verify = rl.sh(f"systemd-analyze --user verify {UNITS}/{unit} 2>&1")
        assert "rror" not in verify.stdout, verify.stdout
        ok(rl.sh("systemctl --user daemon-reload"))
        t0 = time.monotonic()
        res = rl.sh(f"systemctl --user start {unit}", timeout=300)
        assert res.returncode == 0, _journal(rl, unit)
        # Type=notify: start returned only after READY=1, i.e. once PID 1 ran
        st = _state(rl, name)
        assert st.get("Status") == "running", (st, _journal(rl, unit))
        props = _show(rl, unit, "ActiveState", "MainPID", "Type", "NRestarts")
        assert props["ActiveState"] == "active" and props["Type"] == "notify", props
        cid = ok(rl.sh(f"cat $XDG_RUNTIME_DIR/{unit}.ctr-id")).strip()
        rstate = json.loads(ok(rl.sh(f"cat $XDG_RUNTIME_DIR/rl/containers/{cid}/state.json")))
        assert int(props["MainPID"]) == rstate["monitor"], (props, rstate)  # MAINPID= from the monitor
        print(f"start to active: {time.monotonic() - t0:.1f}s")

        # a crash (SIGKILL to PID 1: exit 137): the monitor exits 137, Restart=on-failure starts a new container
        ok(rl("kill", name))
        deadline = time.monotonic() + 240
        while True:
            props = _show(rl, unit, "ActiveState", "NRestarts", "MainPID")
            new_cid = rl.sh(f"cat $XDG_RUNTIME_DIR/{unit}.ctr-id").stdout.strip()
            if props["ActiveState"] == "active" and int(props["NRestarts"]) >= 1 and new_cid not in ("", cid):
                break
            assert time.monotonic() < deadline, (props, _journal(rl, unit))
            time.sleep(2)
        assert _state(rl, name).get("Status") == "running"

        res = rl.sh(f"systemctl --user stop {unit}", timeout=300)
        assert res.returncode == 0, _journal(rl, unit)
        props = _show(rl, unit, "ActiveState", "Result")
        assert props["ActiveState"] == "inactive" and props["Result"] == "success", (props, _journal(rl, unit))
        assert name not in ok(rl("ps", "-a", "--format", "{{.Names}}")).split()
    finally:
        rl.sh(f"systemctl --user stop {unit}; rm -f {UNITS}/{unit}; systemctl --user daemon-reload; "
              f"systemctl --user reset-failed {unit}")
        rl("rm", "-f", "--ignore", name)


def test_generated_unit_for_an_existing_container(rl):
    """Without --new: Type=forking, PIDFile= the monitor's; stop leaves the container."""
    name = f"sdold-{os.getpid()}"
    unit = f"container-{name}.service"
    ok(rl("create", "--name", name, "--network", "none", IMAGE, "sleep", "1000"))
    text = ok(rl("generate", "systemd", "--name", "--stop-timeout", "2", name))
    ok(rl.sh(f"mkdir -p {UNITS} && cat > {UNITS}/{unit} <<'EOF'\n{text}EOF"))
    try:
        ok(rl.sh("systemctl --user daemon-reload"))
        res = rl.sh(f"systemctl --user start {unit}", timeout=300)
        assert res.returncode == 0, _journal(rl, unit)
        props = _show(rl, unit, "ActiveState", "MainPID", "Type")
        assert props["ActiveState"] == "active" and props["Type"] == "forking", (props, _journal(rl, unit))
        cid = ok(rl("inspect", "--format", "{{.Id}}", name)).strip()
        rstate = json.loads(ok(rl.sh(f"cat $XDG_RUNTIME_DIR/rl/containers/{cid}/state.json")))
        assert int(props["MainPID"]) == rstate["monitor"], (props, rstate)
        assert _state(rl, name).get("Status") == "running"
        res = rl.sh(f"systemctl --user stop {unit}", timeout=300)
        assert res.returncode == 0, _journal(rl, unit)
        assert _show(rl, unit, "ActiveState")["ActiveState"] == "inactive", _journal(rl, unit)
        assert _state(rl, name).get("Status") == "exited"
    finally:
        rl.sh(f"systemctl --user stop {unit}; rm -f {UNITS}/{unit}; systemctl --user daemon-reload; "
              f"systemctl --user reset-failed {unit}")
        rl("rm", "-f", "--ignore", name)


def test_quadlet_container_file_becomes_a_service(rl):
    name = f"qweb{os.getpid()}"
    # user generators are read from system directories only (systemd.generator(7)): root installs it
    gen_dir = "/etc/systemd/user-generators"
    qdir = "/home/tester/.config/containers/systemd"
    script = (f"#!/bin/sh\nPYTHONPATH={shlex.quote(rl.src)} exec {shlex.quote(rl.venv)}/bin/python "
              f"-m rootless.systemd.quadlet \"$@\"\n")
    container = (f"[Unit]\nDescription=quadlet test\n\n[Container]\nImage={IMAGE}\nContainerName={name}\n"
                 "Network=none\nEnvironment=GREETING=\"hello world\"\n"
                 "Exec=sh -c 'echo \"$GREETING\"; exec sleep 1000'\n\n[Service]\nTimeoutStartSec=300\n")
    ok(rl.g.run(f"mkdir -p {gen_dir} && cat > {gen_dir}/rl-generator <<'EOF'\n{script}EOF\n"
                f"chmod 755 {gen_dir}/rl-generator", user="root"))
    ok(rl.sh(f"mkdir -p {qdir} && cat > {qdir}/{name}.container <<'EOF'\n{container}EOF"))
    unit = f"{name}.service"
    try:
        ok(rl.sh("systemctl --user daemon-reload"))
        out = rl.sh(f"systemctl --user cat {unit}")
        assert out.returncode == 0 and "--sdnotify=conmon" in out.stdout, (out, rl.sh(
            "journalctl --user -n 30 --no-pager").stdout)
        res = rl.sh(f"systemctl --user start {unit}", timeout=300)
        assert res.returncode == 0, _journal(rl, unit)
        assert _state(rl, name).get("Status") == "running", _journal(rl, unit)
        deadline = time.monotonic() + 60
        while "hello world" not in rl("logs", name).stdout:
            assert time.monotonic() < deadline, rl("logs", name)
            time.sleep(1)
        res = rl.sh(f"systemctl --user stop {unit}", timeout=300)
        assert res.returncode == 0, _journal(rl, unit)
        assert name not in ok(rl("ps", "-a", "--format", "{{.Names}}")).split()
    finally:
        rl.sh(f"systemctl --user stop {unit}; rm -f {qdir}/{name}.container")
        rl.g.run(f"rm -f {gen_dir}/rl-generator", user="root")
        rl.sh("systemctl --user daemon-reload")
        rl("rm", "-f", "--ignore", name)


def test_auto_update_replaces_the_image_and_restarts_the_unit(rl):
    name = f"sdauto-{os.getpid()}"
    unit = f"container-{name}.service"
    # a new tag in the repository that already holds the base's blobs: only a manifest is pushed
    ref = f"{rl.addr}/library/debian:auto{os.getpid()}"
    ok(rl("tag", IMAGE, ref))
    ok(rl("push", "-q", "--tls-verify=false", ref))
    ok(rl("create", "--name", name, "--network", "none", "--label", "io.containers.autoupdate=registry",
          ref, "sleep", "1000"))
    text = ok(rl("generate", "systemd", "--new", "--name", name))
    ok(rl("rm", name))
    ok(rl.sh(f"mkdir -p {UNITS} && cat > {UNITS}/{unit} <<'EOF'\n{text}EOF"))
    try:
        ok(rl.sh("systemctl --user daemon-reload"))
        res = rl.sh(f"systemctl --user start {unit}", timeout=300)
        assert res.returncode == 0, _journal(rl, unit)
        assert "false" in ok(rl("auto-update")).splitlines()[-1]  # nothing newer yet
        # a newer image under the same name in the registry; the local name stays on the old one
        ok(rl("run", "--name", f"{name}-build", "--network", "none", ref, "touch", "/updated"))
        ok(rl("commit", f"{name}-build", ref))
        ok(rl("push", "-q", "--tls-verify=false", ref))
        ok(rl("rm", f"{name}-build"))
        ok(rl("tag", IMAGE, ref))
        out = ok(rl("auto-update"))
        assert unit in out and "true" in out.splitlines()[-1], out
        assert _state(rl, name).get("Status") == "running", _journal(rl, unit)
        ok(rl("exec", name, "test", "-f", "/updated"))  # the unit's new container runs the new image
    finally:
        rl.sh(f"systemctl --user stop {unit}; rm -f {UNITS}/{unit}; systemctl --user daemon-reload; "
              f"systemctl --user reset-failed {unit}")
        rl("rm", "-f", "--ignore", name)
        rl("rm", "-f", "--ignore", f"{name}-build")


def test_journald_log_driver_writes_podman_fields_and_logs_reads_them(rl):
    name = f"jd-{os.getpid()}"
    ok(rl("run", "-d", "--name", name, "--network", "none", "--log-driver", "journald", IMAGE,
          "sh", "-c", "echo out; echo err >&2; sleep 0.5; printf part; sleep 0.5; echo ial"))
    try:
        assert ok(rl("wait", name)).strip() == "0"
        deadline = time.monotonic() + 60
        while True:  # journald writes asynchronously
            res = rl("logs", name)
            got = ok(res) + res.stderr  # as podman: what the container wrote to stderr comes back on stderr
            if "partial" in got or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert sorted(got.splitlines()) == ["err", "out", "partial"], got  # the pieces joined into one line
        assert res.stderr == "err\n", (res.stdout, res.stderr)
        last = rl("logs", "--tail", "1", name)
        assert ok(last) + last.stderr in ("partial\n", "err\n", "out\n")
        found = ok(rl.sh(f"journalctl --no-pager -o json CONTAINER_NAME={name}"))
        entries = [json.loads(line) for line in found.splitlines()]
        by_msg = {e["MESSAGE"]: e for e in entries}
        assert by_msg["err"]["PRIORITY"] == "3" and by_msg["out"]["PRIORITY"] == "6"
        assert by_msg["part"]["CONTAINER_PARTIAL_MESSAGE"] == "true"
        cid = ok(rl("inspect", "--format", "{{.Id}}", name)).strip()
        assert by_msg["out"]["CONTAINER_ID_FULL"] == cid and by_msg["out"]["CONTAINER_ID"] == cid[:12]
    finally:
        rl("rm", "-f", name)


def test_redis_unit_restarted_after_kill_9_keeps_its_data(rl, registry):
    """A real service under systemd (issue 17): redis as the redis user, its data
    in a named volume, as a generated `--new` unit. kill -9 of the container's
    main process (redis-server, PID 1) is a crash: systemd restarts the unit
    (Restart=on-failure, a new container) and a key written before is read after."""
    from tests.fixture import redisimage
    name, vol = f"sdredis-{os.getpid()}", f"sdredis-data-{os.getpid()}"
    unit = f"container-{name}.service"
    redisimage.push(redisimage.warm(log=True), registry.plain)
    ref = f"{rl.addr}/{redisimage.REPO_TAG}"
    ok(rl("pull", "-q", ref, timeout=1200))

    def cli(*args: str) -> str:
        return rl("exec", name, "redis-cli", *args).stdout.strip()

    def serving(deadline: float) -> None:
        while cli("ping") != "PONG":
            assert time.monotonic() < deadline, _journal(rl, unit)
            time.sleep(2)

    # every write reaches the file before redis answers: the key survives a crash however soon it comes
    ok(rl("create", "--name", name, "--network", "none", "--user", "redis", "-v", f"{vol}:/var/lib/redis:U",
          ref, "redis-server", "--appendonly", "yes", "--appendfsync", "always", "--dir", "/var/lib/redis"))
    text = ok(rl("generate", "systemd", "--new", "--name", "--restart-sec", "1", name))
    ok(rl("rm", name))
    ok(rl.sh(f"mkdir -p {UNITS} && cat > {UNITS}/{unit} <<'EOF'\n{text}EOF"))
    try:
        ok(rl.sh("systemctl --user daemon-reload"))
        res = rl.sh(f"systemctl --user start {unit}", timeout=600)
        assert res.returncode == 0, _journal(rl, unit)
        serving(time.monotonic() + 300)
        assert cli("set", "greeting", "hello from before the crash") == "OK"
        # no procps in the image: PID 1's owner and name from /proc
        assert ok(rl("exec", name, "sh", "-c", "stat -c %U /proc/1; cat /proc/1/comm")).split() == [
            "redis", "redis-server"]
        cid = ok(rl.sh(f"cat $XDG_RUNTIME_DIR/{unit}.ctr-id")).strip()
        pid1 = ok(rl("inspect", "--format", "{{.State.Pid}}", name)).strip()
        assert pid1.isdigit() and int(pid1) > 0, pid1

        ok(rl.sh(f"kill -9 {pid1}"))  # a crash: no rl command, no stop mark
        deadline = time.monotonic() + 300
        while True:
            props = _show(rl, unit, "ActiveState", "NRestarts")
            new_cid = rl.sh(f"cat $XDG_RUNTIME_DIR/{unit}.ctr-id").stdout.strip()
            if props["ActiveState"] == "active" and int(props["NRestarts"]) >= 1 and new_cid not in ("", cid):
                break
            assert time.monotonic() < deadline, (props, _journal(rl, unit))
            time.sleep(2)
        serving(time.monotonic() + 300)
        assert cli("get", "greeting") == "hello from before the crash", _journal(rl, unit)

        res = rl.sh(f"systemctl --user stop {unit}", timeout=300)
        assert res.returncode == 0, _journal(rl, unit)
        props = _show(rl, unit, "ActiveState", "Result")
        assert props["ActiveState"] == "inactive" and props["Result"] == "success", (props, _journal(rl, unit))
        assert name not in ok(rl("ps", "-a", "--format", "{{.Names}}")).split()
        assert vol in ok(rl("volume", "ls", "--format", "{{.Name}}")).split()  # the data outlives the unit
    finally:
        rl.sh(f"systemctl --user stop {unit}; rm -f {UNITS}/{unit}; systemctl --user daemon-reload; "
              f"systemctl --user reset-failed {unit}")
        rl("rm", "-f", "--ignore", name)
        rl("volume", "rm", "-f", vol)
