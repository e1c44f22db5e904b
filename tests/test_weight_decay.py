"""Weight decay (issue 11): ``Network(..., weight_decay=lam)`` adds lam/2 sum_k ||W_k||^2 once to the mean loss.

SymPy differentiates the declared penalty into dJ/dW = delta h^T + lam W (biases untouched); the three notations
print it; the compiled kernels match PyTorch autograd on loss + wd/2 sum W^2 and torch.optim.SGD(weight_decay=wd)
to 1e-9 in float64, and central differences of their own loss; `check` accepts the decayed lines and names the
missing term; bad values fail at declaration in one line (exit 2 on the CLI).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import sympy as sp
from test_grad_cli import run

import symback as sb
from symback.errors import SymbackError
from tests.codegen_support import ALL, compiled, rel, with_layout

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE, HAND = str(ROOT / "examples" / "digits_decay.py"), ROOT / "examples" / "hand"
LAM = sp.Symbol("lambda")
WD = 0.01


def network(weight_decay, widths=(4, 5, 3), act="tanh"):
    return sb.Network(widths[0], [sb.Dense(widths[1], act), sb.Dense(widths[2])], loss="softmax_cross_entropy",
                      weight_decay=weight_decay)


# -- derived ----------------------------------------------------------------------------------------------------

def test_the_weight_gradient_is_derived_as_delta_h_transposed_plus_lambda_w():
    d = network(LAM).derive()
    assert str(d.graph["dl_dW2"].expr) == "lambda*W2 + dl_df2*h1.T"
    assert str(d.graph["dl_dW1"].expr) == "lambda*W1 + dl_df1*x.T"
    assert str(d.graph["dl_db2"].expr) == "dl_df2"  # no decay on biases
    assert d.graph["l"].meta.regularizer.has(sp.Trace)  # what SymPy differentiated: lambda/2 Trace(W^T W) per weight
    plain = network(None).derive()
    assert [n.name for n in plain.graph] == [n.name for n in d.graph]
    assert network(0).derive().graph["dl_dW2"].expr == plain.graph["dl_dW2"].expr  # 0 is no decay
    for same in (np.float64(0.001), np.float32(0.001), sp.Rational(1, 1000), 1e-3):
        assert network(same).weight_decay == sp.Rational(1, 1000)
    assert plain.graph["l"].meta.regularizer is None


@pytest.mark.parametrize("notation, lines", [
    ("cs229", ["dJ/dW^[2] = delta^[2] a^[1]T + lambda W^[2]", "dJ/dW^[k] = delta^[k] a^[k-1]T + lambda W^[k]",
               "dJ/db^[2] = delta^[2] ", "W^[2] <- W^[2] - alpha ((p - e_y) a^[1]T + lambda W^[2])",
               "objective is J + lambda/2 sum_k ||W^[k]||^2"]),
    ("udl", ["dl/dOmega_1 = dl/df_1 h_1^T + lambda Omega_1", "objective is L + lambda/2 sum_k ||Omega_k||^2"]),
    ("foml", ["dl/dW^(2) = dl/ds^(2) x^(1)T + lambda W^(2)"]),
])
def test_every_notation_prints_the_decay_term_and_the_objective(notation, lines):
    text = " ".join(network(LAM).derive().render(notation=notation).split())
    for line in lines:
        assert " ".join(line.split()) in text, line
    latex = network(LAM).derive().render(format="latex", notation=notation)
    assert r"\lambda" in latex and r"\|" in latex


def test_json_and_markdown_name_the_decay():
    d = network(1e-3).derive()
    assert json.loads(d.render(format="json"))["network"]["weight_decay"] == "1/1000"
    assert "weight gradient gains" in d.render(format="markdown")
    assert "weight_decay" not in json.loads(network(None).derive().render(format="json"))["network"]


# -- compiled ---------------------------------------------------------------------------------------------------

def _torch_loss(torch, params, X, Y):
    F = torch.nn.functional
    h = torch.tanh(torch.tensor(X) @ params["W1"].T + params["b1"])
    return F.cross_entropy(h @ params["W2"].T + params["b2"], torch.tensor(Y))


@pytest.fixture(scope="module")
def kernel():
    return compiled("weight_decay_wd", network(WD), layouts=ALL)


def _batch(B, seed):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((B, 4)), rng.integers(0, 3, B)


def test_kernels_match_pytorch_autograd_and_sgd_weight_decay(kernel):
    torch = pytest.importorskip("torch")
    mod, _, _ = kernel
    for layout in ALL:
        with with_layout(mod, layout):
            for B in (1, 6):
                X, Y = _batch(B, B)
                params = mod.init_params(seed=B)
                loss, grads = mod.loss_and_grad(params, X, Y)
                t = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
                objective = _torch_loss(torch, t, X, Y) + WD / 2 * ((t["W1"] ** 2).sum() + (t["W2"] ** 2).sum())
                objective.backward()
                assert rel(loss, objective.item()) < 1e-9, (layout, B)
                for k in mod.PARAMS:
                    assert rel(grads[k], t[k].grad.numpy()) < 1e-9, (layout, B, k)
                # one sgd_step equals torch.optim.SGD(weight_decay=WD) on the plain loss
                t = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
                opt = torch.optim.SGD(list(t.values()), lr=0.1, weight_decay=WD)
                _torch_loss(torch, t, X, Y).backward()
                opt.step()
                mod.sgd_step(params, X, Y, 0.1)
                for k in mod.PARAMS:
                    assert rel(params[k], t[k].detach().numpy()) < 1e-9, (layout, B, k)


def test_kernel_gradient_equals_central_differences_of_its_loss(kernel):
    mod, _, _ = kernel
    X, Y = _batch(5, 0)
    params = mod.init_params(seed=3)
    _, grads = mod.loss_and_grad(params, X, Y)
    for k in ("W1", "W2", "b2"):
        fd = np.zeros_like(params[k])
        for i in np.ndindex(fd.shape):
            keep, h = params[k][i], 1e-6
            params[k][i] = keep + h
            up = mod.loss_and_grad(params, X, Y)[0]
            params[k][i] = keep - h
            fd[i] = (up - mod.loss_and_grad(params, X, Y)[0]) / (2 * h)
            params[k][i] = keep
        assert rel(grads[k], fd) < 1e-7, k


def test_the_module_docstring_says_the_loss_includes_the_penalty(kernel):
    mod, _, plan = kernel
    assert plan.decay == {"W1": WD, "W2": WD}
    assert "plus weight decay 0.01/2 ||W2||^2 once per batch" in mod.__doc__


def test_a_symbolic_lambda_derives_but_does_not_compile(tmp_path):
    with pytest.raises(SymbackError, match="symbolic coefficient lambda"):
        network(LAM).derive().compile(tmp_path / "m.py")


# -- checked ----------------------------------------------------------------------------------------------------

def test_check_accepts_the_decayed_hand_lines():
    code, out, err = run("check", EXAMPLE, "--hand", str(HAND / "digits_decay.txt"), "--notation", "cs229")
    assert (code, err) == (0, ""), out + err
    assert "6 equations: 6 equal, 0 different" in out and "+ 1/1000 W^[2]" in out


def test_check_names_the_missing_decay_term():
    argv = ("check", EXAMPLE, "--hand", str(HAND / "wrong" / "missing_decay.txt"), "--notation", "cs229")
    code, out, err = run(*argv)
    assert code == 1 and err == "", out + err
    assert "likely cause: missing the weight-decay term 1/1000 W^[2]" in " ".join(out.split())
    wrong = [e for e in json.loads(run(*argv, "--json")[1])["equations"] if e["status"] == "different"]
    assert [e["lhs"] for e in wrong] == ["dJ/dW^[2]"] and wrong[0]["likely_cause"]["kind"] == "missing_decay"


# -- bad input --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("bad", [-0.1, -1, math.nan, math.inf, "0.1", True, False, [0.1], sp.Symbol("a") + 1])
def test_a_bad_weight_decay_fails_at_declaration_in_one_line(bad):
    with pytest.raises(ValueError) as info:
        network(bad)
    assert "weight_decay must be a positive number or a SymPy symbol" in str(info.value)
    assert "\n" not in str(info.value)


def test_weight_decay_needs_a_mean_loss():
    with pytest.raises(SymbackError, match="weight_decay needs reduction='mean'"):
        sb.Network(2, [sb.Dense(1)], reduction="sum", weight_decay=0.1)


def test_the_cli_exits_2_on_a_bad_weight_decay(tmp_path):
    spec = tmp_path / "net.py"
    spec.write_text("import symback as sb\nnet = sb.Network(2, [sb.Dense(1)], weight_decay=-1)\n")
    code, out, err = run("derive", str(spec))
    assert code == 2 and out == "" and "weight_decay must be a positive number" in err
    assert len(err.strip().splitlines()) == 1
