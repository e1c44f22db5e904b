"""The interactive backprop page: an `Explanation` -> one self-contained HTML file to click through.

Stage: teaching views. Input: an `Explanation` (its derivation, the values at
its point, its seed). Output: one HTML file that loads nothing from outside:

- the pictures as inline SVG (`draw` and `dot`, the pictures ``symback draw``
  writes), one per view (a circuit; a network's layer view and unit view) and
  notation, each SVG element named after its graph node (``layer-udl-node-f1``)
  or wire (``layer-udl-edge-W1->f1``);
- every step's equation and notes in every notation, as the narrative writes
  them (`narrate_circuit`, `narrate_course`: upstream × local, the numbers at
  the point, reused gradients under "already computed!", sums at branches),
  their LaTeX turned into MathML (latex2mathml), embedded as JSON;
- page.css and page.js, inlined: the script steps through the forward and then
  the backward pass (buttons, ← →), highlights the step's node and wires, shows
  each wire's value from its forward step and its gradient from its backward
  step, and switches notation and view.

A network's steps differ between notations only in their order (UDL lists
β before Ω), so a view says what to highlight per node, not per step.
"""

from __future__ import annotations

import html
import json
import re
from collections import Counter, defaultdict
from importlib import resources
from xml.etree import ElementTree

from latex2mathml.converter import convert

from ..errors import SymbackError
from . import narrate
from .dot import GRAD_COLOR, VALUE_COLOR, render, to_dot
from .draw import picture
from .expand import expand
from .layout import Math, inline, latex_var, listed
from .narrate_circuit import CircuitVoice
from .narrate_course import CourseVoice

#: the notations a network's page switches between (a custom one it was explained in is added)
COURSES = ("udl", "cs229", "foml")
OWN = "own"  # an expression's only notation: the names it was written with
#: view key -> what its button says
VIEWS = {"circuit": "circuit", "layer": "layer view (one box per module)", "unit": "unit view (one node per unit)"}
_ELEMENT = re.compile(r'<g id="[^"]*" class="(node|edge)">\s*<title>([^<]*)</title>')
_MUNDER = "{http://www.w3.org/1998/Math/MathML}munder"
ElementTree.register_namespace("", _MUNDER[1:-7])
_BOLD = re.compile(r'<mi mathvariant="bold-italic">(&#x[0-9A-Fa-f]+;|[^<&])</mi>')
#: first letter of a run -> the first of its Unicode bold italic letters (MathML Core ignores mathvariant)
_BOLD_RUNS = {"A": 0x1D468, "a": 0x1D482, "Α": 0x1D71C, "α": 0x1D736}
_RUN_LENGTH = {"A": 26, "a": 26, "Α": 25, "α": 25}


def _bold(char: str) -> str:
    for first, start in _BOLD_RUNS.items():
        if 0 <= ord(char) - ord(first) < _RUN_LENGTH[first]:
            return chr(start + ord(char) - ord(first))
    return char


def mathml(tex: str) -> str:
    """LaTeX as MathML: bold italic symbols as Unicode letters (MathML Core draws no other mathvariant), and a
    gradient marked "already computed!" under an underbrace boxed instead (a brace needs a font with a MATH table)."""
    root = ElementTree.fromstring(_BOLD.sub(lambda m: f"<mi>{_bold(html.unescape(m.group(1)))}</mi>", convert(tex)))
    for parent in root.iter():
        for i, child in enumerate(parent):
            if child.tag == _MUNDER and len(child) == 2 and child[1].text == "\u23df":
                parent[i] = child[0]
                child[0].set("class", "sb-computed")
    return ElementTree.tostring(root, encoding="unicode")


def note_html(parts) -> str:
    """A narrative's note (prose and `Math`) as HTML with inline MathML."""
    return "".join(html.escape(p) if isinstance(p, str) else mathml(p.tex) for p in parts)


def _row(x) -> str:
    return note_html(x) if isinstance(x, tuple) else mathml(inline(x))


