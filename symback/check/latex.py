r"""Hand formulas in LaTeX -> the `formula` AST, through `sympy.parsing.latex`.

``parse_latex`` reads scalar algebra; a backprop formula also has course
symbols (``\delta^{[2]}``, ``\mathbf{h}_1``), transposes, ``\odot`` and
indicators. So the text is prepared first, then parsed, then read back:

1. fonts and spacing go (``\mathbf{h}`` -> ``h``, ``\left(`` -> ``(``),
   ``^\top`` / ``^{\mathsf{T}}`` -> ``^{T}``, ``\hat{y}`` -> ``yhat``;
2. each course symbol and ``\frac{\partial \ell}{\partial f_2}`` becomes a
   placeholder symbol ``\mathit{...}``; an indicator ``\mathbb{1}[z > 0]``
   (or any bracket holding a comparison) becomes one too, its condition
   parsed on its own (parse_latex only takes comparisons at the top);
   function words (``\operatorname{relu}'``) become ``F_{n}`` calls;
3. ``A \odot B`` becomes ``A \times \mathit{hadamard} \times B``: the marker
   keeps the operator in the tree, so ``\odot`` binds like ``\cdot`` and
   ``\times`` (left to right) while juxtaposition binds tighter, as
   ``parse_latex`` reads products;
4. the SymPy tree, built unevaluated so factor order is kept, is read into
   the AST: ``X^{T}`` is a transpose, a product keeps its order.

``parse_latex`` (its ANTLR backend) builds SymPy objects directly from the
parse tree, never evaluating text as Python: function names come from a
fixed list of LaTeX commands, other names become Symbols or undefined
Functions, and its only text-to-number call sees digits alone. Its parser
recurses, so `check_limits` bounds length, nesting and digit runs first.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache, reduce

import sympy as sp
from sympy.core.relational import Relational
from sympy.parsing.latex import parse_latex

from ..errors import SymbackError
from ..textparse import MAX_DIGITS, abbreviate
from .formula import GENERIC, MAX_DEPTH, Call, Name, Num, Op, canonical, depth, function_name, summed

MAX_LENGTH = 5000  # characters of one LaTeX formula
MAX_NESTING = 40  # { ( [ inside each other: the ANTLR parser recurses about twenty frames per level

HAD = "qqhmrk"
ROWS = " qqrows "  # a matrix's row separator while the spacing commands are dropped
_MISPLACED = {HAD: "\\odot needs a factor on each side", "T": "a transpose ^T must follow a matrix or vector"}
_RELATIONS = {sp.StrictGreaterThan: ">", sp.GreaterThan: ">=", sp.StrictLessThan: "<", sp.LessThan: "<="}
_FONTS = r"\\(?:mathbf|boldsymbol|bm|vec|mathit|mathrm|operatorname\*?|text|textrm|mathsf|mathnormal|pmb)\s*\{([^{}]*)\}"
_DROP = r"\\left|\\right|\\big|\\Big|\\bigg|\\Bigg|\\displaystyle|\\,|\\;|\\!|\\:|\\ |\\quad|\\qquad|\$"
_BRACKET = re.compile(r"\\?[{}]|[()\[\]]")  # \{ and \} are braces too
_REL = re.compile(r"(>=|<=|\\geq?|\\leq?|\\gt|\\lt|>|<)")
# a course symbol: a letter or Greek command, a subscript, a layer superscript [k] / (k), maybe with T
_SYM = re.compile(r"(?<![A-Za-z\\])(?P<base>\\[A-Za-z]+|[A-Za-z])(?![A-Za-z])\s*"
                  r"(?:_\s*(?P<sub>\{\s*[A-Za-z0-9]+\s*\}|[A-Za-z0-9]))?"
                  r"(?:\^\s*\{\s*(?P<sup>[\[(]\s*-?\d+\s*[\])])\s*(?P<supT>T)?\s*\}|\^\s*(?P<sup2>\[\s*-?\d+\s*\]))?")
_WORD = re.compile(r"([A-Za-z][A-Za-z0-9]*)(?:_\s*\{?\s*([A-Za-z0-9]+)\s*\}?)?")  # a DAG's value: out, W_{enc}
_DERIV = re.compile(r"\\frac\s*\{\s*(?:\\partial|d)\s*(?P<num>[^{}]*(?:\{[^{}]*\}[^{}]*)*)\}\s*\{\s*(?:\\partial|d)\s*"
                    r"(?P<den>[^{}]*(?:\{[^{}]*\}[^{}]*)*)\}"
                    r"(?:\s*\|\s*_\s*\{(?P<via>[^{}]*(?:\{[^{}]*\}[^{}]*)*)\})?"  # a DAG's share: \big|_{m}
                    r"|(?:\\partial|(?<![A-Za-z\\])d)\s*(?P<num2>\\ell|l|L|J)\s*/\s*(?:\\partial|d)\s*(?P<den2>"
                    + _SYM.pattern + ")")


def normalize(text: str, loss: tuple = ()) -> str:
    r"""Fonts, spacing and the spellings of transpose and prime made uniform.

    `loss` is the notation's (LaTeX, text) loss symbol, e.g. (r"\mathcal{L}", "l") in FoML.
    """
    s = re.sub(r"\\begin\{([bp]matrix)\}(.*?)\\end\{\1\}",  # rows kept apart from the spacing \\ dropped below
               lambda m: r"\begin{bmatrix}" + m.group(2).replace("\\\\", ROWS) + r"\end{bmatrix}", text.strip())
    if loss:  # the per-sample losses of a batch sum, \ell_i, first
        s = re.sub(re.escape(loss[0]) + r"\s*_\s*\{?\s*i\s*\}?", f" {loss[1]}_i ", s).replace(loss[0], f" {loss[1]} ")
    s = re.sub(r"\\hat\s*\{\s*([A-Za-z])\s*\}|\\hat\s+([A-Za-z])", lambda m: (m.group(1) or m.group(2)) + "hat", s)
    s = re.sub(r"^\\mathbf\s*\{\s*I\s*\}$", "I", s)  # the identity matrix, as a whole right side
    s = re.sub(r"\\(?:mathbb|mathds|mathbf|mathrm)\s*\{\s*(1|I)\s*\}", r"\\mathbb{1}", s)
    while re.search(_FONTS, s):
        s = re.sub(_FONTS, r"\1", s)
    s = re.sub(_DROP, " ", s)
    s = re.sub(r"\\(?:top|intercal|mathsf\{T\}|mathrm\{T\}|text\{T\}|rm\s*T)", "T", s)
    s = re.sub(r"\^\s*\{\s*\\prime\s*\}|\^\s*\\prime", "'", s)
    s = re.sub(r"(\\(?:tanh|sigma|exp|log|sqrt)\s*\{(?:[^{}]|\{[^{}]*\})*\})\s*(?=\^)", r"(\1)", s)  # \tanh{(s)}^{2}
    s = re.sub(r"\\sum_\s*\{\s*([a-z])\s*\}(?!\s*\^)", r"\\sum_{\1=1}^{n}", s)  # \sum_{j}: parse_latex wants bounds
    s = re.sub(r"\\(?:lbrack)", "[", s).replace(r"\rbrack", "]")
    return s


def _group_end(s: str, i: int) -> int:
    """Index just past the bracket group opening at s[i] ( '(' '[' or '\\{' )."""
    stack = []
    for m in _BRACKET.finditer(s, i):
        c = m.group()[-1]
        if c in "([{":
            stack.append(")]}"["([{".index(c)])
        elif not stack or stack.pop() != c:
            return -1
        elif not stack:
            return m.end()
    return -1


class LatexReader:
    """Prepare, parse and read back one LaTeX formula, for one namespace of course symbols."""

    def __init__(self, known: Callable[[str], bool], bases: set, where: str, generic: tuple = GENERIC,
                 loss: tuple = ()):
        self.known, self.bases, self.where, self.generic, self.loss = known, bases, where, generic, loss
        self.slots: dict[str, object] = {}
        self.functions: list[tuple[str, str]] = []

    def slot(self, value) -> str:
        name = "qq" + "".join("abcefghijk"[int(d)] for d in str(len(self.slots)))
        self.slots[name] = value
        return rf" \mathit{{{name}}} "

    # -- step 2: placeholders ------------------------------------------------
    def _conditions(self, s: str) -> str:
        """Bracket groups holding a comparison (indicators, Iverson brackets) -> placeholders."""
        out, i = [], 0
        while i < len(s):
            sub = re.compile(r"\\mathbb\{1\}\s*_\s*(?=\{)").match(s, i)
            opener = sub.end() if sub else i
            if sub or s[i] in "([" or s.startswith("\\{", i):
                end = _group_end(s, opener)
                inner = s[opener + 1:end - 1] if s[opener] != "\\" else s[opener + 2:end - 2]
                if end > 0 and _REL.search(_flat(inner)):
                    head = re.sub(r"(\\mathbb\{1\}|(?<![A-Za-z0-9\\])[1I])\s*$", "", "".join(out))
                    node = LatexReader(self.known, self.bases, self.where, self.generic, self.loss).read(inner)
                    out, i = [head, self.slot(node)], end
                    continue
            out.append(s[i])
            i += 1
        return "".join(out).replace("\\mathbb{1}", " 1 ")  # no condition: the ones vector

    def _symbol(self, m: re.Match) -> str | None:
        base = m.group("base").lstrip("\\")
        sup = m.group("sup") or m.group("sup2")
        name = canonical(base, m.group("sub"), "^" + sup if sup else None)
        return name if self.known(name) or (base in self.bases and (m.group("sub") or sup)) else None

    def _operators(self, s: str) -> str:
        r"""``\frac{\partial}{\partial z} [...]`` (the derivative of the bracket by z) -> a placeholder."""
        out, i = [], 0
        for m in re.finditer(r"\\frac\s*\{\s*\\partial\s*\}\s*\{\s*\\partial\s*([^{}]*(?:\{[^{}]*\}[^{}]*)*)\}\s*", s):
            end = _group_end(s, m.end()) if s[m.end():m.end() + 1] == "[" else -1
            if m.start() < i or end < 0:
                continue
            reader = LatexReader(self.known, self.bases, self.where, self.generic, self.loss)
            var = reader.read(m.group(1))
            out += [s[i:m.start()], self.slot(Op("d", (var, reader.read(s[m.end() + 1:end - 1]))))]
            i = end
        return "".join(out) + s[i:]

    def _names(self, s: str) -> str:
        def symbol(text: str, part: str) -> tuple:
            sm, word = _SYM.fullmatch(text), _WORD.fullmatch(text)  # f_{1}, delta^{[2]}; a DAG's out, W_{enc}
            if not (sm or word):
                raise SymbackError(f"{self.where}: cannot read the derivative's {part} {abbreviate(text)}")
            return ((self._symbol(sm) or canonical(sm.group("base").lstrip("\\"), sm.group("sub"), None)) if sm
                    else canonical(word.group(1), word.group(2), None)), sm

        def deriv(m: re.Match) -> str:
            if not (m.group("num") or m.group("num2") or "").strip():  # \frac{d}{dz} with nothing on top
                raise SymbackError(f"{self.where}: {abbreviate(m.group(0))} differentiates nothing; write the "
                                   "derivative it gives (or \\frac{\\partial}{\\partial z}[...] around the expression)")
            num = normalize(m.group("num") or m.group("num2")).strip().lstrip("\\").replace("ell", "l")
            num = num if num in ("l", "L", "J") else symbol(num, "numerator")[0]  # the loss, or a local Jacobian's
            what, sm = symbol(normalize(m.group("den") or m.group("den2")).strip(), "denominator")
            via = " (via " + re.sub(r"[{}\s]", "", m.group("via")) + ")" if m.group("via") else ""
            return self.slot(Name(f"d{num}/d{what}{via}")) + ("^{T}" if sm and sm.group("supT") else "")

        s = _DERIV.sub(deriv, s)

        def sym(m: re.Match) -> str:
            name = self._symbol(m)
            if name is None or s[m.end():m.end() + 1] in ("'",) or (
                    function_name(name, self.generic) and s[m.end():].lstrip().startswith("(")):
                return m.group(0)
            return self.slot(Name(name)) + ("^{T}" if m.group("supT") else "")

        def word(m: re.Match) -> str:  # a DAG's value named by a word: out, logits, W_{enc}
            name = canonical(m.group(1), m.group(2), None)
            known = self.known(name) and function_name(name, self.generic) is None
            return self.slot(Name(name)) if known else m.group(0)

        s = re.sub(r"(?<![A-Za-z\\_])(?<!_\{)([A-Za-z][A-Za-z0-9]+)(?:_\s*\{\s*([A-Za-z0-9]+)\s*\})?(?![A-Za-z0-9])", word, s)
        s = _SYM.sub(sym, s)

        def component(m: re.Match) -> str:  # [v]_{4..6}, [v]_{j}, [s]_{y}: as symback prints components
            picked = self.slots[m.group(2)].text if m.group(2) else re.sub(r"\s", "", m.group(3))
            return self.slot(Name(f"{self.slots[m.group(1)].text}[{picked}]"))

        slot = r"\\mathit\{(qq[a-k]+)\}"
        return re.sub(r"\[\s*" + slot + r"\s*\]\s*_\s*\{\s*(?:" + slot + r"|([^{}]+?))\s*\}", component, s)

    def _functions(self, s: str) -> str:
        def word(m: re.Match) -> str:
            w = m.group(1)
            fn = function_name(w, self.generic)
            if fn is None or len(w) == 1 and not w.startswith("\\"):
                return m.group(0)
            self.functions.append((fn, w.lstrip("\\")))
            return f"F_{{{len(self.functions) - 1}}}{m.group(2)}"

        return re.sub(r"(?<![A-Za-z\\])(\\?[A-Za-z][A-Za-z]+)\s*('?)(?=\s*\()", word, s)

    # -- the whole reading ---------------------------------------------------
    def _matrices(self, s: str) -> str:
        r"""``\begin{bmatrix} x_{0} \\ x_{1} \end{bmatrix}``, as symback prints a concatenation -> a placeholder."""
        def stack(m: re.Match) -> str:
            rows = [LatexReader(self.known, self.bases, self.where, self.generic, self.loss).read(row)
                    for row in m.group(1).split(ROWS)]
            return self.slot(rows[0] if len(rows) == 1 else Op("stack", tuple(rows)))

        return re.sub(r"\\begin\{[bp]matrix\}(.*?)\\end\{[bp]matrix\}", stack, s)

    def prepare(self, text: str) -> str:
        s = self._functions(self._names(self._conditions(self._operators(self._matrices(normalize(text, self.loss))))))
        return re.sub(r"\\odot|\\circ|⊙|∘", rf" \\times \\mathit{{{HAD}}} \\times ", s)

    def read(self, text: str):
        check_limits(text, self.where)
        tree = _parse_latex(self.prepare(text), text, self.where)
        try:
            node = self.node(tree)
        except RecursionError:
            raise SymbackError(f"{self.where}: the LaTeX formula nests too deeply (limit {MAX_DEPTH} levels)") from None
        if depth(node) > MAX_DEPTH:
            raise SymbackError(f"{self.where}: the LaTeX formula nests deeper than {MAX_DEPTH} levels "
                               f"(limit {MAX_DEPTH}); split it into named steps")
        return node

    # -- step 4: SymPy tree -> AST -------------------------------------------
    def node(self, e):
        if e is sp.E or (isinstance(e, sp.Symbol) and e.name in ("e", "E")):
            return Num(float(sp.E), "e")
        if isinstance(e, sp.Symbol):
            if e.name in self.slots:
                return self.slots[e.name]
            if e.name in _MISPLACED:
                raise SymbackError(f"{self.where}: {_MISPLACED[e.name]}")
            m = re.fullmatch(r"(\w+?)_\{?(\w+)\}?", e.name)
            return Name(canonical(m.group(1), m.group(2), None) if m else e.name)
        if e.is_Number:
            return Num(float(e), str(e))
        if isinstance(e, Relational):
            if type(e) not in _RELATIONS:
                raise SymbackError(f"{self.where}: only > >= < <= comparisons are allowed, got {abbreviate(str(e))}")
            return Op(_RELATIONS[type(e)], (self.node(e.lhs), self.node(e.rhs)))
        if isinstance(e, sp.Add):
            out = self.node(e.args[0])
            for a in e.args[1:]:
                minus = isinstance(a, sp.Mul) and a.args[0] == -1
                out = Op("-" if minus else "+", (out, self._product(a.args[1:]) if minus else self.node(a)))
            return out
        if isinstance(e, sp.Mul):
            return self._product(e.args)
        if isinstance(e, sp.Pow):
            base, ex = e.args
            if ex == sp.Symbol("T"):
                return Op("T", (self.node(base),))
            if ex == -1:
                return Op("/", (Num(1.0, "1"), self.node(base)))
            if base in (sp.Symbol("e"), sp.E):
                return Call("exp", (self.node(ex),), False, "exp")
            return Op("pow", (self.node(base), self.node(ex)))
        return self._function(e)

    def _product(self, args):
        """The factors of a product, in order: A B is a matrix product, A \\odot B (marked) elementwise."""
        if len(args) == 2 and isinstance(args[0], sp.Mul) and args[0].args[-1] == sp.Symbol(HAD):
            return Op("had", (self._product(args[0].args[:-1]), self.node(args[1])))
        if args and args[0] == -1:
            return Op("neg", (self._product(args[1:]),))
        out = None
        for a in args:
            if isinstance(a, sp.Pow) and a.args[1] == -1 and out is not None:
                out = Op("/", (out, self.node(a.args[0])))
                continue
            n = self.node(a)
            out = n if out is None else Op("matmul", (out, n))
        return out

    def _function(self, e):
        if isinstance(e, (sp.log, sp.Abs)):
            fn = "log" if isinstance(e, sp.log) else "abs"
            return Call(fn, (self.node(e.args[0]),), False, fn)
        if isinstance(e, sp.Sum):  # \sum_{i=1}^{B} l_i: over the samples; \sum_{j} [v]_{j}: over the components
            return Call(summed(str(e.args[1][0])), (self.node(e.args[0]),), False, "sum")
        if isinstance(e, (sp.Max, sp.Min)):  # max(a, b, c) = max(max(a, b), c)
            fn = "max" if isinstance(e, sp.Max) else "min"
            return reduce(lambda a, b: Call(fn, (a, b), False, fn), [self.node(a) for a in e.args])
        if isinstance(e, sp.Function):
            name = type(e).__name__
            prime = name.endswith("'")
            name = name.rstrip("'")
            m = re.fullmatch(r"F_\{?(\d+)\}?", name)
            if m:
                fn, shown = self.functions[int(m.group(1))]
            else:
                fn, shown = function_name(name, self.generic), name
            if fn is None:
                raise SymbackError(f"{self.where}: unknown function {abbreviate(name, 40)} in LaTeX")
            return Call(fn, tuple(self.node(a) for a in e.args), prime, shown)
        raise SymbackError(f"{self.where}: cannot use {type(e).__name__} ({abbreviate(str(e))}) in a hand formula")


def _flat(s: str) -> str:
    """`s` with nested bracket groups removed (to find a comparison at the top level)."""
    out, depth = [], 0
    for c in s:
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif depth == 0:
            out.append(c)
    return "".join(out)


def check_limits(text: str, where: str) -> None:
    """Refuse LaTeX longer, more deeply nested or with longer numbers than the limits, naming the limit."""
    if len(text) > MAX_LENGTH:
        raise SymbackError(f"{where}: the LaTeX formula has {len(text):,} characters (limit {MAX_LENGTH:,})")
    level = 0
    for i, c in enumerate(text):
        level += 1 if c in "{([" else -1 if c in "})]" else 0
        if level > MAX_NESTING:
            raise SymbackError(f"{where}: brackets nest deeper than {MAX_NESTING} levels at column {i + 1} "
                               f"(limit {MAX_NESTING})")
    run = max((len(m.group(0)) for m in re.finditer(r"[0-9,]+", text)), default=0)
    if run > MAX_DIGITS:
        raise SymbackError(f"{where}: a number has {run:,} digits (limit {MAX_DIGITS:,})")


@lru_cache(maxsize=4096)
def _antlr(prepared: str):
    """parse_latex's (ANTLR's) reading of `prepared`, made once: a SymPy expression is immutable, and a hand file or a
    page checks the same formula in several lines, notations and layouts."""
    return parse_latex(prepared, strict=True)


def _parse_latex(prepared: str, text: str, where: str):
    """parse_latex(prepared), its failures as one SymbackError about the user's `text`."""
    try:
        return _antlr(prepared)
    except ImportError as exc:
        raise SymbackError(f"{where}: LaTeX needs antlr4-python3-runtime==4.11 ({exc})") from None
    except RecursionError:
        raise SymbackError(f"{where}: the LaTeX formula nests too deeply (limit {MAX_NESTING} levels)") from None
    except Exception as exc:  # noqa: BLE001 - LaTeXParsingError and antlr's own exceptions
        raise SymbackError(f"{where}: could not parse LaTeX {abbreviate(text.strip())}: {_where(text, exc)}") from None


