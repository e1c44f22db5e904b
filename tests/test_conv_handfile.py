"""Hand files with conv and pool lines in index form: right lines are equal, the classic mistakes are named, and a
bad line is one SymbackError (read by the safe lexer, never evaluated as Python)."""

import runpy
from pathlib import Path

import pytest

import symback as sb

ROOT = Path(__file__).resolve().parent.parent
HAND = ROOT / "examples" / "hand"


@pytest.fixture(scope="module")
def digits():
    return runpy.run_path(str(ROOT / "examples" / "digits_cnn.py"), run_name="x")["net"].derive(wrt=["x"])


def test_the_digits_cnn_hand_file_is_equal(digits):
    report = digits.check(HAND / "digits_cnn.txt", notation="udl")
    assert report.exit_code == 0, str(report)
    assert str(report).count("\nequal ") + str(report).startswith("equal") == 9
    assert "sum_{i,j} dl/df_0[o, i, j] x[c, i + u - 1, j + v - 1]" in str(report)


def test_each_classic_mistake_is_named(digits):
    text = str(digits.check(HAND / "digits_cnn_mistakes.txt", notation="udl"))
    assert "3 equations: 0 equal, 3 different" in text, text
    for cause in ("kernel not flipped", "padding off by one: the taps read one further",
                  "gradient sent to every pooled input"):
        assert f"likely cause: {cause}" in text, cause


@pytest.mark.parametrize("strict, to", [(True, "none of them"), (False, "every one of them")])
def test_another_rule_at_a_max_pool_tie_is_named(digits, strict, to):
    """Dead ReLU units tie at 0 in a pooling window on every random instance: a max gate sending a tie to none of
    the tied entries (every indicator strict) or to all of them (every one >=) differs there, and is named."""
    right = next(line for line in (HAND / "digits_cnn.txt").read_text().splitlines() if line.startswith("dl/dh_1"))
    line = right.replace(">= 0]", "> 0]") if strict else right.replace(" > 0]", " >= 0]")
    assert line != right
    text = str(digits.check(line + "\n", notation="udl"))
    assert "1 equation: 0 equal, 1 different" in text, text
    assert f"yours sends it to {to}" in " ".join(text.split()), text


def test_a_stride_ignored_in_the_input_gradient_is_named():
    net = sb.Network(n_in=(1, 5, 5), layers=[sb.Conv2D(2, 3, stride=2), sb.Flatten(), sb.Dense(2)], loss="mse")
    d = net.derive(wrt=["x"])
    right = "dl/dx = (c, m, n) |-> sum_o, u, v dl/df_0[o, (m - u)/2, (n - v)/2] Omega_0[o, c, u, v]\n"
    wrong = "dl/dx = (c, m, n) |-> sum_o, u, v dl/df_0[o, m - u, n - v] Omega_0[o, c, u, v]\n"
    assert d.check(right, notation="udl").exit_code == 0
    text = str(d.check(wrong, notation="udl"))
    assert "DIFFERENT" in text and "likely cause: stride ignored in the input gradient" in text, text


@pytest.mark.parametrize("line, message", [
    ("dl/dOmega_0 = (o, c, u) ↦ sum_i, j dl/df_0[o, i, j] x[c, i + u - 1, j]", "has 4 indices (o, c, u, v)"),
    ("dl/dbeta_0 = (o) ↦ sum_i, j dl/df_0[o, i, q]", "index 'q' is neither free"),
    ("dl/dbeta_0 = (o) ↦ sum_i, j dl/df_0[o, i, j] zz[o]", "'zz' is not an array"),
    ("dl/dbeta_0 = (o) ↦ sum_i, j dl/df_0[o, i]", "dl/df_0 has 3 indices (8x8x8), not 2"),
    ("dl/dbeta_0 = (o) ↦ sum_i, k dl/df_0[o, i, i]", "the range of sum index k is not fixed"),
    ("dl/dbeta_0 = (o) ↦ sum_i, j dl/df_0[o, i j, j]", "must be linear in the indices"),
    ("dl/dbeta_0 = (o) ↦ __import__('os')[o]", "unexpected '_'"),
    ("dl/df_1 = (i) ↦ p[i]", "is not an index-form array here"),
    ("dl/dbeta_0 = (o) ↦ " + "sum_i " * 400 + "dl/df_0[o, i, i]", "sums run over at most 8"),
])
def test_a_bad_index_form_line_is_one_line(digits, line, message):
    with pytest.raises(sb.SymbackError) as info:
        digits.check(line + "\n", notation="udl")
    assert message in str(info.value) and "\n" not in str(info.value), str(info.value)
