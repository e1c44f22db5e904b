"""Assemble a generated module: header, docstring, constants, kernels and the thin Python wrapper.

Stage: codegen. Input: a `Derivation`, the source it came from, a notation.
Output: the module's source text, deterministic (same input, same bytes:
no timestamps, sorted names, fixed seeds). The module needs only NumPy and
Numba and follows the contract of DESIGN.md: ``PARAMS``, ``init_params``,
``forward``, ``loss_and_grad``, ``sgd_step``.
"""

from __future__ import annotations

import sympy as sp

from .. import __version__
from . import naming
from .emit import LAYOUTS
from .plan import Affine, Back, Concat, Group, Plan, Slice, build

#: loops beat np.dot for the largest product up to this many weights (8 x 8), at any batch
SMALL_MAX = 64
#: sample-outer loops beat np.dot up to this many weights (16 x 16) for batches of at most two rows
MEDIUM_MAX = 256

FASTMATH = "{'reassoc', 'contract', 'nsz'}"


def choose_layouts(plan: Plan) -> list[tuple[str, int | None]]:
    """(layout, largest batch it serves) in order; the thresholds measured for benchmarks/numba_mlp.py."""
    if plan.max_product <= SMALL_MAX:
        return [("sample", 4), ("small", None)]
    if plan.max_product <= MEDIUM_MAX:
        return [("sample", 2), ("blas", None)]
    return [("blas", None)]


def comments(d, notation: str) -> dict[str, str]:
    """The equation each node implements, as `symback derive` prints it in `notation`."""
    try:
        from ..notation import get, layout_of
        from ..render.network import Builder

        nt = get(notation)
        b = Builder(d, nt, layout_of(nt, None), "text")
        out = {}
        for n in d.graph:
            if n.is_leaf or n.expr is None:
                continue
            lhs = b.node_symbol(n.name)
            rhs = b.rhs(n.name)
            out[n.name] = f"{lhs} = {rhs}"
        return out
    except ImportError:  # no renderer: the IR's own equations
        return {n.name: f"{n.name} = {sp.sstr(n.expr)}" for n in d.graph if not n.is_leaf and n.expr is not None}


def _describe(d) -> str:
    net = d.network
    if hasattr(net, "layers"):
        layers = ", ".join(f"Dense({layer.n_out}, {layer.activation_name!r})" for layer in net.layers)
        return f"Network(n_in={net.n_in}, layers=[{layers}], loss={net.loss.name!r}, reduction={net.reduction!r})"
    name = getattr(net, "name", None) or "DAG"
    return f"DAG {name!r} (loss {net.loss_spec.name!r}, reduction {net.reduction!r})"


def _init_doc(plan: Plan) -> str:
    lines = []
    for p in plan.params:
        scheme, act = plan.init[p]
        shape = plan.shapes[p]
        if scheme == "zeros":
            lines.append(f"    {p} {shape}: zeros")
        elif scheme == "he":
            lines.append(f"    {p} {shape}: He normal, std sqrt(2 / {shape[1]}) (followed by {act})")
        else:
            lines.append(f"    {p} {shape}: Glorot normal, std sqrt(2 / ({shape[1]} + {shape[0]})) (followed by {act})")
    return "\n".join(lines)


def _steps_doc(plan: Plan) -> str:
    kinds = {Affine: "affine", Group: "elementwise", Back: "backward products", Concat: "concat", Slice: "slice"}
    counts: dict[str, int] = {}
    for s in plan.steps:
        k = kinds.get(type(s))
        if k:
            counts[k] = counts.get(k, 0) + 1
    return ", ".join(f"{v} {k}" for k, v in counts.items())


