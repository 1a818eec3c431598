"""PostgreSQL as people run it: initdb into a named volume as the postgres
user and the server started as that user (the official image's way), a
healthcheck with pg_isready, psql from a second container by name, the data
surviving rm + a new container on the same volume.

The volume is given to the container's user with `:U` (copying the image's
directory ownership into a new volume is issue 19's; not relied on here).
The image has no /run/postgresql (the official image makes one): the
server's socket goes to /tmp; clients use TCP anyway.
Podman runs healthchecks from systemd timers, which a rootless session
without a user manager lacks: both tools are asked with `healthcheck run`."""

from __future__ import annotations

import pytest

from tests.fixture.workloads import PG_BIN
from tests.workloads.lib import compare, until

pytestmark = [pytest.mark.timeout(1200), pytest.mark.registry,
              pytest.mark.userns, pytest.mark.fuse, pytest.mark.slirp4netns]

NET, VOL, SRV = "wl-pgnet", "wl-pgdata", "wl-pg"
PGDATA = "/var/lib/postgresql/data"
START = (f"test -s {PGDATA}/PG_VERSION && echo 'existing cluster'"
         f" || {{ {PG_BIN}/initdb -D {PGDATA} -U postgres --auth=trust >/dev/null"
         f" && echo 'host all all all trust' >> {PGDATA}/pg_hba.conf; }}"
         f" && exec {PG_BIN}/postgres -D {PGDATA} -c listen_addresses='*' -c unix_socket_directories=/tmp")


def _server(side, image) -> None:
    side.ok("run", "-d", "--name", SRV, "--network", NET, "--user", "postgres", "-v", f"{VOL}:{PGDATA}:U",
            "--health-cmd", "pg_isready -h 127.0.0.1 -U postgres", "--health-interval", "10s",
            image, "sh", "-c", START)
    healthy = until(lambda: side.run("healthcheck", "run", SRV).returncode == 0)
    assert healthy, side.run("logs", SRV).stderr


def test_postgres_initdb_in_volume_healthcheck_and_data_across_rm(sides, wl_image):
    seen = {}
    for side in sides:
        side.cleanup([SRV], [VOL], [NET])
        obs = {}

        def psql(sql: str) -> list[str]:
            host = side.peer(SRV, NET)
            return side.ok("run", "--rm", "--network", NET, wl_image, "psql", "-h", host, "-U", "postgres",
                           "-Atqc", sql).split()

        try:
            side.ok("network", "create", NET)
            _server(side, wl_image)
            obs["health"] = side.inspect(SRV)["State"]["Health"]["Status"]
            obs["server process"] = side.ok("exec", SRV, "ps", "-o", "user=,comm=", "-p", "1").split()
            obs["data dir"] = side.ok("exec", SRV, "stat", "-c", "%U %a", PGDATA, f"{PGDATA}/base").split()
            psql("create table visits (who text); insert into visits values ('alice'), ('bob')")
            obs["rows"] = psql("select who from visits order by who")
            side.ok("stop", SRV)
            side.ok("rm", SRV)
            _server(side, wl_image)  # the volume already holds a cluster: no initdb
            obs["rows after rm + new container"] = psql("select who from visits order by who")
            obs["new container found"] = side.run("logs", SRV).stdout.split("\n")[0]
        finally:
            side.cleanup([SRV], [VOL], [NET])
        seen[side.name] = obs
    compare("postgresql: initdb into a volume, healthcheck, psql by name, rm + new container", seen)
    rl = seen["rl"]
    assert rl["health"] == "healthy"
    assert rl["server process"] == ["postgres", "postgres"]
    assert rl["data dir"] == ["postgres", "700", "postgres", "700"]
    assert rl["rows"] == rl["rows after rm + new container"] == ["alice", "bob"]
    assert rl["new container found"] == "existing cluster"
