"""`sb.draw` and `sb.explain`: any source -> a `Derivation` and a point -> the teaching views.

Stage: facade (above the front ends and the consumers). Input: an expression
(SymPy or text), named steps, a `Gradient` or its worked `Table`, a declared
`Network` or `DAG`, a SPEC (``file.py`` or ``file.py:name``), or any
`Derivation`; a point (``at={"x": -2}``, the CLI's text ``"x=-2,y=5"``, or for
a network ``seed=N``). Output: what `symback.teach` makes of the derivation:
a picture written to a file, or an `Explanation` to print or render; and
any of these results as a file (`save`: text, Markdown, LaTeX, JSON or PDF).

This module resolves the source through the front ends (`gradient.grad`,
`spec.load_spec`, ``derive()``) so that teach itself never imports one.
"""

from __future__ import annotations

import re
from pathlib import Path

from . import documents
from .check.report import Report
from .declare.gradient import Gradient, Table, grad
from .declare.spec import declared, load_spec
from .derivation import Derivation, provides
from .errors import SymbackError
from .files import write_atomic
from .parse import parse_point
from .render.jsonform import dumps
from .teach.dot import output_format
from .teach.dot import save as save_picture
from .teach.draw import Picture, picture
from .teach.explain import Explanation
from .teach.page import html_page
from .teach.point import values_at

SPEC = re.compile(r".+\.py(:[A-Za-z_]\w*)?")


def is_spec(text) -> bool:
    """A command-line argument names a SPEC (``file.py`` or ``file.py:name``), not an expression."""
    return isinstance(text, str) and SPEC.fullmatch(text.strip()) is not None


def is_network(source) -> bool:
    """A network or DAG source: a SPEC, a declared object with ``derive()``, or its `Derivation`."""
    if isinstance(source, Derivation):
        return source.summary.kind != "expression"
    return is_spec(source) or declared(source)


def network_seed(at=None, seed=None) -> int | None:
    """The seed of the random sample a network is shown at: ``--seed 3``, ``--at seed=3`` or ``at={"seed": 3}``."""
    if isinstance(at, str):
        at = dict(_seed_item(p.strip()) for p in at.split(",") if p.strip())
    at = {} if at is None else {"seed": at} if isinstance(at, int) else at
    if unknown := [k for k in at if k != "seed"]:
        raise SymbackError(f"--at: {unknown[0]!r} is not known for a network; give seed=N "
                           "(the network is shown at a random sample drawn from that seed)")
    if "seed" in at:
        if seed is not None and int(seed) != _int_seed(at["seed"]):
            raise SymbackError("--seed and --at seed=... disagree; give one of them")
        seed = at["seed"]
    return None if seed is None else _int_seed(seed)


def _seed_item(item: str) -> tuple[str, str]:
    key, eq, val = item.partition("=")
    if not eq:
        raise SymbackError(f"--at: expected seed=N for a network, got {item!r}")
    return key.strip(), val.strip()


def _int_seed(value) -> int:
    try:
        seed = int(str(value))
    except ValueError:
        raise SymbackError(f"--at seed={value}: the seed must be a whole number") from None
    if seed < 0:
        raise SymbackError(f"--at seed={value}: the seed must be 0 or more")
    return seed


def expression(source, at=None, wrt=None, gates=False) -> tuple[Derivation, dict | None]:
    """(derivation, every node's exact value or None) of an expression, named steps, a Gradient or a Table."""
    if isinstance(source, (Table, Derivation)) and gates:
        raise SymbackError(f"gates=: the {type(source).__name__} already fixes its steps; "
                           "pass the expression, or make it with sb.grad(..., gates=True)")
    if isinstance(source, Table):
        if at is not None:
            raise SymbackError("at=: the Table already fixes the point; pass the Gradient to choose another")
        return source.gradient, source.values
    if isinstance(source, Derivation) and wrt is not None:  # a Gradient, or a circuit built some other way
        kind = type(source).__name__
        raise SymbackError(f"wrt=: the {kind} already fixes the variables; pass the expression instead")
    derivation = source if isinstance(source, Derivation) else grad(source, wrt=wrt, gates=gates)
    if not isinstance(derivation, Derivation):  # an index form (symbolic sizes) has no circuit to draw or tell
        raise SymbackError("explain and draw need the sizes as numbers, e.g. (j, 1, 3); symback grad prints the "
                           "index form")
    if at is None:
        return derivation, None
    if not isinstance(derivation, Gradient):
        raise SymbackError(f"at=: {type(derivation).__name__} cannot be evaluated at a point; pass sb.grad(...)")
    return derivation, derivation.at(parse_point(at) if isinstance(at, str) else at).values


def resolve(source, at=None, wrt=None, seed=None, notation=None, sample=True, gates=False):
    """(derivation, values or None, seed or None) for any source; the one place sources are told apart.

    With ``sample=False`` a network's seeded sample is not evaluated here (the
    unit-by-unit picture evaluates it exactly itself).
    """
    if is_network(source):  # a SPEC, a declared Network or DAG, or its Derivation
        if wrt is not None:
            raise SymbackError("--wrt applies to expressions; a network is differentiated by all its parameters")
        if gates:
            raise SymbackError("--gates splits the named steps of an expression; a network is drawn by "
                               "module (or unit by unit with --expand)")
        if not isinstance(source, Derivation):
            source = (load_spec(source.strip()) if is_spec(source) else source).derive()
        s = network_seed(at, seed)
        return source, (None if s is None or not sample else values_at(source, s)), s
    if seed is not None:
        raise SymbackError("--seed applies to a network SPEC; for an expression give a point with --at x=...")
    if notation is not None:
        raise SymbackError("--notation applies to a network SPEC (file.py or file.py:name), not to an expression")
    return (*expression(source, at, wrt, gates), None)