def steps(ex) -> dict:
    """Every step of one notation's explanation, its title lines and notes, as the page's JSON."""
    v = CircuitVoice(ex) if ex.kind.name == "circuit" else CourseVoice(ex)
    symbol = latex_var if ex.kind.name == "circuit" else (lambda n: ex.symbols[n].tex)
    out = []
    for f in ex.forward:
        rows = [["eq", 0, _row(v.forward_row(f))]]
        out.append({"id": f.step, "pass": "forward", "node": f.node, "head": None, "part": 0, "rows": rows,
                    "symbol": mathml(symbol(f.node)), "uses": [], "reused_by": []})
    part, heads = None, {}
    for head, b in narrate._parts(ex, v):  # the heading of the part each step belongs to
        heads[b.step] = part = head or part
    for b in ex.backward:
        branch = v.branch_note(b) if b.branch else None
        rows = [["branch" if x == branch else "eq" if isinstance(x, str) else "note", depth, _row(x)]
                for depth, x in v.tex_items(b)]
        if b.reused_by:
            grads = [(Math(v.total(s.of), v.total_tex(s.of)), f" ({s.step})") for s in ex.backward
                     if s.step in b.reused_by]
            rows.append(["reuse", 0, note_html(("this gradient is computed once and reused by ", *listed(grads)))])
        uses = sorted({t.upstream_step for t in b.terms if t.upstream_step}, key=lambda s: int(s[1:]))
        out.append({"id": b.step, "pass": "backward", "node": b.of, "head": heads[b.step], "part": b.part,
                    "rows": rows, "symbol": mathml(v.total_tex(b.of)), "uses": uses, "reused_by": b.reused_by})
    head, gloss = v.backward_intro()
    title = v.title() if ex.kind.name == "circuit" else f"{ex.title}, in {ex.notation.title}"
    text = {"title": html.escape(title), "at": note_html(_dollars(v.at_tex())),
            "forward": "Forward pass: the series of intermediate calculations",
            "backward": f"Backward pass: {note_html(head)}", "gloss": f"({note_html(gloss)})"}
    return {"steps": out, "text": text}


def _dollars(text: str) -> tuple:
    """``at $x = -2$`` (the narrative's LaTeX heading) -> prose and `Math` parts."""
    parts = text.split("$")
    return tuple(Math("", p) if i % 2 else p for i, p in enumerate(parts) if p)


def svg(pic, prefix: str) -> str:
    """A picture as inline SVG whose nodes and wires carry ids named after the graph: ``{prefix}-node-q``."""
    text = render(to_dot(pic), "svg").decode("utf-8")
    text = text[text.index("<svg"):]  # no XML prolog inside HTML
    seen: Counter = Counter()

    def named(m) -> str:
        kind, name = m.group(1), html.unescape(m.group(2))
        seen[key := f"{prefix}-{kind}-{name}"] += 1
        ends = dict(zip(("data-src", "data-dst"), name.split("->", 1))) if kind == "edge" else {"data-name": name}
        attrs = "".join(f' {k}="{html.escape(v)}"' for k, v in ends.items())
        ident = key if seen[key] == 1 else f"{key}#{seen[key]}"
        return f'<g id="{html.escape(ident)}" class="{kind}"{attrs}>\n<title>{m.group(2)}</title>'

    return _ELEMENT.sub(named, text)


def highlights(pic, units: dict, derivation, nodes) -> dict:
    """Per node: the picture's elements a forward step lights (its units, the wires into them) and a backward
    step lights (its units, the wires carrying their gradients, the consumers whose gradients it reuses).

    A node the picture leaves out lights its consumers, or the output (a network's softmax p is drawn in its loss)."""
    into, out = defaultdict(list), defaultdict(list)
    for w in pic.wires:
        into[w.dst].append(w)
        out[w.src].append(w)
    drawn, g = {b.id for b in pic.boxes}, derivation.graph
    key = lambda w: f"{w.src}->{w.dst}"

    def shown(n: str) -> list[str]:
        us = [u for u in units.get(n, []) if u in drawn]
        users = [c for c in g.consumers(n) if g[c].role == "forward"] or [derivation.output] * (n != derivation.output)
        return us or list(dict.fromkeys(u for c in users for u in shown(c)))

    forward, backward = {}, {}
    for n in nodes:
        us = shown(n)
        feeds = [w for u in us for w in into[u]]
        feeds += [t for w in feeds if w.src.endswith("(branch)") for t in into[w.src]]
        drains = [w for u in us for w in out[u] + out[f"{u}(branch)"]]
        ups = [w.dst for w in drains if not w.dst.endswith("(branch)") and w.dst != "(output)"]
        forward[n] = {"nodes": us, "edges": [key(w) for w in feeds]}
        backward[n] = {"nodes": us, "edges": [key(w) for w in drains], "upstream": list(dict.fromkeys(ups))}
    return {"forward": forward, "backward": backward}


