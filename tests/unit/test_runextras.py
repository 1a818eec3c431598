"""runextras' pure parts: what --volumes-from adds."""


def test_volumes_from_specs():
    from rootless.containers.runextras import volumes_from
    src = ["data:/named", "/h:/bound:ro,z", "anonx:/anon:U"]
    assert volumes_from([("", src)], []) == src
    assert volumes_from([("rw", src)], []) == ["data:/named:rw", "/h:/bound:z,rw", "anonx:/anon:U,rw"]
    assert volumes_from([("ro,z", src)], ["/mine:/bound/"]) == ["data:/named:ro", "anonx:/anon:U,ro"]
    # two sources: the first to mount a destination wins
    assert volumes_from([("", ["a:/d"]), ("", ["b:/d", "c:/e"])], []) == ["a:/d", "c:/e"]
