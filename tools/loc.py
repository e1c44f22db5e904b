"""Count the code lines of symback/ and hold them to the budget written in pyproject.toml.

A code line is a physical line that holds part of a Python token other than a
comment, found with `tokenize`; docstrings (the first string statement of a
module, class or function, found with `ast`) and blank lines do not count.
Lines of other string literals (templates of generated code) do count.

Prints one row per file, largest first, then the total. Exits 1 when the total
is over ``[tool.symback] loc-budget`` in pyproject.toml or when a file has more
than ``max-lines`` physical lines (500). A file listed in
``[tool.symback.over-max-lines]`` (files that were already longer when the
check came in) may keep at most the lines recorded there until it is split
and its entry deleted. `make loc` runs this; so does `make test`.
"""

from __future__ import annotations

import argparse
import ast
import io
import sys
import tokenize
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SKIP = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
        tokenize.ENCODING, tokenize.ENDMARKER}


def docstring_lines(tree: ast.AST) -> set[int]:
    """Line numbers covered by docstrings of the module, its classes and its functions."""
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                out.update(range(body[0].lineno, body[0].end_lineno + 1))
    return out


def code_lines(text: str) -> int:
    """Number of lines holding code: no comment-only, blank or docstring lines."""
    lines: set[int] = set()
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        if tok.type not in SKIP:
            lines.update(range(tok.start[0], tok.end[0] + 1))
    return len(lines - docstring_lines(ast.parse(text)))


def settings(pyproject: Path) -> tuple[int, int, dict[str, int]]:
    """(code-line budget, physical lines per file, {file: its larger allowance}) from [tool.symback]."""
    with pyproject.open("rb") as fh:
        table = tomllib.load(fh)["tool"]["symback"]
    return int(table["loc-budget"]), int(table.get("max-lines", 500)), dict(table.get("over-max-lines", {}))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("package", nargs="?", default=str(ROOT / "symback"), help="folder to count (symback/)")
    parser.add_argument("--budget", type=int, help="override pyproject.toml's [tool.symback] loc-budget")
    parser.add_argument("--quiet", action="store_true", help="print only the total and any failure")
    args = parser.parse_args(argv)
    package = Path(args.package)
    limit, max_lines, allowed = settings(ROOT / "pyproject.toml")
    limit = args.budget if args.budget is not None else limit

    rows = []
    for path in sorted(package.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        rows.append((code_lines(text), len(text.splitlines()), path.relative_to(package.parent).as_posix()))
    rows.sort(key=lambda r: (-r[0], r[2]))
    total = sum(r[0] for r in rows)

    if not args.quiet:
        width = max((len(r[2]) for r in rows), default=4)
        print(f"{'file':<{width}}  {'code':>5}  {'lines':>5}")
        for code, physical, name in rows:
            flag = f"  over {max_lines} lines" if physical > max_lines else ""
            print(f"{name:<{width}}  {code:>5}  {physical:>5}{flag}")
    print(f"total: {total} code lines in {len(rows)} files (budget {limit})")

    failures = []
    if total > limit:
        failures.append(f"{total} code lines is over the budget of {limit} (pyproject.toml [tool.symback] loc-budget)")
    for _, physical, name in rows:
        cap = max(max_lines, allowed.get(name, 0))
        if physical > cap:
            why = "its allowance in [tool.symback.over-max-lines]" if name in allowed else "max-lines"
            failures.append(f"{name} has {physical} lines (at most {cap}: {why})")
    for f in failures:
        print(f"loc: {f}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