def parse_scalar(text: str, where: str) -> sp.Expr:
    """A scalar LaTeX formula (``$...$`` allowed) -> SymPy expression, ``e`` read as Euler's number."""
    check_limits(text, where)
    body = text.strip().strip("$")
    return _parse_latex(normalize(body), text, where).subs({sp.Symbol("e"): sp.E})


def _where(text: str, exc: Exception) -> str:
    """parse_latex's complaint about the user's own text, with its column."""
    try:
        parse_latex(normalize(text), strict=True)
        lines = str(exc).splitlines()
    except Exception as own:  # noqa: BLE001 - the user's text fails by itself: its message points into it
        lines = str(own).splitlines()
        if len(lines) >= 3 and "^" in lines[2]:
            col = lines[2].index("^") + 1
            return f"{lines[0].strip()[:80]} at column {col} of {abbreviate(lines[1].strip())}"
    return lines[0].strip()[:80] if lines else "invalid LaTeX"


def parse(text: str, known: Callable[[str], bool], bases: set, where: str, generic: tuple = GENERIC,
          loss: tuple = ()):
    """A LaTeX formula -> AST (SymbackError naming `where` when it cannot be read)."""
    if not text.strip().strip("$").strip():
        raise SymbackError(f"{where}: the right-hand side is empty")
    return LatexReader(known, bases, where, generic, loss).read(text)
