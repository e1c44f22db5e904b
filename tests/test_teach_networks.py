"""Teach it, for networks and DAGs: pictures per module and per unit, the narrative (gradient norms across depth:
tests/test_gradient_norms.py)."""

import contextlib
import io
import json
import re
import runpy
import shutil
import struct
import xml.etree.ElementTree as ET
from pathlib import Path

import graphviz
import numpy as np
import pytest

import symback as sb
from symback.api import make_picture
from symback.cli import main
from symback.declare.spec import declared, load_spec
from symback.notation import Notation, Symbol, term
from symback.notation.unicode import course as course_text
from symback.teach.dot import SHARED_COLOR, to_dot
from symback.teach.point import batch_values, sample, values_at


def network_picture(derivation, notation, seed=None, expand=False):
    """The picture `symback draw SPEC` makes of a network, through the facade."""
    return make_picture(derivation, notation=notation, seed=seed, expand=expand)


ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
UDL_TOY = str(EXAMPLES / "udl_toy.py")
FOML_DAG = str(EXAMPLES / "foml_dag.py")
TIED = str(EXAMPLES / "tied_autoencoder.py")
RELU20 = str(EXAMPLES / "deep_mlp.py") + ":relu20"
TANH20 = str(EXAMPLES / "deep_mlp.py") + ":tanh20"
SVG = "{http://www.w3.org/2000/svg}"

needs_dot = pytest.mark.skipif(
    shutil.which("dot") is None, reason="Graphviz 'dot' not installed (make test installs it)"
)


