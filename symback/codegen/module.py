"""Assemble a generated module: header, docstring, constants, kernels, then the runtime copied in.

Stage: codegen. Input: a `Derivation`, the source it came from, a notation.
Output: the module's source text, deterministic (same input, same bytes:
no timestamps, sorted names, fixed seeds). The module needs only NumPy and
Numba and follows the contract of DESIGN.md: ``PARAMS``, ``init_params``,
``forward``, ``loss_and_grad``, ``sgd_step``. Only data is generated here
(constants, kernels, the layout table); the Python side is `runtime`, whose
functions the module reaches are copied verbatim. One loop layout per kernel
(benchmarks/numba_mlp.py measured each): ``sample`` (sample-outer loops, tiny
layers and batches), ``small`` (batch-innermost loops, tiny layers), ``blas``
(``np.dot`` into preallocated views, wide layers).
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import sys
import textwrap

from .._version import __version__
from . import compiled, dropout, im2col, inputgrad, naming, runtime, training
from .batchnorm import BatchStep
from .blas import BlasLayout
from .plan import Plan, build
from .sample import SampleLayout
from .small import SmallLayout

LAYOUTS = {"sample": SampleLayout, "small": SmallLayout, "blas": BlasLayout}
#: loops beat np.dot for the largest product up to this many weights (8 x 8), at any batch
SMALL_MAX = 64
#: sample-outer loops beat np.dot up to this many weights (16 x 16) for batches of at most two rows
MEDIUM_MAX = 256
#: a forward pass alone (an inference module): sample-outer loops beat np.dot at batch 1 and 2 up to 64 x 64 weights
INFERENCE_MAX = 4096
#: what a module offers whatever its kernels use (`CLASSIFIER`'s names only if its targets are class labels)
PUBLIC = ("init_params", "forward", "loss_and_grad", "new_gradients", "sgd_step", "Params", "init_state", "step",
          "train", "save", "load", "predict")
#: the files whose part between the markers is copied into each module, in this order
SOURCES = (runtime, compiled, training)
#: what an inference module offers (`generate(inference=True)`); what a classifier's module (either kind) offers besides
INFERENCE, CLASSIFIER = ("init_params", "forward", "Params"), ("predict",)
_BEGIN, _END = "# -- runtime: copied from here", "# -- runtime: copied up to here"


def choose_layouts(plan: Plan) -> list[tuple[str, int | None]]:
    """(layout, largest batch it serves) in order; the thresholds measured for benchmarks/numba_mlp.py. Batch
    statistics need every sample before any sample goes on: no sample-outer layout then."""
    if any(isinstance(st, BatchStep) for st in plan.steps):
        return [("small", None)] if plan.max_product <= SMALL_MAX else [("blas", None)]
    if plan.max_product <= SMALL_MAX:
        return [("sample", 4), ("small", None)]
    if plan.max_product <= (INFERENCE_MAX if plan.inference else MEDIUM_MAX):
        return [("sample", 2), ("blas", None)]
    return [("blas", None)]


def _names(tree) -> set[str]:
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}


def _part(source) -> list[str]:
    lines = inspect.getsource(source).splitlines()
    begin = next(k for k, line in enumerate(lines) if line.startswith(_BEGIN)) + 2
    return lines[begin:next(k for k, line in enumerate(lines) if line.startswith(_END))]


def _bound(node) -> set[str]:
    """The names a top-level statement binds: a function's or class's name, or what an assignment, ``if`` or
    ``try`` binds (a loop's target aside: the loops that give `Params` its methods bind nothing to keep)."""
    if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
        return {node.name}
    names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    names |= {n.name for n in ast.walk(node) if isinstance(n, ast.FunctionDef)}
    names |= {a.asname or a.name for n in ast.walk(node) if isinstance(n, ast.ImportFrom) for a in n.names}
    return names - ({node.target.id} if isinstance(node, ast.For) else set())


def copy_runtime(module_text: str, public=PUBLIC) -> str:
    """The parts of `SOURCES` between their markers, keeping what is reachable from the `public` API and from what
    `module_text` names (its kernels and wiring, or all of it): each top-level statement that binds a name reached,
    or binds none and names only classes kept; the `CLASSIFIER` names only if the module checks class labels."""
    parts = [_part(source) for source in SOURCES]
    bodies = [ast.parse("\n".join(part)).body for part in parts]
    nodes = [(n, _bound(n), _names(n)) for body in bodies for n in body]
    classes = {n.name for n, _, _ in nodes if isinstance(n, ast.ClassDef)}
    needed = _names(ast.parse(module_text))
    needed |= set(public) - (set() if "_class_labels" in needed else set(CLASSIFIER))
    kept: set[int] = set()
    grown = True
    while grown:  # to a fixed point: what is kept may need more
        grown = False
        for node, bound, names in nodes:
            if id(node) not in kept and (bound & needed if bound else names & classes <= needed):
                kept.add(id(node))
                needed |= names
                grown = True
    text = []
    for part, body in zip(parts, bodies):
        dropped: set[int] = set()
        for node in (n for n in body if id(n) not in kept):  # with its decorators and the blank lines after it
            end = node.end_lineno
            while end < len(part) and not part[end].strip():
                end += 1
            dropped |= set(range(min([d.lineno for d in getattr(node, "decorator_list", [])] + [node.lineno]) - 1,
                                 end))
        text.append("\n".join(line for k, line in enumerate(part) if k not in dropped).strip())
    return "\n\n\n".join(part for part in text if part) + "\n"


def _imports(used_text: str) -> str:
    """The imports of `SOURCES` (``from __future__`` and their stand-ins aside) that `used_text` (the rest of the
    module) names, one line per module as isort writes them: the standard library's, then NumPy's and Numba's."""
    used, lines, froms = _names(ast.parse(used_text)), set(), {}
    for n in (n for source in SOURCES for n in ast.parse(inspect.getsource(source)).body):
        if isinstance(n, (ast.Import, ast.ImportFrom)) and not getattr(n, "level", 0) \
                and getattr(n, "module", None) != "__future__":
            for a in (a for a in n.names if (a.asname or a.name) in used):
                if isinstance(n, ast.ImportFrom) and not a.asname:
                    froms.setdefault(n.module, set()).add(a.name)
                else:  # `import numpy as np`; `from numba import types as nbtypes` on a line of its own
                    lines.add(ast.unparse(ast.Import([a]) if isinstance(n, ast.Import) else ast.ImportFrom(n.module,
                                                                                                          [a], 0)))
    lines |= {f"from {module} import {', '.join(sorted(names))}" for module, names in froms.items()}
    stdlib = {line for line in lines if line.split()[1].split(".")[0] in sys.stdlib_module_names}
    order = lambda line: (line.startswith("from"), line.split(" import ")[0], " as " in line, line)
    return "\n".join(sorted(stdlib, key=order)) + "\n\n" + "\n".join(sorted(lines - stdlib, key=order))


def _fans(plan: Plan) -> dict[str, int]:
    """Matrix -> fan: He's is its inputs, Glorot's its inputs and outputs (vectors start at 0)."""
    return {p: shape[1] if plan.init[p] == "he" else sum(shape) for p, shape in plan.shapes.items()
            if plan.init[p] not in ("zeros", "ones")}


def _init_doc(plan: Plan) -> str:
    rules: dict[str, list[str]] = {}
    for p in plan.params:
        fan = _fans(plan).get(p)
        rules.setdefault(f"{'He' if plan.init[p] == 'he' else 'Glorot'} normal, std sqrt(2/{fan})" if fan
                         else plan.init[p], []).append(p)
    text = "; ".join(f"{', '.join(ps)}: {rule}" for rule, ps in sorted(rules.items(),
                                                                       key=lambda r: r[0] in ("zeros", "ones")))
    return textwrap.fill(f"Initialisation (numpy.random.default_rng(seed)): {text}.", 116)


def _docstring(plan: Plan, source: str, notation: str) -> str:
    # NumPy's arrays count from 0 (the derivation's components from the notation's first, 1): say which
    targets = (f"integer class labels (batch,), each in 0..{plan.n_out - 1} (counted from 0)" if plan.labels
               else f"targets (batch, {plan.n_out}) in the parameters' dtype")
    if len(plan.inputs) == 1:
        x_doc = f"X: shape (batch, {plan.n_in}), one sample per row"
    else:
        cols = ", ".join(f"{n} in columns {c}..{c + k - 1}" for n, c, k in plan.inputs)
        x_doc = (f"X: shape (batch, {plan.n_in}), the inputs side by side ({cols}, counted from 0), "
                 "or a dict {name: array}")
    predict = (f"predict(params, X)          -> each row's class, the index of its largest output in "
               f"0..{plan.n_out - 1} (counted from 0)\n" if plan.labels else "")
    if plan.inference:
        entries = f"""{x_doc}.
The forward pass only: no loss, gradient or update code (compile without --inference for loss_and_grad
and sgd_step). float32 or float64, the parameters' dtype (X must match it); a plain dict of arrays works too.
Bad input: ValueError naming the argument."""
    else:
        decay = " over the batch" + "".join(  # the penalty's part of the loss
            f"\n    plus weight decay {lam!r}/2 ||{q}||^2 once per batch (and {lam!r} {q} in its gradient, as "
            "torch.optim.SGD's weight_decay)" for q, lam in plan.decay.items())
        entries = f"""loss_and_grad(params, X, Y, out=None) -> (loss, {{name: gradient}}), the loss a \
{plan.reduction}{decay};
                               the dict's .flat is every gradient in one array, laid out as Params.flat;
                               with out=new_gradients(params) written there (returned), no allocation
sgd_step(params, X, Y, lr)  -> the loss before the step; params -= lr * gradient, in place
init_state(params, optimizer="adam", lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, momentum=0.0,
           nesterov=False) -> Optimizer: "sgd", "adam" or "adamw" as torch.optim computes them, state in flat buffers
step(params, state, X, Y)   -> the loss before the step; one optimizer step in place (params and state)
train(params, X, Y, lr=None, epochs=1, batch_size=32, seed=0, optimizer="sgd", callback=None, every=1)
                            -> the mean loss of each epoch; whole epochs (shuffle, minibatches, updates) per call
save(path, params, state=None) and load(path) -> (params, state or None): one .npz file
{x_doc}.
Y: {targets}.
float32 or float64, the parameters' dtype (X and float targets must match it); a plain dict of arrays works too.
Bad input: ValueError naming the argument, before anything is updated."""
    return f'''"""{'Inference' if plan.inference else 'Training'} kernels for {plan.declared.description}.

Generated by symback {__version__} from {source}; needs only NumPy and Numba.
Each kernel block is headed by the quantity it computes and its equation as
`symback derive {source} --notation {notation}` prints it.

init_params(seed=0, dtype=np.float64) -> Params, a dict of arrays viewing one flat buffer, in the order of PARAMS
forward(params, X, out=None) -> the network output {plan.prediction!r}, shape (batch, {plan.sizes[plan.prediction]});
                               with out= (a C-contiguous array of that shape and dtype) written there, no allocation
{predict}{dropout.doc(plan.dropout)}{inputgrad.doc(plan)}{entries} Calls from several threads give what
the same calls give serially. One njit kernel per loop layout, chosen per batch size by _layout(B).
{_init_doc(plan)}
"""'''


def _constants(plan: Plan) -> str:
    sizes = [f"SIZES = {plan.declared.sizes!r}"] if plan.declared.sizes is not None else []
    return "\n".join([
        f"PARAMS = {tuple(plan.params)!r}",
        f"SHAPES = {{{', '.join(f'{p!r}: {plan.shapes[p]!r}' for p in plan.params)}}}",
        f"INPUTS = {tuple((n, k) for n, _, k in plan.inputs)!r}",
        f"OUTPUT = {plan.prediction!r}",
        f"LOSS = {plan.loss!r}",
        f"REDUCTION = {plan.reduction!r}",
        *sizes,
        f"N_PARAMS = {plan.n_params}",
        f"N_IN = {plan.n_in}",
        f"IMAGE = {plan.image!r}  # X may also be (batch, *IMAGE)" if plan.image else "IMAGE = None  # X is (batch, N_IN)",
        f"N_OUT = {plan.n_out}  # {'classes' if plan.labels else 'target width'}",
        f"_INIT = {tuple(_fans(plan).items())!r}  # (matrix, fan): std sqrt(2 / fan)",
        f"_ONES = {tuple(p for p in plan.params if plan.init[p] == 'ones')!r}  # normalisation scales: start at 1",
        "_FASTMATH = {'reassoc', 'contract', 'nsz'}  # no 'nnan'/'ninf': NaN and inf propagate as IEEE says",
    ])


def _dict_text(entries) -> str:
    """A dict display of (key text, value text) pairs, one entry a line (generated lines stay short)."""
    return "{\n" + "".join(f"    {key}: {value},\n" for key, value in entries) + "}"


def _wiring(plan: Plan, layouts, emitters, canonical: str) -> str:
    """The module's own part of the runtime: its layouts, which target checks it uses, its cache name."""
    table = "\n".join(f"    {name!r}: ({naming.kernel(name)}, lambda B: {emitters[name].ws_size()}, "
                      f"lambda ws, B: {emitters[name].output()})," for name, _ in layouts)
    choose = "".join(f"{name!r} if B <= {limit} else " for name, limit in layouts[:-1] if limit is not None)
    last = next((name for name, limit in layouts if limit is None), layouts[-1][0])
    checks = "_class_labels, _labels_in_range" if plan.labels else "_float_targets, _finite_targets"
    pairs = [(full, last) for k, (full, _) in enumerate(layouts) for last, _ in layouts[:k + 1]]
    epochs = "\n\n\n".join(f"@njit(cache=True, _nrt=False)\ndef _train_{full}_{last}(a):\n    return _epochs("
                              f"_KERNELS.{naming.kernel(full)}, _KERNELS.{naming.kernel(last)}, a)"
                              for full, last in pairs)
    network = repr((plan.declared.description, plan.params, plan.shapes, plan.inputs, plan.loss, plan.reduction)
                   + ((plan.decay,) if plan.decay else ()))  # a state of a decayed network is not the plain one's
    training = "" if plan.inference else "\n".join([
        "# Whole epochs, by the kernels of the full batches' and of the last batch's layouts, in functions Numba",
        "# caches: it caches one passing a kernel on only if the kernel is a module's attribute (not a pointer).",
        epochs, "", "",
        '_KERNELS = types.ModuleType("kernels")',
        "_KERNELS.__dict__.update((kernel.__name__, kernel) for kernel, _, _ in _LAYOUTS.values())",
        f"_TRAIN = {_dict_text((f'({full!r}, {last!r})', f'_train_{full}_{last}') for full, last in pairs)}",
        f"MODULE_ID = {hashlib.sha256(network.encode()).hexdigest()[:16]!r}  # the network, in optimizer states",
        ""])
    on_arrays = "".join(f'''@njit(cache=True, fastmath=_FASTMATH, _nrt=False)
def {k}_on_arrays(P, arrays, X, Y, ws, lr, mode):
    """{k} on a plain dict's arrays: copied into P first and, after an SGD step, back."""
    _pack(P, arrays)
    loss = {k}(P, X, Y, ws, lr, mode)
    if mode == SGD:
        _unpack(P, arrays)
    return loss


@njit(cache=True, fastmath=_FASTMATH, _nrt=False)
def {k}_into(P, X, Y, ws, out, mode):
    """{k}, then its output rows or gradient block written into the caller's `out` (`_write_out`)."""
    loss = {k}(P, X, Y, ws, 0.0, mode)
    B = X.shape[0]
    _write_out(out, ws, {emitters[name].output()}, mode)
    return loss


@njit(cache=True, fastmath=_FASTMATH, _nrt=False)
def {k}_on_arrays_into(P, arrays, X, Y, ws, out, mode):
    """{k}_into on a plain dict's arrays, copied into P first."""
    _pack(P, arrays)
    return {k}_into(P, X, Y, ws, out, mode)


''' for k, name in ((naming.kernel(name), name) for name, _ in layouts))
    kernels = [naming.kernel(name) for name, _ in layouts]
    wrappers = _dict_text((k, f"{k}_on_arrays") for k in kernels)
    into = _dict_text(pair for k in kernels for pair in ((k, f"{k}_into"), (f"{k}_on_arrays", f"{k}_on_arrays_into")))
    inner = _dict_text(pair for k in kernels for pair in (
        (f"{k}_on_arrays", k), (f"{k}_into", k), (f"{k}_on_arrays_into", f"{k}_into")))
    return f'''

# -- this module's kernels: (kernel, workspace size, output rows) per loop layout, and each one on a plain dict
# and writing into the caller's `out`

{on_arrays}_LAYOUTS = {{
{table}
}}
_ON_ARRAYS = {wrappers}
_INTO = {into}
_INNER = {inner}


def _layout(B):
    """The loop layout for a batch of B rows (loops for tiny layers, BLAS for wide ones)."""
    return {choose}{last!r}


{training}_targets, _check_targets = {checks}
_register_kernels({canonical!r})
'''


def generate(d, source: str, notation: str = "udl", command: str | None = None, layouts=None,
             inference: bool = False, conv: str = "auto") -> str:
    """The module's full source text, header line for the hash included as a placeholder.

    `layouts` (tests): emit these kernels, e.g. ``("sample", "small", "blas")``, all reachable through
    ``_LAYOUTS``, instead of the ones the size thresholds choose. `inference`: the forward pass alone
    (``forward``, and ``predict`` for a classifier; no loss, gradient or update code).
    `conv`: convolutions by im2col + GEMM ("gemm"), by direct loops ("loops") or by `im2col.wins` ("auto").
    """
    plan = build(inputgrad.for_parameters(d), inference)  # the training kernels: the parameters' gradients
    plan.input_grad = [] if inference else inputgrad.inputs(d)
    plan.conv = im2col.choice(conv)
    command = command or f"symback compile {source}{' --inference' if inference else ''}"
    public = INFERENCE + CLASSIFIER if inference else PUBLIC
    eq = d.equations(notation)  # the equation of each node, as `symback derive` prints it (render provides it)
    layouts = choose_layouts(plan) if layouts is None else [(name, None) for name in layouts]
    emitters = {name: LAYOUTS[name](plan, eq) for name, _ in layouts}
    kernels = "\n\n".join(emitters[name].kernel() for name, _ in layouts) + dropout.source(plan.dropout)
    kernels += inputgrad.source(d, plan.input_grad, layouts, LAYOUTS, eq, plan.conv)
    canonical = "symback_kernels_" + hashlib.sha256(kernels.encode()).hexdigest()[:16]
    wiring = _wiring(plan, layouts, emitters, canonical)
    body = "\n".join([
        _constants(plan),
        "",
        "",
        kernels,
        "",
        "# -- the Python side (symback/codegen/runtime.py, the part this module uses): checks, then one kernel call",
        "",
        copy_runtime(kernels + wiring, public) + wiring,
    ])
    return "\n".join([
        f"# Generated by symback {__version__} from {source} ({command}); do not edit.",
        "# Regenerate it instead; symback refuses to overwrite a file whose body was edited by hand.",
        "# symback-body-sha256: 0",
        _docstring(plan, source, notation),
        "",
        _imports(body),
        "",
        body,
    ])
