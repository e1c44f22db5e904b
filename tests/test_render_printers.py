"""The printer family, the format-free document and the one node -> course-symbol map."""

import re
from pathlib import Path

import pytest
import sympy as sp

import symback as sb
from symback.notation import get
from symback.notation.nodes import Error, Grad, Idx, Loss, Own, Quantity, Share, at, depth, spell, symbols, term
from symback.notation.unicode import course
from symback.render import equations, render_derivation, render_gradient
from symback.render.document import Cat, Dims, Document, Layers, Partial, Word
from symback.render.grad import worksheet
from symback.render.network import document
from symback.render.pages import PAGES, HtmlPage, LatexPage, MarkdownPage, TextPage, UnicodePage
from symback.render.printers import Display, LatexPrinter, TextPrinter, UnicodePrinter
from symback.declare.spec import load_spec

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def toy():
    return load_spec(str(ROOT / "examples/udl_toy.py")).derive()


@pytest.fixture(scope="module")
def dag():
    return load_spec(str(ROOT / "examples/foml_dag.py")).derive()


# -- the node -> course-symbol map (symback.notation.nodes) --------------------------------------


def test_term_names_each_node_by_the_quantity_it_holds(toy):
    g = toy.graph
    assert term(g, "f2") == Quantity("pre", 2)
    assert term(g, "x") == Quantity("input")
    assert term(g, "W4") == Quantity("weight", 4)
    assert term(g, "l") == Loss()
    assert term(g, "dl_df3") == Error(3)
    assert term(g, "dl_dh1") == Grad(Quantity("act", 1))
    assert term(g, "dl_dW1") == Grad(Quantity("weight", 1))
    assert term(g, "f2", batch=True) == Quantity("pre", 2, batch=True)
    assert term(g, "W2", batch=True) == Quantity("weight", 2)  # parameters have no minibatch matrix
    assert depth(g) == 4 and at(g)[("act", 3)] == "h3"


def test_a_dag_keeps_its_own_names_and_names_each_share(dag):
    g = dag.graph
    assert term(g, "x0") == Own("x0") and term(g, "m") == Own("m")
    shares = [n.name for n in g.backward() if n.of == "x1" and n.meta.path is not None]
    assert {term(g, s) for s in shares} == {Share(Grad(Own("x1")), Own("m")), Share(Grad(Own("x1")), Own("c"))}


def test_spell_in_each_notation(toy):
    g = toy.graph
    assert [spell(get(n), term(g, "dl_df3")) for n in ("udl", "cs229", "foml")] == ["dl/df_2", "delta^[3]", "dl/ds^(3)"]
    assert spell(get("cs229"), term(g, "dl_dW2"), "latex") == r"\frac{\partial J}{\partial W^{[2]}}"
    assert spell(get("udl"), Quantity("pre", Idx(1) + 1)) == "f_{k+1}"  # a compound index keeps its braces
    assert spell(get("udl"), Error(2, batch=True)) == "Delta_1"
    assert spell(get("cs229"), Error(2, batch=True)) == "Delta^[2]"
    assert symbols(get("udl"), g)["dl_dh3"] == "dl/dh_3"


def test_unicode_spelling(toy, dag):
    assert course(get("udl"), term(toy.graph, "dl_dW4")) == "∂ℓ/∂Ω₃"
    assert course(get("foml"), term(toy.graph, "h1")) == "x⁽¹⁾"
    assert course(get("cs229"), term(toy.graph, "dl_df2")) == "δ^[2]"
    assert course(get("udl"), term(toy.graph, "W1"), "html") == "Ω₀"
    share = next(n.name for n in dag.graph.backward() if n.of == "x1" and n.meta.path == "m")
    assert course(get("udl"), term(dag.graph, share)) == "∂ℓ/∂x₁ (via m)"


# -- one printer per format, by _print_<Class> dispatch --------------------------------------------


def test_each_format_is_one_printer_subclass():
    assert issubclass(UnicodePrinter, TextPrinter)
    assert issubclass(MarkdownPage, LatexPage) and issubclass(LatexPage, LatexPrinter)
    assert issubclass(HtmlPage, UnicodePage) and issubclass(UnicodePage, TextPage)
    assert set(PAGES) == {"text", "unicode", "latex", "markdown", "html"}


