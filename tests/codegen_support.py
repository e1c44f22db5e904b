"""Shared by the code generation tests: compiled modules in a stable folder, and the reference.

Generated modules are deterministic, so compiling into the same folder on
every run leaves the files untouched (`write_module` skips identical text)
and Numba's on-disk cache stays valid: only the first run compiles.
"""

from __future__ import annotations

import ast
import hashlib
import runpy
from pathlib import Path

import numpy as np

import symback as sb  # noqa: F401
from symback.codegen import compile_derivation
from symback.codegen.module import choose_layouts
from symback.codegen.plan import build
from symback.declare.spec import declared

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".pytest_cache" / "symback-codegen"
ALL = ("sample", "small", "blas")
_MODULES: dict = {}


def example_specs() -> list[tuple[str, object]]:
    """(id, declared object) for every network or DAG in examples/*.py."""
    out = []
    for path in sorted((ROOT / "examples").glob("*.py")):
        scope = runpy.run_path(str(path), run_name="__symback_spec__")
        names = sorted(k for k, v in scope.items() if not k.startswith("_") and declared(v))
        for n in names:
            out.append((path.stem if len(names) == 1 else f"{path.stem}:{n}", scope[n]))
    return out


def compiled(key: str, net, layouts=None):
    """(module, derivation, plan) for `net`, compiled once per test process into CACHE.

    Under pytest-xdist each worker has its own copy; tests/conftest.py keeps the tests of one module on
    one worker, and Numba's cache beside the file lets a later run (or another worker) load it compiled.
    Layouts that are the ones the thresholds choose anyway (`choose_layouts`) give the module of
    ``compiled(key, net)``: the same text, so one file and one compile for both."""
    asked = (key, None if layouts is None else tuple(layouts))
    if asked in _MODULES:
        return _MODULES[asked]
    d = net.derive()
    plan = build(d)
    if layouts is not None and [(name, None) for name in layouts] == choose_layouts(plan):
        layouts = None
    own = (key, None if layouts is None else tuple(layouts))
    if own not in _MODULES:
        CACHE.mkdir(parents=True, exist_ok=True)
        name = "m_" + hashlib.sha256(f"{key}|{layouts}".encode()).hexdigest()[:12]
        mod = compile_derivation(d, CACHE / f"{name}.py", source=f"tests ({key})", force=True, layouts=layouts)
        _MODULES[own] = (mod, d, plan)
    _MODULES[asked] = _MODULES[own]
    return _MODULES[asked]


def layout_modules(key: str, net):
    """({layout: a module holding its kernel} for every layout in ALL, derivation, plan): the layouts the thresholds
    choose in `net`'s own module (`compiled(key, net)`, the one the other tests use), the rest in a module of their
    own, so each kernel compiles once. A kernel's code is the same whatever kernels are beside it (one emitter per
    layout, from the same plan)."""
    mod, d, plan = compiled(key, net)
    rest = tuple(layout for layout in ALL if layout not in mod._LAYOUTS)
    other = compiled(f"{key}|{','.join(rest)}", net, layouts=rest)[0] if rest else mod
    return {layout: mod if layout in mod._LAYOUTS else other for layout in ALL}, d, plan


def batch(plan, B: int, rng, dtype=np.float64):
    X = rng.standard_normal((B, plan.n_in)).astype(dtype)
    if plan.labels:
        Y = rng.integers(0, plan.n_out, B).astype(np.int64)
    elif plan.loss == "bce":
        Y = rng.uniform(0.05, 0.95, (B, plan.n_out)).astype(dtype)
    else:
        Y = rng.standard_normal((B, plan.n_out)).astype(dtype)
    return X, Y


def perturbed(mod, rng, dtype=np.float64, seed=0):
    """init_params plus noise, so biases are nonzero and every path carries gradient."""
    p = mod.init_params(seed=seed, dtype=dtype)
    for k in mod.PARAMS:
        shape = p[k].shape
        scale = 0.3 / np.sqrt(shape[1]) if len(shape) == 2 else 0.3
        p[k][...] += (scale * rng.standard_normal(shape)).astype(dtype)
    return p


def reference(d, plan, params, X, Y):
    """Loss and gradients by the NumPy per-sample evaluator of the IR (symback.numeric)."""
    B = X.shape[0]
    loss = 0.0
    grads = {p: np.zeros(plan.shapes[p]) for p in d.params}
    P = {k: np.asarray(v, dtype=float) for k, v in params.items()}
    for s in range(B):
        x = {n: np.asarray(X[s, c:c + k], dtype=float) for n, c, k in plan.inputs}
        v = d.evaluate(P, x, int(Y[s]) if plan.labels else np.asarray(Y[s], dtype=float))
        loss += float(v[d.output])
        for p in d.params:
            grads[p] += np.asarray(v[d.adjoints[p]]).reshape(plan.shapes[p])
    scale = 1.0 / B if plan.reduction == "mean" else 1.0
    return loss * scale, {p: g * scale for p, g in grads.items()}


def same_bits(a, b) -> bool:
    """Bit for bit: dtype, shape and bytes."""
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def rel(a, b) -> float:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.max(np.abs(a - b)) / max(1.0, float(np.max(np.abs(b)))))


def with_layout(mod, layout):
    """Context: force one loop layout for every batch size (a fresh workspace cache)."""
    import contextlib

    @contextlib.contextmanager
    def ctx():
        orig = mod._layout
        mod._layout = lambda B: layout
        mod._SHARED.clear()
        try:
            yield
        finally:
            mod._layout = orig
            mod._SHARED.clear()

    return ctx()


def unused_names(text: str) -> list[str]:
    """A module's imports and private top-level names that nothing in it reads, and import lines written twice
    (the runtime is copied in from several files: their imports merged, what the module never reaches left out)."""
    tree = ast.parse(text)
    read = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    bound = [(a.asname or a.name).split(".")[0] for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))
             for a in n.names]
    bound += [t.id for n in tree.body if isinstance(n, ast.Assign) for t in ast.walk(n)
              if isinstance(t, ast.Name) and isinstance(t.ctx, ast.Store) and t.id.startswith("_")]
    lines = [ast.unparse(n) for n in tree.body if isinstance(n, ast.ImportFrom)]
    return sorted({n for n in bound if n not in read} | {f"twice: {m}" for m in lines if lines.count(m) > 1}
                  | {f"twice: {n}" for n in bound if bound.count(n) > 1 and not n.startswith("_")})

