"""rootless.pathlite.Path against pathlib.PosixPath: the same strings, parts,
names, comparisons and file-system answers for the same inputs."""

import os
import pathlib
import pickle

import pytest

from rootless.pathlite import Path

TEXTS = ["", ".", "/", "//", "///", "a", "a/", "a//b", "./a/./b/.", "/a/b/", "//a/b", "///a//b",
         "a/../b", "..", "/..", "a.tar.gz", "/x/.hidden", "/x/y.", "/x/.", "a b/c\td", "é/ü"]


@pytest.mark.parametrize("text", TEXTS)
def test_pure_parts_match_pathlib(text):
    ours, theirs = Path(text), pathlib.PosixPath(text)
    assert str(ours) == str(theirs) and os.fspath(ours) == os.fspath(theirs)
    assert repr(ours) == repr(theirs)
    assert ours.parts == theirs.parts
    assert (ours.name, ours.suffix, ours.stem) == (theirs.name, theirs.suffix, theirs.stem)
    assert str(ours.parent) == str(theirs.parent)
    assert ours.is_absolute() == theirs.is_absolute()
    assert ours == theirs and theirs == ours and hash(ours) == hash(theirs)
    assert {ours} == {Path(str(theirs))}
    assert pickle.loads(pickle.dumps(ours)) == ours


@pytest.mark.parametrize("a,b", [("/a", "b"), ("/a", "/b"), ("a", "b/c"), (".", "x"), ("/", "..")])
def test_joining_matches_pathlib(a, b):
    assert str(Path(a) / b) == str(pathlib.PosixPath(a) / b)
    assert str(a / Path(b)) == str(a / pathlib.PosixPath(b))
    assert str(Path(a).joinpath(b, "c")) == str(pathlib.PosixPath(a).joinpath(b, "c"))
    assert str(Path(a) / pathlib.PosixPath(b)) == str(pathlib.PosixPath(a) / b)
    assert str(pathlib.PosixPath(a) / Path(b)) == str(pathlib.PosixPath(a) / b)
    assert Path(Path(a), pathlib.PosixPath(b)) == pathlib.PosixPath(a, b)


def test_ordering_follows_parts_as_pathlib():
    texts = ["/a-b", "/a/b", "/a.b", "/a", "/a/c", "b", "/b"]
    absolute = [t for t in texts if t.startswith("/")]
    assert [str(p) for p in sorted(Path(t) for t in absolute)] == \
        [str(p) for p in sorted(pathlib.PosixPath(t) for t in absolute)]
    assert Path("/a") < pathlib.PosixPath("/b") and pathlib.PosixPath("/a") < Path("/b")


def test_with_name_and_errors_match_pathlib():
    assert str(Path("/a/b.txt").with_name("c")) == "/a/c"
    for bad in ("", "x/y", "."):
        with pytest.raises(ValueError):
            Path("/a/b").with_name(bad)
        with pytest.raises(ValueError):
            pathlib.PosixPath("/a/b").with_name(bad)
    with pytest.raises(ValueError):
        Path("/").with_name("x")
    with pytest.raises(TypeError):
        Path(3)
    assert Path("a").__truediv__(3) is NotImplemented


def test_file_system_methods_match_pathlib(tmp_path):
    base = Path(tmp_path)
    (base / "d").mkdir()
    (base / "d" / "f.txt").write_text("hé")
    (base / "link").symlink_to("d/f.txt")
    (base / "dangling").symlink_to("nowhere")
    for name in ("d", "d/f.txt", "link", "dangling", "missing", "d/f.txt/under-a-file"):
        ours, theirs = base / name, pathlib.PosixPath(tmp_path, name)
        assert (ours.exists(), ours.is_dir(), ours.is_file(), ours.is_symlink()) == \
            (theirs.exists(), theirs.is_dir(), theirs.is_file(), theirs.is_symlink()), name
    assert (base / "d" / "f.txt").read_text() == "hé"
    assert (base / "d" / "f.txt").read_bytes() == "hé".encode()
    assert sorted(p.name for p in base.iterdir()) == ["d", "dangling", "link"]
    assert all(isinstance(p, Path) for p in base.iterdir())
    assert str((base / "link").readlink()) == "d/f.txt"
    with pytest.raises(FileNotFoundError):
        (base / "x" / "y").mkdir()
    (base / "x" / "y").mkdir(parents=True)
    (base / "x" / "y").mkdir(exist_ok=True)
    with pytest.raises(FileExistsError):
        (base / "x" / "y").mkdir()
    with pytest.raises(FileExistsError):
        (base / "d" / "f.txt").mkdir(exist_ok=True)  # a file is not the directory asked for
    (base / "t").touch()
    with pytest.raises(FileExistsError):
        (base / "t").touch(exist_ok=False)
    moved = (base / "t").rename(base / "u")
    assert moved == base / "u" and not (base / "t").exists()
    (base / "u").unlink()
    (base / "u").unlink(missing_ok=True)
    with pytest.raises(FileNotFoundError):
        (base / "u").unlink()
    with (base / "w").open("w") as f:
        f.write("x")
    assert (base / "w").stat().st_size == 1
    # what it does not implement itself comes from pathlib
    assert [p.name for p in base.glob("d/*.txt")] == ["f.txt"]
    assert (base / "link").resolve() == pathlib.PosixPath(tmp_path, "d", "f.txt").resolve()
    assert str(Path("/a/b.txt").with_suffix(".gz")) == "/a/b.gz"
    with pytest.raises(AttributeError):
        Path("/a")._nothing
    assert Path.home() == pathlib.PosixPath.home() and Path.cwd() == pathlib.PosixPath.cwd()


def test_importing_it_imports_no_pathlib():
    import subprocess
    import sys
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    # -S: site's editable-install hooks import pathlib themselves
    out = subprocess.run([sys.executable, "-S", "-c", "import sys, rootless.pathlite as p; "
                          "p.Path('/a') / 'b'; print('pathlib' in sys.modules)"],
                         capture_output=True, text=True, check=True, env={"PYTHONPATH": root}).stdout
    assert out.strip() == "False"
