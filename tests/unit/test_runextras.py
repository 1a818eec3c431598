"""runextras' pure parts: what --volumes-from adds."""


def test_volumes_from_specs():
    from rootless.containers.runextras import volumes_from
    src = ["data:/named", "/h:/bound:ro,z", "anonx:/anon:U"]
    assert volumes_from([("", src)], []) == src
    assert volumes_from([("rw", src)], []) == ["data:/named:rw", "/h:/bound:z,rw", "anonx:/anon:U,rw"]
    assert volumes_from([("ro,z", src)], ["/mine:/bound/"]) == ["data:/named:ro", "anonx:/anon:U,ro"]
    # two sources: the first to mount a destination wins
    assert volumes_from([("", ["a:/d"]), ("", ["b:/d", "c:/e"])], []) == ["a:/d", "c:/e"]


def test_namespace_modes():
    import pytest

    from rootless.containers.runextras import parse_ns_mode
    from rootless.errors import UsageError
    assert parse_ns_mode("--uts", None) is None
    assert parse_ns_mode("--uts", "private") is None
    assert parse_ns_mode("--cgroupns", "host") == "host"
    for bad, words in (("bogus", "unrecognized namespace mode bogus"), ("container:web", "not supported by rl"),
                       ("ns:/proc/1/ns/uts", "not supported by rl"), ("", "unrecognized namespace mode"),
                       ("HOST", "unrecognized")):
        with pytest.raises(UsageError) as e:
            parse_ns_mode("--uts", bad)
        assert words in e.value.message and e.value.message.startswith("--uts")


def test_personality_names():
    import pytest

    from rootless.containers.runextras import PERSONALITIES, parse_personality
    from rootless.errors import UsageError
    assert parse_personality(None) is None
    assert parse_personality("linux32") == "LINUX32" and PERSONALITIES["LINUX32"] == 8
    assert parse_personality(" LINUX ") == "LINUX" and PERSONALITIES["LINUX"] == 0
    for bad in ("bogus", "", "LINUX64"):
        with pytest.raises(UsageError):
            parse_personality(bad)


def test_uts_host_with_a_hostname_is_refused():
    import pytest

    from rootless.containers.runextras import from_flags
    from rootless.errors import UsageError
    with pytest.raises(UsageError) as e:
        from_flags({"uts": "host", "hostname": "x"})
    assert "cannot set hostname" in e.value.message
    assert from_flags({"uts": "host"})["uts"] == "host"


def test_passwd_entry_template():
    import pytest

    from rootless.containers.runextras import parse_passwd_entry
    from rootless.errors import UsageError
    from rootless.runtime import users
    line = users.fill_passwd_entry("$USERNAME:x:$UID:$GID:$NAME:$HOME:/bin/bash", "1234", "1234", "55",
                                   "container user", "/w")
    assert line == "1234:x:1234:55:container user:/w:/bin/bash"
    pw, gr = users.entries("1234:55", "root:x:0:0::/root:/bin/sh\n", "root:x:0:\n", "/w",
                           passwd_entry="u$UID:*:$UID:$GID:$NAME:$HOME:/bin/sh")
    assert pw == "u1234:*:1234:55:container user:/w:/bin/sh\n" and gr == "55:x:55:1234\n"
    assert users.entries("root", "root:x:0:0::/root:/bin/sh\n", "", "/", passwd_entry="x") == ("", "")
    assert parse_passwd_entry(None) is None and parse_passwd_entry("") is None
    for bad in ("a\nb", "a\rb", "a\0b"):
        with pytest.raises(UsageError):
            parse_passwd_entry(bad)