def views(ex, notations: dict) -> tuple[list[dict], dict]:
    """(the views' JSON, view -> notation -> its SVG) in `notations` (name -> `Notation`); a unit view too large
    to draw says why instead."""
    d, names = ex.derivation, {f.node for f in ex.forward} | {b.of for b in ex.backward}
    if ex.kind.name == "circuit":
        pic = picture(d, ex.values)
        lit = highlights(pic, {b.id: [b.id] for b in pic.boxes}, d, names)
        return [{"key": "circuit", "label": VIEWS["circuit"], **lit}], {"circuit": {OWN: svg(pic, f"circuit-{OWN}")}}
    out, pictures = [], {}
    for key, expand_units in (("layer", False), ("unit", True)):
        try:
            units = expand(d).units if expand_units else {n: [n] for n in names}
            pics = {nt: picture(d, ex.values, n, ex.seed, expand_units, ex.title) for nt, n in notations.items()}
        except SymbackError as exc:
            why = str(exc).removeprefix("--expand: ").split("; ")[0]  # the command line's advice does not apply here
            out.append({"key": key, "label": VIEWS[key], "refused": f"{why}; the layer view shows it"})
            continue
        owner = {u: n for n, us in units.items() for u in us if u != n}
        lit = highlights(pics[COURSES[0]], units, d, names)
        out.append({"key": key, "label": VIEWS[key], "owner": owner, **lit})
        pictures[key] = {nt: svg(p, f"{key}-{nt}") for nt, p in pics.items()}
    return out, pictures


def _asset(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


def html_page(ex) -> str:
    """The whole page of an `Explanation`: one HTML file, everything inline."""
    if ex.kind.name == "circuit":
        explained = {OWN: ex}
    else:
        chosen = ex.notation.name  # a course of the user's own (sb.register_notation, or a Notation) comes last
        order = [*COURSES, *[chosen] * (chosen not in COURSES)]
        explained = {nt: ex if nt == chosen else type(ex)(ex.derivation, ex.values, nt, ex.seed, ex.title)
                     for nt in order}
    nts = list(explained)
    view_data, pictures = views(ex, {nt: e.notation for nt, e in explained.items()})
    data = {
        "notations": nts if nts != [OWN] else [],
        "notation": ex.notation.name if ex.kind.name != "circuit" else OWN,
        "titles": {nt: e.notation.title for nt, e in explained.items()} if nts != [OWN] else {},
        "views": view_data,
        "colors": {"value": VALUE_COLOR, "grad": GRAD_COLOR},
        "by": {nt: steps(e) for nt, e in explained.items()},
    }
    figures = "\n".join(
        f'<div class="sb-figure sb-view-{key}" id="sb-figure-{key}-{nt}" hidden>{s}</div>'
        for key, by in pictures.items() for nt, s in by.items()
    )
    # the JSON stays one script's text: no "</script" ends it, no "<!--" opens an HTML comment inside it
    payload = json.dumps(data, ensure_ascii=False).replace("</", "<\\/").replace("<!--", "\\u003c!--")
    return _asset("page.html").format(
        title=html.escape(f"symback: backprop step by step: {ex.title}"),
        css=_asset("page.css"), js=_asset("page.js"), figures=figures, data=payload,
    )


class Page:
    """The page for a notebook cell: Jupyter shows it in an iframe (its own document, its own script)."""

    def __init__(self, explanation, height: int = 760):
        self.html, self.height = html_page(explanation), height

    def __str__(self) -> str:
        return self.html

    def _repr_html_(self) -> str:
        doc = html.escape(self.html, quote=True)
        return (f'<iframe srcdoc="{doc}" style="width: 100%; height: {self.height}px; border: 1px solid #ddd" '
                'sandbox="allow-scripts"></iframe>')
