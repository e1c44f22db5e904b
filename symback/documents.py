"""Homework-ready files: which format an output file takes, LaTeX as a whole document, and its PDF.

A rendered LaTeX body (a derivation's ``align*`` block, a worked table's
``aligned`` block, an explanation's paragraphs) becomes a document that
pdflatex compiles as it is (`standalone`: article, amsmath, amssymb). A PDF
is typeset by pdflatex in a temporary folder, never the user's, without
shell escape and with a time limit (`to_pdf`). `output_target` checks an
``-o FILE`` and picks its format (the one asked for, else the extension's)
before any work is done.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from .errors import SymbackError
from .files import output_path

#: the one preamble of every standalone document (and of the tests that compile LaTeX fragments)
PREAMBLE = (
    "\\documentclass{article}\n\\usepackage[margin=2cm]{geometry}\n\\usepackage{amsmath,amssymb}\n"
    "\\allowdisplaybreaks\n"
)
#: an output file's extension -> the format written in it
EXTENSIONS = {".txt": "text", ".md": "markdown", ".tex": "latex", ".json": "json", ".html": "html", ".pdf": "pdf"}
#: seconds pdflatex may take for one document
PDF_TIMEOUT = 120.0
INSTALL = "install TeX Live's pdflatex (apt-get install texlive-latex-base; macOS: brew install --cask mactex)"


def standalone(body: str, format: str = "latex") -> str:
    """`body` (LaTeX) as a complete document; a bare ``aligned`` block (math alone) is set as display math."""
    if format != "latex":
        raise SymbackError(f"a standalone document is LaTeX: use --format latex (or a .tex or .pdf file), not {format}")
    body = body.strip("\n")
    if body.startswith("\\begin{aligned}"):  # an expression's worked table, made for Jupyter's math display
        body = f"\\[\n{body}\n\\]"
    return f"{PREAMBLE}\\begin{{document}}\n{body}\n\\end{{document}}\n"


def output_target(path, format: str | None, formats: tuple) -> tuple[Path, str]:
    """(path, format) of ``-o FILE``: `format` if given, else FILE's extension; one line if neither fits.

    `formats` are those the command writes; ``pdf`` is possible wherever ``latex`` is, and needs pdflatex.
    """
    path = output_path(path)
    by_extension = EXTENSIONS.get(path.suffix.lower())
    if by_extension == "pdf" and format in (None, "latex") and "latex" in formats:
        fmt = "pdf"
    elif by_extension == "pdf" and format is not None:
        raise SymbackError(f"-o {path}: a PDF is typeset from LaTeX, not {format}; name a file for {format}")
    else:
        fmt = format or by_extension
    usable = [ext for ext, f in EXTENSIONS.items() if f in formats or (f == "pdf" and "latex" in formats)]
    if fmt is None:
        raise SymbackError(f"-o {path}: unknown file type {path.suffix or '(none)'!r}; "
                           f"name a {', '.join(usable)} file, or give --format")
    if fmt not in formats and fmt != "pdf":
        raise SymbackError(f"-o {path}: only {' or '.join(formats)} can be written here, not {fmt}; "
                           f"name a {', '.join(usable)} file")
    if fmt == "pdf" and shutil.which("pdflatex") is None:
        raise SymbackError(f"-o {path}: writing a PDF needs pdflatex, which is not on PATH; {INSTALL}, or write .tex")
    return path, fmt


def to_pdf(document: str, timeout: float = PDF_TIMEOUT) -> bytes:
    """A complete LaTeX `document` typeset by pdflatex (in a temporary folder, no shell escape); the PDF's bytes."""
    exe = shutil.which("pdflatex")
    if exe is None:
        raise SymbackError(f"writing a PDF needs pdflatex, which is not on PATH; {INSTALL}")
    env = {**os.environ, "SOURCE_DATE_EPOCH": "0", "FORCE_SOURCE_DATE": "1"}  # the same document, the same bytes
    with tempfile.TemporaryDirectory(prefix="symback-pdf-") as tmp:
        Path(tmp, "doc.tex").write_text(document, encoding="utf-8")
        command = [exe, "-no-shell-escape", "-interaction=nonstopmode", "-halt-on-error", "doc.tex"]
        try:
            proc = subprocess.run(command, cwd=tmp, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                                  timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise SymbackError(f"pdflatex took longer than {timeout:g} s and was stopped; write .tex instead") from None
        pdf = Path(tmp, "doc.pdf")
        if proc.returncode != 0 or not pdf.is_file():
            log = proc.stdout.decode("utf-8", "replace").splitlines()
            first = next((line for line in log if line.startswith("!")), f"exit status {proc.returncode}")
            raise SymbackError(f"pdflatex could not typeset the document ({first}); write .tex to see it")
        return pdf.read_bytes()
