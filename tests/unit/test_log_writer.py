"""issue 19 items 2 and 3: the foreground log writer follows rl-monitor's
rules, and `rl logs` gives each record back on its own stream."""

import io
import os

from rootless.containers import logs


def test_emit_keeps_streams_apart_and_in_order():
    ts = logs.timestamp()
    raw = (logs.format_chunk("stdout", b"a\n", ts) + logs.format_chunk("stderr", b"b\nc", ts)
           + logs.format_chunk("stderr", b"d\n", ts) + logs.format_chunk("stdout", b"e\n", ts))
    entries = [logs.parse_line(ln) for ln in raw.splitlines()]
    out, err = io.BytesIO(), io.BytesIO()
    logs.emit(entries, False, out, err)
    assert out.getvalue() == b"a\ne\n" and err.getvalue() == b"b\ncd\n"


def test_writer_records_streams_and_rotates(tmp_path):
    path = str(tmp_path / "ctr.log")
    w = logs.writer_for({"log_opt": ["max-size=200"]}, "c" * 64, "x", path)
    for i in range(6):
        w.write("stdout" if i % 2 else "stderr", f"line {i}\n".encode())
    w.close()
    assert os.path.exists(path + ".1") and os.path.getsize(path) <= 200
    entries = logs.read(path)
    assert entries and all(e.stream == ("stdout" if e.text.endswith((b"1", b"3", b"5")) else "stderr")
                           for e in entries)
    assert entries[-1].text == b"line 5"


def test_writer_none_driver_logs_nothing(tmp_path):
    assert logs.writer_for({"log_driver": "none"}, "c" * 64, "x", str(tmp_path / "ctr.log")) is None
