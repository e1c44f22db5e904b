"""`symback check`: hand derivations against the derived ones (exit 0 equal, 1 different, 2 bad input)."""

import json
from pathlib import Path

import pytest
import sympy as sp
from cases import networks
from test_grad_cli import run

import symback as sb
from symback.check import check_derivation, randomdata
from symback.check.formula import parse_text, show
from symback.check.latex import parse as parse_latex_formula
from symback.check.names import Namespace
from symback.notation import Notation, Symbol

ROOT = Path(__file__).resolve().parent.parent
HAND = ROOT / "examples" / "hand"
NETS = networks()


def ex(name: str) -> str:
    return str(ROOT / "examples" / name)


def hand(name: str) -> str:
    return str(HAND / name)


# -- correct derivations: exit 0 ----------------------------------------------

CORRECT = [
    ("udl_toy.py", "udl_toy.txt", []),
    ("udl_toy.py", "udl_toy_latex.txt", []),
    ("cs229_two_layer.py:two_layer", "cs229_two_layer.txt", ["--notation", "cs229"]),
    ("cs229_two_layer.py:one_neuron", "cs229_one_neuron.txt", ["--notation", "cs229"]),
    ("foml_sigmoid.py", "foml_sigmoid.txt", ["--notation", "foml"]),
    ("foml_sigmoid.py", "foml_sigmoid_numerator.txt", ["--notation", "foml", "--layout", "numerator"]),
    ("cs7643_softmax.py:softmax_classifier", "cs7643_softmax.txt", ["--notation", "cs229"]),
    ("cs7643_softmax.py:perceptron", "cs7643_perceptron.txt", ["--notation", "cs229"]),
]


@pytest.mark.parametrize("spec, file, options", CORRECT, ids=[c[1] for c in CORRECT])
def test_a_correct_hand_derivation_exits_0(spec, file, options):
    code, out, err = run("check", ex(spec), "--hand", hand(file), *options)
    assert (code, err) == (0, ""), out + err
    n = sum(1 for line in out.splitlines() if line.startswith("equal "))
    assert n >= 3 and f"{n} equations: {n} equal, 0 different" in out


def test_the_circuit_hand_file_exits_0():
    code, out, _ = run("check", "(x + y)*z", "--hand", hand("circuit.txt"))
    assert code == 0 and "3 equations: 3 equal, 0 different" in out


# -- the classic mistakes: exit 1, the quantity, a counterexample, the likely cause ---------------

WRONG = [
    # (spec, file, options, quantity, cause kind, words the cause must say)
    ("udl_toy.py", "transpose.txt", [], "dl/dh_3", "transpose", "missing transpose on Omega_3"),
    ("udl_toy.py", "activation_derivative.txt", [], "dl/df_2", "activation_derivative", "a'(f_2)"),
    ("cs229_two_layer.py:two_layer", "sign.txt", ["--notation", "cs229"], "delta^[2]", "sign", "sign flip"),
    ("udl_toy.py", "wrong_layer.txt", [], "dl/dOmega_2", "index", "h_3 where h_2 belongs"),
    ("udl_toy.py", "factor_2.txt", [], "dl/df_3", "factor_2", "half of dl/df_3"),
    ("cs229_two_layer.py:two_layer", "sum_vs_mean.txt", ["--notation", "cs229"], "dJ/dW^[1]", "reduction",
     "1/B belongs in front"),
    ("foml_sigmoid.py", "layout.txt", ["--notation", "foml"], "dl/dW^(2)", "transpose", "numerator layout"),
]


@pytest.mark.parametrize("spec, file, options, lhs, kind, words", WRONG, ids=[w[1] for w in WRONG])
def test_each_classic_mistake_exits_1_with_counterexample_and_cause(spec, file, options, lhs, kind, words):
    code, out, err = run("check", ex(spec), "--hand", hand(f"wrong/{file}"), *options)
    assert code == 1 and err == "", out + err
    flat = " ".join(out.split())
    assert "DIFFERENT line" in flat and f": {lhs} = " in flat
    assert "counterexample: instance" in flat
    assert "likely cause: " in flat and words in flat, out
    code, out, _ = run("check", ex(spec), "--hand", hand(f"wrong/{file}"), *options, "--json")
    data = json.loads(out)
    wrong = [e for e in data["equations"] if e["status"] == "different"]
    assert [e["lhs"] for e in wrong] == [lhs]
    assert wrong[0]["likely_cause"]["kind"] == kind
    assert data["exit_code"] == 1


