"""`symback check` on batch normalisation: the compact hand derivation is accepted, and the classic mistakes
(the batch mean's term, the variance's term, the 1/B of the statistics left out) are named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_grad_cli import run

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE, HAND = str(ROOT / "examples" / "cs231n_batchnorm.py"), ROOT / "examples" / "hand"


def test_check_accepts_the_compact_batchnorm_backward():
    code, out, err = run("check", EXAMPLE, "--hand", str(HAND / "cs231n_batchnorm.txt"), "--notation", "cs229")
    assert (code, err) == (0, ""), out + err
    assert "10 equations: 10 equal, 0 different" in out and "sum_b (dJ/dztilde^[1] ⊙ zhat^[1])" in out


@pytest.mark.parametrize("wrong, kind, says", [
    ("missing_mean.txt", "missing_mean_term", "missing the batch mean's term"),
    ("missing_variance.txt", "missing_variance_term", "missing the batch variance's term"),
    ("missing_1_over_B.txt", "missing_1_over_B", "missing 1/B"),
    ("missing_both_terms.txt", "missing_mean_and_variance_terms", "missing both terms of the batch statistics"),
])
def test_check_names_the_classic_mistakes(wrong, kind, says):  # examples/hand/batchnorm_wrong: each file tested
    assert sorted(p.name for p in (HAND / "batchnorm_wrong").iterdir()) == sorted(
        ["missing_mean.txt", "missing_variance.txt", "missing_1_over_B.txt", "missing_both_terms.txt"])
    argv = ("check", EXAMPLE, "--hand", str(HAND / "batchnorm_wrong" / wrong), "--notation", "cs229")
    code, out, err = run(*argv)
    assert code == 1 and err == "", out + err
    assert f"likely cause: {says}" in " ".join(out.split())
    found = [e for e in json.loads(run(*argv, "--json")[1])["equations"] if e["status"] == "different"]
    assert [e["lhs"] for e in found] == ["delta^[1]"] and found[0]["likely_cause"]["kind"] == kind



def test_the_ir_names_are_accepted_beside_the_course_symbols(tmp_path):
    """The hand file uses what `derive --notation cs229` prints (zhat^[1], ztilde^[1], gamma^[1]); the IR names
    (xhat1, bn1, gamma1) name the same quantities, so the same line is equal in either spelling."""
    hand = tmp_path / "ir_names.txt"
    hand.write_text("delta^[1] = gamma1 ⊙ (B dJ/dbn1 - sum_b dJ/dbn1 - xhat1 ⊙ sum_b (dJ/dbn1 ⊙ xhat1)) / (B sigma1)\n"
                    "dJ/dgamma1 = dJ/dbn1 ⊙ xhat1\n")
    code, out, err = run("check", EXAMPLE, "--hand", str(hand), "--notation", "cs229")
    assert (code, err) == (0, ""), out + err
    assert "2 equations: 2 equal, 0 different" in out
