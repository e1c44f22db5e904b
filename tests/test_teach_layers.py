"""Batch norm, layer norm, dropout and pooling in the course's symbols, and taught (explain, draw, norms) correctly.

No compiled kernels here: every value comes from the NumPy evaluator, every derivation is made once per example.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import numpy as np
import pytest

import symback as sb
from symback.declare.spec import load_spec
from symback.teach import picture
from symback.teach.gradients import gradient_norms
from symback.teach.point import BATCH, batch_values, sample, values_at

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
LAYERS = ("cs231n_batchnorm", "layernorm_mlp", "dropout_digits", "digits_cnn")
#: IR names of the new layers' values, which no course writes
IR_NAMES = re.compile(r"\b(gamma1|beta1|mu1|sigma1|xhat1|bn1|n1|m1|d1|pool1|xhat_1|sigma_1|mu_1|pool_\{1\})\b")


@cache
def derived(example: str):
    return load_spec(str(EXAMPLES / f"{example}.py")).derive()


@pytest.mark.parametrize("example", LAYERS)
@pytest.mark.parametrize("notation", ["udl", "cs229", "foml"])
def test_no_ir_names_left_in_any_notation(example, notation):
    d = derived(example)
    for fmt in ("text", "latex"):
        out = d.render(fmt, notation=notation)
        assert IR_NAMES.findall(out) == [], (fmt, IR_NAMES.findall(out)[:5])


@pytest.mark.parametrize("notation, symbols", [
    ("udl", ["m_0 = sum_b f_0[b]/B", "fhat_0 = (f_0 - m_0)/s_0", "ftilde_0 = delta_0 + gamma_0 ⊙ fhat_0",
             "delta_0 is the shift (UDL's letter for batch norm's shift; beta is the bias)"]),
    ("cs229", ["mu^[1]     = sum_b z^[1][b]/B", "ztilde^[1] = beta^[1] + gamma^[1] ∘ zhat^[1]"]),
    ("foml", ["shat^(1)   = (s^(1) - mu^(1))/sigma^(1)", "dl/dgamma^(1) = shat^(1) ⊙ dl/dstilde^(1)"]),
])
def test_batch_norm_reads_in_the_course_symbols(notation, symbols):
    text = re.sub(r"\s+", " ", derived("cs231n_batchnorm").render("text", notation=notation))  # aligned, wrapped
    symbols = [re.sub(r"\s+", " ", s) for s in symbols]
    assert all(s in text for s in symbols), [s for s in symbols if s not in text]


def test_udl_shift_is_not_its_bias_in_latex():
    """UDL's bias is beta (bold): batch norm's shift is delta, so the two never print alike."""
    tex = derived("cs231n_batchnorm").render("latex", notation="udl")
    assert r"\boldsymbol{\delta}_{0}" in tex and r"\hat{\mathbf{f}}_{0}" in tex and r"\tilde{\mathbf{f}}_{0}" in tex
    assert r"\beta_{1}" not in tex and r"\boldsymbol{\beta}_{0}" in tex


@pytest.mark.parametrize("example, notation, lines", [
    ("layernorm_mlp", "cs229", ["ahat^[1]   = (a^[1] - mu^[1])/sigma^[1]", "z^[2]      = W^[2] atilde^[1] + b^[2]"]),
    ("dropout_digits", "udl", ["d_1 = 5 (h_1 ⊙ r_1)/4", "dl/dh_1 = 5 (r_1 ⊙ dl/dd_1)/4"]),
    ("digits_cnn", "foml", ["s^(2)    = W^(2) xbar^(1) + b^(2)"]),
])
def test_other_layers_read_in_the_course_symbols(example, notation, lines):
    text = re.sub(r"\s+", " ", derived(example).render("text", notation=notation))
    lines = [re.sub(r"\s+", " ", s) for s in lines]
    assert all(s in text for s in lines), [s for s in lines if s not in text]


def test_explain_batch_norm_follows_sample_one_of_a_real_batch():
    """A batch of one standardises every value to 0; the point is sample 1 of a batch of 4, numbers and all."""
    d = derived("cs231n_batchnorm")
    values = values_at(d, seed=3)
    params, inputs, y = sample(d, 3, "glorot", BATCH)
    batch = batch_values(d.graph, params, inputs, y)
    f1 = np.asarray(batch["f1"])  # (features, samples)
    assert f1.shape[-1] == BATCH
    np.testing.assert_allclose(values["mu1"], f1.mean(axis=-1), rtol=1e-12)
    np.testing.assert_allclose(values["xhat1"], (f1[:, 0] - f1.mean(axis=-1)) / np.sqrt(f1.var(axis=-1) + 1e-5),
                               rtol=1e-9)
    for name in ("xhat1", "bn1", "h1", "dl_df1", "dl_dW1", "dl_dgamma1"):
        assert np.linalg.norm(values[name]) > 1e-3, name
        np.testing.assert_allclose(values[name], np.asarray(batch[name])[..., 0], rtol=1e-12)
    np.testing.assert_allclose(params["gamma1"], 1.0)  # a scale starts at 1, as in PyTorch


def test_explain_batch_norm_says_so_and_fits_80_columns():
    for notation in ("udl", "cs229", "foml"):
        text = str(sb.explain(derived("cs231n_batchnorm"), notation=notation, seed=0))
        assert "at sample 1 of a random batch of 4 (seed 0; batch statistics need a batch)" in text.replace("\n  ", " ")
        assert [line for line in text.splitlines() if len(line) > 80] == []
        assert not re.search(r"‖∂\S+‖ = 0(?![.\d])", text), "a gradient of norm 0: the batch of one again"


@pytest.mark.parametrize("example", LAYERS)
def test_explain_and_draw_name_the_layers_by_course_symbols(example):
    text = str(sb.explain(derived(example), notation="udl", seed=0))
    assert [line for line in text.splitlines() if len(line) > 80] == []
    assert IR_NAMES.findall(text) == []
    pic = picture(derived(example), values_at(derived(example), 0), "udl", 0)
    labels = " ".join(f"{b.label} {b.formula}" for b in pic.boxes)
    assert IR_NAMES.findall(labels) == [] and len(pic.boxes) >= 8


def test_draw_head_names_the_batch():
    d = derived("cs231n_batchnorm")
    pic = picture(d, values_at(d, 0), "cs229", 0)
    assert "sample 1 of a random batch of 4, seed 0" in pic.title


@pytest.mark.parametrize("example, between", [("cs231n_batchnorm", "batch norm"), ("digits_cnn", "pooling")])
def test_norms_on_batch_norm_and_cnn(example, between):
    report = gradient_norms(derived(example), batch=8, notation="cs229")
    assert [layer.symbol for layer in report.layers] == ["z^[1]", "z^[2]"]
    assert all(np.isfinite(layer.delta) and layer.delta > 0 for layer in report.layers)
    out = report.render()
    assert f"({between} between the layers" in out and all(len(line) <= 80 for line in out.splitlines())


def test_norms_still_refuse_a_network_without_layers():
    with pytest.raises(sb.SymbackError, match="need a layered network"):
        gradient_norms(load_spec(str(EXAMPLES / "foml_dag.py")).derive())


def test_explain_writes_every_product_of_a_small_1d_conv():
    """Issue 12: a 5-sample signal and a 3-tap kernel, each output and each tap's gradient in numbers."""
    net = sb.Network((1, 5), [sb.Conv1D(1, 3, padding=1, activation="relu"), sb.Flatten(), sb.Dense(1)], loss="mse")
    text = str(sb.explain(net.derive(), notation="cs229", seed=0))
    assert [line for line in text.splitlines() if len(line) > 80] == []
    assert "each output, at this point (x[0], x[6] = 0: the zero padding):" in text
    flat = re.sub(r"\s+", " ", text)
    outputs = re.findall(r"z\^\[1\]\[(\d)\] = W\^\[1\]\[1\]·x\[\d\] \+ W\^\[1\]\[2\]·x\[\d\] \+ W\^\[1\]\[3\]·x\[\d\] "
                         r"\+ b\^\[1\] = (.*?) = (\S+)(?= z\^| F2)", flat)
    assert [i for i, _, _ in outputs] == ["1", "2", "3", "4", "5"]
    for _, products, total in outputs:  # the numbers shown add up to the value shown
        terms = [t.split("×") for t in products.split(" + ")]
        num = lambda t: float(t.strip("()"))
        value = sum(num(a) * num(b) for a, b in terms[:-1]) + num(terms[-1][0])
        assert value == pytest.approx(float(total), rel=2e-2, abs=2e-3)
    assert len(re.findall(r"∂J/∂W\^\[1\]\[\d\] = ", flat)) == 3

