"""Hostile text never runs: every entry point that reads text refuses code, with one short line.

Each payload tries to create a marker file; every entry point (`symback grad EXPR`, `--at` values,
named steps, hand files in text and LaTeX for `symback check`, the Python API's strings) must
refuse it with exit 2 (or ValueError), a one-line message under 300 characters, and no marker.
The valid forms still parse to the trees SymPy's `parse_expr` built before it was replaced.
"""

import time

import pytest
import sympy as sp
from test_grad_cli import run

import symback as sb
from symback.parse import number, parse_expression, parse_program, to_expr
from symback.textbuild import read_expr

EXAMPLES = __import__("pathlib").Path(__file__).resolve().parent.parent / "examples"

# {m} is replaced by the marker's path; a payload that ran code would create it
PAYLOADS = [
    "().__class__.__base__.__subclasses__()",
    "(().__class__.__base__.__subclasses__)()",
    "__import__('os').system('touch {m}')",
    '__import__("os").system("touch {m}")',
    "x.__class__", "x.__dict__", "x.subs.__func__.__globals__", "exp.__globals__",
    "sin.__init__.__globals__['sys'].modules['os'].system('touch {m}')",
    "__builtins__", "__builtins__.__import__('os').system('touch {m}')",
    "globals()['__builtins__']", "vars()", "locals()", "dir()",
    "getattr(__import__('os'), 'system')('touch {m}')",
    "getattr(x, '__class__')", "setattr(x, 'y', 1)",
    "eval(\"__import__('os').system('touch {m}')\")",
    "exec(\"import os; os.system('touch {m}')\")",
    "compile('1', 'f', 'eval')",
    "open('{m}', 'w').write('x')", "open('{m}', 'w')",
    "lambda: __import__('os').system('touch {m}')",
    "(lambda: __import__('os').system('touch {m}'))()",
    "[__import__('os').system('touch {m}') for _ in [1]]",
    "(__import__('os').system('touch {m}') for _ in (1,))",
    "{__import__('os').system('touch {m}')}",
    "{'a': __import__('os').system('touch {m}')}",
    "(y := __import__('os').system('touch {m}'))",
    "f\"{__import__('os').system('touch {m}')}\"",
    "x if __import__('os').system('touch {m}') else y",
    "x if y else z",
    "x; __import__('os').system('touch {m}')",
    "x\n__import__('os').system('touch {m}')",
    "import os", "from os import system", "x # __import__('os')",
    "Symbol('x')", "sympify(\"__import__('os').system('touch {m}')\")",
    "parse_expr(\"__import__('os').system('touch {m}')\")", "S(\"__import__('os')\")",
    "Function('f')(x)", "Lambda(x, x)(1)",
    "sys.modules['os'].system('touch {m}')", "os.system('touch {m}')",
    "subprocess.run(['touch', '{m}'])", "breakpoint()", "input()", "print('hi')", "exit(3)",
    "type('A', (), {})", "x[0]", "x[::-1]", "'abc'", "b'abc'", "x @ y", "x & y", "~x", "x << 1", "x | y",
    "not x", "x and y", "x or __import__('os')", "x is y", "x in y", "*x", "**x", "await x", "yield x",
    "x!", "\\input{{m}}", "`touch {m}`", "$(touch {m})", "x = __import__('os')",
    "\uff45\uff58\uff50(x)",  # fullwidth "exp"
    "__\u0456mport__('os').system('touch {m}')",  # Cyrillic i
    "\u2147xp(x)",  # double-struck e, reads as "exp" after NFKC
    "x\u200b+ y", "x\x00", "0x1F", "1_000", "1j + x", "2x",
    "1e400", "1e-400", "9^9^9", "x^(10^100)", "10**10**10", "2^100000", "9" * 5000,
    "(" * 5000 + "x" + ")" * 5000, "sin(" * 5000 + "x" + ")" * 5000,
    "x^" * 5000 + "x", "-" * 5000 + "x", "x + " * 300_000 + "x",
]
assert len(PAYLOADS) >= 60


def _payload(text: str, tmp_path) -> tuple[str, object]:
    marker = tmp_path / "marker"
    return text.replace("{m}", str(marker)), marker