def generate(d, source: str, notation: str = "udl", command: str | None = None, layouts=None) -> str:
    """The module's full source text, header line for the hash included as a placeholder.

    `layouts` (tests): emit these kernels, e.g. ``("sample", "small", "blas")``, all reachable through
    ``_LAYOUTS``, instead of the ones the size thresholds choose.
    """
    plan = build(d)
    eq = comments(d, notation)
    if layouts is None:
        layouts = choose_layouts(plan)
    else:
        layouts = [(name, None) for name in layouts]
    emitters = {name: LAYOUTS[name](plan, eq) for name, _ in layouts}
    kernels = "\n\n".join(emitters[name].kernel() for name, _ in layouts)
    net = d.network
    sizes = tuple(net.sizes) if hasattr(net, "sizes") else None
    targets = (f"integer class labels of shape (batch,), each in 0..{plan.n_out - 1}" if plan.labels
               else f"targets of shape (batch, {plan.n_out}), in the parameters' dtype")
    if len(plan.inputs) == 1:
        x_doc = f"X has shape (batch, {plan.n_in}), one sample per row"
    else:
        cols = ", ".join(f"{n} in columns {c}..{c + k - 1}" for n, c, k in plan.inputs)
        x_doc = (f"X has shape (batch, {plan.n_in}): the inputs side by side ({cols}); a dict "
                 f"{{name: (batch, size) array}} is accepted too")
    choose = []
    for name, limit in layouts:
        choose.append(f"    if B <= {limit}:\n        return {name!r}" if limit is not None else f"    return {name!r}")
    reduction = "mean over the batch" if plan.reduction == "mean" else "sum over the batch"
    how = command or f"symback compile {source}"
    lines = [
        f"# Generated by symback {__version__} from {source} ({how}); do not edit.",
        "# Regenerate it instead; symback refuses to overwrite a file whose body was edited by hand.",
        "# symback-body-sha256: 0",
    ]
    doc = f'''"""Training kernels for {_describe(d)}.

Generated by symback {__version__} from {source}; needs only NumPy and Numba.
The comments above each block give the equation it implements ({notation} notation),
as `symback derive {source} --notation {notation}` prints it.

Contract
--------
PARAMS                        parameter names, in the order of the flat buffer
init_params(seed=0, dtype=np.float64) -> Params (a dict of arrays)
forward(params, X)            -> the network output {plan.prediction!r}, shape (batch, {plan.sizes[plan.prediction]})
loss_and_grad(params, X, Y)   -> (loss, {{name: gradient}}), the loss a {reduction}
sgd_step(params, X, Y, lr)    -> loss before the step; params -= lr * gradient, in place

{x_doc}. Y holds {targets}.
float32 and float64 both work (the dtype of the parameters; X and float targets must match it).

Parameters
----------
init_params returns a `Params`: a dict whose arrays are views into one flat
buffer (`params.flat`), so a step is one kernel call and one SGD loop. Assigning
an entry (params["W1"] = A) copies nothing at once; the next call re-packs the
dict into a new flat buffer (hold the dict, not the arrays). A plain dict of
arrays works too: it is copied into a scratch buffer and, for sgd_step, the
results are written back into its arrays (correct, a little slower).
Initialisation (seeded, numpy.random.default_rng(seed); biases zero):
{_init_doc(plan)}

Bad input
---------
Wrong shapes, dtypes, missing or extra parameters, labels out of range:
ValueError naming the argument and the expected shape. Non-contiguous or
read-only X and Y are accepted and copied (a contiguous array avoids the copy).
NaN or infinity in X or Y: ValueError before anything is updated.

Kernels
-------
One njit function per loop layout, chosen per batch size by _layout(B):
{", ".join(name for name, _ in layouts)}. Sizes are literals; the workspace (gradient and
stored values) is allocated once per batch size and reused, so sgd_step
allocates nothing after its first call for a batch size. IR: {_steps_doc(plan)} steps.
"""'''
    consts = _constants(plan, sizes)
    import hashlib

    canonical = "symback_kernels_" + hashlib.sha256(kernels.encode()).hexdigest()[:16]
    register = _REGISTER.format(canonical=canonical, kernels=", ".join(naming.kernel(n) for n, _ in layouts))
    wrapper = _WRAPPER.format(
        n_params=plan.n_params,
        choose="\n".join(choose),
        layouts_table="\n".join(
            f"    {name!r}: ({naming.kernel(name)}, lambda B: {emitters[name].ws_size()}, "
            f"lambda ws, B: {emitters[name].output()}),"
            for name, _ in layouts),
        scale="1.0 / B" if plan.reduction == "mean" else "1.0",
        labels=plan.labels,
        n_out=plan.n_out,
        n_in=plan.n_in,
        n_pred=plan.sizes[plan.prediction],
        y_shape=f"(batch,)" if plan.labels else f"(batch, {plan.n_out})",
    )
    body = "\n".join([
        doc,
        "",
        "import math",
        "import sys",
        "import types",
        "",
        "import numpy as np",
        "from numba import njit",
        "",
        consts,
        "",
        kernels,
        wrapper,
        register,
    ])
    return "\n".join(lines) + "\n" + body


