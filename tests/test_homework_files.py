"""Homework-ready files (issue 15, item 1): a student writes the derivation to a file and hands it in.

`-o FILE` on derive, explain, grad and check; ``--standalone`` LaTeX that pdflatex compiles as it is;
``-o FILE.pdf`` typeset directly; nothing the student had is ever overwritten without a backup.
"""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

import symback as sb
from symback import documents
from symback.api import save
from symback.cli import main

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
from generate import targets  # every network declared in examples/*.py

EXAMPLES = [spec for spec, _ in targets()]
CIRCUIT = ["(x + y)*z", "--at", "x=-2,y=5,z=-4"]
PDFLATEX = shutil.which("pdflatex")
needs_pdflatex = pytest.mark.skipif(
    PDFLATEX is None, reason="pdflatex is missing: `make test` installs it (apt-get install texlive-latex-base)"
)


def run(argv, capsys):
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:  # argparse's own usage errors
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def compiles(tex: Path) -> None:
    """pdflatex, as the student runs it, turns the file into a PDF next to it, no line running off the page."""
    proc = subprocess.run([PDFLATEX, "-no-shell-escape", "-interaction=nonstopmode", "-halt-on-error", tex.name],
                          cwd=tex.parent, capture_output=True, text=True, timeout=120, check=False)
    errors = [line for line in proc.stdout.splitlines() if line.startswith("!")]
    assert proc.returncode == 0, f"{tex.name} does not compile: {errors}"
    assert "Overfull \\hbox" not in proc.stdout
    assert tex.with_suffix(".pdf").stat().st_size > 1000


# -- LaTeX that compiles as it is ------------------------------------------------------------------


@needs_pdflatex
@pytest.mark.parametrize("spec", EXAMPLES)
def test_every_examples_standalone_derivation_compiles(spec, tmp_path, capsys):
    tex = tmp_path / "homework.tex"
    code, out, _ = run(["derive", ROOT / spec, "--standalone", "-o", tex], capsys)
    assert code == 0 and out == f"wrote {tex} ({tex.stat().st_size} bytes)\n"
    text = tex.read_text()
    assert text.startswith(documents.PREAMBLE) and "\\begin{document}" in text and text.endswith("\\end{document}\n")
    compiles(tex)


@needs_pdflatex
@pytest.mark.parametrize("command, shown", [
    (["explain", *CIRCUIT], "= -12"),  # f = -12 at the lecture's point
    (["grad", *CIRCUIT], "= -12"),
    (["explain", "examples/udl_toy.py", "--seed", "0"], "random sample (seed 0"),
])
def test_the_circuits_explanation_and_worked_table_compile(command, shown, tmp_path, capsys):
    tex = tmp_path / "circuit.tex"
    code, _, _ = run([*command, "--format", "latex", "--standalone", "-o", tex], capsys)
    assert code == 0 and shown in tex.read_text()
    compiles(tex)