def make_picture(source, at=None, wrt=None, notation=None, expand=False, seed=None, title=None,
                 gates=False) -> Picture:
    """The picture `draw` writes: a circuit gate by gate, a network one box per module (or unit by unit)."""
    derivation, values, s = resolve(source, at, wrt, seed, notation, sample=not expand, gates=gates)
    if expand and derivation.summary.kind == "expression":
        raise SymbackError("--expand draws a network SPEC unit by unit; an expression is drawn gate by gate already")
    return picture(derivation, values, notation or derivation.notation, s, expand, title)


def draw(source, at=None, path="graph.svg", wrt=None, notation=None, expand=False, seed=None,
         gates=False) -> Path:
    """Draw the computation graph of `source` to `path` (.svg, .png, or .dot); return the path.

    `source` is an expression (SymPy or text), named steps, a `Gradient` or a
    `Table`; with `at` (or a Table) every wire shows its value and gradient;
    ``gates=True`` splits each step into the lecture's elementary gates.
    It may also be a network: a SPEC ``"file.py:name"``, a `Network`, a `DAG`
    or a `Derivation`, drawn one box per module in `notation` (or one node
    per unit with `expand`), with norms at a random sample when `seed` (or
    ``at="seed=N"``) is given.
    """
    path, _ = output_format(path)  # a bad path fails before any work
    save_picture(make_picture(source, at, wrt, notation, expand, seed, gates=gates), path)
    return path


def explain(source, at=None, wrt=None, notation=None, seed=None, title=None, gates=False) -> Explanation:
    """The forward and backward passes of `source` told step by step; ``print()`` it or ``.render("latex")``.

    `source` is an expression (SymPy or text), named steps, a `Gradient` or a
    `Table`; with `at` (or a Table) every step carries its numbers, and with
    ``gates=True`` each step is split into the lecture's elementary gates. It may
    also be a network (a SPEC ``"file.py:name"``, a `Network`, a `DAG` or a
    `Derivation`), told in `notation` (udl, cs229, foml), with the norms of
    one random sample when `seed` (or ``at="seed=N"``) is given.
    """
    derivation, values, s = resolve(source, at, wrt, seed, notation, gates=gates)
    return Explanation(derivation, values, notation or derivation.notation, s, title)


#: the formats a result is written in (`document`; a check `Report` only text and json); a PDF wherever LaTeX is
DOCUMENT_FORMATS = ("text", "markdown", "latex", "json")
#: an `Explanation` is also an interactive page (`teach.page`)
EXPLANATION_FORMATS = (*DOCUMENT_FORMATS, "html")


def document(result, format: str = "text", standalone: bool = False, **options) -> str:
    """`result` (a `Derivation`, a `Table`, an `Explanation`, a check `Report`) as `symback` prints it.

    ``format="json"`` is the command's ``--json``; `standalone` makes LaTeX a
    complete document; `options` go to the result's ``render`` (notation, expand, ...).
    """
    if format == "json" and hasattr(result, "to_dict"):
        text = dumps(result.to_dict(**options))  # json.dumps(indent=2)'s text, refusing NaN and Infinity
    elif format == "html" and isinstance(result, Explanation):
        text = html_page(result)
    elif isinstance(result, Report):
        text = result.render(**options)
    else:
        text = result.render(format, **options)
    text = text if text.endswith("\n") else text + "\n"
    return documents.standalone(text, format) if standalone else text


def write_document(result, path, format: str, standalone: bool = False, **options) -> tuple[int, Path | None]:
    """Write `result` to `path` (checked by `output_target`) in `format`, a PDF typeset by pdflatex.

    An existing file with other contents is kept as ``NAME.bak`` (``.bak.1``, ...): nothing the user had is lost.
    Returns the bytes written and the backup's path (or None).
    """
    if format == "pdf":
        data = documents.to_pdf(document(result, "latex", True, **options))
    else:
        data = document(result, format, standalone, **options).encode("utf-8")
    path = Path(path)
    same = path.is_file() and path.stat().st_size == len(data) and path.read_bytes() == data
    return len(data), write_atomic(path, data, keep_old=not same)


def save(result, path, format: str | None = None, standalone: bool = False, **options) -> Path:
    """Write `result` (a `Derivation`, a worked `Table`, an `Explanation`) to `path`; return the path.

    The format is `format` (text, markdown, latex, json; an `Explanation` also
    html, its interactive page) or else the extension's (.txt, .md, .tex,
    .json, .html, .pdf: a PDF is typeset by pdflatex, which must be
    installed). ``standalone=True`` makes LaTeX a document that compiles as it
    is. An existing file is kept as ``NAME.bak``; `options` go to ``render``,
    e.g. ``net.derive().save("hw.pdf", notation="cs229")`` (`Displayed.save`).
    """
    formats = ("text", "json") if isinstance(result, Report) else DOCUMENT_FORMATS
    formats = EXPLANATION_FORMATS if isinstance(result, Explanation) else formats
    path, fmt = documents.output_target(path, format, formats)
    write_document(result, path, fmt, standalone, **options)
    return path


provides("save")(save)
provides("standalone")(documents.standalone)
