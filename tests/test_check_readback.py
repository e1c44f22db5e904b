"""Every equation symback prints reads back as equal when given to ``symback check`` as a hand file.

`symback derive`'s text and LaTeX, in every notation and layout, per sample and
for a minibatch, with the step-by-step chain rule: each line ``lhs = rhs`` of its
forward pass, backward pass, steps (``delta^[2] = d/dz^[2] [(z^[2] - y)^2/2]``,
local Jacobians ``dz^[2]/da^[1]`` and their ``where`` lines too; an equation
wrapped onto two lines is joined) and parameter gradients, for every example
in examples/.
"""

import re
from pathlib import Path

import pytest

import symback as sb
from symback.declare.spec import load_spec

ROOT = Path(__file__).resolve().parent.parent
NETWORKS = ["udl_toy.py", "cs229_two_layer.py:two_layer", "cs229_two_layer.py:one_neuron", "foml_sigmoid.py",
            "cs7643_softmax.py:softmax_classifier", "cs7643_softmax.py:perceptron", "train_digits.py",
            "deep_mlp.py:relu20", "deep_mlp.py:tanh20"]
DAGS = ["foml_dag.py", "residual.py", "tied_autoencoder.py", "two_inputs.py", "rnn3.py"]
SECTIONS = ("Forward pass", "Backward pass", "Parameter gradients", "Step by step")


def text_lines(text: str) -> list[str]:
    """``lhs = rhs`` for each equation line of the text format (a step's continuation keeps its lhs)."""
    out, keep, lhs = [], False, None
    for line in text.splitlines():
        if not line.startswith(" "):
            keep = line.startswith(SECTIONS)
            continue
        body = re.sub(r"\s{2,}(?:\S+×\S+|scalar)$", "", line.strip())
        if keep and out and (body.startswith("for ") or line.startswith("    ") and not body.startswith(("=", "where"))):
            out[-1] += " " + body  # an equation wrapped onto a second line
            continue
        body = body.removeprefix("where ")  # h_0 = x
        if not keep or "<-" in body or "=" not in body:
            continue
        head, _, rhs = body.partition("=")
        lhs = head.strip() or lhs
        out.append(f"{lhs} = {rhs.strip()}")
    return out


def latex_lines(text: str) -> list[str]:
    """The same for the LaTeX format (``lhs &= rhs && shape \\\\``)."""
    out, keep, lhs = [], False, None
    text = re.sub(r"\\right\.\s*\\\\\s*&\\qquad\s*\\left\.", " ", text)  # one equation wrapped onto two lines
    for line in text.splitlines():
        if line.startswith(r"&\textbf"):
            keep = any(s in line for s in SECTIONS)
            continue
        if not keep or "&=" not in line or r"\leftarrow" in line:
            continue
        head, _, rhs = line.partition("&=")
        rhs = re.sub(r"\s*(?:&&.*)?\\\\\s*$", "", rhs).strip()
        lhs = head.strip() or lhs
        out.append(f"{lhs} = ${rhs}$")
    return out


def cases():
    for spec in NETWORKS + DAGS:
        for notation in ("udl", "cs229", "foml"):
            for options in ({}, {"steps": True}, {"batch": True}, {"layout": "numerator"}):
                if spec in DAGS and options.get("batch"):
                    continue  # derive writes the minibatch form for layered networks only
                if spec.startswith("deep_mlp") and options:
                    continue  # the other networks' lines at 21 layers of 64 units: 3 s each (steps 15 s)
                yield spec, notation, options


CASES = list(cases())


@pytest.fixture(scope="module")
def derivations():
    return {}


@pytest.mark.parametrize("fmt", ["text", "latex"])
@pytest.mark.parametrize("spec, notation, options", CASES, ids=[f"{c[0]}-{c[1]}-{','.join(c[2])}" for c in CASES])
def test_every_printed_equation_reads_back_equal(spec, notation, options, fmt, derivations):
    if spec not in derivations:
        derivations[spec] = load_spec(str(ROOT / "examples" / spec)).derive()
    d = derivations[spec]
    text = d.render(fmt, notation=notation, **options)
    lines = (text_lines if fmt == "text" else latex_lines)(text)
    assert len(lines) >= 3, text
    report = d.check("\n".join(lines), notation=notation, layout=options.get("layout"))
    assert report.exit_code == 0, str(report)


@pytest.mark.parametrize("expr", ["(x + y)*z", "q = x + y; f = q*z", "x*exp(-x*y) + lambda*y", "sigmoid(w*x + b)",
                                  "q = x*y; f = gamma*q + beta"])
def test_the_scalar_gradient_lines_read_back_equal(expr):
    """``symback grad``: the gradient lines (text) and every derivative line of the LaTeX (backward pass too)."""
    d = sb.grad(expr)
    text = [line.strip() for line in str(d).split("gradient\n")[-1].splitlines() if " = " in line]
    tex = [lhs.strip() + " = $" + re.sub(r"\s*\\\\\s*$", "", rhs).strip() + "$"
           for lhs, _, rhs in (line.partition("&=") for line in d.render("latex").splitlines())
           if lhs.startswith(r"\frac{\partial")]
    for lines in (text, tex):
        report = d.check("\n".join(lines))
        assert len(lines) >= 2 and report.exit_code == 0, str(report)