@pytest.mark.parametrize(
    "printer, expected",
    [
        (TextPrinter, "dl/df_1 <- alpha 3×1 k = 0, ..., 5"),
        (UnicodePrinter, "∂ℓ/∂f₁ ← α 3×1 k = 0, …, 5"),
        (LatexPrinter, r"\frac{\partial \ell}{\partial \mathbf{f}_{1}} \leftarrow \alpha 3 \times 1 k = 0, \ldots, 5"),
    ],
)
def test_math_nodes_print_in_each_format(printer, expected):
    node = Cat(
        Partial(Loss(), Quantity("pre", 2)),
        " ",
        Word("arrow"),
        " ",
        Word("alpha"),
        " ",
        Dims((3, 1)),
        " ",
        Layers(tuple(range(6))),
    )
    assert printer({"notation": get("udl")}).math(node) == expected


def test_expressions_print_in_the_notation():
    h, g = sp.Symbol("h1"), sp.Symbol("dl_dh1")
    display = Display(
        names={"h1": Quantity("act", 1), "dl_dh1": Grad(Quantity("act", 1))},
        vectors={"h1", "dl_dh1"},
        adjoints={"dl_dh1"},
    )
    expr = h * (1 - h) * g
    nt = get("udl")
    assert TextPrinter({"display": display, "notation": nt}).doprint(expr) == "h_1 ⊙ (1 - h_1) ⊙ dl/dh_1"
    assert UnicodePrinter({"display": display, "notation": nt}).doprint(expr) == "h₁ ⊙ (1 - h₁) ⊙ ∂ℓ/∂h₁"
    assert LatexPrinter({"display": display, "notation": nt}).doprint(expr) == (
        r"\mathbf{h}_{1} \odot \left(1 - \mathbf{h}_{1}\right) \odot \frac{\partial \ell}{\partial \mathbf{h}_{1}}"
    )


# -- one format-free document, one entry point -----------------------------------------------------


def test_one_document_prints_in_every_format(toy):
    nt = get("cs229")
    doc = document(toy, nt, "denominator", steps=True)
    assert isinstance(doc, Document)
    for fmt in ("text", "latex", "markdown"):
        assert PAGES[fmt]({"notation": nt}).doprint(doc) == render_derivation(toy, fmt, "cs229", steps=True)
    unicode = render_derivation(toy, "unicode", "cs229")
    assert re.search(r"\n  δ\^\[3\] += I\[z\^\[3\] > 0\] ∘ ∂J/∂a\^\[3\] +3×1\n", unicode)
    page = render_derivation(toy, "html", "udl")
    assert page.count("<table") == page.count("</table>") > 0 and "∂ℓ/∂f₂" in page


def test_the_builders_name_no_format():
    """Builders make the document; only printers know formats."""
    for module in ("sections", "steps", "grad", "document"):
        source = (ROOT / "symback" / "render" / f"{module}.py").read_text()
        code = re.sub(r'"""(.|\n)*?"""', "", source)
        assert "fmt" not in code and "latex" not in code.lower(), module


def test_an_expression_renders_through_the_same_entry_point():
    g = sb.grad("q = x + y; f = q*z")
    table = g.at({"x": -2, "y": 5, "z": -4})
    assert render_derivation(g, "text") == render_gradient(g, None, "text") == g.render("text")
    assert table.render("latex") == LatexPage().doprint(worksheet(g, table))
    assert "∂f/∂q      ∂f/∂f × z" in g.render("unicode")


def test_equations_are_the_text_lines_of_derive(toy):
    text = render_derivation(toy, "text", "udl")
    for name, line in equations(toy, "udl").items():
        lhs, rhs = line.split(" = ", 1)
        assert re.search(re.escape(lhs) + r"\s+= " + re.escape(rhs), text), name


def test_error_terms_as_derivatives_for_views_that_write_them_so(toy):
    assert term(toy.graph, "dl_df2", deltas=False) == Grad(Quantity("pre", 2))
    assert course(get("cs229"), term(toy.graph, "dl_df2", deltas=False)) == "∂J/∂z^[2]"


def test_the_minibatch_form_of_a_dag_is_refused_in_one_line(dag):
    with pytest.raises(sb.SymbackError, match="minibatch form is written for layered networks"):
        render_derivation(dag, "text", batch=True)
