"""Text -> a small syntax tree, without running code: a tokenizer and an iterative parser.

The grammar is an allow-list, Python's precedence, loosest first::

    cmp   := sum [(< | <= | > | >= | == | !=) sum]
    sum   := term {(+ | -) term}
    term  := unary {(* | / | // | %) unary}
    unary := (- | +) unary | power
    power := atom [(** | ^) unary]                 right-associative
    atom  := number | name | name(args) | name[args] | (cmp) | (cmp, cmp, ...)

``name[i, j]`` is an indexed component (``W[i, j]``, ``x[2]``), nothing else
in square brackets. Nothing else is read: no strings, attributes, lists, lambdas, keywords
as syntax, or comprehensions. The parser is shunting-yard with explicit
stacks (no recursion), so deep input is refused by a named limit rather than
a RecursionError. `textbuild` turns the tree into SymPy objects.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from dataclasses import dataclass, field

from .errors import SymbackError

MAX_LENGTH = 1_000_000  # characters of one expression
MAX_NESTING = 200  # brackets and calls inside each other
MAX_TREE_DEPTH = 600  # levels of the resulting expression tree
MAX_DIGITS = 4000  # digits of a number, written or computed (Python prints at most 4300)
MAX_EXPONENT = 10_000  # |exponent| of a power with a numeric exponent
MAX_FLOAT_EXPONENT = 308  # decimals stay finite as doubles

_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<num>(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<name>[^\W\d]\w*)
  | (?P<op>\*\*|//|<=|>=|==|!=|[-+*/^%<>(),\[\]])
  | (?P<bad>.)
""", re.VERBOSE | re.DOTALL)

_UNEXPECTED = {
    **dict.fromkeys("'\"", "strings are not allowed"), ".": "attribute access ('.') is not allowed",
    **dict.fromkeys("{}", "braces are not supported"), ";": "';' only separates 'name = expression' steps",
    "=": "'=' is not allowed here (write == for equality)",
    ":": "':' is not allowed (no slices, lambdas, dicts or ':=')",
    "\\": "a backslash is not allowed (LaTeX is read only in hand files)",
    "#": "'#' is not allowed (no comments)",
    "!": "'!' is not supported (write != for 'not equal', factorial is not available)",
}
# Python keywords are variable names here (a lecture's lambda); used as syntax, they get a hint
_KEYWORD_HINTS = {
    **dict.fromkeys(("if", "else"), "Python's 'a if c else b' is not supported; write Piecewise((a, c), (b, True))"),
    "lambda": "lambda functions are not supported; write the expression itself",
    "for": "comprehensions are not supported", "in": "comprehensions and 'in' are not supported",
    **dict.fromkeys(("and", "or", "not"), "'and'/'or'/'not' are not supported"),
    "is": "'is' is not supported; write ==",
    **dict.fromkeys(("import", "from", "await", "yield"), "statements are not allowed"),
}
COMPARISONS = ("==", "!=", "<", "<=", ">", ">=")
BINARY = {**dict.fromkeys(COMPARISONS, 1), "+": 2, "-": 2, "*": 3, "/": 3, "//": 3, "%": 3, "**": 5, "^": 5}
_BRACKET = "square brackets only index a name, as in W[i, j] (no lists); use ( ) to group"
_UNARY_PREC = 4  # -x**2 is -(x**2), -x*y is (-x)*y, as in Python
# operators SymPy builds as one flat Add/Mul (as parse_expr does): a chain of them is one tree level
FLAT = {"+": "Add", "-": "Add", "*": "Mul", "/": "Mul"}


def abbreviate(text: str, limit: int = 50) -> str:
    """`text` quoted for a message, shortened in the middle past `limit` characters."""
    r = repr(text)
    if len(r) <= limit:
        return r
    return f"{r[:limit - 14]}...{r[-10:]} ({len(text):,} chars)"


class ParseError(SymbackError):
    """A SymbackError raised while reading text; `detail` is the message without the leading context."""

    def __init__(self, detail: str, col: int | None = None):
        self.detail = detail + (f" at column {col}" if col else "")
        super().__init__(self.detail)


