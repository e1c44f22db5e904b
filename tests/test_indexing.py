"""One indexing convention (issue 15, item 6): every rendered output counts components as the notation does.

The three course notations count a vector's components from 1 (`Notation.first`). A slice of the IR
(SymPy's 0-based, end-exclusive ``dl_dc[3:6, :]``) prints as the inclusive range ``dl/dc[4..6]``
(LaTeX ``\\left[...\\right]_{4..6}``), one component as ``c[4]``; no output shows a Python slice or a
component 0. Machine-readable JSON (`derive --json`'s ``expr``, SymPy's own form) keeps SymPy's slice.
What symback prints, `symback check` reads back.
"""

from __future__ import annotations

import dataclasses
import json
import re

import pytest
import sympy as sp

import symback as sb
from symback.api import explain, make_picture
from symback.check.formula import tokenize
from symback.errors import SymbackError
from symback.notation import NOTATIONS, get
from tests.codegen_support import example_specs

NOTATIONS_SHOWN = ("udl", "cs229", "foml")
EXAMPLES = example_specs()
SMALL = [(k, n) for k, n in EXAMPLES if not k.startswith(("deep_mlp", "train_digits"))]  # explained and drawn

PY_SLICE = re.compile(r"\[\s*-?\d*\s*:\s*-?\d*\s*(?:,[^\]\[]*)?\]")  # [3:6], [3:], [:3], [3:, :]
TEX_SLICE = re.compile(r"_\{\s*-?\d*\s*:\s*-?\d*\s*\}")  # _{3:6}
#: component indices as symback prints them: [2], [4..6], [3,1] in text; \right]_{4..6} in LaTeX (not a layer's ^[0])
INDICES = re.compile(r"(?<![\^{])\[(\d+(?:\.\.\d+)?(?:,\s*\d+(?:\.\.\d+)?)*)\]|\\right\]_\{(\d+(?:\.\.\d+)?)\}")
SUBSCRIPT_UNITS = re.compile(r"([₀-₉]+(?:,[₀-₉]+)+|[₀-₉]+)\^\[")  # CS229's units: a₂^[1], W₂,₁^[1]


@pytest.fixture(scope="module")
def derivations():
    return {key: net.derive() for key, net in EXAMPLES}


def slices(d) -> list[tuple[int, int]]:
    """The (start, stop) of every slice in a derivation's IR, 0-based and end-exclusive as SymPy holds them."""
    found = {s for n in d.graph if n.expr is not None for s in sp.sympify(n.expr).atoms(sp.MatrixSlice)}
    return sorted({(int(s.rowslice[0]), int(s.rowslice[1])) for s in found})


def machine_free(data, key=None):
    """A JSON document's strings a person reads: not `derive --json`'s ``expr`` (SymPy's own form)."""
    if isinstance(data, dict):
        return [s for k, v in data.items() if k != "expr" for s in machine_free(v, k)]
    if isinstance(data, list):
        return [s for v in data for s in machine_free(v, key)]
    return [data] if isinstance(data, str) else []


def assert_one_convention(text: str, where: str) -> None:
    """No Python slice, no component 0 (every notation shown counts from 1)."""
    assert not PY_SLICE.search(text), f"{where}: a Python slice {PY_SLICE.search(text).group(0)!r}"
    assert not TEX_SLICE.search(text), f"{where}: a Python slice {TEX_SLICE.search(text).group(0)!r}"
    for m in INDICES.finditer(text):
        numbers = [int(x) for x in re.findall(r"\d+", m.group(1) or m.group(2))]
        assert min(numbers) >= 1, f"{where}: a component counted from 0, {m.group(0)!r}"
    for m in SUBSCRIPT_UNITS.finditer(text):
        assert "₀" not in m.group(1).split(","), f"{where}: a unit counted from 0, {m.group(0)!r}"


def derive_outputs(d):
    variants = ({}, {"steps": True}, {"layout": "numerator"}) + (({"batch": True},) if d.summary.layered else ())
    for notation in NOTATIONS_SHOWN:
        for fmt in ("text", "latex", "markdown", "json"):
            for options in variants:
                yield f"derive {notation} {fmt} {options}", notation, fmt, d.render(fmt, notation=notation, **options)


@pytest.mark.parametrize("key", [k for k, _ in EXAMPLES])
def test_no_derivation_shows_a_python_slice_or_a_component_0(derivations, key):
    d, ranges = derivations[key], slices(derivations[key])
    for where, notation, fmt, out in derive_outputs(d):
        if fmt == "json":
            data = json.loads(out)
            for text in machine_free(data):
                assert_one_convention(text, where)
            machine = [q["expr"] for q in data["quantities"] if PY_SLICE.search(q["expr"] or "")]
            assert len(machine) >= len(ranges), machine  # SymPy's own form stays where a program reads it
            continue
        assert_one_convention(out, where)
        for start, stop in ranges:  # each slice as the inclusive range counted from 1
            shown = f"{start + 1}..{stop}" if stop > start + 1 else f"{start + 1}"
            assert (f"[{shown}]" if fmt == "text" else f"_{{{shown}}}") in out, (where, shown)


@pytest.mark.parametrize("key", [k for k, _ in SMALL])
def test_no_explanation_or_picture_shows_a_python_slice_or_a_component_0(derivations, key):
    d = derivations[key]
    for notation in NOTATIONS_SHOWN:
        ex = explain(d, notation=notation, seed=1)
        for fmt in ("text", "markdown", "latex"):
            assert_one_convention(ex.render(fmt), f"explain {notation} {fmt}")
        for text in machine_free(ex.to_dict()):
            assert_one_convention(text, f"explain {notation} json")
        for expand in (False, True):
            try:
                pic = make_picture(d, notation=notation, seed=1, expand=expand)
            except SymbackError:  # --expand refuses a network above its size limit
                assert expand
                continue
            labels = [*pic.display.values(), *(b.label for b in pic.boxes), *(b.formula for b in pic.boxes)]
            for text in labels + machine_free(pic.to_dict()):
                assert_one_convention(text, f"draw {notation} expand={expand}")


