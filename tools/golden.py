"""Golden files of `symback derive`: the examples rendered in every notation, frozen for review.

``python tools/golden.py`` (``make golden``) rewrites ``tests/golden/`` and
prints what changed; review the diff and commit it with the change that
caused it. `tests/test_render_network.py` fails when a rendering differs
from its golden file.

A file is named ``<case>.<notation>[.<variant>].<ext>``: ``txt`` text,
``tex`` LaTeX, ``md`` Markdown, ``json`` JSON; variants are ``steps``,
``batch`` and ``numerator`` (the layout override).

It also rewrites ``tests/golden_equations.json``: `symback.render.equations`
(each node's equation, the generated kernels' comments) for every example.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden"
EQUATIONS = ROOT / "tests" / "golden_equations.json"

#: case -> (SPEC, the notation of the lecture it comes from)
CASES = {
    "udl_toy": ("examples/udl_toy.py", "udl"),
    "cs229_one_neuron": ("examples/cs229_two_layer.py:one_neuron", "cs229"),
    "cs229_two_layer": ("examples/cs229_two_layer.py:two_layer", "cs229"),
    "foml_sigmoid": ("examples/foml_sigmoid.py", "foml"),
    "cs7643_softmax": ("examples/cs7643_softmax.py:softmax_classifier", "udl"),
    "cs7643_perceptron": ("examples/cs7643_softmax.py:perceptron", "udl"),
    "digits_decay": ("examples/digits_decay.py", "cs229"),
    "cs231n_batchnorm": ("examples/cs231n_batchnorm.py", "cs229"),
    "dropout_digits": ("examples/dropout_digits.py", "cs229"),
    "digits_cnn": ("examples/digits_cnn.py", "udl"),
    "cnn_symbolic": ("tests/golden/cnn_symbolic.py", "cs229"),
    "layernorm_mlp": ("examples/layernorm_mlp.py", "udl"),
    "attention_block": ("examples/attention_block.py", "udl"),
}
NOTATIONS = ("udl", "cs229", "foml")
EXT = {"text": "txt", "latex": "tex", "markdown": "md", "json": "json"}
VARIANTS = {"steps": {"steps": True}, "batch": {"batch": True}, "numerator": {"layout": "numerator"}}
#: (case, notation, variant) renderings beyond every case in every notation
EXTRA = [
    ("udl_toy", "udl", "steps"),
    ("udl_toy", "udl", "batch"),
    ("udl_toy", "cs229", "numerator"),
    ("cs229_two_layer", "cs229", "steps"),
    ("cs229_two_layer", "cs229", "batch"),
    ("foml_sigmoid", "foml", "numerator"),
    ("foml_sigmoid", "foml", "steps"),
    ("cs7643_softmax", "cs229", "batch"),
    ("cs7643_softmax", "udl", "steps"),
]


def renderings():
    """(file name, case, notation, format, options) for every golden file."""
    out = []
    for case, (_, home) in CASES.items():
        for notation in NOTATIONS:
            formats = ("text", "latex", "markdown", "json") if notation == home else ("text", "latex")
            for fmt in formats:
                out.append((f"{case}.{notation}.{EXT[fmt]}", case, notation, fmt, {}))
    for case, notation, variant in EXTRA:
        for fmt in ("text", "latex"):
            out.append((f"{case}.{notation}.{variant}.{EXT[fmt]}", case, notation, fmt, VARIANTS[variant]))
    return out


_derived: dict = {}


def render(case: str, notation: str, fmt: str, options: dict) -> str:
    from symback.render.network import render_derivation
    from symback.declare.spec import load_spec

    if case not in _derived:
        _derived[case] = load_spec(str(ROOT / CASES[case][0])).derive()
    return render_derivation(_derived[case], fmt, notation, **options)


#: every example network and DAG, for the equations golden file
EQUATION_SPECS = [
    "examples/udl_toy.py",
    "examples/cs229_two_layer.py:one_neuron",
    "examples/cs229_two_layer.py:two_layer",
    "examples/foml_sigmoid.py",
    "examples/cs7643_softmax.py:softmax_classifier",
    "examples/cs7643_softmax.py:perceptron",
    "examples/foml_dag.py",
    "examples/residual.py",
    "examples/tied_autoencoder.py",
    "examples/two_inputs.py",
    "examples/deep_mlp.py:relu20",
    "examples/deep_mlp.py:tanh20",
    "examples/train_digits.py",
    "examples/digits_decay.py",
    "examples/cs231n_batchnorm.py",
    "examples/dropout_digits.py",
    "examples/layernorm_mlp.py",
]


def equations_json() -> str:
    """`equations(d, notation)` of every example in every notation, as JSON text."""
    from symback.render import equations
    from symback.declare.spec import load_spec

    out = {}
    for spec in EQUATION_SPECS:
        d = load_spec(str(ROOT / spec)).derive()
        out[spec] = {notation: equations(d, notation) for notation in NOTATIONS}
    return json.dumps(out, indent=1, ensure_ascii=False) + "\n"


def main() -> int:
    GOLDEN.mkdir(parents=True, exist_ok=True)
    wanted, changed = set(), []
    for name, case, notation, fmt, options in renderings():
        wanted.add(name)
        path = GOLDEN / name
        text = render(case, notation, fmt, options)
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            changed.append(name)
    stale = [p for p in GOLDEN.iterdir() if p.name not in wanted and p.suffix in (".txt", ".tex", ".md", ".json")]
    for p in stale:
        p.unlink()
    eq = equations_json()
    if not EQUATIONS.exists() or EQUATIONS.read_text() != eq:
        EQUATIONS.write_text(eq)
        changed.append(EQUATIONS.name)
    print(f"{len(wanted)} golden files in {GOLDEN.relative_to(ROOT)}: {len(changed)} rewritten, {len(stale)} removed")
    for name in changed:
        print(f"  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
