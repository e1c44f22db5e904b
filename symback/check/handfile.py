r"""Reading a hand file: one ``LHS = RHS`` equation per line.

``#`` starts a comment (LaTeX's ``\#`` does not), blank lines are skipped.
A right-hand side is LaTeX when it holds a backslash or is wrapped in
``$...$``; otherwise it is the text syntax of `formula`. The left-hand side
names the quantity in either syntax (``dl/dOmega_1``, ``\frac{\partial
\ell}{\partial \boldsymbol\Omega_1}``, ``delta^[2]``).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import SymbackError
from ..textparse import abbreviate

MAX_BYTES = 1_000_000  # a hand file larger than this is not a student's derivation
MAX_EQUATIONS = 1000
#: a general rule, as symback prints one: ``... for k = 0, 1, 2`` (LaTeX: ``\text{for } k = 0, 1, 2``)
FOR = re.compile(r"(?:\\q?quad\s*)?(?:\\text\{\s*for\s*\}|\bfor)\s+([a-z])\s*=\s*"
                 r"((?:\d{1,3}|\.\.\.|…|\\[lc]?dots)(?:\s*,\s*(?:\d{1,3}|\.\.\.|…|\\[lc]?dots)){0,50})\s*\$?$")


#: ``   (fused: the activation's derivative cancels)``, LaTeX ``\qquad \text{(fused: ...)}``
REMARK = re.compile(r"(?<!\s)(?:\s{2,}|\s*\\q?quad\s*\\text\{)\([a-z]+:[^()]*\)\}?(?=\s*\$?\s*$)")


def values(text: str, number: int, where: str) -> list[int]:
    """``0, 1, 2`` or ``0, ..., 19`` (``1, 3, ..., 9`` steps by 2): the values a rule's index takes."""
    items = [v.strip() for v in text.split(",")]
    if all(v.isdigit() for v in items):
        return [int(v) for v in items]
    dots = next(i for i, v in enumerate(items) if not v.isdigit())
    if dots == 0 or dots != len(items) - 2 or not items[-1].isdigit() or not all(v.isdigit() for v in items[:dots]):
        raise SymbackError(f"{where}:{number}: write a rule's values as 'for k = 0, 1, 2' or 'for k = 0, ..., 19'")
    first, step = int(items[0]), int(items[1]) - int(items[0]) if dots > 1 else 1
    return list(range(first, int(items[-1]) + 1, step)) if step > 0 else [first]


def index(line: str, letter: str, value: int) -> str:
    """`line` with index `letter` (``k``, ``k+1``, ``{k-1}``) in sub- and superscripts replaced by `value`."""
    def number(m: re.Match) -> str:
        return str(value + int(re.sub(r"\s", "", m.group(1) or "0")))
    return re.sub(r"(?<=[_\[({])\s*" + letter + r"(\s*[+-]\s*\d+)?(?![A-Za-z0-9])", number, line)


def sides_of(line: str) -> list[str]:
    """`line` split at each '=' outside brackets that is not part of >=, <=, ==, != (LaTeX's sum_{i=1} stays)."""
    parts, depth, start = [], 0, 0
    for i, c in enumerate(line):
        depth += (c in "([{") - (c in ")]}")
        if c == "=" and depth == 0 and line[i - 1:i] not in ("<", ">", "!", "=") and line[i + 1:i + 2] != "=":
            parts.append(line[start:i])
            start = i + 1
    return parts + [line[start:]]


@dataclass(frozen=True)
class Equation:
    line: int
    lhs: str
    rhs: str
    source: str = "hand formulas"

    @property
    def latex(self) -> bool:
        s = self.rhs.strip()
        return "\\" in s or (s.startswith("$") and s.endswith("$"))

    @property
    def where(self) -> str:
        return f"{self.source}:{self.line}"


def line_equations(line: str, number: int, where: str) -> list[Equation]:
    """The equations one line states: ``lhs = a = b`` is two, ``... for k = 1, 2`` one per value of k."""
    rule = FOR.search(line)
    stated = [index(line[:rule.start()].rstrip(), rule.group(1), v) for v in values(rule.group(2), number, where)] \
        if rule else [line]
    out = []
    for each in stated:
        lhs, *rhss = [part.strip() for part in sides_of(each)]
        if not rhss:
            raise SymbackError(f"{where}:{number}: expected 'LHS = RHS', got {abbreviate(each)}")
        if not lhs:
            raise SymbackError(f"{where}:{number}: the left-hand side is empty; name a quantity, e.g. dl/df_1 = ...")
        for rhs in rhss:  # a chain lhs = a = b: each right-hand side against the left one
            if not rhs:
                raise SymbackError(f"{where}:{number}: the right-hand side of {abbreviate(lhs, 40)[1:-1]} is empty")
            out.append(Equation(number, lhs, rhs, where))
    return out


def read_hand(source) -> tuple[str, list[Equation]]:
    """(where, equations) from a file when `source` is a `pathlib.Path`, else from `source` as the formulas' text:
    a str is never a path (a student's formula that names an existing file must not read it)."""
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(f"hand formulas are text (str) or a file (pathlib.Path), not {type(source).__name__}")
    if isinstance(source, os.PathLike):
        path = Path(source)
        shown = abbreviate(str(source))
        if not str(source).strip():
            raise SymbackError("--hand '': name the hand file")
        if path.is_dir():
            raise SymbackError(f"--hand {shown} is a directory; give the hand file itself")
        if not path.is_file():  # a device or pipe would be read without end
            what = "is not a regular file (a device or pipe); give a text file" if path.exists() else "no such file"
            raise SymbackError(f"--hand {shown}: {what}")
        try:
            size = path.stat().st_size
            if size > MAX_BYTES:
                raise SymbackError(f"--hand {shown} has {size:,} bytes (limit {MAX_BYTES:,})")
            text = path.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError as exc:
            raise SymbackError(f"--hand {shown}: not UTF-8 text (byte {exc.start + 1}); save it as UTF-8") from None
        except OSError as exc:
            raise SymbackError(f"--hand {shown}: cannot read it ({exc.strerror or type(exc).__name__})") from None
        where = str(path)
    else:
        text, where = str(source), "hand formulas"
        if len(text) > MAX_BYTES:
            raise SymbackError(f"the hand formulas have {len(text):,} characters (limit {MAX_BYTES:,})")
    if "\0" in text:
        raise SymbackError(f"{abbreviate(where)} holds a NUL character; a hand file is text")
    equations = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = re.split(r"(?<!\\)#", raw, maxsplit=1)[0].strip()  # '#' starts a comment, LaTeX's '\#' does not
        if not line:
            continue
        equations += line_equations(REMARK.sub("", line), number, where)  # a printed remark: (fused: ...)
        if len(equations) > MAX_EQUATIONS:
            raise SymbackError(f"{where}: more than {MAX_EQUATIONS:,} equations (limit {MAX_EQUATIONS:,})")
    if not equations:
        raise SymbackError(f"{where}: no equations found; write one 'LHS = RHS' per line")
    return where, equations