def test_a_counterexample_gives_both_values_at_one_entry():
    _, out, _ = run("check", ex("udl_toy.py"), "--hand", hand("wrong/factor_2.txt"), "--json")
    ce = json.loads(out)["equations"][0]["counterexample"]
    i, j = ce["entry"]
    assert ce["yours_value"][i - 1][j - 1] == ce["yours"] and ce["derived_value"][i - 1][j - 1] == ce["derived"]
    assert ce["derived"] == pytest.approx(2 * ce["yours"], rel=1e-12)
    assert set(ce["inputs"]) == {"x", "y"} and set(ce["params"]) == {f"{p}_{k}" for p in ("Omega", "beta") for k in range(4)}


# -- more mistakes, in every notation, through the Python API --------------------------------

TOY = NETS["udl_toy"]
TWO = NETS["cs229_two_layer"]
FOML = NETS["foml_sigmoid"]
MISTAKES = [
    (TOY, "udl", "dl/dOmega_1 = dl/df_1 h_2^T", "index", "h_2 where h_1 belongs (udl: f_1 = beta_1 + Omega_1 h_1)"),
    (TOY, "udl", "dl/df_0 = Omega_1^T dl/df_1", "activation_derivative", "a'(f_0)"),
    (TOY, "udl", "dl/df_1 = a(f_1) ⊙ Omega_2^T dl/df_2", "activation_derivative", "a'(f_1) belongs"),
    (TOY, "udl", "dl/dOmega_3 = h_3 dl/df_3", "transpose", "transpose on h_3"),
    (TOY, "udl", "dl/df_1 = a'(f_1) ⊙ (Omega_3^T dl/df_3)", "index", "Omega_2^T dl/df_2 in place of"),
    (TWO, "cs229", "dJ/dW^[2] = delta^[2] a^[2]^T", "index", "a^[2] where a^[1] belongs (cs229: z^[2] = W^[2] a^[1] + b^[2])"),
    (TWO, "cs229", "delta^[1] = W^[2]^T delta^[2] ⊙ sigma'(z^[1])", "activation", "relu"),
    (TWO, "cs229", "delta^[2] = (a^[2] - y) ⊙ relu'(z^[2])", "activation_derivative", "extra factor"),
    (TWO, "cs229", "delta^[1] = W^[2]^T delta^[2] ⊙ g'(z^[2])", "index", "z^[2] where z^[1] belongs"),
    (TWO, "cs229", "dJ/dW^[1] = 1/B Delta^[1] A^[1]^T", "index", "A^[1] where X belongs"),
    (FOML, "foml", "dl/ds^(2) = W^(3)^T dl/ds^(3)", "activation_derivative", "theta'(s^(2))"),
    (FOML, "foml", "dl/dW^(1) = x^(0) dl/ds^(1)^T", "transpose", "transpose"),
    (FOML, "foml", "dl/ds^(3) = -2 (x^(3) - y) ⊙ x^(3) ⊙ (1 - x^(3))", "sign", "negative"),
    (FOML, "foml", "dl/dW^(3) = dl/ds^(3) ⊙ x^(2)", "shape", "3x1"),
]


@pytest.fixture(scope="module")
def derived():
    return {id(net): net.derive() for net in (TOY, TWO, FOML)}


@pytest.mark.parametrize("net, notation, line, kind, words", MISTAKES, ids=[m[2] for m in MISTAKES])
def test_likely_causes_are_named_in_the_notation(net, notation, line, kind, words, derived):
    report = derived[id(net)].check(line, notation=notation)
    result = report.results[0]
    assert result.status == "different", str(report)
    assert result.cause is not None and result.cause.kind == kind, str(report)
    assert words in result.cause.message, result.cause.message
    assert report.exit_code == 1


@pytest.mark.parametrize("name", sorted(NETS))
def test_the_layer_recursions_check_equal_on_every_network(name):
    """Per-layer facts that hold whatever the activation and loss: any custom function, any width."""
    net = NETS[name]
    K = net.depth
    lines = [f"dJ/db^[{k}] = delta^[{k}]" for k in range(1, K + 1)]
    lines += [f"dJ/dW^[{k}] = delta^[{k}] a^[{k - 1}]^T" for k in range(1, K + 1)]
    lines += [f"delta^[{k}] = (W^[{k + 1}]^T delta^[{k + 1}]) ⊙ g'(z^[{k}])" for k in range(1, K)]
    lines += [f"dJ/dW^[{k}] = 1/B Delta^[{k}] A^[{k - 1}]^T" for k in range(1, K + 1)]
    report = net.derive().check("\n".join(lines), notation="cs229")
    assert report.ok, str(report)