def test_the_lecture_dag_prints_its_slice_as_a_range_in_every_format(derivations):
    d = derivations["foml_dag"]
    assert "dl/dx1 (via c) = dl/dc[4..6]" in d.render("text")
    assert r"\left[\frac{\partial J}{\partial c}\right]_{4..6}" in d.render("latex", notation="cs229")
    assert "Components count from 1: v[i..j] holds the components i to j of v, both included." in " ".join(
        d.render("text").split())
    assert d.equations()["dl_dx1_via_c"] == "dl/dx1 (via c) = dl/dc[4..6]"  # the generated kernels' comment
    quantity = next(q for q in json.loads(d.render("json"))["quantities"] if q["name"] == "dl_dx1_via_c")
    assert (quantity["expr"], quantity["expr_text"]) == ("dl_dc[3:, :]", "dl/dc[4..6]")
    assert "∂ℓ/∂x₁ (via c) = ∂ℓ/∂c[4..6]" in explain(d).render("text")


def test_a_single_component_prints_as_one_index():
    dag = sb.DAG("pick")
    a, b = dag.input("a", 2), dag.input("b", 2)
    V, W = dag.param("V", (1, 2)), dag.param("W", (2, 3))
    cat = dag.concat("c", dag.map("u", dag.linear("s", V, a), "tanh"), b)
    dag.loss(dag.linear("o", W, cat), "mse")
    d = dag.derive()
    assert "dl/du = dl/dc[1]" in d.render("text") and r"\right]_{1} " in d.render("latex")
    assert ".." not in d.equations()["dl_du"]


def test_the_notation_says_where_counting_starts(monkeypatch, derivations):
    """`Notation.first` drives every printed index: a course counting from 0 sees dl/dc[3..5]."""
    assert {NOTATIONS[n].first for n in NOTATIONS_SHOWN} == {1}
    monkeypatch.setitem(NOTATIONS, "zero", dataclasses.replace(get("udl"), name="zero", first=0))
    out = " ".join(derivations["foml_dag"].render("text", notation="zero").split())
    assert "dl/dc[3..5]" in out and "Components count from 0:" in out


def test_unit_pictures_count_units_as_the_notation_does(derivations):
    """Units in brackets (UDL's Ω₁[3,1]) or as subscripts (CS229's W₃,₁^[2]) count from `Notation.first`."""
    udl = make_picture(derivations["udl_toy"], notation="udl", expand=True).display
    cs229 = make_picture(derivations["udl_toy"], notation="cs229", expand=True).display
    assert (udl["W2_3_1"], udl["b1_1"], cs229["W2_3_1"], cs229["b1_1"]) == ("Ω₁[3,1]", "β₀[1]", "W₃,₁^[2]", "b₁^[1]")
    labels = make_picture(derivations["two_inputs"], expand=True).display
    assert [labels[f"y_{k}"] for k in (1, 2, 3)] == ["y[1]", "y[2]", "y[3]"]  # a class label's one-hot units


# -- what symback prints, check reads back ------------------------------------------------------------

def test_the_printed_range_reads_back_as_one_name(derivations):
    for notation in NOTATIONS_SHOWN:
        line = derivations["foml_dag"].equations(notation)["dl_dx1_via_c"]
        rhs = line.split(" = ", 1)[1]
        tokens = tokenize(rhs, "line")
        assert [t.kind for t in tokens] == ["name", "end"] and tokens[0].value.endswith("/dc[4..6]"), tokens


HAND = """\
dl/df_3 = 2*(f_3[1] - y[1])
dl/dbeta_2[2] = dl/df_2[2]
{relu}
dL/dbeta_2[2..3] = mean(dl/dF_2[2..3])
dl/dbeta_2[3] = dl/df_2[2]
"""
RELU = {"denominator": "dl/df_2[1..2] = I(f_2[1..2] > 0) ⊙ dl/dh_3[ 1 .. 2 ]",  # columns
        "numerator": "dl/df_2[1..2] = dl/dh_3[1..2] ⊙ I(f_2[1..2] > 0)^T"}  # the derivatives are rows


@pytest.mark.parametrize("layout", ["denominator", "numerator"])
def test_check_reads_picked_components(derivations, layout):
    hand = HAND.format(relu=RELU[layout])
    report = derivations["udl_toy"].check(hand, notation="udl", layout=layout).to_dict()
    assert [r["status"] for r in report["equations"]] == ["equal"] * 4 + ["different"], report


@pytest.mark.parametrize(("rhs", "message"), [
    ("dl/df_2[4]", "dl/df_2 has components 1..3, counted from 1 in udl notation"),
    ("dl/df_2[0]", "dl/df_2 has components 1..3, counted from 1 in udl notation"),
    ("Omega_2[1] dl/df_2", "Omega_2 is not a vector"),
    ("(dl/df_2)[2]", "components are picked right after a name, e.g. dl/dc[4..6]"),
    ("2..3 dl/df_2", "components are picked right after a name"),
])
def test_check_refuses_a_pick_it_cannot_read(derivations, rhs, message):
    with pytest.raises(SymbackError, match=re.escape(message)):
        derivations["udl_toy"].check(f"dl/dbeta_2 = {rhs}\n", notation="udl")
