"""The --change parser (rootless/images/changes.py) reads signal names
itself (the images engine cannot import the containers engine): it must
accept exactly what the containers engine's signal parser accepts."""

from __future__ import annotations

import pytest

from rootless.containers import policy
from rootless.errors import UsageError
from rootless.images import changes


@pytest.mark.parametrize("name", [*policy.SIGNALS, *(f"SIG{n}" for n in policy.SIGNALS), "9", "64",
                                  "RTMIN", "RTMIN+3", "sigterm"])
def test_stopsignal_as_the_containers_engine_reads_it(name):
    cfg = changes.apply({}, [f"STOPSIGNAL {name}"])
    assert cfg["StopSignal"] == str(policy.parse_signal(name))


@pytest.mark.parametrize("bad", ["0", "65", "NOPE", "SIG", "RTMINX", "DFL", "SIG_DFL"])
def test_bad_stopsignal_refused(bad):
    if bad != "RTMINX":  # policy.parse_signal raises ValueError there (not a UsageError)
        with pytest.raises(UsageError):
            policy.parse_signal(bad)
    with pytest.raises(UsageError, match="invalid --change"):
        changes.apply({}, [f"STOPSIGNAL {bad}"])