def test_symbolic_widths_get_distinct_small_sizes():
    net = sb.Network("n", [sb.Dense("m", "tanh"), sb.Dense(2)], loss="mse")
    report = net.derive().check("dl/dOmega_0 = dl/df_0 x^T\ndl/dOmega_0 = x dl/df_0^T")
    assert [r.status for r in report.results] == ["equal", "different"]
    sizes = report.settings["sizes"]
    assert set(sizes) == {"n", "m"} and len({sizes["n"], sizes["m"], 2, report.settings["batch"]}) == 4
    assert report.results[1].cause.kind == "transpose"


def test_the_loss_sum_reduction_takes_no_one_over_b():
    net = sb.Network(2, [sb.Dense(3, "tanh"), sb.Dense(1)], loss="mse", reduction="sum")
    report = net.derive().check("dL/dOmega_1 = dl/dF_1 H_1^T\ndL/dOmega_1 = 1/B dl/dF_1 H_1^T")
    assert [r.status for r in report.results] == ["equal", "different"]
    assert report.results[1].cause.kind == "reduction" and "sum" in report.results[1].cause.message


# -- bad input: exit 2, one line ---------------------------------------------------------

BAD = [
    # (argv after "check", words in the message)
    ([ex("udl_toy.py"), "--hand", "no/such/file.txt"], "no such file"),
    ([ex("udl_toy.py"), "--hand", hand("cs229_two_layer.txt")], "'delta^[2]' is not a quantity"),
    (["no/such/net.py", "--hand", hand("udl_toy.txt")], "no such file"),
    (["(x + y)*z", "--hand", hand("circuit.txt"), "--notation", "cs229"], "apply to a network"),
    ([ex("udl_toy.py"), "--hand", hand("udl_toy.txt"), "--notation", "cs9999"], "unknown notation"),
    (["(x + y)*z", "--hand", hand("udl_toy.txt")], "is not a derivative of f"),
    ([ex("foml_dag.py"), "--hand", hand("udl_toy.txt")], "'dl/df_3' is not a quantity of this DAG"),
]


@pytest.mark.parametrize("argv, words", BAD, ids=[" ".join(b[0][-3:]) for b in BAD])
def test_bad_input_exits_2_with_one_line(argv, words):
    code, out, err = run("check", *argv)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and words in err, err


def test_an_unknown_quantity_lists_the_valid_names():
    code, _, err = run("check", ex("udl_toy.py"), "--hand", hand("cs229_two_layer.txt"))
    assert code == 2
    for name in ("dl/df_0..3", "dl/dOmega_0..3", "dl/dbeta_0..3", "h_1..3", "x"):  # ranges keep the line short
        assert name in err
    assert "cs229_two_layer.txt:3:" in err


BAD_LINES = [
    ("dl/df_3 = 2*(f_3 - y", ["hand.txt:1:", "expected ')'", "column 11"]),
    ("dl/df_3 = 2 $ f_3", ["hand.txt:1:", "unexpected '$' at column 3"]),
    ("dl/df_3 = \\frac{1}{", ["hand.txt:1:", "could not parse LaTeX", "column"]),
    ("dl/df_3 = W_2 x", ["hand.txt:1:", "'W_2' is not a name in udl notation", "valid names"]),
    ("\n# comment\ndl/df_9 = f_3", ["hand.txt:3:", "'dl/df_9' is not a quantity", "did you mean"]),
    ("dl/df_3 2*(f_3 - y)", ["hand.txt:1:", "expected 'LHS = RHS'"]),
    ("# nothing here\n", ["no equations"]),
    ("dl/df_1 = Omega_1 W'", ["hand.txt:1:", "not a function"]),
    ("dl/df_3 + 1 = f_3", ["hand.txt:1:", "should name one quantity"]),
]


@pytest.mark.parametrize("text, words", BAD_LINES, ids=[b[0].strip() for b in BAD_LINES])
def test_malformed_hand_formulas_say_which_line_and_where(text, words, tmp_path):
    path = tmp_path / "hand.txt"
    path.write_text(text)
    code, out, err = run("check", ex("udl_toy.py"), "--hand", str(path))
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1, err
    for w in words:
        assert w in err, err


