from rootless.runtime import idmap
from rootless.runtime.idmap import IdMap, SubIdEntry, SubRange

SUBUID = """\
# comment
alice:100000:65536
1001:200000:65536
bogus line
bob:abc:10
alice:300000:1000
"""


def test_parse_skips_comments_and_malformed_lines():
    entries = idmap.parse_subid(SUBUID)
    assert entries == [SubIdEntry("alice", 100000, 65536), SubIdEntry("1001", 200000, 65536),
                       SubIdEntry("alice", 300000, 1000)]


def test_ranges_by_name_or_uid_in_file_order():
    entries = idmap.parse_subid(SUBUID)
    assert idmap.ranges_for(entries, "alice", 1000) == [SubRange(100000, 65536), SubRange(300000, 1000)]
    assert idmap.ranges_for(entries, "carol", 1001) == [SubRange(200000, 65536)]
    assert idmap.ranges_for(entries, "dave", 5) == []


def test_root_maps_put_user_at_zero_and_ranges_after():
    maps = idmap.root_maps(1001, [SubRange(100000, 65536), SubRange(300000, 10)])
    assert maps == [IdMap(0, 1001, 1), IdMap(1, 100000, 65536), IdMap(65537, 300000, 10)]
    assert idmap.newidmap_args(maps[:2]) == ["0", "1001", "1", "1", "100000", "65536"]
    # a file owned by uid 1000 inside lands at subuid start + 999 on the host
    assert idmap.to_host(maps, 1000) == 100999
    assert idmap.to_host(maps, 0) == 1001
    assert idmap.to_host(maps, 65537) == 300000
    assert idmap.to_host(maps, 70000) is None


def test_keep_id_maps_user_to_itself_and_fills_around_it():
    maps = idmap.keep_id_maps(1000, [SubRange(100000, 65536)])
    assert IdMap(1000, 1000, 1) in maps
    assert idmap.to_host(maps, 0) == 100000
    assert idmap.to_host(maps, 999) == 100999
    assert idmap.to_host(maps, 1001) == 101000
    # every container ID is mapped once and host IDs never repeat
    hosts = [m.host + i for m in maps for i in range(m.size)]
    conts = [m.container + i for m in maps for i in range(m.size)]
    assert len(set(hosts)) == len(hosts) == len(set(conts)) == 65537
    assert sorted(conts) == list(range(65537))


def test_keep_id_needs_enough_ids_below_the_uid():
    try:
        idmap.keep_id_maps(5000, [SubRange(100000, 100)])
    except ValueError as e:
        assert "5000" in str(e)
    else:
        raise AssertionError("expected ValueError")


def test_overlaps_between_different_owners_only():
    entries = idmap.parse_subid("a:100000:65536\na:120000:10\nb:165535:10\nc:200000:5\n")
    pairs = idmap.overlaps(entries)
    assert [(x.owner, y.owner) for x, y in pairs] == [("a", "b")]


def test_suggest_free_range_skips_used_blocks():
    entries = idmap.parse_subid("a:100000:65536\nb:165536:1000\nc:300000:65536\n")
    assert idmap.suggest_free_range(entries) == SubRange(166536, 65536)
    assert idmap.suggest_free_range([]) == SubRange(100000, 65536)


def test_parse_proc_map():
    text = "         0       1001          1\n         1     100000      65536\n"
    assert idmap.parse_proc_map(text) == [IdMap(0, 1001, 1), IdMap(1, 100000, 65536)]
