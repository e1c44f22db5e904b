"""`symback grad` on the command line: the table, --json, --expand, and bad input."""

import json
import subprocess
import sys

import pytest
import sympy as sp

import symback as sb
from symback.cli import main


def run(*argv):
    """Run the CLI in-process; return (exit code, stdout, stderr)."""
    import contextlib
    import io

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(argv))
        except SystemExit as exc:
            code = exc.code
    return code, out.getvalue(), err.getvalue()


def test_json_follows_the_design_schema():
    code, out, _ = run("grad", "(x + y)*z", "--at", "x=-2,y=5,z=-4", "--json")
    assert code == 0
    data = json.loads(out)
    assert set(data) == {"expr", "wrt", "steps", "gradient", "value", "grad_at", "variables"}
    assert data["variables"] == ["x", "y", "z"]
    assert data["wrt"] == ["x", "y", "z"]
    assert data["value"] == -12
    assert data["grad_at"] == {"x": -4, "y": -4, "z": 3}
    assert data["gradient"] == {"x": "z", "y": "z", "z": "v1"}
    steps = {s["node"]: s for s in data["steps"]}
    assert steps["v1"] == {"node": "v1", "expr": "x + y", "value": 3, "grad": -4}
    # forward quantities first, then backward ones, each using only earlier names
    seen = set()
    for s in data["steps"]:
        used = {str(a) for a in sp.sympify(s["expr"]).free_symbols}
        assert used <= seen | {s["node"]}, s
        seen.add(s["node"])


def test_json_without_at_has_no_numbers_and_expand_uses_inputs_only():
    code, out, _ = run("grad", "(x + y)*z", "--json", "--expand")
    data = json.loads(out)
    assert "value" not in data and "grad_at" not in data
    assert all(set(s) == {"node", "expr"} for s in data["steps"])
    assert data["gradient"] == {"x": "z", "y": "z", "z": "x + y"}


def test_wrt_restricts_the_gradient():
    code, out, _ = run("grad", "x*y + z", "--wrt", "y", "--json")
    assert json.loads(out)["gradient"] == {"y": "x"}


def test_text_table_shows_the_lecture_numbers():
    code, out, _ = run("grad", "q = x + y; f = q*z", "--at", "x=-2,y=5,z=-4")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "q = x + y; f = q*z   at x = -2, y = 5, z = -4"
    row = next(line for line in lines[1:] if line.split()[:1] == ["q"])
    assert row.split() == ["q", "x", "+", "y", "3", "-4"]
    assert "  df/dx = z = -4" in lines and "  df/dz = q = 3" in lines


def test_python_m_symback_runs_the_cli():
    proc = subprocess.run([sys.executable, "-m", "symback", "grad", "x*y", "--at", "x=3,y=4", "--json"],
                          capture_output=True, text=True, check=True)
    assert json.loads(proc.stdout)["grad_at"] == {"x": 4, "y": 3}


BAD = [
    (["grad", "x +* y"], "could not parse expression 'x +* y'"),
    (["grad", "foo(x)"], "unknown function 'foo'"),
    (["grad", "x*y", "--wrt", "w"], "'w' is not a variable of the expression (its variables: x, y)"),
    (["grad", "x*y", "--at", "x=1,y=2,w=3"], "'w' is not a variable of the expression"),
    (["grad", "x*y", "--at", "x=1"], "no value for y"),
    (["grad", "x*y", "--at", "x=1,y=two"], "--at y: 'two' is not a number"),
    (["grad", "x*y", "--at", "x=1,y"], "'y' should look like name=number"),
    (["grad", "log(x)", "--at", "x=-1"], "node f = log(x) is undefined at this point: not real"),
    (["grad", "1/x", "--at", "x=0"], "is undefined at this point: infinite"),
    (["grad", "sqrt(x)", "--at", "x=0"], "gradient node df_dx"),
    (["grad", "Matrix([[x, y]])"], "not a scalar expression"),
    (["grad", "3"], "has no variables"),
    (["grad", ""], "is empty"),
]


@pytest.mark.parametrize("argv, message", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_input_is_one_line_and_exit_code_2(argv, message):
    code, out, err = run(*argv)
    assert code == 2
    assert out == ""
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("symback: error: "), err
    assert message in lines[0]


def test_python_api_raises_value_error_with_the_same_message():
    x, y = sp.symbols("x y")
    with pytest.raises(ValueError, match="not a variable of the expression"):
        sb.grad(x * y, wrt=["w"])
    with pytest.raises(ValueError, match="is a matrix"):
        sb.grad(sp.Matrix([[x, y]]))
    with pytest.raises(ValueError, match="is undefined at this point"):
        sb.grad(sp.log(x)).at(x=-1)
    with pytest.raises(ValueError, match="'abc' is not a number"):
        sb.grad(x * y).at(x=1, y="abc")


def test_the_latex_worked_table_says_where_it_is_and_labels_its_passes():
    # CS231n's circuit at its point: a table a student can hand in reads like the text one
    code, out, _ = run("grad", "q = x + y; f = q*z", "--at", "x=-2,y=5,z=-4", "--format", "latex")
    lines = out.splitlines()
    assert code == 0 and lines[1] == r"&\text{at } x = -2,\ y = 5,\ z = -4 \\"
    labels = [line for line in lines if line.startswith(r"&\textbf")]
    assert labels == [r"&\textbf{forward pass} \\", r"&\textbf{backward pass (upstream $\times$ local)} \\",
                      r"&\textbf{gradient} \\"]
    assert r"\frac{\partial f}{\partial f} &= 1 \\" in lines  # the seed once, not "= 1 = 1"
    assert r"\frac{\partial f}{\partial q} &= \frac{\partial f}{\partial f} \cdot z = -4 \\" in lines