def _one_line(code, out, err, expect=2):
    assert code == expect, (code, out[:300], err[:300])
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("symback: error: "), err[:500]
    assert len(lines[0]) < 300, lines[0]


def _api_error(call):
    with pytest.raises(ValueError) as info:
        call()
    msg = str(info.value)
    assert "\n" not in msg and len(msg) < 300, msg[:500]


IDS = [f"{i}:{p[:30]!r}" for i, p in enumerate(PAYLOADS)]

# (text, tree as `symback grad` builds it (evaluate=False), tree evaluated or '' when the same),
# recorded from SymPy's parse_expr before the safe parser replaced it
VALID = [
    ('(x + y)*z', "Mul(Add(Symbol('x'), Symbol('y')), Symbol('z'))", "Mul(Symbol('z'), Add(Symbol('x'), Symbol('y')))"),
    ('x*y + sin(x*y)', "Add(Mul(Symbol('x'), Symbol('y')), sin(Mul(Symbol('x'), Symbol('y'))))", ''),
    ('(f - t)^2', "Pow(Add(Symbol('f'), Mul(Integer(-1), Symbol('t'))), Integer(2))", ''),
    ('log(x)', "log(Symbol('x'))", ''),
    ('1/x', "Mul(Integer(1), Pow(Symbol('x'), Integer(-1)))", "Pow(Symbol('x'), Integer(-1))"),
    ('sqrt(x)', "Pow(Symbol('x'), Rational(1, 2))", ''),
    ('3', 'Integer(3)', ''),
    ('x*y + z', "Add(Mul(Symbol('x'), Symbol('y')), Symbol('z'))", "Add(Symbol('z'), Mul(Symbol('x'), Symbol('y')))"),
    ('Max(x, y)*z',
     "Mul(Max(Symbol('x'), Symbol('y')), Symbol('z'))",
     "Mul(Symbol('z'), Max(Symbol('x'), Symbol('y')))",
     ),
    ('Min(x, y, z)', "Min(Symbol('x'), Symbol('y'), Symbol('z'))", ''),
    ('abs(x) + Abs(x - y)', "Add(Abs(Symbol('x')), Abs(Add(Symbol('x'), Mul(Integer(-1), Symbol('y')))))", ''),
    ('sign(x)*x', "Mul(sign(Symbol('x')), Symbol('x'))", "Mul(Symbol('x'), sign(Symbol('x')))"),
    ('Heaviside(x)', "Heaviside(Symbol('x'), Rational(1, 2))", ''),
    ('Heaviside(x, 0)', "Heaviside(Symbol('x'), Integer(0))", ''),
    ('erf(x)', "erf(Symbol('x'))", ''),
    ('floor(x) + ceiling(y)',
     "Add(floor(Symbol('x')), ceiling(Symbol('y')))",
     "Add(ceiling(Symbol('y')), floor(Symbol('x')))",
     ),
    ('atan2(y, x)', "atan2(Symbol('y'), Symbol('x'))", ''),
    ('cbrt(x)', "Pow(Symbol('x'), Rational(1, 3))", ''),
    ('tanh(x) + sinh(x)*cosh(x)',
     "Add(tanh(Symbol('x')), Mul(sinh(Symbol('x')), cosh(Symbol('x'))))",
     "Add(Mul(cosh(Symbol('x')), sinh(Symbol('x'))), tanh(Symbol('x')))",
     ),
    ('asin(x) + acos(x) + atan(x)',
     "Add(asin(Symbol('x')), acos(Symbol('x')), atan(Symbol('x')))",
     "Add(acos(Symbol('x')), asin(Symbol('x')), atan(Symbol('x')))",
     ),
    ('asinh(x) + acosh(x) + atanh(x)',
     "Add(asinh(Symbol('x')), acosh(Symbol('x')), atanh(Symbol('x')))",
     "Add(acosh(Symbol('x')), asinh(Symbol('x')), atanh(Symbol('x')))",
     ),
    ('exp(-x^2/2)',
     "exp(Mul(Mul(Integer(-1), Pow(Symbol('x'), Integer(2))), Pow(Integer(2), Integer(-1))))",
     "exp(Mul(Rational(-1, 2), Pow(Symbol('x'), Integer(2))))",
     ),
    ('ln(x) + log(x, 2)',
     "Add(log(Symbol('x')), log(Symbol('x'), Integer(2)))",
     "Add(Mul(Pow(log(Integer(2)), Integer(-1)), log(Symbol('x'))), log(Symbol('x')))",
     ),
    ('max(x, y) - min(x, y)',
     "Add(Max(Symbol('x'), Symbol('y')), Mul(Integer(-1), Min(Symbol('x'), Symbol('y'))))",
     "Add(Mul(Integer(-1), Min(Symbol('x'), Symbol('y'))), Max(Symbol('x'), Symbol('y')))",
     ),
    ('relu(x)', "Max(Integer(0), Symbol('x'))", ''),
    ('sigmoid(x)', "Pow(Add(Integer(1), exp(Mul(Integer(-1), Symbol('x')))), Integer(-1))", ''),
    ('softplus(x)', "log(Add(Integer(1), exp(Symbol('x'))))", ''),
    ('x - y - z', "Add(Symbol('x'), Mul(Integer(-1), Symbol('y')), Mul(Integer(-1), Symbol('z')))", ''),
    ('x - (y - z)',
     "Add(Symbol('x'), Mul(Integer(-1), Add(Symbol('y'), Mul(Integer(-1), Symbol('z')))))",
     "Add(Symbol('x'), Symbol('z'), Mul(Integer(-1), Symbol('y')))",
     ),
    ('a*b/c', "Mul(Symbol('a'), Symbol('b'), Pow(Symbol('c'), Integer(-1)))", ''),
    ('a/b/c', "Mul(Symbol('a'), Pow(Symbol('b'), Integer(-1)), Pow(Symbol('c'), Integer(-1)))", ''),
    ('a/(b*c)',
     "Mul(Symbol('a'), Pow(Mul(Symbol('b'), Symbol('c')), Integer(-1)))",
     "Mul(Symbol('a'), Pow(Symbol('b'), Integer(-1)), Pow(Symbol('c'), Integer(-1)))",
     ),
    ('-x/y',
     "Mul(Mul(Integer(-1), Symbol('x')), Pow(Symbol('y'), Integer(-1)))",
     "Mul(Integer(-1), Symbol('x'), Pow(Symbol('y'), Integer(-1)))",
     ),
    ('-x*y', "Mul(Mul(Integer(-1), Symbol('x')), Symbol('y'))", "Mul(Integer(-1), Symbol('x'), Symbol('y'))"),
    ('-x**2', "Mul(Integer(-1), Pow(Symbol('x'), Integer(2)))", ''),
    ('-(x + y)', "Add(Mul(Integer(-1), Symbol('x')), Mul(Integer(-1), Symbol('y')))", ''),
    ('- - x', "Symbol('x')", ''),
    ('+x', "Symbol('x')", ''),
    ('2^-x', "Pow(Integer(2), Mul(Integer(-1), Symbol('x')))", ''),
    ('x^y^z', "Pow(Symbol('x'), Pow(Symbol('y'), Symbol('z')))", ''),
    ('(x^2)^3', "Pow(Pow(Symbol('x'), Integer(2)), Integer(3))", "Pow(Symbol('x'), Integer(6))"),
    ('x^(1/2)', "Pow(Symbol('x'), Mul(Integer(1), Pow(Integer(2), Integer(-1))))", "Pow(Symbol('x'), Rational(1, 2))"),
    ('x^0.5', "Pow(Symbol('x'), Float('0.5', precision=53))", ''),
    ('1.5e3*x + .5 - 5.',
     ("Add(Mul(Float('1500.0', precision=53), Symbol('x')), Float('0.5', precision=53), Mul(Integer(-1), Fl"
      "oat('5.0', precision=53)))"),
     "Add(Float('-4.5', precision=53), Mul(Float('1500.0', precision=53), Symbol('x')))",
     ),
    ('2*x + 3*y - 4',
     "Add(Mul(Integer(2), Symbol('x')), Mul(Integer(3), Symbol('y')), Mul(Integer(-1), Integer(4)))",
     "Add(Integer(-4), Mul(Integer(2), Symbol('x')), Mul(Integer(3), Symbol('y')))",
     ),
    ('(a + b)*(c + d) - e/f',
     ("Add(Mul(Add(Symbol('a'), Symbol('b')), Add(Symbol('c'), Symbol('d'))), Mul(Integer(-1), Mul(Symbol('"
      "e'), Pow(Symbol('f'), Integer(-1)))))"),
     ("Add(Mul(Add(Symbol('a'), Symbol('b')), Add(Symbol('c'), Symbol('d'))), Mul(Integer(-1), Symbol('e'),"
      " Pow(Symbol('f'), Integer(-1))))"),
     ),
    ('Max(0, x) + 1/2',
     "Add(Max(Integer(0), Symbol('x')), Mul(Integer(1), Pow(Integer(2), Integer(-1))))",
     "Add(Rational(1, 2), Max(Integer(0), Symbol('x')))",
     ),
    ('pi*x + E', "Add(Mul(pi, Symbol('x')), E)", "Add(E, Mul(pi, Symbol('x')))"),
    ('x % 3 + x // 2', "Add(Mod(Symbol('x'), Integer(3)), floor(Mul(Rational(1, 2), Symbol('x'))))", ''),
    ('beta*gamma + I*S*N',
     "Add(Mul(Symbol('beta'), Symbol('gamma')), Mul(Symbol('I'), Symbol('S'), Symbol('N')))",
     "Add(Mul(Symbol('beta'), Symbol('gamma')), Mul(Symbol('I'), Symbol('N'), Symbol('S')))",
     ),
    ('(w1*Max(0, w0*x + b0) + b1 - y)^2',
     ("Pow(Add(Mul(Symbol('w1'), Max(Integer(0), Add(Mul(Symbol('w0'), Symbol('x')), Symbol('b0')))), Symbo"
      "l('b1'), Mul(Integer(-1), Symbol('y'))), Integer(2))"),
     ("Pow(Add(Symbol('b1'), Mul(Integer(-1), Symbol('y')), Mul(Symbol('w1'), Max(Integer(0), Add(Symbol('b"
      "0'), Mul(Symbol('w0'), Symbol('x')))))), Integer(2))"),
     ),
    ('x*-y', "Mul(Symbol('x'), Mul(Integer(-1), Symbol('y')))", "Mul(Integer(-1), Symbol('x'), Symbol('y'))"),
    ('x - -y', "Add(Symbol('x'), Mul(Integer(-1), Mul(Integer(-1), Symbol('y'))))", "Add(Symbol('x'), Symbol('y'))"),
    ('2**64*x', "Mul(Pow(Integer(2), Integer(64)), Symbol('x'))", "Mul(Integer(18446744073709551616), Symbol('x'))"),
    ('0.1 + 0.2 + x',
     "Add(Float('0.10000000000000001', precision=53), Float('0.20000000000000001', precision=53), Symbol('x'))",
     "Add(Float('0.30000000000000004', precision=53), Symbol('x'))",
     ),
    ('1/(1 + exp(-x))',
     "Mul(Integer(1), Pow(Add(Integer(1), exp(Mul(Integer(-1), Symbol('x')))), Integer(-1)))",
     "Pow(Add(Integer(1), exp(Mul(Integer(-1), Symbol('x')))), Integer(-1))",
     ),
    ('log(1 + exp(x))', "log(Add(Integer(1), exp(Symbol('x'))))", ''),
    ('exp(x)/(exp(x) + exp(y))',
     "Mul(exp(Symbol('x')), Pow(Add(exp(Symbol('x')), exp(Symbol('y'))), Integer(-1)))",
     "Mul(Pow(Add(exp(Symbol('x')), exp(Symbol('y'))), Integer(-1)), exp(Symbol('x')))",
     ),
    ('sqrt(x**2 + y**2)', "Pow(Add(Pow(Symbol('x'), Integer(2)), Pow(Symbol('y'), Integer(2))), Rational(1, 2))", ''),
]


