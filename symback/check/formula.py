"""Hand formulas, text syntax -> a small matrix AST (`Num`, `Name`, `Call`, `Op`).

The grammar, loosest binding first (README "Checking your own derivation")::

    cmp   := sum [(> | >= | < | <=) sum]          a comparison is 1 where it holds, else 0
    sum   := had {(+ | -) had}
    had   := prod {(⊙ | ∘ | .* | o) prod}        elementwise product, looser than products
    prod  := unary {(* | @ | · | / | <juxtaposition>) unary}   matrix product, left to right
    unary := - unary | power
    power := post [^ unary]                       elementwise power: h^2
    post  := atom {^T | ^{T} | .T | ᵀ}            transpose
    atom  := number | name | dl/dNAME | f(args) | f'(args) | (cmp) | [cmp]

Names are the course's symbols (``delta^[2]``, ``Omega_1``, ``x^(0)``), read
with their sub- and superscripts (``_{1}``, ``^{[2]}``, ``^[2]T``) and, as
symback prints them, components picked right after the name (``f_3[2]``,
``dl/dc[4..6]``: counted as the notation counts, both ends included); what each
name means is decided later by `names.Namespace`. A name followed by ``(``
that is a function (``relu``, ``sigma``, ``g``, ...) is a call, and a prime
(``relu'(z)``) asks for the derivative.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass

from .. import library
from ..errors import SymbackError
from ..textparse import MAX_DIGITS, abbreviate

MAX_LENGTH = 5000  # characters of one hand formula
MAX_NESTING = 50  # brackets inside each other (the parser recurses about eight frames per level)
MAX_DEPTH = 200  # levels of the formula's tree (walk, show and replace recurse over it)


@dataclass(frozen=True)
class Num:
    value: float
    text: str


@dataclass(frozen=True)
class Name:
    text: str  # canonical spelling, e.g. "delta^[2]", "dl/dOmega_1"


@dataclass(frozen=True)
class Call:
    fn: str  # canonical function name ("relu", "sigmoid", "act" for the layer's own, "softmax", ...)
    args: tuple
    prime: bool = False
    shown: str = ""  # as written, for messages: "g", "sigma", "relu"


@dataclass(frozen=True)
class Op:
    op: str  # + - neg matmul / had pow T > >= < <= stack eye d
    args: tuple


Node = Num | Name | Call | Op

# -- functions --------------------------------------------------------------

#: a sum over an index, as symback writes the loss: ``sum_j (f[j] - y[j])^2``, ``(1/B) sum_i l_i``
SUM = re.compile(r"sum_[a-z]")
#: Names that mean "this layer's own activation" (the lectures' a, g, theta, phi).
GENERIC = ("a", "g", "theta", "phi", "act")
ALIASES = {"sigma": "sigmoid", "σ": "sigmoid", "ln": "log", "ReLU": "relu", "Relu": "relu", "I": "ind",
           "Indicator": "ind", "𝟙": "ind", "abs": "abs", "ind": "ind", "Max": "max", "Min": "min"}
#: the functions a formula may call besides the activations: entrywise ones, then vector ones and the indicator
FUNCTIONS = ("exp", "log", "sqrt", "abs", "tanh", "sigmoid", "relu", "sign", "softmax", "sum", "mean", "diag", "max",
             "min", "ind", "sum_j", "sum_b")


def function_name(name: str, generic: tuple = GENERIC) -> str | None:
    """Canonical function for a written name, or None if `name` is not a function."""
    if name in generic:
        return "act"
    name = ALIASES.get(name, name)
    return name if name in FUNCTIONS or name in library.ACTIVATIONS else None


def summed(index: str) -> str:
    """The function a sum over `index` is: over the samples (``sum_i`` of a batch matrix; ``sum_b`` of a
    per-sample value, summed over the samples b of the batch, as batch normalisation's), else over components."""
    return {"i": "sum", "b": "sum_b"}.get(index, "sum_j")


# -- lexer ------------------------------------------------------------------

_GREEK = {"Ω": "Omega", "ω": "omega", "β": "beta", "δ": "delta", "Δ": "Delta", "σ": "sigma", "θ": "theta",
          "φ": "phi", "ℓ": "l", "α": "alpha", "γ": "gamma", "η": "eta", "λ": "lambda"}
_SUB = r"(?:_(?P<sub{n}>\{{\s*[A-Za-z0-9]+\s*\}}|[0-9]+|[A-Za-z][A-Za-z0-9]*))?"  # f_1, W_enc, h_{k}
_SUP = (r"(?P<sup{n}>\^(?:\{{\s*(?:\[\s*-?\d+\s*\]|\(\s*-?\d+\s*\))\s*(?:T|\\top|⊤)?\s*\}}"
        r"|\[\s*-?\d+\s*\](?:T(?![A-Za-z0-9_]))?|\(\s*-?\d+\s*\)(?:T(?![A-Za-z0-9_]))?))?")
_BASE = r"(?P<base{n}>[A-Za-zΩωβδΔσθφℓαγηλ𝟙][A-Za-z0-9]*)"
_INDEX = r"\d+(?:\s*\.\.\s*\d+)?"  # 2, 4..6: components, as symback prints them
_LETTER = r"[jy](?![A-Za-z0-9_(])"  # v[j]: every component (under sum_j), s[y]: the one at the label
_PICK = r"(?:\[\s*(?P<pick{n}>" + _INDEX + "|" + _LETTER + r")\s*\])?"  # right after a name: v[2], v[4..6], v[j]
_MISPLACED = re.compile(r"\[\s*" + _INDEX + r"\s*\]|\.\.")  # a pick after a bracket, or a range on its own
_NAME = _BASE + _SUB + _SUP + _PICK
_DERIV = (r"(?P<deriv>(?:d|∂|partial\s+)(?P<loss>" + _BASE.format(n=2) + _SUB.format(n=2) + _SUP.format(n=2)
          + r")\s*/\s*(?:d|∂|partial\s+)"
          + _NAME.format(n=1) + r"(?:\s*\(\s*via\s+(?P<via>[A-Za-z][A-Za-z0-9_]*)\s*\))?)")  # a DAG's share: (via m)
_TOKEN = re.compile("|".join([
    r"(?P<ws>\s+)",
    r"(?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)",
    _DERIV,
    r"(?P<dop>(?:d|∂)\s*/\s*(?:d|∂)" + _NAME.format(n=3) + r")(?=\s*[\[(])",  # d/dz^[2] [...]: an operator
    r"(?P<transpose>\^\s*(?:T|\{\s*T\s*\}|\{\s*\\top\s*\}|\\top|⊤|\{\s*⊤\s*\})(?![A-Za-z0-9_])|\.T(?![A-Za-z0-9_])|ᵀ)",
    r"(?P<name>" + _NAME.format(n=0) + ")",
    r"(?P<op>\.\*|\(\.\)|>=|<=|≥|≤|[-+*/@^⊙∘·×<>−])",
    r"(?P<punct>[()\[\],;'’])",
]))


@dataclass
class Token:
    kind: str  # num name op punct T prime end
    text: str
    pos: int
    value: object = None


def canonical(base: str, sub: str | None, sup: str | None, pick: str | None = None) -> str:
    """The one spelling of a name: Greek letters spelt out, ``_{1}`` -> ``_1``, ``^{[2]T}`` -> ``^[2]``,
    ``[ 4 .. 6 ]`` -> ``[4..6]`` (components in the notation's counting; `names.Namespace` reads them)."""
    text = "".join(_GREEK.get(c, c) for c in base)
    if sub:
        text += "_" + sub.strip("{} ")
    if sup:
        text += "^" + re.sub(r"[\s{}^]|T|\\top|⊤", "", sup)
    if pick:
        text += "[" + re.sub(r"\s", "", pick) + "]"
    return text


def _number(text: str, where: str, pos: int) -> float:
    digits = len(re.sub(r"[eE].*|\.", "", text).lstrip("0"))
    if digits > MAX_DIGITS:
        raise SymbackError(f"{where}: the number at column {pos + 1} has {digits:,} digits (limit {MAX_DIGITS:,})")
    value = float(text)
    if math.isinf(value) or (value == 0 and re.search(r"[1-9]", re.sub(r"[eE].*", "", text))):
        raise SymbackError(f"{where}: the number {abbreviate(text, 30)} at column {pos + 1} is out of range "
                           "(limit 1e-308 to 1e308)")
    return value


def tokenize(text: str, where: str) -> list[Token]:
    if len(text) > MAX_LENGTH:
        raise SymbackError(f"{where}: the formula has {len(text):,} characters (limit {MAX_LENGTH:,})")
    tokens, i, nesting = [], 0, 0
    while i < len(text):
        m = _TOKEN.match(text, i)
        if not m or m.end() == i:
            raise SymbackError(f"{where}: unexpected {text[i]!r} at column {i + 1}")
        ahead = _MISPLACED.match(text, m.end() - 1 if m.group("num") else i)
        if ahead and (ahead.group(0) == ".." or (tokens and tokens[-1].text in ")]")):
            raise SymbackError(f"{where}: components are picked right after a name, e.g. dl/dc[4..6] or f_1[2] "
                               f"(column {i + 1})")
        if m.group("num"):
            tokens.append(Token("num", m.group("num"), i, _number(m.group("num"), where, i)))
        elif m.group("deriv") or m.group("name"):
            n = 0 if m.group("name") else 1
            sup = m.group(f"sup{n}")
            name = canonical(m.group(f"base{n}"), m.group(f"sub{n}"), sup, m.group(f"pick{n}"))
            if n:
                via = f" (via {m.group('via')})" if m.group("via") else ""
                top = canonical(m.group("base2"), m.group("sub2"), m.group("sup2"))  # the loss, or a local Jacobian's
                name = f"d{top}/d{name}{via}"
            tokens.append(Token("name", m.group(0), i, name))
            if sup and re.search(r"T|\\top|⊤", sup):  # ^[2]T: the name, then a transpose
                tokens.append(Token("T", "T", m.end()))
        elif m.group("dop"):
            tokens.append(Token("dop", m.group(0), i, canonical(m.group("base3"), m.group("sub3"), m.group("sup3"))))
        elif m.group("transpose"):
            tokens.append(Token("T", m.group(0), i))
        elif m.group("ws"):
            pass
        elif m.group("op") is not None:
            op = {"−": "-", "≥": ">=", "≤": "<=", "·": "*", "×": "*", "@": "*", "∘": "⊙", ".*": "⊙",
                  "(.)": "⊙"}.get(m.group(0), m.group(0))
            tokens.append(Token("op", m.group(0), i, op))
        else:
            p = m.group(0)
            tokens.append(Token("prime" if p in "'’" else "punct", p, i, p))
            nesting += 1 if p in "([" else -1 if p in ")]" else 0
            if nesting > MAX_NESTING:
                raise SymbackError(f"{where}: brackets nest deeper than {MAX_NESTING} levels at column {i + 1} "
                                   f"(limit {MAX_NESTING})")
        i = m.end()
    tokens.append(Token("end", "", len(text)))
    return tokens


# -- parser -----------------------------------------------------------------


#: binary operators, loosest first: written -> AST op (``o`` is also ⊙, juxtaposition also a product)
LEVELS = ({">": ">", ">=": ">=", "<": "<", "<=": "<="}, {"+": "+", "-": "-"}, {"⊙": "had"}, {"*": "matmul", "/": "/"})


class Parser:
    """Recursive descent over the grammar in the module docstring."""

    def __init__(self, text: str, where: str, generic: tuple = GENERIC):
        self.text, self.where, self.generic = text, where, generic
        self.toks = tokenize(text, where)
        self.i = 0

    @property
    def tok(self) -> Token:
        return self.toks[self.i]

    def fail(self, what: str, tok: Token | None = None):
        tok = tok or self.tok
        found = abbreviate(tok.text, 40) if tok.kind != "end" else "the end of the formula"
        raise SymbackError(f"{self.where}: {what}, found {found} at column {tok.pos + 1}")

    def take(self, kind: str, value=None) -> Token:
        tok = self.tok
        if tok.kind != kind or (value is not None and tok.value != value):
            self.fail(f"expected {value or kind!r}")
        self.i += 1
        return tok

    def at(self, kind: str, *values) -> bool:
        return self.tok.kind == kind and (not values or self.tok.value in values)

    def parse(self) -> Node:
        try:
            node = self.binary()
        except RecursionError:  # long chains of ^ or unary minus; brackets are limited above
            raise SymbackError(f"{self.where}: the formula nests deeper than {MAX_DEPTH} levels "
                               f"(limit {MAX_DEPTH})") from None
        if not self.at("end"):
            self.fail("expected an operator or the end of the formula")
        if depth(node) > MAX_DEPTH:
            raise SymbackError(f"{self.where}: the formula nests deeper than {MAX_DEPTH} levels "
                               f"(limit {MAX_DEPTH}); split it into named steps")
        return node

    def binary(self, level: int = 0) -> Node:
        """Operands joined left to right by the operators of `LEVELS[level]` (a comparison: at most one)."""
        last = level == len(LEVELS) - 1
        left = self.unary() if last else self.binary(level + 1)
        while op := self.operator(level):
            left = Op(op, (left, self.unary() if last else self.binary(level + 1)))
            if level == 0:
                break
        return left

    def operator(self, level: int) -> str | None:
        """The AST op of the next token at `level` (then taken), else None: ``o`` is ⊙, juxtaposition a product."""
        t = self.tok
        if (t.kind == "op" and t.value in LEVELS[level]) or (level == 2 and t.kind == "name" and t.text == "o"):
            self.i += 1
            return LEVELS[level].get(t.value, "had")
        starts_atom = t.text != "o" if t.kind == "name" else t.kind == "num" or (t.kind == "punct" and t.value in "([")
        return "matmul" if level == len(LEVELS) - 1 and starts_atom else None

    def unary(self) -> Node:
        if self.at("op", "-", "+"):
            sign = self.take("op").value
            return Op("neg", (self.unary(),)) if sign == "-" else self.unary()
        return self.power()

    def power(self) -> Node:
        base = self.post()
        if self.at("op", "^"):
            self.i += 1
            return Op("pow", (base, self.unary()))
        return base

    def post(self) -> Node:
        node = self.atom()
        while self.at("T"):
            self.i += 1
            node = Op("T", (node,))
        return node

    def atom(self) -> Node:
        t = self.tok
        if t.kind == "num":
            self.i += 1
            return Num(t.value, t.text)
        if t.kind == "punct" and t.value in "([":
            self.i += 1
            parts = [self.binary()]
            while t.value == "[" and self.at("punct", ";"):  # [x0; x1]: vectors stacked, as symback prints them
                self.i += 1
                parts.append(self.binary())
            self.take("punct", ")" if t.value == "(" else "]")
            return parts[0] if len(parts) == 1 else Op("stack", tuple(parts))
        if t.kind == "dop":  # d/dz^[2] [(z^[2] - y)^2/2]: the derivative of what follows by z^[2]
            self.i += 1
            return Op("d", (Name(t.value), self.atom()))
        if t.kind == "name":
            self.i += 1
            if SUM.fullmatch(t.value):  # sum_j (f[j] - y[j])^2, sum_i l_i: a sum over what follows
                return Call(summed(t.value[-1]), (self.unary(),), False, t.value)
            fn = function_name(t.value, self.generic)
            prime = self.at("prime")
            if fn == "ind" and self.at("punct", "["):  # I[z > 0], as symback's own output writes it
                return Call(fn, (self.atom(),), False, t.value)
            if fn is not None and (prime or self.at("punct", "(")):
                if prime:
                    self.i += 1
                return self.call(fn, t, prime)
            if prime:
                self.fail(f"{t.value}' is not a function (the prime means a derivative, as in relu'(z))",
                          self.tok)
            return Name(t.value)
        self.fail("expected a name, a number or '('")

    def call(self, fn: str, name: Token, prime: bool) -> Node:
        if not self.at("punct", "("):
            self.fail(f"expected '(' after {name.text}{chr(39) if prime else ''}")
        self.i += 1
        args = [self.binary()]
        while self.at("punct", ","):
            self.i += 1
            args.append(self.binary())
        self.take("punct", ")")
        return Call(fn, tuple(args), prime, name.value)


def parse_text(text: str, where: str, generic: tuple = GENERIC) -> Node:
    """A formula in the text syntax (not empty: `handfile` refuses that) -> AST; SymbackError naming the column."""
    return Parser(text, where, generic).parse()


# -- printing and traversal -------------------------------------------------

_PREC = {"+": 1, "-": 1, "had": 2, "matmul": 3, "/": 3, "neg": 4, "pow": 5, "T": 6, "stack": 7, "eye": 7, "d": 7}


def _prec(node: Node) -> int:
    if isinstance(node, Op):
        return _PREC.get(node.op, 0)
    if isinstance(node, Num) and node.value < 0:
        return 4
    return 7


def show(node: Node) -> str:
    """The formula back as text in the hand-file syntax (minimal parentheses)."""
    def wrap(child: Node, prec: int) -> str:
        s = show(child)
        return f"({s})" if _prec(child) < prec else s

    if isinstance(node, (Num, Name)):
        return node.text
    if isinstance(node, Call):
        return f"{node.shown or node.fn}{chr(39) if node.prime else ''}({', '.join(show(a) for a in node.args)})"
    op, a = node.op, node.args
    if op == "T":
        return wrap(a[0], 7) + "^T"
    if op == "stack":
        return "[" + "; ".join(show(x) for x in a) + "]"
    if op == "eye":
        return "I"
    if op == "d":
        return f"d/d{show(a[0])} [{show(a[1])}]"
    if op == "neg":
        return "-" + wrap(a[0], 5)
    if op == "pow":
        return wrap(a[0], 6) + "^" + wrap(a[1], 6)
    sym = {"matmul": " ", "/": "/", "had": " ⊙ ", "+": " + ", "-": " - "}.get(op, f" {op} ")
    p = _PREC.get(op, 0)
    right = wrap(a[1], p + 1)
    if op == "matmul" and (isinstance(a[1], Num) or show(a[1]).startswith("-")):
        sym = "*"
    return wrap(a[0], p) + sym + right


def depth(node: Node) -> int:
    """Levels of the tree under `node` (a leaf is 1), without recursion."""
    most, stack = 0, [(node, 1)]
    while stack:
        n, d = stack.pop()
        most = max(most, d)
        stack.extend((c, d + 1) for c in children(n))
    return most


def children(node: Node) -> tuple:
    return node.args if isinstance(node, (Op, Call)) else ()


def walk(node: Node, path: tuple = ()):
    """(path, subnode) for every node, root first; a path is a tuple of child positions."""
    yield path, node
    for i, child in enumerate(children(node)):
        yield from walk(child, path + (i,))


def replace(node: Node, path: tuple, new: Node) -> Node:
    """`node` with the subnode at `path` replaced by `new`."""
    if not path:
        return new
    args = list(node.args)
    args[path[0]] = replace(args[path[0]], path[1:], new)
    return dataclasses.replace(node, args=tuple(args))


def names(node: Node) -> list[str]:
    return [n.text for _, n in walk(node) if isinstance(n, Name)]
