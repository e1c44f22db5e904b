"""symback grade --format gradescope / prairielearn: results.json valid against the platforms' published specs.

The schemas in tests/schemas/ are written from Gradescope's autograder specification and PrairieLearn's
external grading documentation (URLs in their $comment). The example autograders in examples/autograder/
are run as the platforms run them, with their root folders moved to temporary ones.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
from grade_support import MISTAKES, POINTS, RIGHT, ROOT, SLOW_LINE, TOTAL, assignment

from symback.cli import main

SCHEMAS = Path(__file__).parent / "schemas"
PLATFORMS = ("gradescope", "prairielearn")


def validate(data: dict, platform: str) -> None:
    schema = json.loads((SCHEMAS / f"{platform}_results.schema.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(schema).validate(data)


def grade_one(tmp_path, platform: str, upload: dict, **options) -> dict:
    """One student's upload (file name -> bytes or text), as the platform mounts it, graded to results.json."""
    student = tmp_path / "student"
    student.mkdir()
    for name, data in upload.items():
        (student / name).write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    out = tmp_path / "results.json"
    code = main(["grade", str(assignment(tmp_path, **options)), str(student), "--format", platform, "-o", str(out)])
    assert code == 0
    data = json.loads(out.read_text(encoding="utf-8"))
    validate(data, platform)
    return data


@pytest.mark.parametrize("platform", PLATFORMS)
def test_a_right_derivation_earns_every_point(tmp_path, platform):
    data = grade_one(tmp_path, platform, {"backprop.txt": RIGHT, "notes.pdf": b"%PDF-1.4"})
    tests = {t["name"]: t for t in data["tests"]}
    assert list(tests) == list(POINTS)
    if platform == "gradescope":
        assert data["score"] == TOTAL and data["output_format"] == "md"
        assert all(t["status"] == "passed" and t["score"] == t["max_score"] == POINTS[n] for n, t in tests.items())
        assert all(t["output_format"] == "md" and t["visibility"] == "visible" for t in tests.values())
    else:
        assert data["score"] == 1.0 and data["gradable"] is True and data["format_errors"] == []
        assert all(t["points"] == t["max_points"] == POINTS[n] for n, t in tests.items())


@pytest.mark.parametrize("platform", PLATFORMS)
def test_a_mistake_is_named_in_its_test(tmp_path, platform):
    text, loses = MISTAKES["sum_vs_mean"]
    data = grade_one(tmp_path, platform, {"backprop.txt": text})
    test = next(t for t in data["tests"] if t["name"] == loses)
    assert "likely cause: sum vs mean" in test["output"] and "counterexample" in test["output"]
    assert ("```" in test["output"]) == (platform == "gradescope")  # Markdown for Gradescope, plain text for PL
    if platform == "gradescope":
        assert data["score"] == TOTAL - POINTS[loses] and test["status"] == "failed" and test["score"] == 0
    else:
        assert data["score"] == pytest.approx((TOTAL - POINTS[loses]) / TOTAL) and test["points"] == 0


@pytest.mark.parametrize("platform", PLATFORMS)
def test_an_unreadable_upload_scores_0_with_its_reason(tmp_path, platform):
    data = grade_one(tmp_path, platform, {"backprop.txt": bytes(range(256))})
    assert data["score"] == 0
    if platform == "gradescope":
        assert "binary file" in data["output"] and all(t["status"] == "failed" for t in data["tests"])
        assert all("binary file" in t["output"] for t in data["tests"])  # the reason, not "no line names ..."
    else:  # PrairieLearn's own way: not gradable, the reason as a format error, no attempt used
        assert data["gradable"] is False and "binary file" in data["format_errors"][0]


@pytest.mark.parametrize("platform", PLATFORMS)
def test_an_upload_that_takes_forever_scores_0(tmp_path, platform):
    data = grade_one(tmp_path, platform, {"backprop.txt": (SLOW_LINE + "\n") * 15}, time_limit=1)
    assert data["score"] == 0
    text = data["output"] if platform == "gradescope" else data["message"]
    assert "longer than this assignment's limit of 1 s" in text
    if platform == "prairielearn":
        assert data["gradable"] is True and text.startswith("0 / 10 points: checking it took longer")


def test_a_missing_upload_says_what_to_submit(tmp_path):
    data = grade_one(tmp_path, "gradescope", {"answer.txt": RIGHT, "other.txt": RIGHT})
    assert data["score"] == 0 and "expected a file named backprop.txt" in data["output"]


def _run(script: Path, env: dict) -> None:
    env = {**os.environ, "SYMBACK": f"{sys.executable} -m symback", "PYTHONPATH": str(ROOT), **env}
    subprocess.run(["bash", str(script)], env=env, check=True, capture_output=True, timeout=300)


def test_the_gradescope_example_runs_as_gradescope_runs_it(tmp_path):
    shutil.copytree(ROOT / "examples" / "autograder" / "gradescope", tmp_path / "source")
    (tmp_path / "submission").mkdir()
    (tmp_path / "submission" / "backprop.txt").write_text(MISTAKES["sign"][0], encoding="utf-8")
    _run(tmp_path / "source" / "run_autograder", {"AUTOGRADER": str(tmp_path)})
    data = json.loads((tmp_path / "results" / "results.json").read_text(encoding="utf-8"))
    validate(data, "gradescope")
    assert data["score"] == TOTAL - POINTS["delta^[2]"]


def test_the_prairielearn_example_runs_as_prairielearn_runs_it(tmp_path):
    example = ROOT / "examples" / "autograder" / "prairielearn"
    info = json.loads((example / "info.json").read_text(encoding="utf-8"))["externalGradingOptions"]
    assert info["entrypoint"] == "/grade/serverFilesCourse/symback/run.sh" and info["serverFilesCourse"] == ["symback/"]
    shutil.copytree(example / "serverFilesCourse", tmp_path / "serverFilesCourse")
    (tmp_path / "student").mkdir()
    (tmp_path / "student" / "backprop.txt").write_text(RIGHT, encoding="utf-8")
    _run(tmp_path / "serverFilesCourse" / "symback" / "run.sh", {"GRADE": str(tmp_path)})
    data = json.loads((tmp_path / "results" / "results.json").read_text(encoding="utf-8"))
    validate(data, "prairielearn")
    assert data["score"] == 1.0 and data["gradable"] is True


def test_the_schemas_refuse_what_the_platforms_refuse():
    with pytest.raises(jsonschema.ValidationError):
        validate({"score": 1.5, "tests": []}, "prairielearn")  # a score above 1
    with pytest.raises(jsonschema.ValidationError):
        validate({"gradable": True}, "prairielearn")  # gradable without a score
    validate({"gradable": False, "format_errors": "empty file"}, "prairielearn")
    with pytest.raises(jsonschema.ValidationError):
        validate({"tests": [{"name": "a", "max_score": 1}]}, "gradescope")  # no score anywhere
    with pytest.raises(jsonschema.ValidationError):
        validate({"score": 1, "tests": [{"name": "a", "score": 1, "status": "ok"}]}, "gradescope")
