"""symback grade on a generated class: the right score for each submission, hostile ones included."""

from __future__ import annotations

import csv
import json
import os
import tempfile
import time
from pathlib import Path

import pytest
from grade_support import MISTAKES, POINTS, RIGHT, TOTAL, assignment, make_class
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from symback.cli import main
from symback.commands.grade import derive
from symback.errors import SymbackError
from symback.grade import _grade as grade_in_worker
from symback.grade import load, prepare
from symback.grade.pool import run as run_pool


def run(argv, capsys):
    try:
        code = main(["grade", *argv])
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """The class graded once (two workers, a 2 s limit): (expected, summary, feedback folder, stdout)."""
    root = tmp_path_factory.mktemp("class")
    expected = make_class(root / "subs")
    toml = assignment(root)
    cwd = os.getcwd()
    os.chdir(root)  # a submission that ran code would leave 'pwned' here
    try:
        argv = [str(toml), str(root / "subs"), "-o", str(root / "out"), "--format", "json", "--jobs", "2"]
        code = main(["grade", *argv])
    finally:
        os.chdir(cwd)
    assert code == 0
    summary = json.loads((root / "out" / "summary.json").read_text(encoding="utf-8"))
    return expected, summary, root


def test_every_submission_gets_its_score_and_status(graded):
    expected, summary, _ = graded
    got = {s["submission"]: (s["score"], s["status"]) for s in summary["submissions"]}
    assert got == expected
    assert [s["submission"] for s in summary["submissions"]] == sorted(expected)  # sorted by name
    assert summary["max_points"] == TOTAL


def test_each_mistake_loses_its_quantity_with_check_s_diagnosis(graded):
    _, summary, root = graded
    by_name = {s["submission"]: s for s in summary["submissions"]}
    for kind, (_, loses) in MISTAKES.items():
        marks = {q["name"]: q for q in by_name[f"mistake_{kind}_000.txt"]["quantities"]}
        assert marks[loses]["points"] == 0 and marks[loses]["verdict"] == "different", kind
        assert all(q["points"] == POINTS[n] for n, q in marks.items() if n != loses), kind
    md = (root / "out" / "mistake_sum_vs_mean_000.txt.md").read_text(encoding="utf-8")
    assert "**Score: 8 / 10**" in md
    assert "counterexample: instance" in md and "likely cause: sum vs mean" in md
    assert "## dJ/dW^[1]: 0 / 2, different" in md


def test_hostile_submissions_score_0_with_a_clear_message(graded):
    _, summary, root = graded
    message = {s["submission"]: s["message"] for s in summary["submissions"]}
    assert "empty" in message["empty.txt"] and "empty" in message["blank.txt"]
    assert message["comments.txt"].startswith("comments.txt: no equations found")
    assert "binary" in message["binary.bin"]
    assert "not UTF-8" in message["latin1.txt"]
    assert "10,485,760 bytes" in message["huge.txt"] and "limit of 100,000" in message["huge.txt"]
    assert "symbolic link" in message["symlink.txt"] and "not a regular file" in message["fifo.txt"]
    assert message["empty_folder"] == "expected a file named backprop.txt in the submission (found: nothing)"
    assert "longer than this assignment's limit of 2 s" in message["slow.txt"]
    assert not (root / "pwned").exists()  # hand files are data
    md = (root / "out" / "python.txt.md").read_text(encoding="utf-8")
    assert "## Lines that could not be read (-0.5 points)" in md and "__import__" in md


def test_unreadable_lines_cost_the_penalty_and_are_shown(graded):
    _, summary, root = graded
    typo = next(s for s in summary["submissions"] if s["submission"] == "typo_000.txt")
    assert [u["line"] for u in typo["unreadable"]] == [13, 14]
    md = (root / "out" / "typo_000.txt.md").read_text(encoding="utf-8")
    assert "## Lines that could not be read (-1 point)" in md and typo["deducted"] == 1
    assert "line 14: foo = 3" in md and "'foo' is not a quantity" in md


