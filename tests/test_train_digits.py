"""The training example: a generated kernel learns scikit-learn's 8x8 digits to >= 95% test accuracy."""

import importlib.util
from pathlib import Path

import pytest

# skipped without scikit-learn, as importorskip would, but not imported at collection (3 s in each xdist worker)
pytestmark = pytest.mark.skipif(importlib.util.find_spec("sklearn") is None, reason="could not import 'sklearn'")

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "train_digits.py"


@pytest.fixture(scope="module")
def example():
    spec = importlib.util.spec_from_file_location("train_digits_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_minibatch_sgd_reaches_95_percent_and_the_loss_falls(example, tmp_path):
    _, history = example.train(epochs=30, batch=32, lr=0.1, seed=0, progress=False)
    assert history["test_acc"][-1] >= 0.95
    assert len(history["loss"]) == len(history["test_acc"]) == 30  # the callback ran after every epoch
    assert history["loss"][-1] < history["loss"][0] / 5
    example.plot(history, tmp_path / "curve.png")
    assert (tmp_path / "curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
