from __future__ import annotations

import pytest

from rootless.runtime import keepid
from rootless.runtime.idmap import IdMap


def test_nested_maps_keep_the_users_id():
    maps = keepid.nested_maps(1000, 65537)
    assert maps == [IdMap(0, 1, 1000), IdMap(1000, 0, 1), IdMap(1001, 1001, 64536)]
    assert sum(m.size for m in maps) == 65537
    assert keepid.map_text(maps) == "0 1 1000\n1000 0 1\n1001 1001 64536\n"
    assert keepid.fuse_mapping(maps) == "0:1:1000:1000:0:1:1001:1001:64536"  # podman passes the same


def test_nested_maps_edge_and_errors():
    assert keepid.nested_maps(65536, 65537)[-1] == IdMap(65536, 0, 1)
    with pytest.raises(ValueError):
        keepid.nested_maps(70000, 65537)
    with pytest.raises(ValueError):
        keepid.nested_maps(0, 65537)