def _constants(plan: Plan, sizes) -> str:
    out = [
        f"PARAMS = {tuple(plan.params)!r}",
        f"SHAPES = {{{', '.join(f'{p!r}: {plan.shapes[p]!r}' for p in plan.params)}}}",
        f"INPUTS = {tuple((n, k) for n, _, k in plan.inputs)!r}",
        f"OUTPUT = {plan.prediction!r}",
        f"LOSS = {plan.loss!r}",
        f"REDUCTION = {plan.reduction!r}",
    ]
    if sizes is not None:
        out.append(f"SIZES = {tuple(int(s) for s in sizes)!r}")
    out += [
        f"N_PARAMS = {plan.n_params}",
        f"_OFFSETS = {tuple(plan.offsets[p] for p in plan.params)!r}",
        f"_INIT = {tuple((p, plan.init[p][0]) for p in plan.params)!r}",
        f"_FASTMATH = {FASTMATH}  # no 'nnan'/'ninf': NaN and inf propagate as IEEE says",
    ]
    return "\n".join(out)


_REGISTER = '''

# Numba's cache stores, with each compiled kernel, the name of the module that defined it, and imports
# that module by name when it loads the kernel in a new process. The kernels report a fixed module name
# (a stand-in module holding this file's globals), so the cache works however this file was imported.
_CANONICAL = "{canonical}"
if _CANONICAL not in sys.modules:
    _standin = types.ModuleType(_CANONICAL)
    _standin.__dict__.update({{k: v for k, v in globals().items() if not k.startswith("__")}})
    sys.modules[_CANONICAL] = _standin
for _kernel in ({kernels},):
    _kernel.py_func.__module__ = _CANONICAL
'''


