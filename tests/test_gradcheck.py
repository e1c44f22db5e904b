"""symback.gradcheck on a tiny hand-written module: it passes a right gradient, pinpoints a wrong one, and
fails on NaN or infinity; `symback gradcheck` and its numeric options."""

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from test_grad_cli import run

from symback.check.fd import gradcheck

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
EXAMPLE, TOY = str(EXAMPLES / "foml_dag.py"), str(EXAMPLES / "udl_toy.py")


def tiny_module(bug: bool = False):
    """f = W x + b, mean squared loss; with `bug`, dl/dW misses its factor 2 at one entry."""

    def loss_and_grad(params, X, Y):
        W, b = params["W"], params["b"]
        F = X @ W.T + b
        D = 2 * (F - Y) / len(X)
        gW = D.T @ X
        if bug:
            gW[1, 2] /= 2
        return float(np.sum((F - Y) ** 2) / len(X)), {"W": gW, "b": D.sum(axis=0)}

    def init_params(seed=0):
        rng = np.random.default_rng(seed)
        return {"W": rng.normal(size=(2, 3)), "b": rng.normal(size=2)}

    return SimpleNamespace(PARAMS=("W", "b"), SIZES=(3, 2), LOSS="mse", loss_and_grad=loss_and_grad,
                           init_params=init_params)


def test_a_right_gradient_passes_with_tiny_errors():
    report = gradcheck(tiny_module())
    assert report.ok and report.exit_code == 0
    assert all(p.worst < 1e-8 for p in report.params)
    assert "PASSED" in str(report)


def test_a_wrong_entry_is_reported_with_its_index_and_both_values():
    report = gradcheck(tiny_module(bug=True))
    assert not report.ok and report.exit_code == 1
    w = next(p for p in report.params if p.name == "W")
    assert w.index == (1, 2)
    assert abs(w.numeric - 2 * w.analytic) < 1e-6 * max(1, abs(w.numeric))
    text = str(report)
    assert "(2, 3)" in text and "MISMATCH" in text  # the text counts entries from 1, as every message does
    data = report.to_dict()
    assert data["ok"] is False and data["params"][0]["index"] == [1, 2]  # JSON: NumPy's index, from 0


def test_cli_gradcheck_compiles_the_spec_and_passes_every_example_parameter():
    code, out, _ = run("gradcheck", EXAMPLE, "--json")
    data = json.loads(out)
    assert code == 0 and data["ok"] is True
    assert {p["param"] for p in data["params"]} == {"w1", "w2"}
    assert all(p["worst_relative_error"] < 1e-6 for p in data["params"])
    code, _, err = run("gradcheck", "examples/missing.py")
    assert code == 2 and "no such file" in err


# -- a check cannot pass on NaN or infinity -----------------------------------------------------------------

def poisoned(where: str):
    """The tiny module with NaN or infinity in one place: the loss, one gradient entry, or the loss only
    once b[0] moves (so only the central difference of b[0] is NaN)."""
    base = tiny_module()
    b0 = base.init_params()["b"][0]

    def loss_and_grad(params, X, Y):
        loss, grads = base.loss_and_grad(params, X, Y)
        if where == "loss":
            loss = float("nan")
        elif where == "gradient":
            grads["W"][0, 1] = float("inf")
        elif params["b"][0] != b0:
            loss = float("nan")
        return loss, grads

    return SimpleNamespace(**{**vars(base), "loss_and_grad": loss_and_grad})


@pytest.mark.parametrize("where, says", [
    ("loss", "the loss is NaN"),
    ("gradient", "NaN or infinite values in W (1 in the gradient, 0 in central differences)"),
    ("difference", "NaN or infinite values in b (0 in the gradient, 1 in central differences)"),
])
def test_nan_or_infinity_anywhere_fails_and_says_where(where, says):
    report = gradcheck(poisoned(where))
    assert not report.ok and report.exit_code == 1
    text = str(report)
    assert "PASSED" not in text and text.splitlines()[-1].startswith("FAILED: ") and says in text, text
    assert says in " ".join(report.to_dict()["problems"])
    json.dumps(report.to_dict(), allow_nan=False)  # NaN and inf are null in JSON, which stays JSON


@pytest.mark.parametrize("option, value", [
    ("tolerance", float("nan")), ("tolerance", -1.0), ("tolerance", 0.0), ("tolerance", float("inf")),
    ("tolerance", True), ("tolerance", "1e-6"), ("h", 0.0), ("h", float("nan")), ("seed", -5), ("seed", 1.5),
    ("max_entries", 0),
])
def test_a_bad_numeric_option_is_refused_by_name(option, value):
    with pytest.raises(ValueError, match=rf"^{option} must be a"):
        gradcheck(tiny_module(), **{option: value})


def test_cli_gradcheck_fails_when_the_loss_is_nan(tmp_path):
    """A sqrt activation at He-initialised weights: negative pre-activations, NaN loss; exit 1, said."""
    spec = tmp_path / "sqrt_net.py"
    spec.write_text("import sympy as sp\nimport symback as sb\nz = sp.Symbol('z')\n"
                    "net = sb.Network(n_in=2, layers=[sb.Dense(3, sp.Lambda(z, sp.sqrt(z))), sb.Dense(1)], "
                    "loss='mse')\n")
    code, out, _ = run("gradcheck", str(spec), "--json")
    data = json.loads(out, parse_constant=lambda c: pytest.fail(f"{c} in JSON"))
    assert code == 1 and data["ok"] is False and data["loss"] is None
    assert data["problems"][0] == "the loss is NaN"


@pytest.mark.parametrize("value", ["nan", "-1", "0", "inf", "-inf", "1e400"])
def test_cli_tolerance_must_be_positive_and_finite(value):
    code, out, err = run("gradcheck", EXAMPLE, f"--tolerance={value}")
    assert code == 2 and not out
    assert err.count("\n") == 1 and err.startswith("symback: error: --tolerance must be a positive, finite"), err


@pytest.mark.parametrize("command", [
    ("gradcheck", EXAMPLE), ("draw", EXAMPLE, "-o", "never.svg"), ("explain", EXAMPLE), ("norms", TOY)])
def test_cli_seed_must_not_be_negative(command, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(*command, "--seed", "-5")
    assert code == 2 and not out and not list(tmp_path.iterdir())
    assert err == "symback: error: --seed must be an integer >= 0, got -5\n", err


def test_small_entries_are_not_failed_for_the_rounding_of_a_float64_loss():
    """The digits net's right gradient has entries near 1e-4 whose central differences carry ~3e-10 of rounding
    (a mean cross-entropy of 2.3 at h = 1e-6): relative errors up to a few 1e-6, within the noise allowance; the
    same entries off by 1e-6 (ten times the noise allowance) still fail."""
    from tests.codegen_support import compiled, example_specs

    mod = compiled("train_digits", dict(example_specs())["train_digits"])[0]
    report = gradcheck(mod)
    assert report.ok, str(report)
    assert 1e-9 < report.noise < 1e-6 and "rounding noise" in str(report)
    wrong = SimpleNamespace(**{k: getattr(mod, k) for k in ("PARAMS", "SIZES", "LOSS", "init_params")})

    def off(params, X, Y):
        loss, grads = mod.loss_and_grad(params, X, Y)
        grads["W1"][23, 31] += 1e-6
        return loss, grads

    wrong.loss_and_grad = off
    bad = gradcheck(wrong, max_entries=4096)
    assert not bad.ok and next(p for p in bad.params if p.name == "W1").index == (23, 31)
