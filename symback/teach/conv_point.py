"""A small 1-D convolution at the point, every product visible: the lecture's worked example (issue 12).

Input: a conv node (one channel in and out, a signal of at most `LIMIT` samples), the value of every node at
the point, the course's symbols. Output: the narrative's lines, one per output position,

    z^[1][2] = W^[1][1]·x[1] + W^[1][2]·x[2] + W^[1][3]·x[3] + b^[1] = 0.4×1.2 + ... + 0.1 = 0.62

and, for the kernel's gradient, one per tap (the input correlated with the upstream delta). The sums are
recomputed from the shown numbers and checked against the evaluator's value: a line whose numbers do not
add up is never shown. A larger convolution is told by its norms only.
"""

from __future__ import annotations

import numpy as np

from .layout import fmt, wrap

LIMIT = 8  # output positions: more would be a page of products


def small(node):
    """The node's `Geometry` if it is a 1-D convolution small enough to write out, else None."""
    geo = getattr(node.meta, "geometry", None)
    if node.op != "conv" or geo is None or geo.dims != 1 or geo.shape_in[0] != 1 or geo.shape_out[0] != 1:
        return None
    return geo if isinstance(geo.shape_out[1], int) and geo.shape_out[1] <= LIMIT else None


def _taps(geo, i: int) -> list[int | None]:
    """The input position each tap of output `i` reads (0-based), None in the zero padding."""
    (k,), (s,), (p,), (d,) = geo.kernel, geo.stride, geo.padding, geo.dilation
    at = [i * s + u * d - p for u in range(k)]
    return [a if 0 <= a < geo.shape_in[1] else None for a in at]


def _num(x: float) -> str:
    x = float(x) + 0.0  # no -0
    return f"({fmt(x)})" if x < 0 else fmt(x)


def forward(node, values: dict, names, first: int, pad: str) -> list[str]:
    """Each output position as its products with the kernel plus the bias, in symbols and in numbers."""
    geo = small(node)
    if geo is None or values is None:
        return []
    src, w, b = node.args
    x, W, bias, out = (np.ravel(np.asarray(values[n], dtype=float)) for n in (src, w, b, node.name))
    z, xs, ws, bs = (names.text(n) for n in (node.name, src, w, b))
    lines = wrap(f"each output, at this point ({_padding(geo, xs, first)}):", len(pad), hang=len(pad) + 2)
    for i in range(geo.shape_out[1]):
        taps = _taps(geo, i)
        total = sum(W[u] * x[a] for u, a in enumerate(taps) if a is not None) + bias[0]
        if not np.isclose(total, out[i], rtol=1e-9, atol=1e-12):
            return []  # never numbers that do not add up
        symbols = " + ".join(f"{ws}[{u + first}]·{xs}[{_pos(a, geo, i, u) + first}]" for u, a in enumerate(taps))
        numbers = " + ".join(f"{_num(W[u])}×{_num(x[a]) if a is not None else 0}" for u, a in enumerate(taps))
        line = f"{z}[{i + first}] = {symbols} + {bs} = {numbers} + {_num(bias[0])} = {fmt(total)}"
        lines += wrap(line, len(pad) + 2, hang=len(pad) + 6)
    return lines


def kernel_gradient(graph, name: str, consumer: str, values: dict, names, first: int, pad: str) -> list[str]:
    """Each tap's gradient (adjoint `name` of the kernel that `consumer` convolves with) as the input correlated
    with the upstream delta: Σ_i δ[i] x[i + u - 1]."""
    pre = graph[consumer] if consumer in graph else None
    geo = small(pre) if pre is not None else None
    if geo is None or values is None or graph[name].of != pre.args[1]:
        return []
    node = graph[name]
    src, w, _ = pre.args
    x = np.ravel(np.asarray(values[src], dtype=float))
    delta = np.ravel(np.asarray(values[node.args[-1]], dtype=float))
    grad = np.ravel(np.asarray(values[node.name], dtype=float))
    dw, dz, xs = names.text(node.name), names.text(node.args[-1]), names.text(src)
    lines = wrap(f"each tap, at this point: {dz}[i] times the input that output i read, summed over i", len(pad),
                 hang=len(pad) + 2)
    for u in range(geo.kernel[0]):
        reads = [(i, _taps(geo, i)[u]) for i in range(geo.shape_out[1])]
        reads = [(i, a) for i, a in reads if a is not None]  # the padding adds 0
        total = sum(delta[i] * x[a] for i, a in reads)
        if not np.isclose(total, grad[u], rtol=1e-9, atol=1e-12):
            return []
        numbers = " + ".join(f"{_num(delta[i])}×{_num(x[a])}" for i, a in reads)
        lines += wrap(f"{dw}[{u + first}] = {numbers} = {fmt(total)}", len(pad) + 2, hang=len(pad) + 6)
    return lines


def _pos(a, geo, i: int, u: int) -> int:
    """The input index a tap reads, inside or outside the signal (``x[0]`` is padding when counting from 1)."""
    (s,), (p,), (d,) = geo.stride, geo.padding, geo.dilation
    return i * s + u * d - p if a is None else a


def _padding(geo, xs: str, first: int) -> str:
    (p,) = geo.padding
    if not p:
        return f"stride {geo.stride[0]}"
    n = geo.shape_in[1]
    outside = [first - k for k in range(1, p + 1)] + [n - 1 + first + k for k in range(1, p + 1)]
    return f"{', '.join(f'{xs}[{j}]' for j in sorted(outside))} = 0: the zero padding"
