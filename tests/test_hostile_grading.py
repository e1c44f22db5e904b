"""Round 9's red-team pass, continued (tests/test_hostile_round9.py): hostile assignment files and paths, and a class
folder where hostile submissions sit among good ones; each case as that file's, exit code, one short error line,
no marker file, files intact, and platform results that stay JSON and never replace an upload."""

from __future__ import annotations

import json
import os

import pytest
from grade_support import RIGHT, assignment
from test_hostile_round9 import M, _fifo, _marked, run, verdict

from symback.commands.grade import NAME_MAX, feedback_name


def _base(tmp_path) -> str:
    return assignment(tmp_path).read_text(encoding="utf-8")


ASSIGNMENTS = [
    # was: points 1e308 twice add up to inf: "mean inf / inf" and summary.json holding Infinity (not JSON)
    (lambda b: b.replace("points = 2", "points = 1e308"), "add up to inf"),
    # was: "internal error (ValueError: Exceeds the limit (4300 digits) for integer string conversion)"
    (lambda b: b.replace("points = 2", "points = " + "9" * 5000), "more than 4,300 digits"),
    # was: "the expression is nested too deeply for this output; use the Python API or omit --expand"
    (lambda b: b + "\nx = " + "[" * 5000 + "]" * 5000 + "\n", "nest too deeply"),
    (lambda b: b + "\ny = " + "{a = " * 3000 + "1" + "}" * 3000 + "\n", "nest too deeply"),
    (lambda b: b.replace("points = 2", "points = nan"), "expected a number of points"),
    (lambda b: b.replace('file = "backprop.txt"', 'file = ".."'), "without folders"),
    (lambda b: b.replace("notation", "d = 2023-02-30\nnotation"), "Invalid date"),
    (lambda b: b + "".join(f'\n[[quantity]]\nname = "q{i}"\npoints = 1\n' for i in range(3000)), "limit 100,000"),
    (lambda b: b.replace('name = "delta^[2]"', f"name = \"__import__('os').system('touch {M}')\""),
     "should name one quantity"),
]


@pytest.mark.parametrize("change, says", ASSIGNMENTS, ids=[s for _, s in ASSIGNMENTS])
def test_hostile_assignment_files(change, says, tmp_path):
    text, marker = _marked(change(_base(tmp_path)), tmp_path)
    (tmp_path / "assignment.toml").write_text(text, encoding="utf-8")
    (tmp_path / "subs").mkdir()
    verdict(*run("grade", str(tmp_path / "assignment.toml"), str(tmp_path / "subs")), 2, says)
    assert not marker.exists() and not (tmp_path / "subs-feedback").exists()


@pytest.mark.parametrize("make, says", [
    (lambda t: str(t), "is a folder or a device"),  # was: "no such file"
    (lambda t: _fifo(t, "a.toml"), "is a folder or a device"),
    (lambda t: "/dev/zero", "is a folder or a device"),
])
def test_assignment_paths(make, says, tmp_path):
    verdict(*run("grade", make(tmp_path), str(tmp_path)), 2, says)


def _no_constants(text: str):
    """JSON as the platforms read it: NaN and Infinity are not JSON."""
    return json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} in the JSON"))


@pytest.fixture(scope="module")
def class_graded(tmp_path_factory):
    """One class: good submissions beside hostile ones (names too long for a file system, control characters,
    lines that crashed the checker); graded once into JSON."""
    root = tmp_path_factory.mktemp("class")
    toml = assignment(root)
    subs = root / "subs"
    subs.mkdir()
    names = {"good_1.txt": RIGHT, "good_2.txt": RIGHT, "a" * 250 + ".txt": RIGHT,
             os.fsdecode(b"\xff" * 200 + b".txt"): RIGHT, "\x1b[31mred.txt": RIGHT, "\u202eevil.txt": RIGHT,
             "dderiv.txt": RIGHT + "delta^[2] = \\frac{d}{dz} z^2\n",  # was: the whole submission refused, 0
             "pwn.txt": "delta^[2] = __import__('os').system('touch pwned')\n" + RIGHT,
             "fence.txt": RIGHT + "delta^[2] = ```\n</details><script>alert(1)</script>\n",
             "esc.txt": RIGHT + "delta^[2] = \x1b]0;pwned\x07\x1b[2J\n"}  # was: ESC sequences in the .md as written
    for name, text in names.items():
        (subs / name).write_text(text, encoding="utf-8")
    cwd = os.getcwd()
    os.chdir(root)
    try:
        code, out, err = run("grade", str(toml), str(subs), "-o", str(root / "out"), "--format", "json",
                             "--jobs", "2")
    finally:
        os.chdir(cwd)
    return root, code, out, err


def test_hostile_submissions_do_not_spoil_the_class(class_graded):
    root, code, out, err = class_graded
    verdict(code, out, err, 0)  # was: exit 2, "File name too long", no feedback for anyone
    summary = _no_constants((root / "out" / "summary.json").read_text(encoding="utf-8"))
    scores = {s["submission"]: (s["score"], s["status"]) for s in summary["submissions"]}
    assert len(scores) == 10 and not (root / "pwned").exists()
    full = [n for n, (score, status) in scores.items() if score == 10 and status == "graded"]
    assert len(full) == 6, scores  # the good ones, whatever their names
    assert scores["dderiv.txt"] == (9.5, "graded") and scores["fence.txt"] == (9.0, "graded")
    assert scores["pwn.txt"] == (9.5, "graded")  # the code line is unreadable (-0.5); the others count
    assert scores["esc.txt"] == (9.5, "graded")
    md = (root / "out" / "esc.txt.md").read_text(encoding="utf-8")
    assert "\x1b" not in md and "\x07" not in md and "line 13: delta^[2] = \\x1b]0;pwned\\x07\\x1b[2J" in md
    feedback = sorted(p.name for p in (root / "out").iterdir())
    assert len(feedback) == 11 and all(len(n.encode()) <= NAME_MAX for n in feedback)
    assert "\\x1b[31mred.txt.md" in feedback and "\\u202eevil.txt.md" in feedback


def test_feedback_names_stay_unique_and_short():
    long = ["a" * 300, "a" * 300 + "b", "é" * 200]
    names = [feedback_name(n) for n in long]
    assert len(set(names)) == 3 and all(len(n.encode()) <= NAME_MAX and n.endswith(".md") for n in names)
    assert feedback_name("right.txt") == "right.txt.md"


@pytest.mark.parametrize("platform", ["gradescope", "prairielearn"])
def test_platform_results_stay_json_and_never_replace_the_upload(platform, tmp_path):
    toml = assignment(tmp_path)
    upload = tmp_path / "up.txt"
    upload.write_text(RIGHT + "delta^[2] = \\frac{d}{dz} z^2\n", encoding="utf-8")
    for target in (upload, toml):  # was: the upload (or the assignment) replaced by results.json
        before = target.read_bytes()
        verdict(*run("grade", str(toml), str(upload), "--format", platform, "-o", str(target)), 2, "is the input")
        assert target.read_bytes() == before
    verdict(*run("grade", str(toml), str(upload), "--format", platform, "-o", str(tmp_path / "r.json")), 0)
    data = _no_constants((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert (data["score"] == 9.5) if platform == "gradescope" else (data["score"] == 0.95 and data["gradable"])