@pytest.mark.parametrize("payload", PAYLOADS, ids=IDS)
def test_grad_expression_refuses_code(payload, tmp_path):
    text, marker = _payload(payload, tmp_path)
    _one_line(*run("grad", *(["--"] if text.startswith("-") else []), text))
    assert not marker.exists()


@pytest.mark.parametrize("payload", PAYLOADS, ids=IDS)
def test_at_value_refuses_code(payload, tmp_path):
    text, marker = _payload(payload, tmp_path)
    _one_line(*run("grad", "x", "--at", f"x={text}"))
    assert not marker.exists()


@pytest.mark.parametrize("payload", PAYLOADS, ids=IDS)
def test_named_step_refuses_code(payload, tmp_path):
    text, marker = _payload(payload, tmp_path)
    _one_line(*run("grad", f"q = {text}; f = q*x"))
    assert not marker.exists()


@pytest.mark.parametrize("payload", PAYLOADS, ids=IDS)
def test_python_api_strings_refuse_code(payload, tmp_path):
    text, marker = _payload(payload, tmp_path)
    _api_error(lambda: sb.grad(text))
    _api_error(lambda: sb.grad("x*y").at(x=text, y=1))
    _api_error(lambda: parse_program(f"q = {text}; f = q*x"))
    _api_error(lambda: to_expr(text, "step q"))
    _api_error(lambda: read_expr(text, "activation 'evil'"))
    assert not marker.exists()


