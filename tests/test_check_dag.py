"""`symback check` on anything that derives: DAG specs (values, per-path shares), scalar named steps, and
the mistakes named by perturbing the derivation (issue 13, items 1-3)."""

import json
from pathlib import Path

import pytest
from test_grad_cli import run

import symback as sb
from symback.check import check_derivation
from symback.declare.spec import load_spec

ROOT = Path(__file__).resolve().parent.parent
HAND = ROOT / "examples" / "hand"


def ex(name: str) -> str:
    return str(ROOT / "examples" / name)


# -- right hand files: exit 0 ---------------------------------------------------------------

RIGHT = [("rnn3.py", "rnn3.txt"), ("residual.py", "residual.txt"), ("foml_dag.py", "foml_dag.txt"),
         ("tied_autoencoder.py", "tied_autoencoder.txt")]


@pytest.mark.parametrize("spec, file", RIGHT, ids=[r[1] for r in RIGHT])
def test_a_dag_hand_derivation_checks_equal(spec, file):
    code, out, err = run("check", ex(spec), "--hand", str(HAND / file))
    assert (code, err) == (0, ""), out + err
    n = sum(1 for line in out.splitlines() if line.startswith("equal "))
    assert n >= 7 and f"{n} equations: {n} equal, 0 different" in out
    assert "values, derivatives and per-path shares of a DAG" in out


# -- every named mistake in examples/hand/wrong: exit 1, the quantity, a counterexample, the cause ----

WRONG = [
    # (target, file, options, quantity, cause kind, words the cause must say)
    ("digits_decay.py", "missing_decay.txt", ["--notation", "cs229"], "dJ/dW^[2]", "missing_decay",
     "missing the weight-decay term 1/1000 W^[2]"),
    ("rnn3.py", "rnn3_missing_path.txt", [], "dl/dW", "missing_path", "W is used 2 times (by r3, r2), so dl/dW = dl/dW (via r3) + dl/dW (via r2); yours leaves out dl/dW (via r2) = dl/dr2 h1^T"),
    ("residual.py", "residual_outer_product.txt", [], "dl/dW1", "transpose",
     "transposed outer product: h dl/du^T is the transpose of dl/du h^T"),
    ("rnn3.py", "activation_twice.txt", [], "dl/da3", "twice", "the activation applied twice: h3 = tanh(a3)"),
    ("cs229_two_layer.py:two_layer", "pre_vs_act.txt", ["--notation", "cs229"], "dJ/dW^[2]", "pre_vs_act",
     "the pre-activation z^[1] where the activation a^[1] = relu(z^[1]) belongs"),
    ("foml_sigmoid.py", "other_activation_derivative.txt", ["--notation", "foml"], "dl/ds^(2)",
     "wrong_activation_derivative",
     "is tanh's derivative written with the activation, 1 - x^(2)^2, but s^(2) goes through sigmoid"),
    ("cs7643_softmax.py:softmax_classifier", "yhat_logits.txt", ["--notation", "cs229"], "delta^[1]", "yhat",
     "yhat is the prediction the softmax_cross_entropy loss sees, the probabilities p = softmax(z^[1])"),
    ("cs229_two_layer.py:two_layer", "sum_vs_mean.txt", ["--notation", "cs229"], "dJ/dW^[1]", "reduction",
     "1/B belongs in front"),
    ("q = x*y; f = q*z", "missing_local_factor.txt", [], "df/dx", "local_factor", "missing the local factor dq/dx = y"),
]


@pytest.mark.parametrize("target, file, options, lhs, kind, words", WRONG, ids=[w[1] for w in WRONG])
def test_each_named_mistake_exits_1_with_counterexample_and_cause(target, file, options, lhs, kind, words):
    spec = ex(target) if target.split(":")[0].endswith(".py") else target
    code, out, err = run("check", spec, "--hand", str(HAND / "wrong" / file), *options)
    assert code == 1 and err == "", out + err
    flat = " ".join(out.split())
    assert "DIFFERENT line" in flat and f": {lhs} = " in flat
    assert "counterexample: instance" in flat or "counterexample: point" in flat
    assert "likely cause: " in flat and words in flat, out
    code, out, _ = run("check", spec, "--hand", str(HAND / "wrong" / file), *options, "--json")
    wrong = [e for e in json.loads(out)["equations"] if e["status"] == "different"]
    assert [e["lhs"] for e in wrong] == [lhs] and wrong[0]["likely_cause"]["kind"] == kind
    assert wrong[0]["counterexample"]["yours"] is not None


def test_the_hand_file_may_be_the_second_argument():
    code, out, _ = run("check", ex("rnn3.py"), str(HAND / "rnn3.txt"))
    assert code == 0 and "11 equations: 11 equal, 0 different" in out
    for argv, words in (([ex("rnn3.py")], "which hand file?"),
                        ([ex("rnn3.py"), str(HAND / "rnn3.txt"), "--hand", str(HAND / "rnn3.txt")], "once")):
        code, out, err = run("check", *argv)
        assert (code, out) == (2, "") and words in err and len(err.strip().splitlines()) == 1