_WRAPPER = '''

# -- the Python side: validation on first use, then one dict lookup and one kernel call ---------------

_LAYOUTS = {{
{layouts_table}
}}


def _layout(B):
    """The loop layout for a batch of B rows (loops for tiny layers, BLAS for wide ones)."""
{choose}


def _views(flat):
    out = {{}}
    for name, o in zip(PARAMS, _OFFSETS):
        shape = SHAPES[name]
        n = 1
        for s in shape:
            n *= s
        out[name] = flat[o:o + n].reshape(shape)
    return out


class Params(dict):
    """Parameters by name; the arrays are views into one flat buffer, `flat` (see the module docstring)."""

    __slots__ = ("flat", "packed", "_batch")

    def __init__(self, flat):
        dict.__init__(self, _views(flat))
        self.flat = flat
        self.packed = True
        self._batch = {{}}

    def _touched(self):
        self.packed = False

    def __setitem__(self, key, value):
        dict.__setitem__(self, key, value)
        self.packed = False

    def __delitem__(self, key):
        dict.__delitem__(self, key)
        self.packed = False

    def update(self, *args, **kwargs):
        dict.update(self, *args, **kwargs)
        self.packed = False

    def pop(self, *args):
        self.packed = False
        return dict.pop(self, *args)

    def popitem(self):
        self.packed = False
        return dict.popitem(self)

    def clear(self):
        self.packed = False
        dict.clear(self)

    def setdefault(self, key, default=None):
        self.packed = False
        return dict.setdefault(self, key, default)


def init_params(seed=0, dtype=np.float64):
    """Seeded initial parameters as a `Params` (schemes in the module docstring)."""
    dtype = np.dtype(dtype)
    if dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError(f"dtype: float32 or float64 expected, got {{dtype}}")
    rng = np.random.default_rng(seed)
    params = Params(np.zeros(N_PARAMS, dtype=dtype))
    for name, scheme in _INIT:
        shape = SHAPES[name]
        if scheme == "he":
            params[name][...] = rng.standard_normal(shape) * math.sqrt(2.0 / shape[1])
        elif scheme == "glorot":
            params[name][...] = rng.standard_normal(shape) * math.sqrt(2.0 / (shape[0] + shape[1]))
    params.packed = True
    return params


def _flat(params):
    """(flat buffer, dict to write back into or None), validating names, shapes and dtypes."""
    if isinstance(params, Params) and params.packed:
        return params.flat, None
    if not isinstance(params, dict):
        raise ValueError(f"params: expected a dict of arrays (from init_params), got {{type(params).__name__}}")
    missing = [n for n in PARAMS if n not in params]
    if missing:
        n = missing[0]
        raise ValueError(f"params: missing {{n!r}} (expected shape {{SHAPES[n]}}); expected keys {{', '.join(PARAMS)}}")
    extra = sorted(str(n) for n in params if n not in SHAPES)
    if extra:
        raise ValueError(f"params: unexpected {{extra[0]!r}}; expected keys {{', '.join(PARAMS)}}")
    dtype = None
    for n in PARAMS:
        a = params[n]
        if not isinstance(a, np.ndarray):
            raise ValueError(f"params[{{n!r}}]: expected a NumPy array of shape {{SHAPES[n]}}, got {{type(a).__name__}}")
        if a.shape != SHAPES[n]:
            raise ValueError(f"params[{{n!r}}]: expected shape {{SHAPES[n]}}, got {{a.shape}}")
        if a.dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
            raise ValueError(f"params[{{n!r}}]: dtype {{a.dtype}}; expected float32 or float64")
        if dtype is None:
            dtype = a.dtype
        elif a.dtype != dtype:
            raise ValueError(f"params[{{n!r}}]: dtype {{a.dtype}} differs from params[{{PARAMS[0]!r}}] ({{dtype}})")
    flat = np.empty(N_PARAMS, dtype=dtype)
    views = _views(flat)
    for n in PARAMS:
        views[n][...] = params[n]
    if isinstance(params, Params):  # re-pack: the dict's entries become views of the new buffer
        dict.update(params, views)
        params.flat = flat
        params.packed = True
        params._batch = {{}}
        return flat, None
    return flat, params


def _array(a, name, dtype, shape_text):
    if not isinstance(a, np.ndarray):
        raise ValueError(f"{{name}}: expected a NumPy array of shape {{shape_text}}, got {{type(a).__name__}}")
    if a.dtype != dtype:
        raise ValueError(f"{{name}}: dtype {{a.dtype}}; expected {{dtype}} like the parameters "
                         f"(convert with {{name}}.astype(np.{{dtype}}))")
    if not a.flags.c_contiguous or not a.flags.writeable:
        a = np.ascontiguousarray(a).copy()
    return a


def _inputs(X, dtype):
    if isinstance(X, dict):
        cols = []
        for name, k in INPUTS:
            if name not in X:
                raise ValueError(f"X: missing input {{name!r}} of shape (batch, {{k}})")
            cols.append(_array(X[name], f"X[{{name!r}}]", dtype, f"(batch, {{k}})"))
        X = np.concatenate(cols, axis=1) if len(cols) > 1 else cols[0]
    X = _array(X, "X", dtype, "(batch, {n_in})")
    if X.ndim != 2 or X.shape[1] != {n_in} or X.shape[0] < 1:
        raise ValueError(f"X: expected shape (batch, {n_in}) with batch >= 1, got {{X.shape}}")
    return X


def _targets(Y, B, dtype):
    if {labels}:
        if not isinstance(Y, np.ndarray):
            raise ValueError(f"Y: expected a NumPy array of class labels, shape (batch,), got {{type(Y).__name__}}")
        if Y.dtype.kind not in "iu":
            raise ValueError(f"Y: class labels must be integers, got dtype {{Y.dtype}}")
        if Y.shape != (B,):
            raise ValueError(f"Y: expected shape ({{B}},), one label per row of X, got {{Y.shape}}")
        return np.ascontiguousarray(Y, dtype=np.int64).copy() if Y.dtype != np.int64 or not (
            Y.flags.c_contiguous and Y.flags.writeable) else Y
    Y = _array(Y, "Y", dtype, "{y_shape}")
    if Y.shape != (B, {n_out}):
        raise ValueError(f"Y: expected shape ({{B}}, {n_out}), one target row per row of X, got {{Y.shape}}")
    return Y


_NO_Y = {{}}
_SHARED = {{}}


def _no_targets(dtype):
    y = _NO_Y.get(dtype)
    if y is None:
        y = _NO_Y[dtype] = np.zeros((0,), np.int64) if {labels} else np.zeros((0, {n_out}), dtype)
    return y


def _entry(params, B, dtype):
    """(kernel, workspace, output view) for this batch size: allocated once, then reused."""
    cache = params._batch if isinstance(params, Params) and params.packed else _SHARED.setdefault(dtype, {{}})
    e = cache.get(B)
    if e is None:
        kernel, size, output = _LAYOUTS[_layout(B)]
        e = cache[B] = (kernel, np.zeros(size(B), dtype=dtype), output)
    return e


def _run(kernel, *args):
    """Call a kernel with validated arguments. Compiling new argument types happens only here:
    on the fast path a wrong type is a TypeError from the dispatcher, which sends the call here."""
    kernel.disable_compile(False)
    try:
        return kernel(*args)
    finally:
        if kernel.signatures:
            kernel.disable_compile(True)


def _slow(params, X, Y, lr, mode):
    P, back = _flat(params)
    X = _inputs(X, P.dtype)
    B = X.shape[0]
    Y = _targets(Y, B, P.dtype) if mode else _no_targets(P.dtype)
    e = _entry(params, B, P.dtype)
    value = _run(e[0], P, X, Y, e[1], float(lr), mode)
    if back is not None and mode == 2:
        for name, view in _views(P).items():
            back[name][...] = view
    return value, e, B


def forward(params, X):
    """The network output for a batch (rows of X), shape (batch, {n_pred})."""
    _, e, B = _slow(params, X, None, 0.0, 0)
    return np.array(e[2](e[1], B))


def loss_and_grad(params, X, Y):
    """(loss, {{name: gradient}}) at params for the batch (X, Y); params are not changed."""
    loss, e, B = _slow(params, X, Y, 0.0, 1)
    G = e[1][:{n_params}] * ({scale})
    return loss, _views(G)


def sgd_step(params, X, Y, lr):
    """One SGD step in place, params -= lr * gradient; returns the loss before the step."""
    try:
        if params.packed:
            e = params._batch[X.shape[0]]
            return e[0](params.flat, X, Y, e[1], lr, 2)
    except (AttributeError, KeyError, TypeError, IndexError):
        pass
    return _slow(params, X, Y, lr, 2)[0]
'''