def test_safe_sympify_keeps_python_and_sympy_values():
    x = sp.Symbol("x")
    assert to_expr("x*relu(y)") == x * sp.Max(0, sp.Symbol("y"))
    assert to_expr(3) == 3 and to_expr(x**2) == x**2 and to_expr(sp.Rational(1, 3)) == sp.Rational(1, 3)
    assert read_expr("z*tanh(z)") == sp.Symbol("z") * sp.tanh(sp.Symbol("z"))
    for bad in (object(), [1, 2]):  # sympify would have evaluated their str()
        _api_error(lambda bad=bad: to_expr(bad))


# '#' starts a comment in a hand file, so "x # ..." is the valid (and wrong) formula "x" there
HAND = [p for p in PAYLOADS if "#" not in p]


@pytest.mark.parametrize("payload", HAND, ids=[f"{i}:{p[:30]!r}" for i, p in enumerate(HAND)])
def test_scalar_hand_file_refuses_code(payload, tmp_path, monkeypatch):
    text, marker = _payload(payload, tmp_path)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "hand.txt").write_text(f"df/dz = x + y\ndf/dx = {text}\n", encoding="utf-8")
    _one_line(*run("check", "(x + y)*z", "--hand", "hand.txt"))
    assert not marker.exists()


LATEX = [
    r"\input{{m}}", r"\write18{touch {m}}", r"\immediate\write18{touch {m}}", r"\def\x{1}\x",
    r"\csname relax\endcsname", r"\mathit{__import__}(x)", r"\operatorname{__import__}(x)",
    r"\operatorname{eval}(x)", r"\text{__import__('os').system('touch {m}')}", r"\frac{1}{x} \; __import__('os')",
    r"\mathbf{f}_3.__class__", r"\lambda x: x", "$" + "9" * 5000 + "$", r"\frac{1}{" * 3000 + "x" + "}" * 3000,
    "$" + "(" * 5000 + "x" + ")" * 5000 + "$", r"\sqrt{" * 100 + "x" + "}" * 100, r"x \\" + " + x" * 3000,
]