@dataclass
class Token:
    kind: str  # num name op end error
    text: str
    col: int  # 1-based
    error: ParseError | None = None  # an "error" token: raised when the parser reaches it


@dataclass(eq=False)
class Node:
    """One node of the syntax tree: leaf (num/name), un, bin, cmp, call, index (``W[i, j]``) or tuple."""

    kind: str
    text: str  # the operator, number, name or function name as written
    col: int
    args: list = field(default_factory=list)
    depth: int = 0


def _number_error(text: str, m: re.Match) -> ParseError | None:
    """A number glued to a letter, '_' or '.' (2x, 1_000, 0x1f, 1j, 1.2.3) -> the error to give."""
    num, nxt = m.group(0), text[m.end():m.end() + 1]
    if not (nxt.isalnum() or nxt in ("_", ".")):  # also at the end of the text (nxt == "")
        return None
    if num == "0" and nxt in "xXoObB":
        return ParseError("only decimal numbers are allowed", m.start() + 1)
    what = {".": f"unexpected '.' after the number {num!r}", "_": "write numbers without '_'",
            **dict.fromkeys("jJ", "complex numbers are not supported")}
    return ParseError(what.get(nxt, f"write {num}*{nxt}: a number must be followed by an operator "
                                    "(implicit multiplication is not supported)"), m.end() + 1)


def _char_error(ch: str, col: int, prev: Token | None) -> ParseError:
    """The error for a character outside the grammar; '.' after a value is attribute access."""
    what = _UNEXPECTED.get(ch, f"unexpected character {ch!r} (U+{ord(ch):04X})")
    if ch == "." and not (prev and (prev.kind in ("name", "num") or prev.text == ")")):
        what = "unexpected '.'"
    return ParseError(what, col)


def check_name(name: str, col: int) -> None:
    """Refuse dunder names and look-alike characters (a fullwidth 'ｅｘｐ' reads as 'exp')."""
    if name.startswith("__"):
        raise ParseError(f"names starting with '__' are not allowed ({name[:30]!r})", col)
    plain = unicodedata.normalize("NFKC", name)
    if plain != name:
        raise ParseError(f"the name {name[:30]!r} uses look-alike characters (it reads as {plain[:30]!r}); "
                         "type it in plain letters", col)


def tokenize(text: str, strict: bool = True) -> list[Token]:
    """Tokens of `text`; with ``strict=False`` characters outside the grammar are skipped (for scanning names).

    Strict tokenizing stops at the first character outside the grammar with an "error" token, so that
    the parser reports what it meets first (``Matrix([[x]])`` is refused as a matrix, not for its '[').
    """
    if len(text) > MAX_LENGTH:
        raise ParseError(f"the text has {len(text):,} characters (limit {MAX_LENGTH:,})")
    tokens: list[Token] = []
    for m in _TOKEN.finditer(text):
        kind, ch, col = m.lastgroup, m.group(0), m.start() + 1
        if kind == "bad" and strict:
            return [*tokens, Token("error", ch, col, _char_error(ch, col, tokens[-1] if tokens else None))]
        if kind not in ("ws", "bad"):
            tokens.append(Token(kind, ch, col))
        err = _number_error(text, m) if strict and kind == "num" else None
        if err is not None:
            return [*tokens, Token("error", text[m.end()], m.end() + 1, err)]
    return [*tokens, Token("end", "", len(text) + 1)]


def _found(tok: Token) -> str:
    return "the end" if tok.kind == "end" else repr(tok.text[:30])


def _hint(tok: Token, prev: Token | None) -> str:
    for t in (tok, prev):
        if t is not None and t.kind == "name" and t.text in _KEYWORD_HINTS:
            return "; " + _KEYWORD_HINTS[t.text]
    return ""


def _child_depth(child: Node, kind: str | None) -> int:
    same = kind is not None and child.kind == "bin" and FLAT.get(child.text) == kind
    return child.depth if same else child.depth + 1