def test_a_generic_activation_must_say_its_layer_when_layers_differ():
    net = sb.Network(2, [sb.Dense(3, "tanh"), sb.Dense(3, "relu"), sb.Dense(1)], loss="mse")
    with pytest.raises(ValueError, match="different activations"):
        net.derive().check("dl/df_1 = a'(Omega_1 h_1 + beta_1) ⊙ dl/dh_2")
    assert net.derive().check("dl/df_1 = a'(f_1) ⊙ dl/dh_2").ok


# -- --json for autograders ------------------------------------------------------------

def test_json_schema():
    code, out, _ = run("check", ex("udl_toy.py"), "--hand", hand("wrong/transpose.txt"), "--json")
    data = json.loads(out)
    assert code == 1
    assert set(data) == {"target", "hand", "kind", "notation", "layout", "instances", "batch", "widths", "sizes",
                         "tolerance", "seed", "equations", "summary", "exit_code"}
    assert (data["kind"], data["notation"], data["layout"], data["widths"]) == ("network", "udl", "denominator",
                                                                               [1, 3, 3, 3, 1])
    assert data["summary"] == {"equal": 1, "different": 1, "undecided": 0}
    ok, bad = data["equations"]
    assert set(ok) == {"line", "lhs", "rhs", "status", "counterexample", "likely_cause", "reason"}
    assert ok["status"] == "equal" and ok["counterexample"] is None and ok["likely_cause"] is None
    assert (bad["line"], bad["lhs"], bad["rhs"], bad["status"]) == (4, "dl/dh_3", "Omega_3 dl/df_3", "different")
    ce = bad["counterexample"]
    assert set(ce) == {"instance", "sample", "entry", "yours", "derived", "yours_value", "derived_value", "shapes",
                       "inputs", "params", "message", "scale"}
    assert ce["shapes"] == {"yours": [1, 3], "derived": [3, 1]} and "1x3" in ce["message"]
    assert ce["scale"] is None  # near the origin (a far point gives its factor)
    assert set(bad["likely_cause"]) == {"kind", "message"}


# -- scalar expressions: symback check EXPR --hand FILE ----------------------------------------

def test_scalar_expression_mode(tmp_path):
    path = tmp_path / "hand.txt"
    path.write_text("df/dx = z\ndf/dz = x - y\n")
    code, out, _ = run("check", "(x + y)*z", "--hand", str(path))
    assert code == 1
    lines = out.splitlines()
    assert any(line.startswith("equal") and "df/dx = z" in line for line in lines)
    assert any(line.startswith("DIFFERENT") and "df/dz = x - y" in line for line in lines)
    code, out, _ = run("check", "(x + y)*z", "--hand", str(path), "--json")
    data = json.loads(out)
    assert data["kind"] == "expression" and [e["status"] for e in data["equations"]] == ["equal", "different"]
    ce = data["equations"][1]["counterexample"]
    p = ce["inputs"]
    assert ce["yours"] == pytest.approx(p["x"] - p["y"]) and ce["derived"] == pytest.approx(p["x"] + p["y"])


def test_scalar_mode_names_steps_reads_latex_and_names_causes():
    g = sb.grad("q = x + y; f = q*z")
    report = g.check("df/dq = z\ndf/dx = \\frac{z}{1}\ndf/dy = -z\ndf/dz = 2*q\ndf/dx = q")
    assert [r.status for r in report.results] == ["equal", "equal", "different", "different", "different"]
    assert [r.cause.kind for r in report.results[2:]] == ["sign", "factor_2", "variable"]
    with pytest.raises(ValueError, match="'w' is not a variable"):
        g.check("df/dx = w")
    x, w = sp.symbols("x w0")
    assert sb.grad((w * x - 1) ** 2).check("df/dw0 = 2*(w0*x - 1)*x").ok


# -- the grammar -------------------------------------------------------------------------

@pytest.mark.parametrize("text, shown", [
    ("W^[2]^T delta^[2] ⊙ g'(z^[1])", "W^[2]^T delta^[2] ⊙ g'(z^[1])"),  # ⊙ binds looser than products
    ("g'(z^[1]) o W^[2].T * delta^[2]", "g'(z^[1]) ⊙ W^[2]^T delta^[2]"),
    ("(W^{[2]T} delta^[2]) .* [z^[1] > 0]", "W^[2]^T delta^[2] ⊙ (z^[1] > 0)"),
    ("1/B Delta^[1] X^T", "1/B Delta^[1] X^T"),
    ("δ^[1] xᵀ", "delta^[1] x^T"),
    ("∂ℓ/∂Ω_1", "dl/dOmega_1"),
    ("-h_1^2", "-h_1^2"),
    ("I(f_0 >= 0) ⊙ dl/dh_1", "I(f_0 >= 0) ⊙ dl/dh_1"),
])
def test_text_grammar(text, shown):
    assert show(parse_text(text, "test")) == shown