def test_every_file_in_wrong_is_tested():
    tested = {w[1] for w in WRONG} | {"transpose.txt", "activation_derivative.txt", "sign.txt", "wrong_layer.txt",
                                     "factor_2.txt", "layout.txt", "circuit.txt"}  # tests/test_check.py has those
    assert {p.name for p in (HAND / "wrong").iterdir()} == tested


# -- through the Python API ------------------------------------------------------------------

@pytest.fixture(scope="module")
def rnn():
    return load_spec(ex("rnn3.py")).derive()


@pytest.mark.parametrize("line, kind, words", [
    ("dl/dW = dl/dW (via r3)", "missing_path", "leaves out dl/dW (via r2)"),
    ("dl/dU = dl/dU (via a1) + dl/dU (via s2)", "missing_path", "leaves out dl/dU (via s3)"),
    ("dl/db = dl/da1 + dl/da2", "missing_path", "leaves out dl/db (via s3)"),
    ("dl/dh2 = W^T dl/da3 + dl/da2", None, ""),  # no one-edit explanation: different, with a counterexample
])
def test_dag_mistakes_through_the_api(rnn, line, kind, words):
    result = rnn.check(line).results[0]
    assert result.status == "different" and result.counterexample is not None
    assert (result.cause and result.cause.kind) == kind and words in (result.cause.message if result.cause else "")


@pytest.mark.parametrize("line", ["dl/da2 = (1 - h2^2) ⊙ (W^T dl/dr3)", "dl/dr3 = dl/da3", "a2 = W h1 + U x2 + b",
                                  "dl/dW (via r2) = dl/da2 h1^T", "dl/dh1 = W^T ((1 - h2^2) ⊙ W^T dl/da3)"])
def test_dag_lines_written_otherwise_are_equal(rnn, line):
    assert rnn.check(line).exit_code == 0


def test_a_dag_line_naming_no_value_is_bad_input(rnn):
    with pytest.raises(sb.SymbackError, match="is not a name in udl notation for this DAG"):
        rnn.check("dl/da1 = (1 - h1^2) ⊙ W^T dl/da2 (via r2)")


def test_a_share_used_where_the_whole_sum_belongs_is_named(rnn):
    result = rnn.check("dl/da1 = (1 - h1^2) ⊙ (W^T dl/dr2)").results[0]
    assert result.status == "equal"  # dl/dr2 = dl/da2: one path, so its share is the whole
    d = load_spec(ex("foml_dag.py")).derive()
    result = d.check("dl/ds1 = (1 - x1^2) ⊙ dl/dx1 (via m)").results[0]
    assert result.status == "different" and result.cause.kind == "missing_path"
    assert "only one path: dl/dx1 (via m) is one use's share; the whole dl/dx1 belongs" in result.cause.message


def test_a_dag_counterexample_names_every_input_and_parameter(rnn):
    report = rnn.check("dl/dW = dl/da3 h2^T")
    ce = report.to_dict()["equations"][0]["counterexample"]
    assert set(ce["inputs"]) == {"x1", "x2", "x3", "y"} and set(ce["params"]) == {"W", "U", "b", "V", "c"}
    assert report.to_dict()["kind"] == "network" and report.exit_code == 1


def test_a_dag_name_that_does_not_exist_is_bad_input(rnn):
    with pytest.raises(sb.SymbackError, match="'dl/dh4' is not a quantity of this DAG"):
        rnn.check("dl/dh4 = 0")


def test_derivation_check_takes_expressions_and_named_steps_too():
    d = sb.grad("q = x + y; f = q*z")
    report = d.check("df/dq = z\ndf/dx = z\ndf/dz = q")
    assert report.exit_code == 0 and report.kind == "expression"
    assert check_derivation(d, "df/dq = z").exit_code == 0  # the one entry point takes an expression too
    bad = d.check("df/dz = x").results[0]
    assert bad.status == "different" and bad.counterexample.unit == "point"


@pytest.mark.parametrize("line, words", [
    ("delta^[1] = W^[2]^T delta^[2] ⊙ sigma(z^[1]) ⊙ (1 - sigma(z^[1]))", "sigma(z^[1]) ⊙ (1 - sigma(z^[1])) is sigmoid'"),
    ("delta^[1] = W^[2]^T delta^[2] ⊙ a^[1] ⊙ (1 - a^[1])", "is sigmoid's derivative written with the activation"),
    ("delta^[1] = W^[2]^T delta^[2] ⊙ (1 - tanh(z^[1])^2)", "is tanh'(z^[1]), but z^[1] goes through relu"),
    ("dJ/dW^[1] = x delta^[1]^T", "transposed outer product: x delta^[1]^T is the transpose of delta^[1] x^T"),
    ("delta^[1] = W^[2]^T delta^[2] ⊙ g'(a^[1]) + 1", "no"),  # two slips at once: different, no one cause
])
def test_network_mistakes_are_named_with_the_right_factor(line, words):
    report = load_spec(ex("cs229_two_layer.py:two_layer")).derive().check(line, notation="cs229")
    cause = report.results[0].cause
    assert report.exit_code == 1 and (cause is None if words == "no" else words in cause.message), str(report)