def run(*argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([str(a) for a in argv])
        except SystemExit as exc:
            code = exc.code
    return code, out.getvalue(), err.getvalue()


def svg_texts(path) -> list[str]:
    """Every text of an SVG, the pieces of one <text> (sub/superscripts) joined."""
    return ["".join(t.itertext()) for t in ET.parse(path).getroot().iter(f"{SVG}text")]


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def declared_examples():
    for path in sorted(EXAMPLES.glob("*.py")):
        for name, obj in runpy.run_path(str(path)).items():
            if not name.startswith("_") and declared(obj) and name not in ("relu20", "tanh20"):
                yield f"{path.name}:{name}"


# -- numbers: one seeded sample, and a batch --------------------------------------------------------------


@pytest.mark.parametrize("spec", list(declared_examples()))
def test_the_batched_evaluator_agrees_with_the_reference_per_sample(spec):
    """values_at (the batch evaluator, one column) == Derivation.evaluate (numeric.py), node by node."""
    d = load_spec(str(EXAMPLES / spec)).derive()
    if any(n.op == "batch" for n in d.graph):
        pytest.skip("batch statistics: a sample has no value of its own (tests/test_batchnorm.py checks the batch)")
    values = values_at(d, seed=3)
    params, inputs, y = sample(d, seed=3)
    reference = d.evaluate(params, inputs, y)
    for name, ref in reference.items():
        np.testing.assert_allclose(
            np.asarray(values[name], dtype=float),
            np.asarray(ref, dtype=float),
            rtol=1e-12,
            atol=1e-12,
            err_msg=f"{spec}: node {name}",
        )


def test_a_batch_is_its_samples_side_by_side():
    """Teach's batch (samples as columns) through the core evaluator: sample b's values have index b last."""
    d = load_spec(str(EXAMPLES / "two_inputs.py")).derive()
    rng = np.random.default_rng(0)
    params, _, _ = sample(d, 0)
    X = {"xa": rng.normal(size=(3, 5)), "xb": rng.normal(size=(2, 5))}
    Y = rng.integers(0, 3, size=5)
    batch = batch_values(d.graph, params, X, Y)
    for b in range(5):
        one = d.evaluate(params, {k: v[:, b] for k, v in X.items()}, int(Y[b]))
        np.testing.assert_allclose(batch["dl_dpre"][:, b], one["dl_dpre"], rtol=1e-12)
        np.testing.assert_allclose(batch["l"][b], one["l"], rtol=1e-12)
        np.testing.assert_allclose(batch["dl_dW1"][..., b], one["dl_dW1"], rtol=1e-12)


# -- pictures ----------------------------------------------------------------------------------------------


@needs_dot
def test_udl_picture_has_one_box_per_module_in_course_symbols_with_shapes(tmp_path):
    path = sb.draw(UDL_TOY, path=tmp_path / "toy.svg", notation="udl")
    texts = svg_texts(path)
    for label in ("Ω₀", "β₀", "Ω₃", "β₃", "f₀", "h₁", "h₃", "f₃", "ℓ", "x", "y"):
        assert label in texts, label
    assert "= Ω₀ x + β₀" in texts and "= relu(f₀)" in texts and "= mse(f₃, y)" in texts
    assert "3×1" in texts and "3×3" in texts and "1×3" in texts  # the weights' shapes
    assert not [t for t in texts if re.search(r"\bW\d|\bb\d|\bf4\b", t)]  # no IR names leak through


@needs_dot
def test_cs229_picture_uses_real_superscripts(tmp_path):
    path = sb.draw(UDL_TOY, path=tmp_path / "toy.svg", notation="cs229")
    root = ET.parse(path).getroot()
    # W^[2]: the [2] is a superscript (raised text), not the literal text "W^[2]"
    raised = [t.text for t in root.iter() if t.get("baseline-shift") == "super"]
    assert "[2]" in raised and "[4]" in raised
    assert "W^[2]" not in path.read_text() and "W" in svg_texts(path)


@needs_dot
def test_shared_weight_feeds_two_modules_and_its_gradients_add(tmp_path):
    """FoML's DAG: w1 is used by s1 and x3; the trunk carries the norm of the sum, each branch its path."""
    d = load_spec(FOML_DAG).derive()
    pic = network_picture(d, "foml", seed=2)
    values = values_at(d, 2)
    trunk = next(w for w in pic.wires if w.src == "w1")
    branches = {w.dst: w for w in pic.wires if w.src == "w1(branch)"}
    assert trunk.shared and trunk.dst == "w1(branch)" and set(branches) == {"s1", "x3"}
    assert all(w.shared and w.branch for w in branches.values())
    assert trunk.grad == pytest.approx(np.linalg.norm(values["dl_dw1_via_s1"] + values["dl_dw1_via_x3"]))
    assert branches["s1"].grad == pytest.approx(np.linalg.norm(values["dl_dw1_via_s1"]))
    assert branches["x3"].grad == pytest.approx(np.linalg.norm(values["dl_dw1_via_x3"]))
    assert trunk.value == pytest.approx(np.linalg.norm(values["w1"]))
    # the loss comes last, with its value and gradient 1
    out = next(w for w in pic.wires if w.dst == "(output)")
    assert out.src == "l" and out.grad == 1 and out.value == pytest.approx(values["l"])
    path = sb.draw(d, seed=2, notation="foml", path=tmp_path / "dag.svg")
    text = path.read_text()
    assert text.count(f'stroke="{SHARED_COLOR}"') >= 3  # the shared parameter's trunk and both branches
    assert f"{branches['s1'].grad:.3g}" in svg_texts(path)


def test_tied_weight_enters_the_decoder_transposed():
    pic = network_picture(load_spec(TIED).derive(), "udl")
    tied = [w for w in pic.wires if w.note]
    assert [(w.src, w.dst, w.note) for w in tied] == [("W_enc(branch)", "xhat", "W_encᵀ")]


@needs_dot
def test_png_is_the_svg_at_144_dpi(tmp_path):
    svg = sb.draw(UDL_TOY, seed=0, path=tmp_path / "toy.svg")
    png = sb.draw(UDL_TOY, seed=0, path=tmp_path / "toy.png")
    root = ET.parse(svg).getroot()
    width_pt, height_pt = (float(root.get(k).removesuffix("pt")) for k in ("width", "height"))
    width, height = png_size(png.read_bytes())
    assert abs(width - 2 * width_pt) <= 3 and abs(height - 2 * height_pt) <= 3  # 144 dpi = 2 px per point
    assert width > 3 * height  # a chain, drawn left to right


def test_expanded_picture_has_every_unit_and_the_module_views_numbers():
    d = load_spec(UDL_TOY).derive()
    pic = network_picture(d, "udl", seed=0, expand=True)
    kinds = {}
    for kind in (b.kind for b in pic.boxes):
        kinds[kind] = kinds.get(kind, 0) + 1
    # 34 parameters, x and y; 10 pre-activation units, 9 ReLU units, the loss
    assert kinds["param"] == 34 and kinds["input"] == 2 and kinds["gate"] == 20
    labels = {b.id: b.label for b in pic.boxes}
    assert labels["W2_3_1"] == "Ω₁[3,1]" and labels["b1_2"] == "β₀[2]"
    assert pic.display["f1_2"] == "f₀[2]" and pic.display["h3_3"] == "h₃[3]"
    values = values_at(d, 0)
    wires = {(w.src, w.dst): w for w in pic.wires}
    assert float(wires[("l", "(output)")].value) == pytest.approx(values["l"], rel=1e-12)
    # the scalar graph's gradient of one weight is the module view's matrix entry
    assert float(wires[("W2_3_1", "f2_3")].grad) == pytest.approx(values["dl_dW2"][2, 0], rel=1e-9, abs=1e-15)


def test_expanded_units_in_cs229_are_subscripted_under_the_layer_superscript():
    """CS229 writes W^[1]_{ij}: unit (2, 1) of W^[1] is W₂,₁ with a raised [1]; a one-hot label is y[1..3]."""
    pic = network_picture(load_spec(str(EXAMPLES / "cs229_two_layer.py") + ":two_layer").derive(), "cs229", expand=True)
    labels = {b.id: b.label for b in pic.boxes}
    assert labels["W1_2_1"] == "W₂,₁^[1]" and pic.markup["W1_2_1"] == "W₂,₁<sup>[1]</sup>"
    assert pic.display["h1_3"] == "a₃^[1]"
    labels = {b.id: b.label for b in network_picture(load_spec(TIED).derive(), "udl", expand=True).boxes}
    assert labels["W_enc_3_5"] == "W_enc[3,5]"


def test_expand_refuses_a_network_too_big_to_read():
    code, out, err = run("draw", RELU20, "--expand", "-o", "/tmp/never.svg")
    assert code == 2 and out == "" and err.count("\n") == 1 and not Path("/tmp/never.svg").exists()
    assert err == (
        "symback: error: --expand: this network has 86,495 scalar nodes (weights, units, loss), more than the 120 "
        "a unit-by-unit picture shows readably; drop --expand for the layer view (one box per layer), "
        "or expand a smaller network\n"
    )


def _layout(pic) -> dict[str, tuple[float, float]]:
    """Node id -> (x, y) of the centre Graphviz gives it (y grows upwards), from ``dot -Tplain``."""
    plain = graphviz.Source(to_dot(pic)).pipe(format="plain").decode()
    return {p[1].strip('"'): (float(p[2]), float(p[3])) for p in (line.split() for line in plain.splitlines())
            if p[0] == "node"}


def test_expanded_dot_orders_units_by_layer_and_index():
    """The DOT of the unit picture fixes each column's order: f₀[1] above f₀[2] above f₀[3], Ω₁[1,·] and
    β₁[1] before Ω₁[2,·]; unit i of each layer shares row i; a branch skips the parameters' column."""
    pic = network_picture(load_spec(UDL_TOY).derive(), "udl", expand=True)
    assert ["f1_1", "f1_2", "f1_3"] in pic.columns and ["h3_1", "h3_2", "h3_3"] in pic.columns
    assert ["W1_1_1", "b1_1", "W1_2_1", "b1_2", "W1_3_1", "b1_3"] in pic.columns
    assert ["h1_1(branch)", "h1_2(branch)", "h1_3(branch)"] in pic.columns
    params = next(c for c in pic.columns if c[0] == "W2_1_1")
    assert params == ["W2_1_1", "W2_1_2", "W2_1_3", "b2_1", "W2_2_1", "W2_2_2", "W2_2_3", "b2_2",
                      "W2_3_1", "W2_3_2", "W2_3_3", "b2_3"]
    assert pic.rows["f2_3"] == pic.rows["h2_3"] == pic.rows["h2_3(branch)"] == "row 3" and "W2_3_1" not in pic.rows
    source = to_dot(pic)
    assert source == to_dot(network_picture(load_spec(UDL_TOY).derive(), "udl", expand=True))  # deterministic
    ranks = re.findall(r"\{\n\t\trank=same\n((?:\t\t.*\n)+?)\t\}", source)
    assert "\t\tf1_1 -> f1_2 [style=invis]\n\t\tf1_2 -> f1_3 [style=invis]\n" in ranks
    for unit in ("f2_2", "h2_2"):
        assert re.search(rf'\b{unit} \[label=<.*group="row 2"', source), unit
    assert re.search(r'"h1_2\(branch\)" -> f2_3 \[label=<.*minlen=2', source)
    assert not re.search(r"W\d_\d_\d -> \S+ \[.*minlen", source)


@needs_dot
def test_expanded_picture_reads_left_to_right_in_unit_order():
    """Where Graphviz puts the toy's units: every layer top to bottom in index order, rows level, layers in order."""
    pos = _layout(network_picture(load_spec(UDL_TOY).derive(), "udl", expand=True))
    for layer in ("f1", "h1", "f2", "h2", "f3", "h3"):
        ys = [pos[f"{layer}_{i}"][1] for i in (1, 2, 3)]
        assert ys[0] > ys[1] > ys[2], layer  # unit 1 on top
    for i in (1, 2, 3):
        row = [pos[f"{n}_{i}"] for n in ("f1", "h1", "f2", "h2", "f3", "h3")]
        assert all(abs(y - row[0][1]) < 0.01 for _, y in row)  # row i is straight
        assert [x for x, _ in row] == sorted(x for x, _ in row)  # and reads left to right
        assert pos[f"W2_{i}_1"][0] < pos[f"f2_{i}"][0] and pos[f"h1_{i}(branch)"][0] < pos[f"W2_{i}_1"][0]
    assert pos["W2_1_1"][1] > pos["b2_1"][1] > pos["W2_2_1"][1] > pos["b2_3"][1]  # Ω₁[1,·], β₁[1], Ω₁[2,·], ...


@needs_dot
def test_picture_title_is_the_specs_short_name(tmp_path):
    for spec, name in ((UDL_TOY, "udl_toy"), (str(EXAMPLES / "cs229_two_layer.py") + ":two_layer", "two_layer")):
        for extra in ([], ["--expand"]):
            code, _, err = run("draw", spec, *extra, "-o", tmp_path / "g.dot")
            assert code == 0 and err == ""
            title = re.search(r"label=<(.*?)<br/>", (tmp_path / "g.dot").read_text()).group(1)
            assert title.startswith(f"{name}   (") and "examples" not in title and ".py" not in title


def test_class_label_wire_says_which_class():
    """A class label's wire reads "y = 3 (class)", counted from 1 like y[1..3] of the unit picture, not a bare 2;
    a binary target reads "y = 1 (class)" or "y = 0 (class)", not a bare 1."""
    d = load_spec(str(EXAMPLES / "cs7643_softmax.py") + ":softmax_classifier").derive()
    assert values_at(d, 1)["y"] == 2  # the sample's class, counted from 0
    wire = next(w for w in network_picture(d, "udl", seed=1).wires if w.src == "y")
    assert wire.value == 2 and wire.value_text == "y = 3 (class)"
    assert '<font color="#1b7f3b">y = 3 (class)</font>' in to_dot(network_picture(d, "udl", seed=1))
    wires = network_picture(d, "udl", seed=1, expand=True).wires
    units = {w.src: float(w.value) for w in wires if w.src.startswith("y_")}
    assert units == {"y_1": 0, "y_2": 0, "y_3": 1}  # the same class as one-hot target units
    assert all(w.value_text == "" for w in network_picture(load_spec(UDL_TOY).derive(), "udl", seed=0).wires)
    # a perceptron's 0/1 target of binary cross-entropy is its class as it is, in both views
    d = load_spec(str(EXAMPLES / "cs7643_softmax.py") + ":perceptron").derive()
    for seed, said in ((0, "y = 1 (class)"), (1, "y = 0 (class)")):
        assert values_at(d, seed)["y"] == int(said[4])
        for expand in (False, True):
            wire = next(w for w in network_picture(d, "cs229", seed=seed, expand=expand).wires if w.src in ("y", "y_1"))
            assert wire.value_text == said, (seed, expand)
    assert all(w.value_text == "" for w in network_picture(d, "udl", expand=True).wires)  # no point, no numbers


# -- the narrative -----------------------------------------------------------------------------------------


def test_udl_narrative_lists_the_parameter_derivatives_in_the_lectures_order_with_reuse():
    text = str(sb.explain(UDL_TOY, notation="udl"))
    assert all(len(line) <= 80 for line in text.splitlines())
    forward = re.findall(r"F\d+\. (\S+) =", text)
    assert forward == ["f₀", "h₁", "f₁", "h₂", "f₂", "h₃", "f₃", "ℓ"]
    part1, part2 = text.split("Part 1:")[1].split("Part 2:")
    assert re.findall(r"B\d+\. ∂ℓ/∂(\S+) =", part1) == ["f₃", "h₃", "f₂", "h₂", "f₁", "h₁", "f₀"]
    params = re.findall(r"B\d+\. ∂ℓ/∂(\S+) =", part2)
    assert params == ["β₀", "Ω₀", "β₁", "Ω₁", "β₂", "Ω₂", "β₃", "Ω₃"]
    step = {s: b for b, s in re.findall(r"(B\d+)\. ∂ℓ/∂(\S+) =", text)}
    for k in range(4):
        # each parameter derivative multiplies into dl/df_k, computed once in part 1
        marks = re.findall(
            rf"{step['β' + '₀₁₂₃'[k]]}\. .*?\n(?:.*\n)*?.*↳ ∂ℓ/∂(f\S): already computed! \((B\d+)\)", part2
        )
        assert marks == [("f" + "₀₁₂₃"[k], step["f" + "₀₁₂₃"[k]])]
    assert "B2. ∂ℓ/∂h₃ = Ω₃ᵀ ∂ℓ/∂f₃" in text and "local factor ∂f₃/∂h₃ = Ω₃ᵀ" in text
    assert "B3. ∂ℓ/∂f₂ = I[f₂ > 0] ⊙ ∂ℓ/∂h₃" in text
    assert "∂ℓ/∂Ω₃ = ∂ℓ/∂f₃ h₃ᵀ" in text and "reads h₃ (F6), already computed in the forward pass" in text
    assert "∂ℓ/∂f₃ (B1) is reused by ∂ℓ/∂h₃ (B2), ∂ℓ/∂β₃ (B14), ∂ℓ/∂Ω₃ (B15)" in text


@pytest.mark.parametrize("i, spec", list(enumerate(declared_examples())))
def test_every_example_narrative_fits_80_columns(i, spec):
    notation = ("udl", "cs229", "foml")[i % 3]
    text = str(sb.explain(str(EXAMPLES / spec), notation=notation, seed=0))
    assert [line for line in text.splitlines() if len(line) > 80] == []
    assert "already computed!" in text or "start:" in text


def test_dag_narrative_adds_the_gradients_of_both_paths_with_numbers():
    ex = sb.explain(FOML_DAG, notation="foml", seed=1)
    text = str(ex)
    assert all(len(line) <= 80 for line in text.splitlines())
    assert "the value x₁ feeds 2 modules (m, c): the gradients of the paths add" in text
    assert "∂ℒ/∂x₁ = ∂ℒ/∂x₁ (via m) + ∂ℒ/∂x₁ (via c)" in text
    assert "the parameter w₁ feeds 2 modules (x₃, s₁)" in text
    latex, markdown = ex.render("latex"), ex.render("markdown")  # the same notes, in LaTeX's markup
    assert r"\intertext{the value $x_{1}$ feeds 2 modules ($m$, $c$): the gradients of the paths add}" in latex
    assert "- **B6.** the value $x_{1}$ feeds 2 modules ($m$, $c$): the gradients of the paths add" in markdown
    assert r"  - reads $x_{1}$ (F2), already computed in the forward pass" in markdown
    assert "↳ reads x₁ (F2), already computed in the forward pass" in text
    values = values_at(load_spec(FOML_DAG).derive(), 1)
    data = ex.to_dict()
    rows = {b["node"]: b for b in data["backward"]}
    assert rows["dl_dx1"]["value"] == pytest.approx(np.linalg.norm(values["dl_dx1"]))
    assert [p["value"] for p in rows["dl_dw1"]["factors"]] == pytest.approx(
        [np.linalg.norm(values["dl_dw1_via_x3"]), np.linalg.norm(values["dl_dw1_via_s1"])]
    )
    assert f"‖∂ℒ/∂x₁‖ = {np.linalg.norm(values['dl_dx1']):.3g}" in text


def test_cs229_latex_and_markdown_mark_reuse_under_the_factor():
    ex = sb.explain(str(EXAMPLES / "cs229_two_layer.py") + ":two_layer", notation="cs229", seed=0)
    latex = ex.render("latex")
    assert r"\underbrace{\frac{\partial J}{\partial z^{[2]}}}_{\text{already computed! (B1)}}" in latex
    assert r"{W^{[2]}}^{\top}" in latex  # a transposed superscripted symbol, braced
    assert latex.count("{") == latex.count("}") and latex.count(r"\begin{align*}") == 2
    markdown = ex.render("markdown")
    assert "#### Backward pass" in markdown and r"\frac{\partial J}{\partial W^{[1]}}" in markdown


def test_a_fused_loss_and_activation_is_one_step():
    """Sigmoid + cross-entropy: dJ/dz = a - y directly, its factors named."""
    text = str(sb.explain(str(EXAMPLES / "cs7643_softmax.py") + ":perceptron", notation="cs229"))
    assert "B1. δ^[1] = ∂J/∂z^[1] = a^[1] - y" in text and "simplified together" in text


def test_cli_explain_spec_text_and_json():
    code, out, err = run("explain", UDL_TOY, "--at", "seed=0", "--notation", "udl")
    assert code == 0 and err == ""
    assert out.startswith("udl_toy\n") and "at a random sample (seed 0)" in out  # titled by its short name
    code, out, _ = run("explain", FOML_DAG, "--seed", "0", "--json")
    data = json.loads(out)
    assert data["seed"] == 0 and data["forward"][0]["symbol"] == "s₁"
    w1 = next(b for b in data["backward"] if b["of"] == "w1")
    assert w1["branch"] and [p["consumer"] for p in w1["factors"]] == ["x3", "s1"]


@needs_dot
def test_cli_draw_spec(tmp_path):
    code, out, err = run("draw", UDL_TOY, "--seed", "0", "-o", tmp_path / "toy.png", "--json")
    assert code == 0 and err == ""
    data = json.loads(out)
    assert data["format"] == "png" and sum(n["kind"] == "param" for n in data["nodes"]) == 8
    code, out, _ = run("draw", UDL_TOY, "--expand", "-o", tmp_path / "units.svg")
    assert code == 0 and out.startswith("wrote") and "56 nodes" in out


# -- bad input ---------------------------------------------------------------------------------------------

LOG_NET = (
    "import sympy as sp\nimport symback as sb\nz = sp.Symbol('z')\nnet = sb.Network(3, [sb.Dense(2, sp.log(z))])\n"
)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["draw", "{ex}/udl_toy.py:nope", "-o", "{tmp}/g.svg"], "has no 'nope'"),
        (["draw", "{tmp}/missing.py", "-o", "{tmp}/g.svg"], "no such file"),
        (["draw", "{ex}/udl_toy.py", "--at", "x=1", "-o", "{tmp}/g.svg"], "'x' is not known for a network"),
        (["explain", "{ex}/udl_toy.py", "--at", "seed=-1"], "seed must be 0 or more"),
        (["explain", "{ex}/udl_toy.py", "--wrt", "W1"], "--wrt applies to expressions"),
        (["explain", "x*y", "--notation", "udl"], "--notation applies to a network SPEC"),
        (["draw", "x*y", "--expand", "-o", "{tmp}/g.svg"], "--expand draws a network SPEC"),
        (["draw", "{tmp}/log_net.py", "--seed", "0", "-o", "{tmp}/g.svg"], "undefined at this point (seed 0)"),
        (["explain", "{tmp}/log_net.py", "--seed", "0"], "undefined at this point (seed 0)"),
        (["norms", "{ex}/foml_dag.py"], "need a layered network"),
        (["norms", "{ex}/udl_toy.py", "--init", "xavier"], "unknown initialisation 'xavier'"),
        (["norms", "{ex}/udl_toy.py", "--scale", "two"], "expected numbers"),
        (["norms", "{ex}/udl_toy.py", "-o", "{tmp}/plot.jpg"], "unknown plot format '.jpg'"),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path, argv, message):
    (tmp_path / "log_net.py").write_text(LOG_NET)
    before = set(tmp_path.iterdir())
    code, _, err = run(*[a.replace("{tmp}", str(tmp_path)).replace("{ex}", str(EXAMPLES)) for a in argv])
    assert code == 2 and err.count("\n") == 1 and err.startswith("symback: error:") and message in err, err
    assert set(tmp_path.iterdir()) == before


