"""Images as PyTorch holds them: a CNN module takes X of shape (batch, C, H, W) (or (batch, C, L)) beside the flat
(batch, C*H*W) rows, C order, with bit-for-bit the same results; `input_grad` answers in X's shape; any other shape
is refused in one line that names both (DESIGN.md: "X of shape (batch, C, H, W)")."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from codegen_support import CACHE

import symback as sb
from symback.codegen import compile_derivation

NET = sb.Network(n_in=(2, 6, 6), layers=[sb.Conv2D(3, kernel=3, padding=1, activation="tanh"), sb.AvgPool(size=2),
                                         sb.Flatten(), sb.Dense(3)], loss="softmax_cross_entropy", name="images")


@pytest.fixture(scope="module")
def mod():
    CACHE.mkdir(parents=True, exist_ok=True)
    return compile_derivation(NET.derive(wrt=["x"]), CACHE / "image_inputs.py", force=True,
                              source="tests (image inputs)", layouts=("sample",))


def test_an_image_batch_gives_what_its_flat_rows_give(mod):
    rng = np.random.default_rng(0)
    params, X, Y = mod.init_params(seed=1), rng.normal(size=(4, 2, 6, 6)), rng.integers(0, 3, 4)
    flat = X.reshape(4, 72)
    assert mod.IMAGE == (2, 6, 6)
    assert np.array_equal(mod.forward(params, X), mod.forward(params, flat))
    (la, ga), (lb, gb) = mod.loss_and_grad(params, X, Y), mod.loss_and_grad(params, flat, Y)
    assert la == lb and all(np.array_equal(ga[n], gb[n]) for n in mod.PARAMS)
    dx = mod.input_grad(params, X, Y)
    assert dx.shape == X.shape and np.array_equal(dx.reshape(4, 72), mod.input_grad(params, flat, Y))
    twin = mod.Params(params.flat.copy())
    assert np.array_equal(mod.train(params, X, Y, 0.1, epochs=2, batch_size=3),
                          mod.train(twin, flat, Y, 0.1, epochs=2, batch_size=3))
    assert np.array_equal(params.flat, twin.flat)


@pytest.mark.parametrize("shape", [(4, 2, 6, 5), (4, 6, 6, 2), (4, 72, 1)])
def test_another_shape_is_refused_naming_both_accepted_ones(mod, shape):
    with pytest.raises(ValueError) as err:
        mod.forward(mod.init_params(seed=1), np.zeros(shape))
    assert str(err.value) == f"X: expected shape (batch, 72) or (batch, 2, 6, 6) with batch >= 1, got {shape}"


def test_a_network_of_vectors_says_nothing_of_images():
    path = Path(__file__).resolve().parent.parent / "generated" / "udl_toy.py"
    spec = importlib.util.spec_from_file_location("udl_toy_images", path)
    toy = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(toy)  # the shape is checked before any kernel compiles
    assert toy.IMAGE is None
    with pytest.raises(ValueError, match=r"^X: expected shape \(batch, 1\) with batch >= 1, got \(2, 1, 1\)$"):
        toy.forward(toy.init_params(seed=0), np.zeros((2, 1, 1)))