@pytest.mark.parametrize("latex, text", [
    (r"\delta^{[2]} a^{[1]T}", "delta^[2] a^[1]^T"),
    (r"(W^{[2]\top} \delta^{[2]}) \odot g'(z^{[1]})", "(W^[2]^T delta^[2]) ⊙ g'(z^[1])"),
    (r"W^{[2]T} \delta^{[2]} \circ \mathbb{1}[z^{[1]} > 0]", "W^[2]^T delta^[2] ⊙ (z^[1] > 0)"),
    (r"\frac{\partial J}{\partial z^{[2]}} \left(a^{[1]}\right)^\top", "dJ/dz^[2] a^[1]^T"),
    (r"\operatorname{relu}'(z^{[1]}) \odot \frac{\partial J}{\partial a^{[1]}}", "relu'(z^[1]) ⊙ dJ/da^[1]"),
    (r"\sigma(z^{[1]}) \odot (1 - \sigma(z^{[1]}))", "sigma(z^[1]) ⊙ (1 - sigma(z^[1]))"),
    (r"\mathbb{1}_{z^{[1]} \geq 0} \odot \delta^{[1]}", "(z^[1] >= 0) ⊙ delta^[1]"),
])
def test_latex_reads_like_the_text_syntax(latex, text, derived):
    ns = Namespace(derived[id(TWO)], "cs229")
    got = parse_latex_formula(latex, ns.known, {"W", "a", "z", "delta", "x", "y"}, "test")
    want = parse_text(text, "test")
    assert show(got).replace("(", "").replace(")", "") == show(want).replace("(", "").replace(")", "")


def test_check_is_deterministic():
    d = TOY.derive()
    a = d.check(Path(hand("wrong/wrong_layer.txt"))).to_dict()  # a Path: a str is the formulas
    b = d.check(Path(hand("wrong/wrong_layer.txt"))).to_dict()
    assert a == b
    assert check_derivation(d, Path(hand("udl_toy.txt"))).ok


# -- what `symback derive` prints, a hand file can say -------------------------------------------

EXAMPLES = [("udl_toy.py", "net"), ("cs229_two_layer.py", "two_layer"), ("cs229_two_layer.py", "one_neuron"),
            ("foml_sigmoid.py", "net"), ("cs7643_softmax.py", "softmax_classifier"), ("cs7643_softmax.py", "perceptron")]


def _rendered_equations(d, notation, layout, batch):
    """The rendered forward, backward and gradient lines (text and LaTeX) as hand-file lines."""
    import re

    data = json.loads(d.render(format="json", notation=notation, layout=layout, batch=batch))
    lines = []
    for section in data["sections"]:
        for item in section["items"]:
            if item.get("op") != "=" or not item.get("name") or item.get("where") or item["name"] in ("l", "p"):
                continue
            text = re.sub(r"\s+\((fused|where)[^)]*\)\s*$", "", " ".join(item["rhs"]))
            latex = item["rhs_latex"] if isinstance(item["rhs_latex"], str) else " ".join(item["rhs_latex"])
            lines += [f"{item['lhs']} = {text}", f"{item['lhs_latex']} = {latex}"]
    return lines


@pytest.mark.parametrize("file, name", EXAMPLES, ids=[f"{f}:{n}" for f, n in EXAMPLES])
def test_every_rendered_equation_checks_equal(file, name):
    """symback derive's own equations, in every notation, layout and form, read back as a hand file."""
    import runpy

    d = runpy.run_path(ex(file))[name].derive()
    for notation in ("udl", "cs229", "foml"):
        for layout in ("denominator", "numerator"):
            for batch in (False, True):
                lines = _rendered_equations(d, notation, layout, batch)
                report = d.check("\n".join(lines), notation=notation, layout=layout)
                assert len(lines) >= 4 and report.ok, (notation, layout, batch, str(report))


# -- could not decide: exit 1, never a pass -----------------------------------------------------