def _no_tuple(node: Node) -> None:
    """Tuples and comparisons are values only as arguments (Piecewise's pairs, Indicator's condition)."""
    if node.kind == "cmp":
        raise ParseError(f"a comparison ({node.text}) is not a number; write Indicator(a {node.text} b) "
                         "for 1 where it holds, else 0", node.col)
    if node.kind == "name" and node.text in ("True", "False", "None"):
        raise ParseError(f"{node.text} is not a number (True and False are Piecewise conditions)", node.col)
    if node.kind == "tuple":
        raise ParseError("a parenthesized list (a, b) is only allowed as a function argument, "
                         "as in Piecewise((x, x > 0), (0, True))", node.col)


class _Parser:
    """Shunting-yard over the tokens; `is_function(name, col)` raises unless `name(` is an allowed call."""

    def __init__(self, text: str, is_function, implicit: bool = False):
        self.tokens = tokenize(text)
        self.implicit = implicit  # juxtaposition is a product: 2 (x + y), x y (hand formulas); 2x stays refused
        self.is_function = is_function
        self.values: list[Node] = []
        # ("op", text, prec, col) | ["group", col, fn_token | None, start, commas, closing bracket]
        self.ops: list = []
        self.groups = 0

    def _push(self, node: Node, col: int) -> None:
        if node.depth > MAX_TREE_DEPTH:
            raise ParseError(f"the expression nests deeper than {MAX_TREE_DEPTH} levels (limit {MAX_TREE_DEPTH})",
                             col)
        self.values.append(node)

    def _reduce(self, entry) -> None:
        _, op, prec, col = entry
        if prec == _UNARY_PREC:
            x = self.values.pop()
            _no_tuple(x)
            return self._push(Node("un", op, col, [x], x.depth + 1), col)
        right, left = self.values.pop(), self.values.pop()
        if op in COMPARISONS and (left.kind == "cmp" or right.kind == "cmp"):
            raise ParseError("chained comparisons (a < b < c) are not supported", col)
        _no_tuple(left)
        _no_tuple(right)
        kind = FLAT.get(op)
        depth = max(_child_depth(left, kind), right.depth + 2 if op in ("-", "/") else _child_depth(right, kind))
        self._push(Node("cmp" if op in COMPARISONS else "bin", op, col, [left, right], depth), col)

    def _close(self, tok: Token) -> None:
        """Pop operators down to the innermost group; `tok` is ')' or ','."""
        while self.ops and self.ops[-1][0] == "op":
            self._reduce(self.ops.pop())
        if not self.ops:
            what = f"'{tok.text}' without a matching opening bracket" if tok.text in (")", "]") else \
                "',' outside a function's parentheses"
            raise ParseError(what, tok.col)
        if tok.text in (")", "]") and self.ops[-1][5] != tok.text:
            opened = "[" if self.ops[-1][5] == "]" else "("
            raise ParseError(f"'{tok.text}' does not close the '{opened}' opened at column {self.ops[-1][1]}", tok.col)

    def _open(self, fn: Token | None, col: int, close: str = ")") -> bool:
        """A '(' opens a group: a call's arguments when `fn` is its name, else parentheses or a tuple;
        a '[' after a name (``close="]"``) opens its indices."""
        self.ops.append(["group", col, fn, len(self.values), 0, close])
        self.groups += 1
        if self.groups > MAX_NESTING:
            raise ParseError(f"brackets nest deeper than {MAX_NESTING} levels (limit {MAX_NESTING})", col)
        return True

    def _operand(self, k: int, tok: Token, prev: Token | None) -> bool:
        """`tok` where a value must start; True while a value is still expected."""
        t = tok.text
        if tok.kind == "num":
            self.values.append(Node("num", t, tok.col))
            return False
        if tok.kind == "name":
            check_name(t, tok.col)
            if self.tokens[k + 1].text == "[":
                self.tokens[k + 1] = Token("skip", "[", self.tokens[k + 1].col)
                return self._open(tok, self.tokens[k + 1].col, "]")
            if self.tokens[k + 1].text != "(" or (self.implicit and not self._callable(t, tok.col)):
                self.values.append(Node("name", t, tok.col))
                return False
            self.is_function(t, tok.col)
            self.tokens[k + 1] = Token("skip", "(", self.tokens[k + 1].col)  # its '(' is taken
            return self._open(tok, tok.col)
        if tok.kind == "skip":
            return True
        if t == "(":
            return self._open(None, tok.col)
        if t in ("-", "+"):
            self.ops.append(("op", t, _UNARY_PREC, tok.col))
            return True
        if t in (")", "]") and prev is not None and prev.text in ("(", "[") and self.ops and self.ops[-1][0] == "group":
            fn, close = self.ops[-1][2], self.ops[-1][5]
            what = f"{fn.text}[] needs an index" if close == "]" else fn and f"{fn.text}() needs an argument"
            raise ParseError(what or "empty parentheses '()'", prev.col)
        if t == "[":
            raise ParseError(_BRACKET, tok.col)
        raise ParseError(f"expected a number, a name or '(' but found {_found(tok)}{_hint(tok, prev)}", tok.col)

    def _callable(self, name: str, col: int) -> bool:
        """Whether `name(` is a call; with juxtaposition, a name that is no function times a bracket."""
        try:
            self.is_function(name, col)
        except SymbackError:
            return False
        return True

    def _operator(self, tok: Token, prev: Token | None) -> bool:
        """`tok` after a complete value; True when a value must follow."""
        t = tok.text
        if tok.kind == "op" and t in BINARY:
            prec, right = BINARY[t], t in ("**", "^")
            while self.ops and self.ops[-1][0] == "op" and (
                    self.ops[-1][2] > prec or (self.ops[-1][2] == prec and not right)):
                self._reduce(self.ops.pop())
            self.ops.append(("op", t, prec, tok.col))
            return True
        if t == ",":
            self._close(tok)
            self.ops[-1][4] += 1
            return True
        if t in (")", "]"):
            self._close(tok)
            _, _, fn, start, commas, _ = self.ops.pop()
            self.groups -= 1
            args, self.values[start:] = self.values[start:], []
            depth = max(a.depth for a in args) + 1
            kind = "index" if t == "]" else "call"
            node = Node(kind, fn.text, fn.col, args, depth) if fn else Node("tuple", "", tok.col, args, depth)
            self._push(node if fn or commas else args[0], tok.col)  # plain parentheses leave their value
            return False
        if t == "[":
            raise ParseError(_BRACKET, tok.col)
        what = "'(' after a number or a closing bracket" if t == "(" else _found(tok)
        raise ParseError(f"expected an operator but found {what}{_hint(tok, prev)}", tok.col)

    def parse(self) -> Node:
        expect_operand, prev = True, None
        for k, tok in enumerate(self.tokens):
            if tok.error is not None:
                raise tok.error
            if tok.kind == "end" and not expect_operand:
                break
            # at the end, a missing value is refused by _operand: "expected a number ... but found the end"
            if not expect_operand and self.implicit and (tok.kind in ("num", "name") or tok.text == "("):
                expect_operand = self._operator(Token("op", "*", tok.col), prev)  # 2 (x + y): a product
            expect_operand = self._operand(k, tok, prev) if expect_operand else self._operator(tok, prev)
            prev = tok
        while self.ops:
            entry = self.ops.pop()
            if entry[0] == "group":
                raise ParseError(f"'{'[' if entry[5] == ']' else '('}' is never closed", entry[1])
            self._reduce(entry)
        return self.values[0]


def parse_tree(text: str, is_function, implicit: bool = False) -> Node:
    """`text` -> syntax tree; ParseError (detail with column) when it is outside the grammar.

    `is_function(name, col)` is called for each ``name(`` and raises if the call is not allowed.
    """
    return _Parser(text, is_function, implicit).parse()


def scan_names(text: str) -> list[str]:
    """Identifiers of `text` in order of first appearance, skipping function names (``f(``); never raises
    on characters outside the grammar."""
    toks = tokenize(text, strict=False)
    return list(dict.fromkeys(t.text for t, nxt in itertools.pairwise(toks) if t.kind == "name" and nxt.text != "("))
