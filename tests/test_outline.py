"""Repeated kernel steps as shared functions (`codegen/outline.py`): the 20-layer MLP's step calls one function per
kind of layer step, and computes bit for bit what its straight-line kernel computes. Both kernels run as Python (their
njit functions' `py_func`), so nothing here waits on a Numba compile."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from symback.codegen import compile_derivation, outline
from symback.codegen.plan import build
from tests.codegen_support import CACHE, batch, example_specs

NET = dict(example_specs())["deep_mlp:relu20"]


def as_python(mod):
    """`mod` with every njit function replaced by its Python function (the intrinsic `_view` by a reshape)."""
    for name, value in list(vars(mod).items()):
        if hasattr(value, "py_func"):
            setattr(mod, name, value.py_func)
    mod._view = mod._reshape
    return mod


@pytest.fixture(scope="module")
def modules():
    d = NET.derive()
    CACHE.mkdir(parents=True, exist_ok=True)
    cut = compile_derivation(d, CACHE / "outline_cut.py", force=True)
    old, outline.MIN_LINES = outline.MIN_LINES, 10**9  # no kernel repeats that much: straight-line code
    try:
        whole = compile_derivation(d, CACHE / "outline_whole.py", force=True)
    finally:
        outline.MIN_LINES = old
    return d, cut, whole


def test_each_kind_of_layer_step_is_one_function_called_once_per_layer(modules):
    _, cut, whole = modules
    text = Path(cut.__file__).read_text(encoding="utf-8")
    parts = re.findall(r"^def (_step_blas_\d+)\(B, ", text, flags=re.MULTILINE)
    kernel = text[text.index("def _step_blas("):text.index("return loss * scale")]
    calls = [len(re.findall(rf"^    {part}\(B, ", kernel, flags=re.MULTILINE)) for part in parts]
    assert calls == [20, 20, 19]  # the hidden layers' forward, their ReLU masks, the backward to h_1..h_19
    layer3 = "# f3: f_2 = Omega_2 h_2 + beta_2\n    # h3: h_3 = max(0, f_2)\n    _step_blas_1(B, h2, W3, f3, b3)\n"
    assert layer3 in kernel  # each call under its layer's equations; f3 and h3, one slot of the workspace, one array
    assert "def _step_blas_1(B, x, W1, f1, b1):\n    h1 = f1\n" in text
    assert "_step_blas_1" not in Path(whole.__file__).read_text(encoding="utf-8")


def test_the_cut_kernel_computes_what_the_straight_line_kernel_computes(modules):
    d, cut, whole = modules
    X, Y = batch(build(d), 3, np.random.default_rng(0))
    P = 0.1 * np.random.default_rng(1).standard_normal(cut.N_PARAMS)
    runs = []
    for mod in (as_python(cut), as_python(whole)):
        ws, p = np.zeros(mod._LAYOUTS["blas"][1](3)), P.copy()
        runs.append((mod._step_blas(p, X, Y, ws, 0.01, mod.SGD), ws, p))
    (loss, ws, p), (loss2, ws2, p2) = runs
    assert loss == loss2 and np.array_equal(ws, ws2) and np.array_equal(p, p2)
    assert not np.array_equal(p, P)  # an SGD step was taken
