"""A student's attention backward, checked as written: dV = P^T dO and dQ = dS K / sqrt(d) in index form.

`symback derive examples/attention_block.py` prints these lines; a hand file may write them with `|->` and a
function of a number (`/ sqrt(5)`, read by the safe parser as SymPy's sqrt, never as Python), and a transposed
P is caught with a counterexample.
"""

from __future__ import annotations

from pathlib import Path

from test_grad_cli import run

ROOT = Path(__file__).resolve().parent.parent


def test_the_attention_backward_is_checked_as_a_student_writes_it(tmp_path):
    hand = tmp_path / "attention.txt"
    hand.write_text("dl/dV = (c, j) |-> sum_i p[i, c] dl/dO[i, j]\n"
                    "dl/dQ = (i, c) |-> sum_j K[j, c] dl/dS[i, j] / sqrt(5)\n"
                    "dl/dV = (c, j) |-> sum_i p[c, i] dl/dO[i, j]\n")
    code, out, err = run("check", str(ROOT / "examples" / "attention_block.py"), "--hand", str(hand),
                         "--notation", "udl")
    assert code == 1 and err == "", out + err
    assert "equal      line 1" in out and "equal      line 2" in out and "DIFFERENT  line 3" in out
    assert "3 equations: 2 equal, 1 different" in out


def test_an_unknown_function_in_an_index_form_line_is_one_line(tmp_path):
    hand = tmp_path / "attention.txt"
    hand.write_text("dl/dQ = (i, c) |-> sum_j K[j, c] dl/dS[i, j] / open(5)\n")
    code, out, err = run("check", str(ROOT / "examples" / "attention_block.py"), "--hand", str(hand))
    assert code == 2 and len(err.strip().splitlines()) == 1 and "open" in err, err