def test_a_second_run_rewrites_nothing_and_a_changed_output_is_kept(graded, tmp_path, capsys):
    _, _, root = graded
    subs, out = tmp_path / "subs", tmp_path / "out"
    subs.mkdir()
    for name in ("right_000.txt", "mistake_sign_000.txt", "empty.txt"):
        (subs / name).write_bytes((root / "subs" / name).read_bytes())
    argv = [str(root / "assignment.toml"), str(subs), "-o", str(out), "--jobs", "1"]
    assert run(argv, capsys)[0] == 0
    first = {p.name: p.read_bytes() for p in out.iterdir()}
    assert set(first) == {"right_000.txt.md", "mistake_sign_000.txt.md", "empty.txt.md", "summary.csv"}
    rows = list(csv.DictReader((out / "summary.csv").open(encoding="utf-8")))
    assert [(r["submission"], float(r["score"])) for r in rows] == [
        ("empty.txt", 0.0), ("mistake_sign_000.txt", 9.0), ("right_000.txt", 10.0)]
    (out / "right_000.txt.md").write_text("my notes\n", encoding="utf-8")
    code, stdout, _ = run(argv, capsys)
    assert code == 0 and "graded 3 submissions (2 graded, 1 refused): mean 6.33 / 10" in stdout
    now = {p.name: p.read_bytes() for p in out.iterdir()}
    assert now.pop("right_000.txt.md.bak") == b"my notes\n"  # nothing the user had is lost
    assert now == first  # deterministic


def test_the_output_folder_may_not_be_inside_the_submissions(tmp_path, capsys):
    toml = assignment(tmp_path)
    (tmp_path / "subs").mkdir()
    code, _, err = run([str(toml), str(tmp_path / "subs"), "-o", str(tmp_path / "subs" / "fb")], capsys)
    assert code == 2 and "inside the submissions folder" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("text, message", [
    ('spec = "x.py"\ntime_limt = 3\n',
     "assignment.toml:2: unknown key 'time_limt' in the assignment; did you mean 'time_limit'?"),
    ('spec = "x.py"\ntime_limit = "ten"\n',
     "assignment.toml:2: time_limit = 'ten' in the assignment: expected a number of seconds"),
    ('notation = "cs229"\n[[quantity]]\nname = "delta^[2]"\npoints = 1\n', "assignment.toml: no 'spec'; add spec ="),
    ('spec = "x.py"\n[[quantity]]\nname = "delta^[2]"\npoints = 1\n[[quantity]]\nname = "b"\npont = 2\n',
     "assignment.toml:7: unknown key 'pont' in [[quantity]] 2; did you mean 'points'?"),
    ('spec = "x.py"\nquantity = [\n', "assignment.toml:2: Invalid value; the assignment file is TOML"),
    ('spec = "x.py"\ntitle = \n', "assignment.toml:2: Invalid value; the assignment file is TOML"),
    ('spec = "x.py"\nmax_bytes = 99999999\n[[quantity]]\nname = "a"\npoints = 1\n', "expected a whole number"),
    ('spec = "x.py"\nmax_points = 5\n[[quantity]]\nname = "a"\npoints = 1\n',
     "assignment.toml:2: max_points = 5 is more than the quantities' points (1), so no submission could earn it"),
    ('spec = "x.py"\nnotation = ["cs229"]\n', "assignment.toml:2: notation = ['cs229'] in the assignment: expected"),
    ('spec = "x.py"\npenalty = inf\n', "assignment.toml:2: penalty = inf in the assignment: expected a finite number"),
    ('spec = "x.py"\nnotation = "cs230"\n', "assignment.toml:2: notation = 'cs230' in the assignment: expected one of"),
])
def test_a_bad_assignment_is_one_line_and_exit_2(tmp_path, capsys, text, message):
    toml = tmp_path / "assignment.toml"
    toml.write_text(text, encoding="utf-8")
    (tmp_path / "subs").mkdir()
    code, _, err = run([str(toml), str(tmp_path / "subs")], capsys)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
    assert message in lines[0], lines[0]


