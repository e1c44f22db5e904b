"""Writes that lose nothing: atomic replacement, numbered backups, concurrent writers, bad targets."""

from __future__ import annotations

import multiprocessing
import os

import pytest

from symback.errors import SymbackError
from symback.files import backup_name, output_path, write_atomic


def test_a_write_replaces_the_file_whole(tmp_path):
    target = tmp_path / "out.txt"
    assert write_atomic(target, "first") is None
    assert write_atomic(target, b"second") is None
    assert target.read_text() == "second"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]  # no temporary or lock file left


def test_backups_are_numbered_and_never_overwrite_a_file(tmp_path):
    target = tmp_path / "net.py"
    target.write_text("v1")
    foreign = tmp_path / "net.py.bak"
    foreign.write_text("somebody else's backup")
    assert write_atomic(target, "v2", keep_old=True) == tmp_path / "net.py.bak.1"
    assert write_atomic(target, "v3", keep_old=True) == tmp_path / "net.py.bak.2"
    assert foreign.read_text() == "somebody else's backup"
    assert (tmp_path / "net.py.bak.1").read_text() == "v1"
    assert (tmp_path / "net.py.bak.2").read_text() == "v2"
    assert target.read_text() == "v3"
    assert backup_name(target) == tmp_path / "net.py.bak.3"


@pytest.mark.parametrize("bad", ["", "   "])
def test_an_empty_name_is_refused(bad):
    with pytest.raises(SymbackError, match="name a file"):
        output_path(bad)


def test_a_folder_is_refused_and_left_alone(tmp_path):
    with pytest.raises(SymbackError, match="is a folder"):
        write_atomic(tmp_path, "x")
    assert tmp_path.is_dir()


def test_a_missing_folder_or_a_file_in_its_place_is_one_line(tmp_path):
    with pytest.raises(SymbackError, match="does not exist"):
        write_atomic(tmp_path / "nope" / "a.txt", "x")
    (tmp_path / "file").write_text("keep")
    with pytest.raises(SymbackError, match="is a file, not a folder"):
        write_atomic(tmp_path / "file" / "a.txt", "x")
    assert (tmp_path / "file").read_text() == "keep"


def test_a_failed_write_leaves_the_old_file_intact(tmp_path, monkeypatch):
    target = tmp_path / "plot.png"
    target.write_bytes(b"old picture")

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(SymbackError, match="No space left"):
        write_atomic(target, b"new picture")
    assert target.read_bytes() == b"old picture"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plot.png"]


def _writer(args):
    path, k = args
    return str(write_atomic(path, f"writer {k}\n" * 1000, keep_old=True))


def test_concurrent_writers_lose_no_file(tmp_path):
    target = tmp_path / "gen.py"
    target.write_text("original\n")
    rounds = 16
    with multiprocessing.get_context("fork").Pool(4) as pool:
        backups = pool.map(_writer, [(target, k) for k in range(rounds)])
    assert len(set(backups)) == rounds  # each writer kept the file it replaced under its own name
    contents = [open(b).read() for b in backups] + [target.read_text()]
    assert "original\n" in contents
    for k in range(rounds):
        assert f"writer {k}\n" * 1000 in contents  # every version still exists whole


def test_compile_force_twice_keeps_every_replaced_file(tmp_path):
    """symback compile --force: each replaced module is kept, the second backup beside the first."""
    from symback.codegen.write import MARK, write_module

    module = tmp_path / "net.py"
    (tmp_path / "net.py.bak").write_text("an unrelated backup")
    module.write_text("edited by hand 1")
    assert write_module(module, f"# generated\n{MARK}\nA = 1\n", force=True) == "overwritten"
    module.write_text("edited by hand 2")
    assert write_module(module, f"# generated\n{MARK}\nA = 2\n", force=True) == "overwritten"
    assert (tmp_path / "net.py.bak").read_text() == "an unrelated backup"
    assert (tmp_path / "net.py.bak.1").read_text() == "edited by hand 1"
    assert (tmp_path / "net.py.bak.2").read_text() == "edited by hand 2"
    assert module.read_text().endswith("A = 2\n")
