"""One error path: every failure of the CLI is one line `symback: error: ...`, exit 2, no traceback."""

from __future__ import annotations

import json

import pytest

from symback.cli import MAX_MESSAGE, abbreviate, main


def run(argv, capsys):
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's usage errors
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("symback: error:")]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert len(lines[0]) <= MAX_MESSAGE
    return lines[0]


def test_a_spec_that_calls_sys_exit_is_an_error_not_our_exit_code(tmp_path, capsys):
    spec = tmp_path / "quits.py"
    spec.write_text("import sys\nsys.exit(3)\n")
    code, _, err = run(["derive", str(spec)], capsys)
    assert code == 2
    assert "sys.exit(3)" in one_line(err)


def test_a_directory_given_as_spec_says_it_is_a_directory(tmp_path, capsys):
    folder = tmp_path / "nets.py"
    folder.mkdir()
    code, _, err = run(["derive", str(folder)], capsys)
    assert code == 2
    assert "is a directory" in one_line(err)


@pytest.mark.parametrize("output", ["", "   "])
def test_compile_refuses_an_empty_output_name(output, capsys):
    code, _, err = run(["compile", "examples/udl_toy.py", "-o", output], capsys)
    assert code == 2
    assert "name a file" in one_line(err)


def test_compile_refuses_a_directory_as_output(tmp_path, capsys):
    code, _, err = run(["compile", "examples/udl_toy.py", "-o", str(tmp_path)], capsys)
    assert code == 2
    assert "name a file" in one_line(err)


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "soon"])
def test_timeout_must_be_a_positive_finite_number(value, capsys):
    code, _, err = run(["grad", "x*y", "--timeout", value], capsys)
    assert code == 2
    assert "--timeout" in one_line(err)


def test_a_command_that_runs_too_long_is_stopped_with_one_line(capsys):
    big = " + ".join(f"x{i}*y{i}" for i in range(5000))  # derives in well over 0.2 s
    code, _, err = run(["grad", big, "--timeout", "0.2"], capsys)
    assert code == 2
    line = one_line(err)
    assert "took longer than 0.2 s" in line and "--timeout" in line


def test_writing_below_a_file_is_one_line(tmp_path, capsys):
    blocker = tmp_path / "notes.txt"  # a file where the output's folder should be: no one can write there, root included
    blocker.write_text("keep me")
    code, _, err = run(["compile", "examples/udl_toy.py", "-o", str(blocker / "m.py")], capsys)
    assert code == 2
    one_line(err)
    assert blocker.read_text() == "keep me"


def test_a_long_message_keeps_its_start_and_end():
    text = "start " + "x" * 5000 + " end"
    short = abbreviate(text)
    assert len(short) <= MAX_MESSAGE
    assert short.startswith("start ") and short.endswith(" end") and " ... " in short
    assert abbreviate("two\nlines") == "two lines"


def test_an_unknown_variable_in_a_huge_expression_is_not_echoed_whole(capsys):
    expr = " + ".join(f"x{i}" for i in range(3000))
    code, _, err = run(["grad", expr, "--wrt", "nope"], capsys)
    assert code == 2
    one_line(err)


def test_an_expression_with_a_leading_minus_is_an_argument_not_an_option(capsys):
    code, out, err = run(["grad", "-x*y", "--at", "x=2,y=3", "--json"], capsys)
    assert code == 0, err
    data = json.loads(out)
    assert data["expr"] == "-x*y" and data["grad_at"] == {"x": -3, "y": -2}
    code, out, _ = run(["grad", "-h"], capsys)  # a real option stays one
    assert code == 0 and out.startswith("usage: symback grad")


@pytest.mark.parametrize("argv, line, usage", [
    (["derive", "examples/udl_toy.py", "--bogus"], "symback: error: derive: unrecognized arguments: --bogus",
     "usage: symback derive"),
    (["grad", "x*y", "--at"], "symback: error: grad: argument --at: expected one argument", "usage: symback grad"),
    (["bogus"], "symback: error: argument COMMAND: invalid choice: 'bogus'", "usage: symback [-h] COMMAND"),
])
def test_a_usage_error_names_its_command_once_under_that_commands_usage(argv, line, usage, capsys):
    code, out, err = run(argv, capsys)
    assert code == 2 and out == "" and err.startswith(usage)
    assert one_line(err).startswith(line) and "symback: error: symback" not in err
