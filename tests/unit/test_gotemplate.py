"""Go text/template as podman's users write it in --format (issue 19 item 7).
Expected outputs are what Go's text/template (with podman's functions) gives
for the same template and data."""

from __future__ import annotations

import pytest

from rootless.cli.gotemplate import Template, TemplateError, render_rows, tabwrite
from rootless.errors import EXIT_RL

DATA = {"Name": "web", "Id": "abc123", "State": {"Status": "running", "Pid": 5, "Running": True},
        "Config": {"Labels": {"a": "1", "b.c": "2"}, "Env": ["A=1", "B=2"], "Cmd": ["sh", "-c"]},
        "NetworkSettings": {"Ports": {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}},
        "Mounts": [], "N": 3, "Empty": ""}


@pytest.mark.parametrize("tpl,want", [
    ("{{.Name}}", "web"),
    ("{{ .State.Status }}", "running"),
    ("{{json .Config.Cmd}}", '["sh","-c"]'),
    ("{{json .State}}", '{"Status":"running","Pid":5,"Running":true}'),
    ("{{.Config.Cmd}}", "[sh -c]"),
    ("{{.Config.Labels}}", "map[a:1 b.c:2]"),
    ("{{.State.Running}}", "true"),
    ("{{range .Config.Env}}[{{.}}]{{end}}", "[A=1][B=2]"),
    ("{{range $i, $e := .Config.Env}}{{if $i}},{{end}}{{$e}}{{end}}", "A=1,B=2"),
    ("{{range $k, $v := .Config.Labels}}{{$k}}={{$v}};{{end}}", "a=1;b.c=2;"),
    ("{{range .Mounts}}x{{else}}none{{end}}", "none"),
    ("{{range $p, $b := .NetworkSettings.Ports}}{{$p}}->{{(index $b 0).HostPort}}{{end}}", "80/tcp->8080"),
    ('{{index .Config.Labels "b.c"}}', "2"),
    ("{{index .Config.Env 1}}", "B=2"),
    ('{{index .Config.Labels "missing"}}', "<no value>"),
    ("{{.Config.Labels.missing}}", "<no value>"),
    ("{{len .Config.Env}} {{len .Name}}", "2 3"),
    ('{{if eq .State.Status "running"}}up{{else}}down{{end}}', "up"),
    ('{{if eq .State.Status "x"}}1{{else if eq .State.Status "running"}}2{{else}}3{{end}}', "2"),
    ('{{if ne .N 3}}a{{else if gt .N 2}}b{{end}}', "b"),
    ('{{if and .State.Running (gt .N 1)}}yes{{end}}', "yes"),
    ('{{or .Empty "fallback"}}', "fallback"),
    ("{{not .Empty}}", "true"),
    ("{{with .State}}{{.Status}}/{{.Pid}}{{end}}", "running/5"),
    ("{{with .Empty}}x{{else}}empty{{end}}", "empty"),
    ('{{printf "%-6s|%3d|%v|%q" .Name .State.Pid .State.Running .Name}}', 'web   |  5|true|"web"'),
    ('{{.State.Pid | printf "%05d"}}', "00005"),
    ("{{.Name | upper}} {{lower \"ABC\"}} {{title \"hello world\"}}", "WEB abc Hello World"),
    ('{{join .Config.Env ","}}', "A=1,B=2"),
    ('{{split "a:b" ":"}}', "[a b]"),
    ("{{truncate .Id 3}}", "abc"),
    ("{{pad .Name 1 2}}|", " web  |"),
    ("{{$n := .Name}}{{$n}}-{{$.Id}}", "web-abc123"),
    ("{{range .Config.Env}}{{if eq . \"B=2\"}}{{break}}{{end}}{{.}}{{end}}", "A=1"),
    ("{{range .Config.Env}}{{if eq . \"A=1\"}}{{continue}}{{end}}{{.}}{{end}}", "B=2"),
    ("a {{- .Name -}} b", "awebb"),
    ("{{/* a comment */}}x", "x"),
    ("{{print .N .N}} {{print .Name .N}}", "3 3 web3"),
    ("{{println .Name}}", "web\n"),
    ("{{slice .Name 1 2}}", "e"),
    ("{{range 3}}{{.}}{{end}}", "012"),
    ("{{.State.Nothing}}", None),  # unknown struct field: an error, not "<no value>"
])
def test_render(tpl, want):
    if want is None:
        with pytest.raises(TemplateError) as e:
            Template(tpl).render(DATA)
        assert "can't evaluate field Nothing" in e.value.message
        return
    assert Template(tpl).render(DATA) == want


@pytest.mark.parametrize("tpl,needle", [
    ("{{.Name", "unclosed action"),
    ("{{bogus .Name}}", 'function "bogus" not defined'),
    ("{{$x}}", "undefined variable"),
    ("{{end}}", "unexpected {{end}}"),
    ("{{if .Name}}x", "unexpected EOF"),
    ("{{range .Name}}{{end}}", "range can't iterate"),
    ("{{index .Config.Env 9}}", "index out of range"),
    ("{{len .N}}", "len of type"),
    ("{{.Name 1}}", "can't give argument to non-function"),
    ('{{define "x"}}{{end}}', "not supported"),
])
def test_errors_are_exit_125_usage_errors(tpl, needle):
    with pytest.raises(TemplateError) as e:
        Template(tpl).render(DATA)
    assert needle in e.value.message and e.value.exit_code == EXIT_RL


def test_table_header_alignment_and_noheading():
    rows = [{"ID": "a1", "Names": "x"}, {"ID": "b2", "Names": "a-much-longer-name"}]
    out = render_rows("table {{.ID}}\\t{{.Names}}", rows, names={"ID": "CONTAINER ID"})
    assert out == ("CONTAINER ID  NAMES\n"
                   "a1            x\n"
                   "b2            a-much-longer-name\n")
    assert render_rows("table {{.ID}}\\t{{.Names}}", rows, heading=False).splitlines()[0].startswith("a1  ")
    assert render_rows("{{.ID}}", rows) == "a1\nb2\n"
    assert render_rows("table {{.ID}}", []) == "ID\n"  # podman prints the header of an empty table


def test_tabwriter_minwidth_and_blocks():
    # Go's tabwriter: min width 12, padding 2; the last cell of a line is not a column
    assert tabwrite("a\tb\nlonger-than-twelve\tc") == "a                   b\nlonger-than-twelve  c"
    assert tabwrite("x\ty\tz") == "x           y           z"