# -- hand syntax a student writes --------------------------------------------------------------

@pytest.mark.parametrize("expr, line", [
    ("(x + y)^2", "df/dx = 2 (x + y)"),
    ("(x + y)^2", "df/dy = 2(x + y)"),
    ("lambda*x^2 + gamma*x + beta", "df/dx = 2 lambda x + gamma"),
    ("lambda*x^2 + gamma*x + beta", "df/dlambda = x^2"),
    ("lambda*x^2 + gamma*x + beta", r"df/dgamma = $x$"),
    ("x*exp(x)", "df/dx = exp(x) (1 + x)"),  # exp( is a call; (1 + x) after a bracket is a product
    ("q = x*y; f = q*z", "df/dx = df/dq × y"),
    ("q = x*y; f = q*z", "df/dx = z y = y z"),
])
def test_students_expression_syntax_reads_as_meant(expr, line):
    assert sb.grad(expr).check(line).exit_code == 0


@pytest.mark.parametrize("spec, notation, line", [
    ("udl_toy.py", "udl", "dl/df_3 = 2 (f_3 - y)"),
    ("udl_toy.py", "udl", "dl/df_3 = 2(f_3 - y)"),
    ("cs229_two_layer.py:two_layer", "cs229", "delta^[1] = W^[2]T delta^[2] ⊙ I[z^[1] > 0]"),
    ("cs229_two_layer.py:two_layer", "cs229", "dJ/da^[1] = W^[2]^T delta^[2]"),
    ("udl_toy.py", "udl", "dl/dOmega_k = dl/df_k h_k^T   for k = 1, 2, 3"),
    ("udl_toy.py", "udl", "dl/dbeta_k = dl/df_k   for k = 0, ..., 3"),
    ("udl_toy.py", "udl", (r"dl/dh_{k} = $\boldsymbol{\Omega}_{k}^{\top} \frac{\partial \ell}{\partial \mathbf{f}_{k}}"
                          r" \qquad \text{for } k = 1, \ldots, 3$")),
    ("cs7643_softmax.py:softmax_classifier", "cs229", "delta^[1] = yhat - y = p - y = softmax(z^[1]) - e_y"),
    ("cs7643_softmax.py:softmax_classifier", "cs229", "J = log(sum_j exp(z^[1][j])) - z^[1][y]"),
])
def test_students_network_syntax_reads_as_meant(spec, notation, line):
    report = load_spec(ex(spec)).derive().check(line, notation=notation)
    assert report.exit_code == 0, str(report)


@pytest.mark.parametrize("line", [
    "dz^[2]/da^[1] = W^[2]^T", "dJ/da^[1] = dz^[2]/da^[1] delta^[2]", "da^[1]/dz^[1] = diag(I[z^[1] > 0])",
    "delta^[1] = da^[1]/dz^[1] (dz^[2]/da^[1] delta^[2])", "dz^[1]/db^[1] = I", "dJ/dW^[2] = dz^[2]/dW^[2] delta^[2]",
    r"\frac{\partial z^{[2]}}{\partial a^{[1]}} = ${W^{[2]}}^{\top}$",
    "delta^[2] = d/dz^[2] [(z^[2] - y)^2/2]", "delta^[2] = d/dz^[2] [(z^[2] - y) ⊙ (z^[2] - y) / 2]",
])
def test_local_jacobians_read_as_the_steps_print_them(line):
    report = load_spec(ex("cs229_two_layer.py:two_layer")).derive().check(line, notation="cs229")
    assert report.exit_code == 0, str(report)


def test_a_wrong_local_jacobian_is_named():
    d = load_spec(ex("cs229_two_layer.py:two_layer")).derive()
    result = d.check("dz^[2]/da^[1] = W^[2]", notation="cs229").results[0]
    assert result.status == "different" and result.cause.kind == "transpose"
    numerator = d.check("dJ/da^[1] = delta^[2] dz^[2]/da^[1]\ndz^[2]/da^[1] = W^[2]", notation="cs229",
                        layout="numerator")
    assert numerator.exit_code == 0, str(numerator)
    twice = d.check("delta^[2] = d/dz^[2] [(z^[2] - y)^2]", notation="cs229").results[0]  # no 1/2 in J here
    assert twice.status == "different" and twice.cause.kind == "factor_2"


def test_a_rule_with_values_it_cannot_list_is_bad_input():
    d = load_spec(ex("udl_toy.py")).derive()
    with pytest.raises(sb.SymbackError, match="write a rule's values as 'for k = 0, 1, 2' or 'for k = 0, ..., 19'"):
        d.check("dl/dbeta_k = dl/df_k   for k = ..., 3")


def test_a_class_label_is_counted_from_1_in_every_message():
    d = load_spec(ex("cs7643_softmax.py:softmax_classifier")).derive()
    report = d.check("delta^[1] = p - 2 e_y", notation="cs229")
    ce = report.results[0].counterexample
    label = ce.inputs["y"]
    assert label in (1, 2, 3) and f"y = {label:g} (class)" in str(report)
    assert report.to_dict()["equations"][0]["counterexample"]["entry"][0] >= 1
