"""Notebooks in the user's notation: ``net.derive(notation=...)``, ``show(...)`` and the Jupyter MIME bundles.

Each bundle is what IPython's own `DisplayFormatter` makes of the object, as a notebook cell would.
"""

from pathlib import Path

import pytest

import symback as sb
from symback.declare.spec import load_spec
from symback.derivation import View

formatters = pytest.importorskip("IPython.core.formatters", reason="pip install -e '.[test]' for IPython")

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
NET = sb.Network(n_in=1, layers=[sb.Dense(3, "relu"), sb.Dense(3, "relu"), sb.Dense(1)], loss="mse")
DEPTH = 3


def bundle(obj) -> dict:
    """The MIME bundle a Jupyter cell ending in `obj` receives."""
    data, _ = formatters.DisplayFormatter().format(obj)
    return data


def latex_symbols(notation: str) -> list[str]:
    """The notation's LaTeX symbol for every layer's pre-activation, activation, weight and bias, and the loss."""
    nt = sb.NOTATIONS[notation]
    kinds = [(kind, k) for k in range(1, DEPTH + 1) for kind in ("pre", "weight", "bias")]
    kinds += [("act", k) for k in range(1, DEPTH)]  # the output layer is linear: no activation node
    return [nt.symbol(kind, k, "latex") for kind, k in kinds] + [nt.symbol("loss", None, "latex")]


@pytest.fixture(scope="module")
def udl():
    return NET.derive()


@pytest.mark.parametrize("notation", sorted(sb.NOTATIONS))
def test_a_derivation_displays_in_the_notation_chosen_at_derive(notation, udl):
    d = NET.derive(notation=notation)
    data = bundle(d)
    assert set(data) == {"text/plain", "text/markdown", "text/latex"}
    assert data["text/markdown"] == udl.render("markdown", notation=notation)
    assert data["text/latex"] == udl.render("latex", notation=notation)
    assert str(d) == udl.render("text", notation=notation)
    for symbol in latex_symbols(notation):
        assert symbol in data["text/latex"] and symbol in data["text/markdown"], symbol


@pytest.mark.parametrize("notation", ["cs229", "foml"])
def test_derive_notation_changes_every_symbol(notation, udl):
    d = NET.derive(notation=notation)
    assert d.notation == notation and d.equations() == udl.equations(notation)
    shown = bundle(d)
    for symbol in latex_symbols("udl"):  # no UDL symbol is left anywhere
        assert symbol not in shown["text/latex"] and symbol not in shown["text/markdown"], symbol
    if notation == "cs229":  # every left-hand side is spelled differently, even in plain text
        ours, theirs = d.equations(), udl.equations()
        assert all(ours[n].split(" = ")[0] != theirs[n].split(" = ")[0] for n in ours)


def test_the_default_stays_udl(udl):
    assert udl.notation == "udl" and udl.layout is None
    assert str(udl) == udl.render(notation="udl") and "Omega_0" in str(udl)
    assert bundle(udl)["text/latex"] == udl.render("latex", notation="udl")


def test_a_layout_chosen_at_derive_is_remembered(udl):
    d = NET.derive(layout="numerator")
    assert str(d) == udl.render(layout="numerator") != str(udl)
    assert "Layout: numerator" in str(d)
    assert d.render(notation="cs229") == udl.render(notation="cs229", layout="numerator")  # kept across notations


def test_a_dag_takes_a_notation_at_derive():
    spec = load_spec(str(EXAMPLES / "foml_dag.py"))
    d = spec.derive(notation="foml")
    assert d.notation == "foml" and str(d) == spec.derive().render(notation="foml")


@pytest.mark.parametrize("fmt, mime", [("markdown", "text/markdown"), ("latex", "text/latex"), ("html", "text/html"),
                                       ("text", None)])
def test_show_displays_one_format_in_any_notation(fmt, mime, udl):
    view = udl.show(notation="cs229", format=fmt)
    data = bundle(view)
    assert set(data) == {"text/plain"} | ({mime} if mime else set())
    assert data["text/plain"] == str(view) == udl.render("text", notation="cs229")
    if mime:
        assert data[mime] == udl.render(fmt, notation="cs229")


def test_show_without_a_format_shows_as_the_result_does(udl):
    view = NET.derive(notation="cs229").show(notation="foml", steps=True)
    data = bundle(view)
    assert set(data) == {"text/plain", "text/markdown", "text/latex"}
    assert data["text/latex"] == udl.render("latex", notation="foml", steps=True)
    assert NET.derive(notation="cs229").show().render("markdown") == udl.render("markdown", notation="cs229")


def test_show_of_a_gradient_its_table_and_an_explanation():
    g = sb.grad("q = x + y; f = q*z")
    t = g.at(x=-2, y=5, z=-4)
    assert bundle(g.show(expand=True))["text/latex"] == g.render("latex", expand=True)
    table = bundle(t.show(format="latex"))
    assert set(table) == {"text/plain", "text/latex"} and table["text/latex"] == t.render("latex")
    assert table["text/plain"] == str(t)
    ex = sb.explain(g, at="x=-2,y=5,z=-4")
    shown = bundle(ex.show())
    assert set(shown) == {"text/plain", "text/markdown"}  # an explanation's LaTeX is a document section, not math
    assert shown["text/markdown"] == ex.render("markdown") and "already computed!" in shown["text/plain"]
    assert set(bundle(ex.show(format="latex"))) == {"text/plain", "text/latex"}
    assert isinstance(t.show(), View) and isinstance(ex.show(), View)


def test_explain_and_save_use_the_notation_chosen_at_derive(tmp_path):
    d = NET.derive(notation="cs229")
    ex = sb.explain(d, seed=0)
    assert ex.notation.name == "cs229" and "delta^[" in str(ex) and "Omega" not in str(ex)
    assert sb.explain(d, seed=0, notation="udl").notation.name == "udl"
    path = d.save(tmp_path / "net.md")
    assert path.read_text() == d.render("markdown") + ("" if d.render("markdown").endswith("\n") else "\n")
    assert "W^{[1]}" in path.read_text()


def test_check_uses_the_notation_chosen_at_derive():
    d = load_spec(str(EXAMPLES / "cs229_two_layer.py:two_layer")).derive(notation="cs229")
    assert d.check(EXAMPLES / "hand" / "cs229_two_layer.txt").ok
    with pytest.raises(sb.SymbackError, match="'delta\\^\\[2\\]' is not a quantity of this network in udl"):
        d.check(EXAMPLES / "hand" / "cs229_two_layer.txt", notation="udl")


@pytest.mark.parametrize("call, names", [
    (lambda: NET.derive(notation="bogus"), ["'bogus'", "cs229", "foml", "udl"]),
    (lambda: NET.derive(notation="cs230"), ["'cs230'", "cs229"]),
    (lambda: NET.derive(layout="diagonal"), ["'diagonal'", "numerator", "denominator"]),
    (lambda: NET.derive().show(notation="bogus"), ["'bogus'", "cs229", "foml", "udl"]),
    (lambda: NET.derive().show(format="pdf"), ["'pdf'", "markdown", "latex", "html", "text"]),
    (lambda: sb.grad("x*y").show(notation="cs229"), ["notation=", "networks and DAGs"]),
], ids=["unknown", "typo", "layout", "show-notation", "show-format", "expression"])
def test_a_bad_choice_is_one_value_error_line_naming_the_choices(call, names):
    with pytest.raises(ValueError) as err:
        call()
    message = str(err.value)
    assert "\n" not in message and all(n in message for n in names), message
