"""rootless.names against the regular expressions it replaces (Go's anchors:
the whole string, no trailing newline)."""

import random
import re

from rootless import names


def test_names_and_ids_as_the_regexes():
    rng = random.Random(5)
    texts = ["", "a", "A", "0", "_a", ".a", "-a", "a_b.c-d", "a\n", "é", "a b", "x" * 300, "a" * 64, "f" * 63,
             "0123456789abcdef" * 4, ("0123456789abcdef" * 4).upper(), "g" + "a" * 63]
    texts += ["".join(rng.choice("aZ09_.-é \n/f") for _ in range(rng.randrange(6))) for _ in range(5000)]
    texts += ["".join(rng.choice("0123456789abcdefg") for _ in range(rng.choice([63, 64, 65]))) for _ in range(500)]
    for t in texts:
        assert names.valid_name(t) == bool(re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*", t)), t
        assert names.is_id(t) == bool(re.fullmatch(r"[0-9a-f]{64}", t)), t
