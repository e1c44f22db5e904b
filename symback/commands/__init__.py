"""Subcommands of the symback CLI, one module each; each registers its commands with `command`.

A command is its help line, its arguments (`arg`, the options several commands
share are defined once here) and a ``run(args)`` returning the exit code (None
for 0). `cli` builds the parser from `COMMANDS` and runs them on its one error path.
"""

from __future__ import annotations

import os
import sys

from ..api import document, is_spec, write_document
from ..documents import output_target
from ..errors import SymbackError
from ..notation import NOTATIONS
from ..render.jsonform import dumps
from ..textparse import abbreviate

#: name -> (help, arguments, run), in the order the modules register them (--help lists them so)
COMMANDS: dict[str, tuple] = {}


def arg(*flags, **options) -> tuple:
    """The arguments of one ``ArgumentParser.add_argument`` call."""
    return flags, options


def command(name: str, help: str, *arguments: tuple):
    """Register the decorated ``run(args)`` as subcommand `name`, taking `arguments` (each an `arg`)."""

    def register(run):
        COMMANDS[name] = (help, arguments, run)
        return run

    return register


def emit(args, data: dict, text: str) -> None:
    """`data` as JSON with ``--json``, else `text` ending in one newline."""
    if args.json:
        print(dumps(data))  # Infinity and NaN are not JSON: refused (ValueError), never printed
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")


EXPR_OR_SPEC = arg("expr", metavar="EXPR|SPEC", help=(
    'a SymPy expression, e.g. "(x + y)*z", or named steps "q = x + y; f = q*z"; '
    "or a SPEC, path/to/file.py[:name], declaring a network or DAG"))
AT_HELP = "a point, e.g. x=-2,y=5,z=-4 (for a SPEC: seed=N, a random sample drawn from seed N)"
WRT = arg("--wrt", help="variables to differentiate by, comma-separated (default: all)")
FORMAT = arg("--format", choices=("text", "markdown", "latex"), help="default: text, or -o FILE's extension")
# explain: also the interactive page, one self-contained HTML file
PAGE_FORMAT = arg("--format", choices=("text", "markdown", "latex", "html"),
                  help="default: text, or -o FILE's extension; html: a page that steps through the passes")
NOTATION = arg("--notation", choices=sorted(NOTATIONS), default="udl", help="the course's symbols (default: udl)")
# draw and explain: a network SPEC's options (an expression takes neither)
SPEC_NOTATION = arg("--notation", choices=sorted(NOTATIONS),
                    help="a SPEC's symbols, as a course writes them (default: udl)")
SPEC_SEED = arg("--seed", type=int, metavar="N", help="a SPEC at a random sample drawn from seed N (= --at seed=N)")
# grad, explain and draw: an expression's named steps split into the lecture's gates
GATES = arg("--gates", action="store_true", help="split each step into the lecture's elementary gates (mul, add, "
            "sub, div, square, exp, ...), each intermediate named q, r, s, ...")
# derive, explain, grad and check: the result as a file
OUTPUT = arg("-o", "--output", metavar="FILE", help="write to FILE in the format --format names, else its extension's "
             "(.txt .md .tex .json, .html for explain's page, or .pdf typeset by pdflatex); "
             "an existing FILE is kept as FILE.bak")
# derive and check: gradients besides the parameters'
ALSO_WRT = arg("--wrt", metavar="NAMES", type=lambda text: text.split(","),
               help="also the gradients with respect to these inputs or values, comma-separated (--wrt x: dl/dx)")
STANDALONE = arg("--standalone", action="store_true",
                 help="LaTeX as a complete document that pdflatex compiles as it is (implied by -o FILE.pdf)")


#: the arguments naming files a command reads (an expression counts only when it is a SPEC, file.py[:name])
INPUTS = ("expr", "spec", "specs", "target", "hand", "hand_file", "assignment", "submissions")


def not_an_input(args, path) -> None:
    """Refuse an output `path` that is one of the files the command reads: writing it would replace the input."""
    for key in INPUTS:
        value = getattr(args, key, None)
        for text in value if isinstance(value, list) else [value]:
            if not isinstance(text, str) or "\0" in text:
                continue
            if key in ("expr", "target") and not (is_spec(text) or key == "target" and os.path.isfile(text)):
                continue  # an expression, not a file, whatever its name
            spec = key in ("expr", "target", "spec", "specs") and not os.path.exists(text.strip())
            name = text.partition(":")[0] if spec else text.strip()  # file.py:name -> file.py
            if name and os.path.exists(name) and os.path.exists(path) and os.path.samefile(name, path):
                raise SymbackError(f"-o {path} is the input {name} itself; writing it would replace that file, "
                                   "so name another file")


def at_point(args, make):
    """``make()``, where SymPy's or mpmath's own ValueError (erfinv(-1.5), a pole of gamma) is the point's fault."""
    try:
        return make()
    except ValueError as exc:
        if isinstance(exc, SymbackError) or not args.at:
            raise
        raise SymbackError(f"cannot evaluate at --at {abbreviate(args.at, 60)}: {abbreviate(str(exc), 100)}") from None


def destination(args, formats: tuple) -> tuple:
    """(path or None for stdout, format) of a command's result; a bad -o fails here, before any work."""
    fmt = "json" if args.json else getattr(args, "format", None)
    path, fmt = (None, fmt or "text") if args.output is None else output_target(args.output, fmt, formats)
    if path is not None:
        not_an_input(args, path)
    if getattr(args, "standalone", False) and fmt not in ("latex", "pdf"):
        raise SymbackError(f"--standalone makes a LaTeX document, not {fmt}; add --format latex or write .tex or .pdf")
    return path, fmt


def deliver(args, where: tuple, result, **options) -> None:
    """`result` printed, or written to ``-o FILE`` with one line saying so (JSON with ``--json``)."""
    path, fmt = where
    standalone = getattr(args, "standalone", False)
    if path is None:
        sys.stdout.write(document(result, fmt, standalone, **options))
        return
    size, backup = write_document(result, path, fmt, standalone, **options)
    kept = f"; the old {path.name} is now {backup.name}" if backup else ""
    emit(args, {"path": str(path), "format": fmt, "bytes": size, "backup": backup and str(backup)},
         f"wrote {path} ({size} bytes{kept})")
