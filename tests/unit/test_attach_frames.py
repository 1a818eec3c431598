"""The attach client's side of rl-monitor's framing (rootless/libexec/
rl-monitor.c send_clients): each chunk of container output comes with the
stream it was written to, however the socket splits the bytes."""

from __future__ import annotations

from rootless.containers.monitor import Frames


def frame(stream: int, data: bytes) -> bytes:
    return bytes([stream]) + len(data).to_bytes(4, "big") + data


def _split(wire: bytes, cut: int) -> list[tuple[int, bytes]]:
    f = Frames()
    got = f.feed(wire[:cut]) + f.feed(wire[cut:]) + f.rest()
    merged: dict[int, bytes] = {1: b"", 2: b""}
    for fd, chunk in got:
        merged[fd] += chunk
    return merged


def test_every_split_gives_each_stream_its_bytes():
    wire = frame(1, b"out-1\n") + frame(2, b"err-1\n") + frame(1, b"") + frame(2, b"\x05\x00\x00") + frame(1, b"x")
    for cut in range(len(wire) + 1):
        assert _split(wire, cut) == {1: b"out-1\nx", 2: b"err-1\n\x05\x00\x00"}, cut


def test_a_chunk_cut_short_is_given_as_far_as_it_came():
    f = Frames()
    assert f.feed(frame(2, b"whole") + frame(2, b"cut short")[:8]) == [(2, b"whole")]
    assert f.rest() == [(2, b"cut")]


def test_an_older_monitor_sends_raw_bytes():
    f = Frames(framed=False)
    assert f.feed(b"\x02\x00\x00\x00\x01x") == [(1, b"\x02\x00\x00\x00\x01x")]
    assert f.rest() == []