def test_a_hostile_assignment_file_is_one_line_and_exit_2(tmp_path, capsys):
    (tmp_path / "subs").mkdir()
    for name, data, message in [("binary.toml", bytes(range(256)), "not UTF-8"),
                                ("huge.toml", b"#" * 200_000, "200,000 bytes"),
                                ("nul.toml", b'spec = "a\0b"\n', "assignment")]:
        (tmp_path / name).write_bytes(data)
        code, _, err = run([str(tmp_path / name), str(tmp_path / "subs")], capsys)
        assert code == 2 and len(err.strip().splitlines()) == 1 and message in err, err


def test_a_quantity_the_network_does_not_have_names_its_line(tmp_path, capsys):
    toml = assignment(tmp_path)
    toml.write_text(toml.read_text(encoding="utf-8") + '\n[[quantity]]\nname = "dJ/dW^[3]"\npoints = 1\n',
                    encoding="utf-8")
    (tmp_path / "subs").mkdir()
    code, _, err = run([str(toml), str(tmp_path / "subs")], capsys)
    n = toml.read_text(encoding="utf-8").splitlines().index('name = "dJ/dW^[3]"') + 1
    assert code == 2 and f"assignment.toml:{n}: quantity 'dJ/dW^[3]'" in err and "did you mean" in err, err


def test_a_file_name_never_becomes_a_spreadsheet_formula(tmp_path, capsys):
    toml = assignment(tmp_path)
    (tmp_path / "subs").mkdir()
    (tmp_path / "subs" / "=HYPERLINK(1).txt").write_text("", encoding="utf-8")
    assert run([str(toml), str(tmp_path / "subs"), "-o", str(tmp_path / "out"), "--jobs", "1"], capsys)[0] == 0
    row = next(csv.DictReader((tmp_path / "out" / "summary.csv").open(encoding="utf-8")))
    assert row["submission"] == "'=HYPERLINK(1).txt" and row["message"].startswith("'=HYPERLINK(1).txt is empty")
    assert (tmp_path / "out" / "=HYPERLINK(1).txt.md").is_file()


@pytest.mark.parametrize("jobs", ["0", "two", "-1"])
def test_jobs_must_be_a_positive_whole_number(tmp_path, capsys, jobs):
    code, _, err = run([str(assignment(tmp_path)), str(tmp_path), "--jobs", jobs], capsys)
    assert code == 2 and "--jobs" in err and "whole number" in err and "Traceback" not in err


def _toy(kind: str):
    """A task for the pool: answers, runs past any limit, or kills its own process."""
    if kind == "sleep":
        time.sleep(60)
    if kind == "die":
        os._exit(3)
    return kind.upper()


def test_the_pool_kills_a_late_worker_replaces_a_dead_one_and_keeps_the_order():
    tasks = [("a",), ("sleep",), ("b",), ("die",), ("c",), ("sleep",), ("d",)]
    start = time.monotonic()
    results = run_pool(_toy, tasks, time_limit=1.0, jobs=2, initializer=lambda: None)
    assert time.monotonic() - start < 10
    assert [r if isinstance(r, str) else ("late" if r.timed_out else "died") for r in results] == [
        "A", "late", "B", "died", "C", "late", "D"]