def test_draw_spec_without_dot_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # in-process: graphviz looks `dot` up on PATH at each call
    code, _, err = run("draw", UDL_TOY, "-o", tmp_path / "t.svg")
    assert code == 2 and err.count("\n") == 1 and "apt-get install graphviz" in err
    assert list(tmp_path.iterdir()) == []


def test_a_layered_networks_input_takes_the_course_symbol():
    """FoML writes the input of a layered network x⁽⁰⁾, UDL's LaTeX a bold x; a DAG's inputs keep their names."""
    text = str(sb.explain(UDL_TOY, notation="foml"))
    assert "F1. s⁽¹⁾ = W⁽¹⁾ x⁽⁰⁾ + b⁽¹⁾" in text and "the outer product with x⁽⁰⁾" in text
    assert r"\boldsymbol{\Omega}_{0} \, \mathbf{x} + \boldsymbol{\beta}_{0}" in sb.explain(UDL_TOY).render("latex")
    assert "x₁" in str(sb.explain(FOML_DAG, notation="foml"))


def test_a_new_notation_names_every_node_from_the_one_map():
    """teach takes its symbols from symback.notation: a course added as one Notation is written in its symbols."""
    course = Notation(name="test", title="a test course", layout="denominator",
                      pre=Symbol("u_{k}", r"u_{{{k}}}"), act=Symbol("v_{k}", r"v_{{{k}}}"),
                      weight=Symbol("M_{k}", r"\mathbf{{M}}_{{{k}}}"), bias=Symbol("c_{k}", r"c_{{{k}}}"),
                      loss=Symbol("E", r"\mathcal{{E}}"))
    explained = sb.explain(UDL_TOY, notation=course)
    text = str(explained)
    assert "F1. u₁ = M₁ x + c₁" in text and "B1. ∂E/∂u₄ = 2(u₄ - y)" in text
    assert "B2. ∂E/∂v₃ = M₄ᵀ ∂E/∂u₄" in text
    latex = explained.render("latex")
    assert r"\mathbf{M}_{1}" in latex and r"\frac{\partial \mathcal{E}}{\partial u_{4}}" in latex
    symbols = explained.symbols  # a gradient's symbol is the notation's own spelling of it
    for node in symbols.graph.backward():
        assert symbols[node.name].text == course_text(course, term(symbols.graph, node.name, deltas=False))
