"""`symback.render.equations`: each node's equation as `symback derive` prints it (the kernels' comments).

The expectations in tests/golden_equations.json were taken from codegen's
``comments()`` before the renderer was rebuilt; `python tools/golden.py`
rewrites them (review the diff).
"""

import json
import sys
from pathlib import Path

import pytest

from symback.render import equations
from symback.declare.spec import load_spec

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import golden

EXPECTED = json.loads(golden.EQUATIONS.read_text())


@pytest.mark.parametrize("spec", sorted(EXPECTED))
def test_equations_match_the_golden_comments(spec):
    d = load_spec(str(ROOT / spec)).derive()
    for notation, expected in EXPECTED[spec].items():
        assert equations(d, notation) == expected, f"{spec} in {notation}"


def test_equations_cover_every_derived_node_in_order():
    d = load_spec(str(ROOT / "examples/udl_toy.py")).derive()
    eq = equations(d, "udl")
    assert list(eq) == [n.name for n in d.graph if not n.is_leaf and n.expr is not None]
    assert eq["dl_df3"] == "dl/df_2 = I[f_2 > 0] ⊙ dl/dh_3"
    assert eq["dl_dW1"] == "dl/dOmega_0 = dl/df_0 x^T"
