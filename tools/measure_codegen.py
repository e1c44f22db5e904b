"""Measure generated modules: lines of kernel vs scaffolding, and `sgd_step` time per call.

``python tools/measure_codegen.py lines [FILE ...]`` (default generated/*.py): per file, the lines of
the njit training kernels (decorator to the end of the function: the math) and of everything else
(header, docstring, constants, the copied runtime, validation helpers: scaffolding), counted twice:
all lines, and code lines only (no blank lines, comments or docstrings).

``python tools/measure_codegen.py time [--repeat 7]``: µs per `sgd_step` call (min over repeats) for
generated/udl_toy.py at B=1 and B=256 and generated/train_digits.py at B=32. Note `uptime` beside it.

``python tools/measure_codegen.py compile [--layouts sample,small,blas] [EXAMPLE ...]`` (default every example of
examples/): CPU seconds Numba takes to compile each example's ``_step_<layout>`` kernel, cold (a fresh module in a
temporary folder, so no cache entry matches), without the helpers it calls; the total per layout. CPU time, so a
shared machine inflates it less than wall time; compare two trees in one sitting, interleaved.
"""

from __future__ import annotations

import argparse
import ast
import functools
import importlib.util
import io
import sys
import timeit
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KERNEL_PREFIX = "_step_"


def _doc_and_comment_lines(text: str) -> set[int]:
    """Line numbers (1-based) holding only a comment, or part of a docstring."""
    out = set()
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        if tok.type == tokenize.COMMENT and tok.line.strip().startswith("#"):
            out.add(tok.start[0])
    tree = ast.parse(text)
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) \
                    and isinstance(first.value.value, str):
                out.update(range(first.lineno, first.end_lineno + 1))
    return out


def count(path: Path) -> dict:
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    kernel = set()
    for node in ast.parse(text).body:
        if isinstance(node, ast.FunctionDef) and node.name.startswith(KERNEL_PREFIX):
            start = min([d.lineno for d in node.decorator_list] + [node.lineno])
            kernel.update(range(start, node.end_lineno + 1))
    skip = _doc_and_comment_lines(text) | {k + 1 for k, line in enumerate(lines) if not line.strip()}
    code = {k for k in range(1, len(lines) + 1) if k not in skip}
    return {
        "file": path.name, "lines": len(lines), "kernel": len(kernel), "scaffolding": len(lines) - len(kernel),
        "code": len(code), "kernel_code": len(code & kernel), "scaffolding_code": len(code - kernel),
    }


def lines(files) -> None:
    print(f"{'file':40} {'lines':>6} {'kernel':>7} {'scaff':>6} {'scaff%':>7} | {'code':>5} {'kernel':>7} "
          f"{'scaff':>6} {'scaff%':>7}")
    for f in files:
        r = count(Path(f))
        print(f"{r['file']:40} {r['lines']:6} {r['kernel']:7} {r['scaffolding']:6} "
              f"{100 * r['scaffolding'] / r['lines']:6.0f}% | {r['code']:5} {r['kernel_code']:7} "
              f"{r['scaffolding_code']:6} {100 * r['scaffolding_code'] / r['code']:6.0f}%")


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(f"measured_{abs(hash(str(path)))}", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def time(repeat: int, folders) -> None:
    import numpy as np

    for (name, B), folder in ((case, folder) for case in (("udl_toy", 1), ("udl_toy", 256), ("train_digits", 32))
                              for folder in folders):
        mod = _load(Path(folder) / f"{name}.py")
        p = mod.init_params(seed=0)
        rng = np.random.default_rng(0)
        n_in = sum(k for _, k in mod.INPUTS)
        X = rng.standard_normal((B, n_in))
        if mod.LOSS == "softmax_cross_entropy":
            Y = rng.integers(0, mod.SHAPES[mod.PARAMS[-1]][0], B)
        else:
            Y = rng.standard_normal((B, mod.SHAPES[mod.PARAMS[-1]][0]))
        mod.sgd_step(p, X, Y, 1e-4)
        number = max(1, int(20000 / B))
        best = min(timeit.repeat(functools.partial(mod.sgd_step, p, X, Y, 1e-4), number=number, repeat=repeat)) / number
        print(f"{name:14} B={B:<4} sgd_step {best * 1e6:9.2f} µs/call  ({folder})")


def compile_cpu(layouts, keys) -> None:
    import tempfile
    import time as clock

    import numpy as np
    from numba.core import event

    sys.path.insert(0, str(ROOT))
    from symback.codegen import compile_derivation
    from symback.codegen.plan import build
    from symback.errors import SymbackError
    from tests.codegen_support import batch, example_specs, with_layout

    spent, stack = {}, []

    class Compiles(event.Listener):  # each compile's CPU without the compiles nested in it, by function name
        def on_start(self, ev):
            stack.append([clock.process_time(), 0.0])

        def on_end(self, ev):
            start, nested = stack.pop()
            took = clock.process_time() - start
            if stack:
                stack[-1][1] += took
            name = ev.data["dispatcher"].py_func.__name__
            spent[name] = spent.get(name, 0.0) + took - nested

    event.register("numba:compile", Compiles())
    specs, total = dict(example_specs()), dict.fromkeys(layouts, 0.0)
    folder = Path(tempfile.mkdtemp(prefix="measure_compile_"))
    for n, key in enumerate(keys or list(specs)):
        d = specs[key].derive()
        cells = []
        for layout in layouts:
            try:
                mod = compile_derivation(d, folder / f"m{n}_{layout}.py", force=True, layouts=(layout,))
            except SymbackError:  # batch statistics have no sample-outer kernel
                cells.append(f"{layout} {'n/a':>6}")
                continue
            spent.clear()
            with with_layout(mod, layout):
                mod.loss_and_grad(mod.init_params(), *batch(build(d), 5, np.random.default_rng(0)))
            cells.append(f"{layout} {spent[KERNEL_PREFIX + layout]:6.2f}")
            total[layout] += spent[KERNEL_PREFIX + layout]
        print(f"{key:36} " + "  ".join(cells), flush=True)
    print(f"{'total (CPU s)':36} " + "  ".join(f"{layout} {s:6.2f}" for layout, s in total.items()))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="what", required=True)
    a = sub.add_parser("lines")
    a.add_argument("files", nargs="*")
    t = sub.add_parser("time")
    t.add_argument("--repeat", type=int, default=7)
    t.add_argument("folders", nargs="*", help="folders of generated modules, measured in turn (default generated/)")
    c = sub.add_parser("compile")
    c.add_argument("--layouts", default="sample,small,blas")
    c.add_argument("examples", nargs="*", help="example ids as tests/codegen_support.example_specs names them")
    args = ap.parse_args(argv)
    if args.what == "lines":
        lines(args.files or sorted((ROOT / "generated").glob("*.py")))
    elif args.what == "compile":
        compile_cpu(args.layouts.split(","), args.examples)
    else:
        time(args.repeat, args.folders or [ROOT / "generated"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