def test_standalone_latex_on_stdout_is_the_file_written(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code, printed, _ = run(["grad", *CIRCUIT, "--format", "latex", "--standalone"], capsys)
    assert code == 0 and printed.startswith("\\documentclass{article}")
    assert "\\[\n\\begin{aligned}" in printed  # the worked table is display math in a document
    run(["grad", *CIRCUIT, "--standalone", "-o", "table.tex"], capsys)
    assert (tmp_path / "table.tex").read_text() == printed


# -- the PDF, typeset directly ---------------------------------------------------------------------


@needs_pdflatex
def test_a_pdf_is_written_directly_and_nothing_else_appears(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(["derive", ROOT / "examples/udl_toy.py", "--notation", "cs229", "-o", "toy.pdf"], capsys)
    assert code == 0 and out.startswith("wrote toy.pdf (")
    pdf = (tmp_path / "toy.pdf").read_bytes()
    assert pdf.startswith(b"%PDF-") and b"%%EOF" in pdf[-64:]
    assert 10_000 < len(pdf) < 2_000_000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["toy.pdf"]  # no .aux, .log or .tex in the student's folder
    run(["derive", ROOT / "examples/udl_toy.py", "--notation", "cs229", "-o", "toy.pdf"], capsys)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["toy.pdf"]  # the same PDF again: nothing to keep


@needs_pdflatex
def test_pdflatex_runs_in_a_temporary_folder_without_shell_escape(tmp_path, monkeypatch, capsys):
    calls = []
    real = subprocess.run

    def spy(command, **kwargs):
        calls.append((command, kwargs))
        return real(command, **kwargs)

    monkeypatch.setattr(documents.subprocess, "run", spy)
    monkeypatch.chdir(tmp_path)
    assert run(["explain", *CIRCUIT, "-o", "circuit.pdf"], capsys)[0] == 0
    (command, kwargs), = calls
    assert {"-no-shell-escape", "-interaction=nonstopmode", "-halt-on-error"} <= set(command)
    assert Path(kwargs["cwd"]) != tmp_path and not Path(kwargs["cwd"]).exists()  # a temporary folder, gone now
    assert kwargs["timeout"] == documents.PDF_TIMEOUT


def test_a_pdf_without_pdflatex_is_one_line_naming_what_to_install(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(documents.shutil, "which", lambda name: None)
    code, out, err = run(["derive", ROOT / "examples/udl_toy.py", "-o", tmp_path / "toy.pdf"], capsys)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "pdflatex" in err and "apt-get install texlive-latex-base" in err
    assert list(tmp_path.iterdir()) == []


@needs_pdflatex
def test_a_pdflatex_that_hangs_is_stopped(tmp_path, monkeypatch, capsys):
    def hangs(command, **kwargs):
        raise subprocess.TimeoutExpired(command, kwargs["timeout"])

    monkeypatch.setattr(documents.subprocess, "run", hangs)
    code, _, err = run(["grad", *CIRCUIT, "-o", tmp_path / "table.pdf"], capsys)
    assert code == 2 and "pdflatex took longer than 120 s" in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(PDFLATEX is None or shutil.which("pdftoppm") is None,
                    reason="needs pdflatex and pdftoppm (apt-get install texlive-latex-base poppler-utils)")
def test_the_first_page_renders_as_a_letter_sized_picture(tmp_path, capsys):
    """The PDF's first page as PNG at 50 dpi: a US letter page is 425 x 550 pixels, with ink on it."""
    assert run(["derive", ROOT / "examples/udl_toy.py", "-o", tmp_path / "toy.pdf"], capsys)[0] == 0
    subprocess.run(["pdftoppm", "-png", "-r", "50", "-f", "1", "-l", "1", "-singlefile", "toy.pdf", "page"],
                   cwd=tmp_path, check=True, timeout=60)
    png = (tmp_path / "page.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    assert (width, height) == (425, 550)
    assert len(png) > 10_000  # a blank page compresses to almost nothing


# -- nothing the student had is lost ---------------------------------------------------------------


def test_o_never_overwrites_without_a_backup(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "hw.tex").write_text("my own notes\n")
    code, out, _ = run(["derive", ROOT / "examples/udl_toy.py", "--format", "latex", "-o", "hw.tex"], capsys)
    assert code == 0 and out.endswith("; the old hw.tex is now hw.tex.bak)\n")
    assert (tmp_path / "hw.tex.bak").read_text() == "my own notes\n"
    assert (tmp_path / "hw.tex").read_text().startswith("\\begin{align*}")
    run(["derive", ROOT / "examples/udl_toy.py", "-o", "hw.tex"], capsys)  # the same file again: nothing lost
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hw.tex", "hw.tex.bak"]
    run(["derive", ROOT / "examples/udl_toy.py", "--standalone", "-o", "hw.tex"], capsys)
    assert (tmp_path / "hw.tex.bak.1").read_text().startswith("\\begin{align*}")
    assert (tmp_path / "hw.tex.bak").read_text() == "my own notes\n"


def test_the_extension_picks_the_format_and_format_overrides_it(tmp_path, capsys):
    spec = ROOT / "examples/cs229_two_layer.py:one_neuron"
    for name, start in (("a.txt", "Network: "), ("a.md", "Network: "), ("a.tex", "\\begin{align*}"), ("a.json", "{")):
        assert run(["derive", spec, "-o", tmp_path / name], capsys)[0] == 0
        assert (tmp_path / name).read_text().startswith(start)
    assert json.loads((tmp_path / "a.json").read_text())["notation"] == "udl"
    assert run(["derive", spec, "--format", "markdown", "-o", tmp_path / "notes.txt"], capsys)[0] == 0
    assert "$$" in (tmp_path / "notes.txt").read_text()
    _, printed, _ = run(["derive", spec, "--format", "markdown"], capsys)
    assert (tmp_path / "notes.txt").read_text() == printed


def test_grad_and_explain_write_what_they_print(tmp_path, capsys):
    for command, name in ((["grad", *CIRCUIT, "--json"], "out.json"),
                          (["explain", *CIRCUIT, "--format", "markdown"], "out.md")):
        _, printed, _ = run(command, capsys)
        code, out, _ = run([*command, "-o", tmp_path / name], capsys)
        assert code == 0 and (tmp_path / name).read_text() == printed
    assert out == f"wrote {tmp_path / 'out.md'} ({len(printed.encode())} bytes)\n"
    assert json.loads((tmp_path / "out.json").read_text())["value"] == -12


def test_check_writes_its_report_and_keeps_its_exit_code(tmp_path, capsys):
    hand = ROOT / "examples/hand/circuit.txt"
    code, out, _ = run(["check", "(x + y)*z", "--hand", hand, "-o", tmp_path / "report.txt"], capsys)
    assert code == 0 and out.startswith("wrote ")
    assert "equal" in (tmp_path / "report.txt").read_text()
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("df/dx = y\n")
    code, out, _ = run(["check", "(x + y)*z", "--hand", wrong, "--json", "-o", tmp_path / "report.json"], capsys)
    assert code == 1  # a hand formula that differs still fails the check
    assert json.loads(out) == {"path": str(tmp_path / "report.json"), "format": "json",
                               "bytes": (tmp_path / "report.json").stat().st_size, "backup": None}
    assert json.loads((tmp_path / "report.json").read_text())["exit_code"] == 1


# -- a bad -o: exit 2, one line, nothing written -----------------------------------------------------


@pytest.mark.parametrize(
    "argv, message",
    [
        (["derive", "examples/udl_toy.py", "-o", "{tmp}/hw.docx"], "unknown file type '.docx'; name a .txt, .md, .tex"),
        (["derive", "examples/udl_toy.py", "-o", "{tmp}/hw"], "unknown file type '(none)'"),
        (["grad", "x*y", "-o", "{tmp}"], "is a folder; name a file inside it"),
        (["explain", "x*y", "-o", "{tmp}/missing/hw.tex"], "does not exist"),
        (["check", "x*y", "--hand", "hand.txt", "-o", "{tmp}/r.tex"], "only text or json can be written here"),
        (["grad", "x*y", "--json", "-o", "{tmp}/g.pdf"], "a PDF is typeset from LaTeX, not json"),
        (["derive", "examples/udl_toy.py", "--standalone", "-o", "{tmp}/hw.md"], "--standalone makes a LaTeX document"),
        (["explain", "x*y", "--standalone"], "--standalone makes a LaTeX document, not text"),
    ],
)
def test_a_bad_o_is_exit_2_and_one_line(argv, message, tmp_path, capsys):
    before = sorted(tmp_path.iterdir())
    code, out, err = run([a.format(tmp=tmp_path) for a in argv], capsys)
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("symback: error: ") and message in lines[0]
    assert sorted(tmp_path.iterdir()) == before


# -- the same from Python ------------------------------------------------------------------------------


def test_python_render_standalone_and_save(tmp_path):
    d = sb.Network(n_in=2, layers=[sb.Dense(2, activation="relu"), sb.Dense(1)], loss="mse").derive()
    doc = d.render(format="latex", notation="cs229", standalone=True)
    assert doc.startswith(documents.PREAMBLE) and "W^{[1]}" in doc
    assert d.save(tmp_path / "net.md", notation="foml") == tmp_path / "net.md"
    assert (tmp_path / "net.md").read_text() == d.render("markdown", notation="foml")
    table = sb.grad("(x + y)*z").at(x=-2, y=5, z=-4)
    save(table, tmp_path / "table.tex", standalone=True)
    assert "\\[\n\\begin{aligned}" in (tmp_path / "table.tex").read_text()
    sb.explain("(x + y)*z", at={"x": -2, "y": 5, "z": -4}).save(tmp_path / "steps.txt")
    assert "df/dz = v1 = 3" in (tmp_path / "steps.txt").read_text()
    with pytest.raises(sb.SymbackError, match="a standalone document is LaTeX"):
        d.render("markdown", standalone=True)
