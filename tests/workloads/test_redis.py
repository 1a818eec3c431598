"""redis as people run it: redis-server as the redis user, its data in a
named volume with --appendonly yes, redis-cli from a second container on a
user network, the data surviving stop/start and rm + a new container.

`:U` gives the volume to the container's user, as podman users do for a
non-root service (copying the image's /var/lib/redis ownership into a new
volume is issue 19's; this test does not depend on it)."""

from __future__ import annotations

import pytest

from tests.workloads.lib import compare, until

pytestmark = [pytest.mark.timeout(1200), pytest.mark.registry,
              pytest.mark.userns, pytest.mark.fuse, pytest.mark.slirp4netns]

NET, VOL, SRV = "wl-redisnet", "wl-redisdata", "wl-redis"


def _server(side, image):
    side.ok("run", "-d", "--name", SRV, "--network", NET, "--user", "redis", "-v", f"{VOL}:/var/lib/redis:U",
            image, "redis-server", "--appendonly", "yes", "--dir", "/var/lib/redis", "--protected-mode", "no")
    pong = until(lambda: side.run("exec", SRV, "redis-cli", "ping").stdout.strip() == "PONG")
    assert pong, side.run("logs", SRV).stdout


def test_redis_as_redis_user_keeps_its_data_across_stop_start_and_rm(sides, wl_image):
    seen = {}
    for side in sides:
        side.cleanup([SRV], [VOL], [NET])
        obs = {}

        def cli(*args):
            host = side.peer(SRV, NET)
            return side.ok("run", "--rm", "--network", NET, wl_image, "redis-cli", "-h", host, *args).split()

        try:
            side.ok("network", "create", NET)
            _server(side, wl_image)
            obs["set"] = cli("set", "greeting", "hello") + cli("rpush", "items", "a", "b", "c")
            obs["server process"] = side.ok("exec", SRV, "ps", "-o", "user=,comm=", "-p", "1").split()
            obs["append-only dir"] = side.ok("exec", SRV, "stat", "-c", "%U %G %a",
                                             "/var/lib/redis/appendonlydir").split()
            side.ok("stop", SRV)
            side.ok("start", SRV)
            assert until(lambda: side.run("exec", SRV, "redis-cli", "ping").stdout.strip() == "PONG")
            obs["after stop/start"] = cli("get", "greeting") + cli("lrange", "items", "0", "-1")
            side.ok("stop", SRV)
            side.ok("rm", SRV)
            _server(side, wl_image)
            obs["after rm + new container"] = cli("get", "greeting") + cli("lrange", "items", "0", "-1")
        finally:
            side.cleanup([SRV], [VOL], [NET])
        seen[side.name] = obs
    compare("redis: redis user, volume, client by name, persistence", seen)
    rl = seen["rl"]
    assert rl["set"] == ["OK", "3"]
    assert rl["server process"] == ["redis", "redis-server"]
    assert rl["append-only dir"] == ["redis", "redis", "755"]
    assert rl["after stop/start"] == rl["after rm + new container"] == ["hello", "a", "b", "c"]