@pytest.mark.parametrize("payload", LATEX, ids=[f"{i}:{p[:30]!r}" for i, p in enumerate(LATEX)])
def test_network_hand_file_in_latex_refuses_code(payload, tmp_path, monkeypatch):
    text, marker = _payload(payload, tmp_path)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "hand.txt").write_text(f"dl/df_3 = {text}\n", encoding="utf-8")
    _one_line(*run("check", str(EXAMPLES / "udl_toy.py"), "--hand", "hand.txt"))
    assert not marker.exists()


# valid (wrong) formulas in the hand syntax, where 9^9^9 is a float (inf): exit 1
NUMBERS = {"9^9^9", "x^(10^100)", "2^100000"}
NETWORK_TEXT = [p for p in HAND[::3] + HAND[-8:] if p not in NUMBERS]


@pytest.mark.parametrize("payload", NETWORK_TEXT, ids=[f"{i}:{p[:30]!r}" for i, p in enumerate(NETWORK_TEXT)])
def test_network_hand_file_in_text_refuses_code(payload, tmp_path, monkeypatch):
    text, marker = _payload(payload, tmp_path)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "hand.txt").write_text(f"dl/df_3 = {text}\n", encoding="utf-8")
    _one_line(*run("check", str(EXAMPLES / "udl_toy.py"), "--hand", "hand.txt"))
    assert not marker.exists()


