"""Compiled gradients with respect to inputs: ``input_grad(params, X, Y)`` in the module of ``derive(wrt=["x"])``.

Stage: codegen. Input: a `Derivation` whose `wrt` names inputs besides the parameters. Output: the derivation the
training kernels are planned from (the extra gradients pruned, so the training kernels are those of
``net.derive()``), and the source of the input-gradient kernels and their entry point: the same plan, its last
step writing each sample's dl/dx row (the inputs' side by side, as the columns of X) where ``forward`` writes the
output's, run in FORWARD mode, so dropout is off, on real targets. ``input_grad`` returns the gradient of the batch
loss, as `loss_and_grad` does for the parameters: each row is its sample's dl/dx, divided by B for a mean.
Gradients of intermediates are derived, rendered and checked; only the inputs' are compiled.
"""

from __future__ import annotations

import copy

from ..derive.simplify import prune
from . import naming
from .plan import Concat, Group, Return, build

#: the stacked input gradients (several inputs) in the kernels; not an IR name (IR names are identifiers)
STACKED = "dl_dinputs"


def for_parameters(d):
    """`d` with the parameters' gradients alone (the training kernels'), or `d` itself when it has no others."""
    if d.wrt == d.params:
        return d
    out = copy.copy(d)
    out.wrt, out.adjoints = list(d.params), {p: a for p, a in d.adjoints.items() if p in d.params}
    out.graph = prune(d.graph, [d.output, *out.adjoints.values()])
    return out


def inputs(d) -> list[str]:
    """The inputs `d` differentiates by, in the order of the columns of X."""
    return [n.name for n in d.graph.leaves("input") if n.name in d.wrt and n.name not in d.params]


def plan_of(d):
    """The plan of the input-gradient kernels: the training plan, ending with the input gradients' rows."""
    keep = copy.copy(d)
    keep.wrt, keep.adjoints = list(d.params), {p: a for p, a in d.adjoints.items() if p in d.params}
    plan = build(keep)
    grads = [d.adjoints[x] for x in inputs(d)]
    plan.steps = [st for st in plan.steps if not isinstance(st, Return)]
    for m in (m for st in plan.steps if isinstance(st, Group) for m in st.members if m.name in grads):
        m.mode = "store"  # an input's sum of paths (a residual): read by no later step, but the rows returned
    if len(grads) > 1:  # side by side, as the inputs are in X
        offsets = [sum(plan.sizes[g] for g in grads[:k]) for k in range(len(grads))]
        plan.sizes[STACKED] = sum(plan.sizes[g] for g in grads)
        plan.steps.append(Concat(STACKED, [(g, o, plan.sizes[g]) for g, o in zip(grads, offsets)]))
    plan.prediction = STACKED if len(grads) > 1 else grads[0]
    plan.steps.append(Return(plan.prediction))
    return plan


def doc(plan) -> str:
    """The docstring's line on ``input_grad`` (empty when the module has none)."""
    if not plan.input_grad:
        return ""
    width = sum(k for name, _, k in plan.inputs if name in plan.input_grad)
    return (f"input_grad(params, X, Y)    -> d(batch loss)/dX, shape (batch, {width}): each sample's dl/d"
            f"({', '.join(plan.input_grad)}),\n                               divided by B for a mean loss; "
            "dropout off (as in forward())\n")


def source(d, xs: list[str], layouts, emitters: dict, comments: dict, conv: str = "auto") -> str:
    """The input-gradient kernels (one per loop layout of the module) and ``input_grad``; "" without inputs `xs`.
    `emitters`: layout name -> its emitter class."""
    if not xs:
        return ""
    plan = plan_of(d)
    plan.conv = conv  # the training kernels' choice of conv path (`im2col`)
    kernels, table = [], []
    for name, _ in layouts:
        emitter = emitters[name](plan, comments)
        emitter.name = f"dx_{name}"
        emitter.doc = "The inputs' gradient rows of input_grad, in FORWARD mode, by the training step's loops:\n    " \
            + emitter.doc
        kernels.append(emitter.kernel())
        table.append(f"    {name!r}: ({naming.kernel(emitter.name)}, lambda B: {emitter.ws_size()}, "
                     f"lambda ws, B: {emitter.output()}),")
    names = ", ".join(xs)
    rows = "\n".join(table)
    return "\n\n" + "\n\n".join(kernels) + f'''

_INPUT_GRAD = {{
{rows}
}}


def input_grad(params, X, Y):
    """d(batch loss)/dX, shape (batch, {plan.sizes[plan.prediction]}): row s is dl/d({names}) of sample s (side by
    side as in X), divided by the batch size for a mean loss (in X's shape when X is a batch of images); dropout
    off (forward()'s inference mode); params unchanged."""
    P, _ = _flat(params)
    given = X.shape if IMAGE and isinstance(X, np.ndarray) and X.ndim > 2 else None
    X = _inputs(X, P.dtype)
    B = X.shape[0]
    Y = _targets(Y, B, P.dtype)
    kernel, size, output = _INPUT_GRAD[_layout(B)]
    work = _workspace(size(B), P.dtype)
    kernel(P, X, Y, work, 0.0, {naming.FORWARD})
    rows = output(work, B).copy()
    rows = rows if given is None else rows.reshape(given)
    return rows / B if REDUCTION == "mean" else rows
'''
