"""`symback check` on layer-norm and softmax gradients (issue 11): the textbook lines are accepted, each classic
mistake is named (missing mean term, variance term, 1/n, softmax Jacobian's sum term), and the CLI refuses a bad
eps in one line with exit 2."""

from __future__ import annotations

import json
from pathlib import Path

from test_grad_cli import run

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE, HAND = str(ROOT / "examples" / "layernorm_mlp.py"), ROOT / "examples" / "hand"


def test_check_accepts_the_textbook_lines():
    code, out, err = run("check", EXAMPLE, "--hand", str(HAND / "layernorm_mlp.txt"), "--notation", "udl")
    assert (code, err) == (0, ""), out + err
    assert "12 equations: 12 equal, 0 different" in out


def test_check_names_each_classic_mistake():
    argv = ("check", EXAMPLE, "--hand", str(HAND / "layernorm_mlp_mistakes.txt"), "--notation", "udl", "--json")
    code, out, err = run(*argv)
    assert code == 1 and err == "", out + err
    wrong = json.loads(out)["equations"]
    assert [e["status"] for e in wrong] == ["different"] * 4
    assert [e["likely_cause"]["kind"] for e in wrong] == ["softmax_jacobian", "layernorm_mean", "layernorm_variance",
                                                          "layernorm_one_over_n"]
    messages = [" ".join(e["likely_cause"]["message"].split()) for e in wrong]
    assert "- p ⊙ sum_j(p[j] ⊙ dl/dp[j])" in messages[0]
    assert "dl/dh_1 has - sum_j(dl/dxhat1[j])/(32 sigma1)" in messages[1]
    assert "xhat1 ⊙ sum_j(dl/dxhat1[j] ⊙ xhat1[j])/(32 sigma1)" in messages[2]
    assert "divided by 32 it matches" in messages[3]


def test_the_cli_exits_2_on_a_bad_eps(tmp_path):
    spec = tmp_path / "net.py"
    spec.write_text("import symback as sb\nnet = sb.Network(2, [sb.Dense(3), sb.LayerNorm(eps=0), sb.Dense(1)])\n")
    code, out, err = run("derive", str(spec))
    assert code == 2 and out == "" and "LayerNorm: eps must be a positive number" in err
    assert len(err.strip().splitlines()) == 1