@pytest.mark.parametrize("payload", sorted(NUMBERS))
def test_network_hand_file_numbers_are_a_wrong_formula_not_a_crash(payload, tmp_path):
    hand = tmp_path / "hand.txt"
    hand.write_text(f"dl/df_3 = {payload}\n", encoding="utf-8")
    code, out, err = run("check", str(EXAMPLES / "udl_toy.py"), "--hand", str(hand))
    assert code == 1 and "DIFFERENT" in out and err == ""


def test_network_hand_file_component_0_is_refused_not_misread(tmp_path, monkeypatch):
    """x[0] was once read as x times 0; symback counts components from 1 (x[1]), so component 0 is refused."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "hand.txt").write_text("dl/df_3 = x[0]\n", encoding="utf-8")
    code, out, err = run("check", str(EXAMPLES / "udl_toy.py"), "--hand", "hand.txt")
    _one_line(code, out, err)
    assert "x has components 1..1, counted from 1 in udl notation" in err


@pytest.mark.parametrize("text, limit", [
    ("(" * 5000 + "x" + ")" * 5000, "limit 200"),
    ("x^" * 5000 + "x", "limit 600"),
    ("9" * 5000, "limit 4,000"),
    ("x + " * 300_000 + "x", "limit 1,000,000"),
    ("2^100000", "limit 10,000"),
    ("3^9000*x", "limit 4,000"),
    ("x^(10^100)", "limit 10,000"),
    ("1e400*x", "out of range"),
])
def test_limits_are_named_and_quick(text, limit):
    start = time.perf_counter()
    with pytest.raises(ValueError, match=limit.replace("(", r"\(")):
        parse_program(text)
    assert time.perf_counter() - start < 3


def test_long_products_are_refused_where_they_are_evaluated():
    text = "*".join(f"x{i}" for i in range(4000))  # SymPy's Mul would take minutes
    start = time.perf_counter()
    with pytest.raises(ValueError, match="limit 500"):
        parse_expression(text)
    assert time.perf_counter() - start < 5
    assert len(parse_program(text).args) == 4000  # symback grad keeps it as written


def test_ten_thousand_terms_parse_in_linear_time():
    text = " + ".join(f"w{i}*x{i}" for i in range(10_000))
    start = time.perf_counter()
    grad_form = parse_program(text)
    evaluated = parse_expression(text)
    assert time.perf_counter() - start < 10
    assert len(grad_form.args) == len(evaluated.args) == 10_000


def test_depth_150_nesting_is_valid():
    text = "x"
    for _ in range(150):
        text = f"sin({text})"
    expr = parse_program(text)
    for _ in range(150):
        assert isinstance(expr, sp.sin)
        expr = expr.args[0]
    assert expr == sp.Symbol("x")


def tree(e) -> str:
    """A SymPy object with its arguments in stored order (srepr sorts the terms of a sum)."""
    if not isinstance(e, sp.Basic) or not e.args:
        return sp.srepr(e)
    return f"{type(e).__name__}({', '.join(tree(a) for a in e.args)})"


@pytest.mark.parametrize("text, grad_tree, evaluated_tree", VALID, ids=[v[0] for v in VALID])
def test_valid_forms_give_the_trees_parse_expr_gave(text, grad_tree, evaluated_tree):
    assert tree(parse_expression(text, evaluate=False)) == grad_tree
    assert tree(parse_program(text)) == grad_tree
    assert tree(parse_expression(text)) == (evaluated_tree or grad_tree)


def test_named_steps_and_keywords_as_names():
    steps = parse_program("q = x + y; f = q*z")
    assert [n for n, _ in steps] == ["q", "f"]
    assert tree(steps[1][1]) == "Mul(Symbol('q'), Symbol('z'))"
    assert parse_expression("lambda*x + beta") == sp.Symbol("lambda") * sp.Symbol("x") + sp.Symbol("beta")


def test_relations_and_piecewise_parse_for_grad_too():
    x = sp.Symbol("x")
    assert parse_program("Piecewise((x, x > 0), (0, True))") == sp.Piecewise((x, x > 0), (0, True))
    assert tree(parse_program("Indicator(x >= 1)*x")) == \
        "Mul(Indicator(GreaterThan(Symbol('x'), Integer(1))), Symbol('x'))"


@pytest.mark.parametrize("text, message", [
    ("x if y else z", "Piecewise((a, c), (b, True))"),
    ("lambda x: x", "lambda functions are not supported"),
    ("foo(x)", "unknown function 'foo'"),
    ("x.real", "attribute access"),
    ("2x", "write 2*x"),
    ("\uff45\uff58\uff50(x)", "look-alike"),
    ("__class__", "'__' are not allowed"),
    ("x +* y", "at column 4"),
    ("0 < x < 1", "chained comparisons"),
    ("x*(y > 0)", "Indicator(a > b)"),
    ("x + True", "True is not a number"),
    ("sin(x, y)", "sin(...): TypeError"),
    ("Max()", "needs an argument"),
    ("()", "empty parentheses"),
    ("(x, y)", "not a scalar expression"),
    ("(x, y) + 1", "only allowed as a function argument"),
])
def test_messages_say_what_and_where(text, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)").replace("*", r"\*")):
        parse_program(text)


def test_numbers_stay_exact_and_bounded():
    assert number("1/2", "--at x") == sp.Rational(1, 2)
    assert number("-2", "--at x") == -2 and number("pi/2", "--at x") == sp.pi / 2
    assert number("0.5", "--at x") == sp.Float("0.5")
    assert number("sqrt(2)", "--at x") == sp.sqrt(2)
    for bad, why in [("9^9^9", "limit"), ("1e400", "out of range"), ("two", "not a number"), ("oo", "not a number")]:
        with pytest.raises(ValueError, match=why):
            number(bad, "--at x")


@pytest.mark.parametrize("name, args", [
    ("erfc", "x"), ("erfinv", "x"), ("loggamma", "x"), ("digamma", "x"), ("polygamma", "1, x"), ("sinc", "x"),
    ("besseli", "1, x"), ("cot", "x"), ("sech", "x"), ("gamma", "x"), ("floor", "x"), ("ceiling", "x"),
])
def test_functions_sympy_differentiates_are_callable_by_name(name, args):
    values = [{"x": sp.Symbol("x"), "1": sp.Integer(1)}[a] for a in args.split(", ")]
    assert parse_expression(f"{name}({args})") == getattr(sp, name)(*values)
    assert parse_program(f"{name}({args}) + gamma").free_symbols == {sp.Symbol("x"), sp.Symbol("gamma")}


@pytest.mark.parametrize("content, message", [
    (None, "is a directory"),
    ("df/dx = z\x00\n", "NUL character"),
    ("df/dx = z\n" * 1001, "limit 1,000"),
    ("# comment\n" + "x" * 1_000_001, "limit 1,000,000"),
])
def test_hand_files_that_are_not_derivations_are_refused_in_one_line(content, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    if content is None:
        (tmp_path / "hand.txt").mkdir()
    else:
        (tmp_path / "hand.txt").write_text(content, encoding="utf-8")
    code, out, err = run("check", "(x + y)*z", "--hand", "hand.txt")
    _one_line(code, out, err)
    assert message in err


@pytest.mark.parametrize("command", ["explain", "draw"])
@pytest.mark.parametrize("payload", PAYLOADS[::4], ids=IDS[::4])
def test_teaching_commands_refuse_code(command, payload, tmp_path):
    text, marker = _payload(payload, tmp_path)
    extra = ["-o", str(tmp_path / "c.svg")] if command == "draw" else []
    _one_line(*run(command, *extra, *(["--"] if text.startswith("-") else []), text))
    assert not marker.exists() and not (tmp_path / "c.svg").exists()
