"""The CNN example: the generated kernel learns scikit-learn's 8x8 digits to >= 98% test accuracy.

The module is the one tests/test_conv_compiled.py checks against the oracle and in float32 (`digits_module`,
compiled once for both files, blas layout); the training itself takes about a second."""

import importlib.util
import runpy

import pytest
from test_conv_compiled import EXAMPLE, digits_module

# skipped without scikit-learn, as importorskip would, but not imported at collection (0.6 s CPU in each xdist worker)
pytestmark = pytest.mark.skipif(importlib.util.find_spec("sklearn") is None, reason="could not import 'sklearn'")


def test_the_digits_cnn_reaches_98_percent(tmp_path):
    example = runpy.run_path(str(EXAMPLE), run_name="digits_cnn_example")
    _, history = example["train"](epochs=30, batch=32, lr=0.01, seed=0, progress=False, module=digits_module()[0])
    assert history["test_acc"][-1] >= 0.98
    assert history["loss"][-1] < history["loss"][0] / 5
    example["plot"](history, tmp_path / "curve.png")
    assert (tmp_path / "curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
