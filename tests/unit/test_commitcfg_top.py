"""Pure parts of issue 19 items 12 and 18: commit's image config and
--change instructions; top's descriptors and Go-style durations."""

from __future__ import annotations

import pytest

from rootless.containers import commitcfg, top
from rootless.errors import UsageError

IMAGE = {"Entrypoint": ["/docker-entrypoint.sh"], "Cmd": ["nginx"], "Env": ["PATH=/usr/bin", "A=0"],
         "Labels": {"maintainer": "x"}}


def test_entrypoint_flag_replaces_the_images_and_keeps_its_arguments():
    cfg = commitcfg.from_container(IMAGE, {"entrypoint": "/bin/echo"}, ["hello"])
    assert cfg["Entrypoint"] == ["/bin/echo"] and cfg["Cmd"] == ["hello"]
    cfg = commitcfg.from_container(IMAGE, {"entrypoint": "/bin/true"}, [])
    assert cfg["Entrypoint"] == ["/bin/true"] and "Cmd" not in cfg  # the image's Cmd is dropped, as at run
    cfg = commitcfg.from_container(IMAGE, {"entrypoint": '["/bin/sh", "-c"]'}, ["echo hi"])
    assert cfg["Entrypoint"] == ["/bin/sh", "-c"] and cfg["Cmd"] == ["echo hi"]
    assert IMAGE["Cmd"] == ["nginx"]  # the image's own config is not touched


def test_no_entrypoint_flag_keeps_the_images_entrypoint():
    cfg = commitcfg.from_container(IMAGE, {}, ["nginx", "-g", "daemon off;"])
    assert cfg["Entrypoint"] == ["/docker-entrypoint.sh"] and cfg["Cmd"] == ["nginx", "-g", "daemon off;"]
    assert commitcfg.from_container(IMAGE, {}, [])["Cmd"] == ["nginx"]


def test_env_overrides_by_name_and_labels_user_workdir():
    cfg = commitcfg.from_container(IMAGE, {"env": ["A=1", "B=2"], "user": "nobody", "workdir": "/srv",
                                           "label": ["k=v"]}, [])
    assert cfg["Env"] == ["PATH=/usr/bin", "A=1", "B=2"]
    assert (cfg["User"], cfg["WorkingDir"], cfg["Labels"]) == ("nobody", "/srv", {"maintainer": "x", "k": "v"})


def test_changes():
    cfg = commitcfg.apply_changes(IMAGE, [
        'CMD ["a", "b"]', "ENTRYPOINT run me", "ENV A=9", "ENV C='x y'", "ENV D 4", "LABEL l=1 m=2", "EXPOSE 80 53/udp",
        "VOLUME /data /logs", 'VOLUME ["/v"]', "WORKDIR /w", "USER u:g", "STOPSIGNAL SIGINT", "ONBUILD RUN x",
        "CMD=[\"z\"]"])
    assert cfg["Cmd"] == ["z"] and cfg["Entrypoint"] == ["/bin/sh", "-c", "run me"]
    assert cfg["Env"] == ["PATH=/usr/bin", "A=9", "C=x y", "D=4"]
    assert cfg["Labels"] == {"maintainer": "x", "l": "1 m=2"}  # podman: one pair, the value is the rest
    assert cfg["ExposedPorts"] == {"80/tcp": {}, "53/udp": {}}
    assert cfg["Volumes"] == {"/data": {}, "/logs": {}, "/v": {}}
    assert (cfg["WorkingDir"], cfg["User"], cfg["StopSignal"], cfg["OnBuild"]) == ("/w", "u:g", "2", ["RUN x"])


@pytest.mark.parametrize("bad", ["BOGUS x", "EXPOSE eighty", "STOPSIGNAL SIGNOPE", "ENV", "LABEL =x"])
def test_bad_changes_are_usage_errors(bad):
    with pytest.raises(UsageError):
        commitcfg.apply_changes({}, [bad])


@pytest.mark.parametrize("ns,text", [
    (0, "0s"), (999, "999ns"), (1500, "1.5µs"), (10_000_000, "10ms"), (1_500_000, "1.5ms"),
    (3_130_000_000, "3.13s"), (60_000_000_000, "1m0s"), (3_600_000_000_000, "1h0m0s"),
    (7_538_737_137_571, "2h5m38.737137571s")])
def test_go_duration(ns, text):
    assert top.go_duration(ns) == text


def test_descriptors_names_codes_and_comma_lists():
    assert top.parse_descriptors([]) == list(top.DEFAULT)
    assert top.parse_descriptors(["pid,%U", "args"]) == ["pid", "user", "args"]
    assert top.header(["pid", "user", "etime", "comm"]) == ["PID", "USER", "ELAPSED", "COMMAND"]
    with pytest.raises(UsageError, match="'bogus': unknown descriptor"):
        top.parse_descriptors(["pid,bogus"])


def test_names_from_passwd_text():
    text = "root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1::/:/bin/false\nalias:x:0:0::/:/bin/sh\nbad line\n"
    assert top.parse_names(text) == {0: "root", 1: "daemon"}