def test_a_spec_that_does_not_load_is_named_where_the_assignment_names_it(tmp_path, capsys):
    toml = tmp_path / "assignment.toml"
    toml.write_text('title = "x"\nspec = "missing.py:net"\n[[quantity]]\nname = "delta^[2]"\npoints = 1\n',
                    encoding="utf-8")
    code, _, err = run([str(toml), str(tmp_path)], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "assignment.toml:2: spec: SPEC" in err and "missing.py" in err and "no such file" in err, err


@pytest.mark.parametrize("require, scores", [("all", (8.0, 8.0, 7.0)), ("any", (8.0, 8.0, 8.0))])
def test_max_points_caps_the_total_and_require_any_takes_one_equal_line(tmp_path, capsys, require, scores):
    toml = assignment(tmp_path, max_points=8, require=require)
    subs = tmp_path / "subs"
    subs.mkdir()
    (subs / "a_right.txt").write_text(RIGHT, encoding="utf-8")
    (subs / "b_sign.txt").write_text(MISTAKES["sign"][0], encoding="utf-8")  # loses 1 of 10: still 8
    # a wrong per-sample line for dJ/dW^[1] beside its right batch line: "all" loses 2 (and the cap), "any" not
    (subs / "c_half_wrong.txt").write_text(RIGHT.replace("dJ/dW^[1] = delta^[1] x^T", "dJ/dW^[1] = delta^[1] a^[1]^T")
                                           .replace("delta^[2] = a^[2] - y", "delta^[2] = y - a^[2]"), encoding="utf-8")
    assert run([str(toml), str(subs), "-o", str(tmp_path / "out"), "--format", "json", "--jobs", "1"], capsys)[0] == 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8"))
    assert tuple(s["score"] for s in summary["submissions"]) == scores and summary["max_points"] == 8


_KEYS = ["spec", "title", "notation", "layout", "file", "time_limit", "max_bytes", "require", "penalty", "max_points",
         "name", "points", "quantity", "spce", "[[quantity]]", "[quantity]", "[x]"]
_VALUES = ['"x.py"', '"cs229"', "1", "-1", "0", "1e400", "nan", "inf", "true", "[1, 2]", '["a"]', "{a = 1}",
           '"delta^[2]"', '"a=b"', '""', "1979-05-27", "'''\nline\n'''", '"../../etc"', "[[1]]"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(_KEYS), st.sampled_from(_VALUES)), max_size=8) | st.binary(max_size=200))
def test_any_assignment_file_loads_or_is_one_symback_error(tmp_path, content):
    path = tmp_path / "assignment.toml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text("\n".join(k if k.startswith("[") else f"{k} = {v}" for k, v in content), encoding="utf-8")
    try:
        load(path)
    except SymbackError as exc:
        assert "\n" not in str(exc) and str(path) in str(exc)


_PIECES = ["delta^[2]", "dJ/dW^[1]", "dJ/db^[2]", " = ", "=", "a^[1]^T", "x^T", "(", ")", "+", "*", "^", "⊙", "[", "]",
           "g'(z^[1])", "\\frac{1}{B}", "$", "#", "\\", "1e999", "9" * 30, "__import__('os')", "lambda", "\n", " "]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=30))
def test_any_submission_text_gets_an_outcome_between_0_and_the_total(pieces):
    _fuzz_grader()  # the worker's grader, as a forked worker inherits it
    outcome = grade_in_worker("fuzz.txt", "".join(pieces))  # what a worker does with a submission's text
    assert outcome.status in ("graded", "refused") and 0 <= outcome.score <= TOTAL
    assert [m.name for m in outcome.marks] == list(POINTS)


_GRADERS: list = []


def _fuzz_grader():
    """The CS229 grader, built once for the fuzz test (as a forked worker inherits it)."""
    if not _GRADERS:
        a = load(assignment(Path(tempfile.mkdtemp())))
        _GRADERS.append(prepare(a, derive(a.spec)))
    return _GRADERS[0]


def test_file_names_that_are_not_text_are_shown_escaped_and_kept_apart(tmp_path, capsys):
    subs = tmp_path / "subs"
    subs.mkdir()
    for raw in (b"a\xff.txt", b"a\\xff.txt", b"two\nlines.txt"):
        (subs / os.fsdecode(raw)).write_text(RIGHT, encoding="utf-8")
    argv = [str(assignment(tmp_path)), str(subs), "-o", str(tmp_path / "out"), "--format", "json", "--jobs", "1"]
    assert run(argv, capsys)[0] == 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8"))
    assert [(s["submission"], s["score"]) for s in summary["submissions"]] == [
        ("a\\xff.txt", TOTAL), ("a\\xff.txt (2)", TOTAL), ("two\\nlines.txt", TOTAL)]
    assert (tmp_path / "out" / "a\\xff.txt (2).md").is_file()
