"""symback.gradcheck on a tiny hand-written module: it passes a right gradient and pinpoints a wrong one."""

from types import SimpleNamespace

import numpy as np

from symback.check.fd import gradcheck


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
    assert "[1, 2]" in text and "MISMATCH" in text
    data = report.to_dict()
    assert data["ok"] is False and data["params"][0]["index"] == [1, 2]


def test_cli_gradcheck_compiles_the_spec_and_passes_every_example_parameter():
    import json
    from pathlib import Path

    from test_grad_cli import run

    spec = str(Path(__file__).resolve().parent.parent / "examples" / "foml_dag.py")
    code, out, _ = run("gradcheck", spec, "--json")
    data = json.loads(out)
    assert code == 0 and data["ok"] is True
    assert {p["param"] for p in data["params"]} == {"w1", "w2"}
    assert all(p["worst_relative_error"] < 1e-6 for p in data["params"])
    code, _, err = run("gradcheck", "examples/missing.py")
    assert code == 2 and "no such file" in err
