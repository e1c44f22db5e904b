"""The interactive backprop page as a file (issue 15, item 2), without a browser: size, nothing from outside,
the command line and the Python API. tests/test_page_browser.py clicks through it in Chromium.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import sys
from pathlib import Path

import pytest

import symback as sb
from symback.api import save
from symback.cli import main
from symback.notation import Notation, Symbol
from symback.teach.page import Page, html_page, mathml

ROOT = Path(__file__).resolve().parent.parent
TOY = str(ROOT / "examples/udl_toy.py")
CIRCUIT = "q = x + y; f = q*z"
pytestmark = pytest.mark.skipif(shutil.which("dot") is None,
                                reason="Graphviz's dot is missing: `make test` installs it")
#: a src=, href= or CSS url( that points outside the file: http:, https:, or protocol-relative //
EXTERNAL = re.compile(r"""(?:\b(?:src|href)\s*=\s*["']?|\burl\(\s*["']?)\s*(?:https?:|//)""", re.IGNORECASE)


def run(argv, capsys):
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def data(page: str) -> dict:
    """The JSON the page's script reads."""
    text = re.search(r'<script type="application/json" id="sb-data">(.*?)</script>', page, re.S).group(1)
    return json.loads(text)


@pytest.fixture(scope="module")
def toy_page() -> str:
    return html_page(sb.explain(TOY, seed=0, title="udl_toy"))


def test_the_toy_networks_page_is_one_small_file_that_loads_nothing(toy_page):
    assert len(toy_page.encode("utf-8")) < 1_000_000
    assert EXTERNAL.search(toy_page) is None
    assert "<link" not in toy_page and "@import" not in toy_page and "<iframe" not in toy_page
    assert toy_page.count("<script") == 2  # the data and the inline script, no src
    assert EXTERNAL.search('<img src="https://cdn.example/x.png">')  # the pattern finds what it must refuse
    assert EXTERNAL.search("background: url(//cdn.example/x.png)")


def test_every_picture_element_is_named_after_its_graph_node(toy_page):
    d = data(toy_page)
    assert d["notations"] == ["udl", "cs229", "foml"] and d["notation"] == "udl"
    assert [v["key"] for v in d["views"]] == ["layer", "unit"]
    for nt in d["notations"]:
        for node in ("f1", "h1", "f4", "l", "W1", "b1", "x", "y"):
            assert f'id="layer-{nt}-node-{node}"' in toy_page
        assert f'id="layer-{nt}-edge-W1-&gt;f1"' in toy_page and 'data-src="W1" data-dst="f1"' in toy_page
        assert f'id="unit-{nt}-node-W1_2_1"' in toy_page  # Ω₀[2,1] in the unit view
    unit = d["views"][1]
    assert unit["forward"]["f1"]["nodes"] == ["f1_1", "f1_2", "f1_3"]
    assert unit["owner"]["W1_2_1"] == "W1"


def test_every_step_is_there_in_every_notation_in_the_courses_order(toy_page):
    by = data(toy_page)["by"]
    params = {nt: [s["node"] for s in by[nt]["steps"] if s["part"] == 2] for nt in by}
    assert params["udl"] == ["b1", "W1", "b2", "W2", "b3", "W3", "b4", "W4"]  # β₀ before Ω₀, as UDL lists them
    assert params["cs229"] == ["W1", "b1", "W2", "b2", "W3", "b3", "W4", "b4"]
    for nt, steps in by.items():
        assert len(steps["steps"]) == 23
        assert all(s["uses"] for s in steps["steps"] if s["part"] == 2)  # each reuses an earlier gradient
    assert "𝜴" in by["udl"]["steps"][16]["symbol"] and "Ω" not in json.dumps(by["cs229"], ensure_ascii=False)


def test_the_circuits_steps_carry_upstream_times_local_and_the_numbers():
    d = data(html_page(sb.explain(CIRCUIT, at="x=-2,y=5,z=-4")))
    assert d["notations"] == [] and [v["key"] for v in d["views"]] == ["circuit"]
    steps = d["by"]["own"]["steps"]
    assert [(s["id"], s["node"]) for s in steps] == [
        ("F1", "q"), ("F2", "f"), ("B1", "f"), ("B2", "q"), ("B3", "x"), ("B4", "y"), ("B5", "z")]
    b3 = steps[4]["rows"][0][2].replace("\xa0", " ")
    assert 'class="sb-computed"' in b3 and "already computed! (B2)" in b3  # the reused df/dq, marked
    assert "<mo>×</mo>" in b3 and b3.endswith("<mo>−</mo><mn>4</mn></mrow></math>")  # (-4) × 1 = -4
    assert steps[3]["reused_by"] == ["B3", "B4"] and steps[3]["rows"][-1][0] == "reuse"
    assert d["views"][0]["backward"]["x"] == {"nodes": ["x"], "edges": ["x->q"], "upstream": ["q"]}


def test_a_network_too_large_for_the_unit_view_says_so():
    d = data(html_page(sb.explain(str(ROOT / "examples/deep_mlp.py:relu20"))))
    unit = d["views"][1]
    assert unit["refused"].startswith("this network has ") and unit["refused"].endswith("; the layer view shows it")
    assert "--expand" not in unit["refused"]


def test_mathml_draws_bold_symbols_and_marks_computed_gradients():
    assert "<mi>𝜴</mi>" in mathml(r"\boldsymbol{\Omega}_{0}") and "<mi>𝜷</mi>" in mathml(r"\boldsymbol{\beta}")
    marked = mathml(r"\underbrace{\frac{d f}{d q}}_{\text{already computed! (B2)}} \cdot 1")
    assert '<mrow class="sb-computed">' in marked and "\u23df" not in marked


def test_explain_writes_the_page_from_the_command_line(tmp_path, capsys):
    code, out, _ = run(["explain", CIRCUIT, "--at", "x=-2,y=5,z=-4", "-o", tmp_path / "page.html"], capsys)
    assert code in (0, None) and out.startswith(f"wrote {tmp_path / 'page.html'} (")
    page = (tmp_path / "page.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "circuit-own-node-q" in page
    code, out, _ = run(["explain", CIRCUIT, "--at", "x=-2,y=5,z=-4", "--format", "html"], capsys)
    assert code in (0, None) and out == page  # the same page on stdout
    code, out, _ = run(["explain", TOY, "--seed", "0", "--notation", "cs229", "--format", "html"], capsys)
    assert data(out)["notation"] == "cs229"  # the page opens in the notation asked for


def test_the_page_is_refused_where_it_does_not_apply(tmp_path, capsys):
    code, _, err = run(["derive", CIRCUIT, "-o", tmp_path / "d.html"], capsys)
    assert code == 2 and "not html" in err and "name a .txt" in err
    code, _, err = run(["explain", CIRCUIT, "--format", "html", "--standalone"], capsys)
    assert code == 2 and "--standalone makes a LaTeX document, not html" in err
    assert not list(tmp_path.iterdir())


def test_the_python_api_saves_the_page_and_shows_it_in_a_notebook(tmp_path):
    ex = sb.explain(CIRCUIT, at={"x": -2, "y": 5, "z": -4})
    assert ex.save(tmp_path / "page.html") == tmp_path / "page.html"
    page = (tmp_path / "page.html").read_text(encoding="utf-8")
    assert page == html_page(ex)  # the same page every time: rewriting it keeps no backup
    assert save(ex, tmp_path / "page.html") and not list(tmp_path.glob("*.bak*"))
    with pytest.raises(sb.SymbackError, match="not html"):
        save(sb.grad(CIRCUIT), tmp_path / "d.html")
    cell = ex.page()._repr_html_()
    assert cell.startswith('<iframe srcdoc="&lt;!DOCTYPE html&gt;') and 'sandbox="allow-scripts"' in cell
    assert html.unescape(cell.split('srcdoc="', 1)[1].split('" style=', 1)[0]) == page
    assert str(Page(ex)) == page and 'height: 900px' in ex.page(height=900)._repr_html_()


sys.path.insert(0, str(ROOT / "tools"))
from generate import targets  # noqa: E402  (every network declared in examples/*.py)


@pytest.mark.parametrize("spec", [spec for spec, _ in targets()])
def test_every_examples_page_lights_something_drawn_at_every_step(spec):
    page = html_page(sb.explain(str(ROOT / spec), seed=1))
    d = data(page)
    counts = {nt: len(by["steps"]) for nt, by in d["by"].items()}
    assert list(counts) == ["udl", "cs229", "foml"] and len(set(counts.values())) == 1
    for view in d["views"]:
        if view.get("refused"):
            assert view["key"] == "unit" and "scalar nodes" in view["refused"]
            continue
        for nt in d["notations"]:
            for step in d["by"][nt]["steps"]:
                lit = view[step["pass"]][step["node"]]["nodes"]  # a softmax p, drawn inside its loss: the loss
                assert lit and all(f'id="{view["key"]}-{nt}-node-{n}"' in page for n in lit), (nt, step["id"])


def test_a_course_of_ones_own_is_on_the_switch_and_opens_the_page():
    course = Notation(name="mine", title="my course (u_k, v_k, M_k, c_k)", layout="denominator",
                      pre=Symbol("u_{k}", r"u_{{{k}}}"), act=Symbol("v_{k}", r"v_{{{k}}}"),
                      weight=Symbol("M_{k}", r"\mathbf{{M}}_{{{k}}}"), bias=Symbol("c_{k}", r"c_{{{k}}}"),
                      loss=Symbol("E", r"\mathcal{{E}}"))  # not registered: passed as it is
    page = html_page(sb.explain(TOY, notation=course, seed=0))
    d = data(page)
    assert d["notations"] == ["udl", "cs229", "foml", "mine"] and d["notation"] == "mine"
    assert d["titles"]["mine"] == course.title and 'id="layer-mine-node-W1"' in page
    assert "<mi>𝐌</mi>" in d["by"]["mine"]["steps"][0]["rows"][0][2]  # F1: u₁ = M₁ x + c₁
