"""--mount as podman-compose passes it, mapped onto rl's -v and --tmpfs specs."""

import pytest

from rootless.containers.options import mount_to_flag
from rootless.errors import UsageError


@pytest.mark.parametrize("value,expected", [
    ("type=bind,source=/srv/conf,destination=/conf,ro", ("volume", "/srv/conf:/conf:ro")),
    ("type=bind,src=/a,target=/b,readonly=true", ("volume", "/a:/b:ro")),
    ("type=bind,source=/a,dst=/b,bind-propagation=rslave", ("volume", "/a:/b:rslave")),
    ("type=volume,source=proj_data,destination=/data", ("volume", "proj_data:/data")),
    ("type=volume,destination=/anon", ("volume", "/anon")),
    ("type=tmpfs,destination=/run/x,tmpfs-size=1m,tmpfs-mode=1777", ("tmpfs", "/run/x:size=1m,mode=1777")),
    ("type=tmpfs,destination=/t", ("tmpfs", "/t")),
])
def test_mount_maps_to_volume_or_tmpfs(value, expected):
    assert mount_to_flag(value) == expected


@pytest.mark.parametrize("value,words", [
    ("type=image,source=x,destination=/i", "type=image"),
    ("type=bind,destination=/b", "source="),
    ("type=volume,source=v", "destination"),
    ("type=volume,source=v,destination=/d,subpath=x", "'subpath'"),
])
def test_mount_refusals_name_the_problem(value, words):
    with pytest.raises(UsageError) as e:
        mount_to_flag(value)
    assert words in e.value.message