def test_a_derived_value_that_is_never_finite_is_undecided():
    f, y = sp.symbols("f y")
    net = sb.Network(2, [sb.Dense(3, "tanh"), sb.Dense(1)], loss=sp.sqrt(-(f - y) ** 2 - 1))  # imaginary gradient
    report = net.derive().check("dl/dOmega_1 = dl/df_1 h_1^T")
    (r,) = report.results
    assert r.status == "undecided" and "not a finite number" in r.reason and report.exit_code == 1


def test_a_right_side_that_uses_its_own_left_side_proves_nothing():
    report = TWO.derive().check("delta^[1] = dJ/dz^[1]\ndJ/dW^[2] = delta^[2] a^[1]^T", notation="cs229")
    assert [r.status for r in report.results] == ["undecided", "equal"] and report.exit_code == 1
    assert "uses delta^[1] itself" in report.results[0].reason


# -- one seeded source of random data ---------------------------------------------------------

def test_random_data_is_seeded_and_drawn_per_target_kind():
    def draw(seed):
        rng = randomdata.generator(seed)
        return (randomdata.params(rng, {"W": (3, 2), "b": (3,)}), randomdata.inputs(rng, 2),
                [randomdata.targets(rng, kind, 4) for kind in (randomdata.LABEL, randomdata.PROBABILITY, randomdata.REAL)],
                randomdata.batch(rng, 2, 4, randomdata.LABEL), randomdata.point(rng, ["x", "y"]))

    assert repr(draw(7)) == repr(draw(7)) != repr(draw(8))  # small arrays: repr shows every number
    params, x, (label, prob, real), (X, Y), point = draw(7)
    assert params["W"].shape == (3, 2) and params["b"].shape == (3,) and x.shape == (2,)
    assert isinstance(label, int) and 0 <= label < 4 and prob.shape == real.shape == (4,)
    assert ((0 <= prob) & (prob < 1)).all() and (real < 0).any()  # uniform vs standard normal
    assert X.shape == (randomdata.BATCH, 2) and Y.shape == (randomdata.BATCH,) and ((0 <= Y) & (Y < 4)).all()
    assert list(point) == ["x", "y"]
    assert [randomdata.target_kind(loss, False) for loss in ("bce", "bce_with_logits", "mse", None)] == [
        randomdata.PROBABILITY, randomdata.PROBABILITY, randomdata.REAL, randomdata.REAL]
    assert randomdata.target_kind("softmax_cross_entropy", True) == randomdata.LABEL


def test_a_new_notation_is_read_in_its_own_symbols_and_the_capitalised_batch_names():
    """check takes its names from symback.notation: a course added as one Notation is read in its symbols."""
    course = Notation(name="test", title="a test course", layout="denominator",
                      pre=Symbol("u_{k}", r"u_{{{k}}}"), act=Symbol("v_{k}", r"v_{{{k}}}"),
                      weight=Symbol("M_{k}", r"M_{{{k}}}"), bias=Symbol("c_{k}", r"c_{{{k}}}"),
                      loss=Symbol("E", "E"), batch={"act": Symbol("Vb_{k}", r"Vb_{{{k}}}")})
    ns = Namespace(TOY.derive(), course)
    assert ns.listing() == "dE/du_1..4, dE/dv_1..3, dE/dM_1..4, dE/dc_1..4, u_1..4, v_1..3, M_1..4, c_1..4, x, y, E"
    for name, node, deriv in [("Vb_2", "h2", False), ("V_2", "h2", False), ("dE/dVb_2", "h2", True),
                              ("dE/dV_2", "h2", True), ("U_1", "f1", False), ("Delta_1", "f1", True)]:
        q = ns.get(name)
        assert (q.node, q.layer, q.deriv, q.batch) == (node, int(name[-1]), deriv, True), name
    assert not ns.get("Vb_2").alias and ns.get("V_2").alias  # the course's batch name is the one listed
    assert ns.get("M_3").node == "W3" and ns.get("dE/dc_1").node == "b1" and ns.get("v_0").node == "x"


def test_eulers_e_in_a_network_formula_is_just_a_wrong_formula(tmp_path):
    # e is Euler's number in a hand formula; the index repairs used to crash on it (AttributeError)
    path = tmp_path / "hand.txt"
    path.write_text("dl/dh_3 = h_3 e\n")
    code, out, err = run("check", ex("udl_toy.py"), "--hand", str(path))
    assert code == 1 and err == "", out + err
    assert "DIFFERENT line" in " ".join(out.split())
