"""The reference grammar's hand-written checks (rootless/images/reference.py)
against the regular expressions of the distribution reference grammar they
implement, on crafted and random inputs."""

import random
import re

from rootless.images import reference as R

_DC = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
SPEC = {
    R._is_component: re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*\Z"),
    R._is_domain: re.compile(rf"(?:{_DC}(?:\.{_DC})*|\[[0-9a-fA-F:.]+\])(?::[0-9]+)?\Z"),
    R._is_tag: re.compile(r"[\w][\w.-]{0,127}\Z"),
    R._is_digest: re.compile(r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}\Z"),
}

CRAFTED = [
    "", "a", "A", "0", "a.b", "a..b", "a_b", "a__b", "a___b", "a-b", "a--b", "a-.b", "a._b", ".a", "a.", "-a",
    "a-", "_a", "a_", "é", "aé", "a/b", "a b", "a\n", "ab\n", "localhost", "localhost:5000", "localhost:",
    ":5000", "host:50a0", "host:5000:1", "my-host.example.com", "-host.com", "host-.com", "ho--st.com",
    "host..com", ".host", "host.", "[::1]", "[::1]:5000", "[]", "[::1", "[::1]:", "[::1]x", "[fe80::1%eth0]",
    "[::g]", "HOST.Example.COM", "h_st", "١٢٣", "host:١٢٣", "latest", "v1.0", "_x", ".x", "-x", "x" * 128,
    "x" * 129, "ü-1", "a.b-c_d", "sha256:" + "a" * 64, "sha256:" + "a" * 31, "sha256:" + "A=_-" * 8,
    "sha+256:" + "a" * 32, "sha++256:" + "a" * 32, "sha256:" + "a" * 32 + ":", "sha256" + "a" * 40,
    "SHA256:" + "a" * 32, "a.b+c_d-e:" + "z" * 32, "sha256:" + "é" * 32, ":" + "a" * 32, "a-:" + "b" * 32,
]
ALPHABET = "ab0Z._-+:=[]/é١ \n"


def _random_texts(n=4000):
    rng = random.Random(7)
    out = []
    for _ in range(n):
        k = rng.randrange(1, 12)
        out.append("".join(rng.choice(ALPHABET) for _ in range(k)))
        out.append("sha256:" + "".join(rng.choice("abcdef0123456789=-_G") for _ in range(rng.randrange(28, 70))))
        out.append(":".join("".join(rng.choice("ab1.-") for _ in range(rng.randrange(0, 5))) for _ in range(2)))
    return out


def test_each_check_accepts_exactly_what_its_regex_matches():
    texts = CRAFTED + _random_texts()
    for check, rx in SPEC.items():
        for t in texts:
            assert check(t) == bool(rx.match(t)), (check.__name__, t)


def test_hex_checks_match_their_regexes():
    for t in ["", "abc", "ab", "ABC", "a" * 64, "a" * 65, "0123456789abcdef", "g12", "abc\n"]:
        assert R._is_hex(t, 3, 64) == bool(re.match(r"[a-f0-9]{3,64}\Z", t)), t
        assert R.looks_like_id("sha256:" + t) == bool(re.match(r"[a-f0-9]{3,64}\Z", t))


def test_parse_still_normalises_and_refuses_as_podman():
    assert str(R.parse("debian")) == "docker.io/library/debian:latest"
    assert str(R.parse("localhost:5000/a/b@sha256:" + "a" * 64)) == "localhost:5000/a/b@sha256:" + "a" * 64
    assert str(R.parse("[::1]:5000/x:v1")) == "[::1]:5000/x:v1"
    for bad in ("Debian", "a//b", "a:b:c", "x@sha256:abc", "host-/x", "a:" + "x" * 129):
        try:
            R.parse(bad)
        except Exception as e:  # noqa: BLE001 - the type is asserted
            assert type(e).__name__ == "ImageError", bad
        else:
            raise AssertionError(f"{bad!r} parsed")
