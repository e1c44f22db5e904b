"""Repeated steps of a long kernel as one njit function each, called once per repeat (a deep network's layers).

Stage: codegen. Input: a kernel's steps as source lines (`Layout.kernel`), the names its head binds (arguments,
views). Output: the functions (``_step_blas_1(B, h1, W2, f2, b2, h2)``) and the kernel's body, where each
repeated step is a call with its own views (``_step_blas_1(B, h2, W3, f3, b3, h3)``) under the step's equations.
Steps are the same when their code is, but for the names of the views they use (the same loops, sizes and
offsets). Numba compiles each function once, where the kernel would compile the copies one by one: the 20-layer
networks' step compiles several times faster and runs as fast (a call per layer). A function's body is its first
use's code, with that use's names; a step that adds to the loss takes ``loss`` and hands it back. A kernel that
repeats fewer than `MIN_LINES` lines stays as it is.
"""

from __future__ import annotations

import ast
import re
import textwrap

from . import naming

#: lines the repeats must save before a kernel is cut: tiny kernels keep their straight-line code
MIN_LINES = 120


def _views(views: str) -> dict[str, str]:
    """The kernel's names -> the view each is bound to (``f2 = h2 = V64[1]``: both ``V64[1]``); arguments, B and loss
    to themselves."""
    out = {n: n for n in (*naming.KERNEL_ARGS, "B", "loss")}
    for line in ast.parse(textwrap.dedent(views)).body:
        for target in line.targets if isinstance(line, ast.Assign) else ():
            pairs = zip(target.elts, line.value.elts) if isinstance(target, ast.Tuple) else [(target, line.value)]
            out.update((t.id, ast.unparse(v)) for t, v in pairs)
    return out


def _shape(lines: list[str], views: dict[str, str]):
    """(the step's leading comments, its code without them, the kernel's names it uses, one per view (B first, then
    in order of first use), the lines binding its other names of those views, whether it adds to ``loss``, its key:
    the code with those names numbered by view), or None for a step that cannot move (it leaves the kernel, or
    assigns one of the kernel's names)."""
    k = next((k for k, line in enumerate(lines) if not line.lstrip().startswith("#")), len(lines))
    code = textwrap.dedent("\n".join(lines[k:]))
    if not code.strip():
        return None
    tree = ast.parse(code)
    used, adds = {}, False  # view -> the names the step gives it, in order of first use
    for node in sorted((n for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id in views),
                       key=lambda n: (n.lineno, n.col_offset)):
        if isinstance(node.ctx, ast.Store) and node.id != "loss":
            return None
        adds |= node.id == "loss"
        if node.id != "loss" and node.id not in used.setdefault(views[node.id], []):
            used[views[node.id]].append(node.id)
    if any(isinstance(n, (ast.Return, ast.Continue, ast.Break)) for n in ast.walk(tree)):
        return None
    groups = sorted((g for g in used.values() if g), key=lambda g: g[0] != "B")
    # one argument per view: names of the same memory stay one array to LLVM, which vectorises h = f in place
    aliases = [f"{' = '.join(g[1:])} = {g[0]}" for g in groups if len(g) > 1]
    numbered = {n: f"_a{k}" for k, g in enumerate(groups) for n in g}
    key = re.sub(r"(?<![.\w])\w+\b", lambda m: numbered.get(m[0], m[0]), code)
    return lines[:k], code, [g[0] for g in groups], aliases, adds, key


def outline(steps: list[list[str]], views: str, kernel: str, decorator: str) -> tuple[list[str], list[str]]:
    """(the functions' sources, the kernel's body lines) for `steps` (each a list of lines at depth 1); `views`: the
    lines of the kernel's head that bind its views of P and ws."""
    bound = _views(views)
    shapes = [_shape(lines, bound) for lines in steps]
    count: dict[str, list[int]] = {}
    for k, found in enumerate(shapes):
        if found is not None:
            count.setdefault(found[-1], []).append(k)
    repeated = {key: ks for key, ks in count.items() if len(ks) > 1}
    if sum((len(ks) - 1) * len(steps[ks[0]]) for ks in repeated.values()) < MIN_LINES:
        return [], [line for lines in steps for line in lines]
    functions, made, body = [], {}, []
    for lines, found in zip(steps, shapes):
        if found is None or found[-1] not in repeated:
            body.extend(lines)
            continue
        comments, code, names, aliases, adds, key = found
        if key not in made:
            made[key] = f"{kernel}_{len(made) + 1}"
            params = ", ".join(names + ["loss"] * adds)
            tail = "\n    return loss" if adds else ""
            text = textwrap.indent("\n".join([*aliases, code]), "    ")
            functions.append(f"{decorator}\ndef {made[key]}({params}):\n{text}{tail}\n")
        body.extend(comments)
        call = f"{made[key]}({', '.join(names + ['loss'] * adds)})"
        body.append(f"    {'loss = ' if adds else ''}{call}")
    return functions, body
