"""What a grade looks like: Markdown feedback, the class summary, and the platforms' ``results.json``.

- `markdown`: a student's feedback, per quantity the points, the verdict and
  check's explanation (the counterexample, the likely cause);
- `summary_csv` / `summary_json`: one line (one object) per submission;
- `gradescope`: Gradescope's autograder ``results.json`` (score, output, one
  test per quantity, Markdown output);
- `prairielearn`: PrairieLearn's external-grader ``results.json`` (score in
  [0, 1], gradable, format_errors, one test per quantity).

Student text is shown in code fences longer than any run of backticks in
it, so nothing a student writes becomes markup.
"""

from __future__ import annotations

import csv
import io
import re

from .score import GRADED, REFUSED, Outcome
from .submissions import shown


def points(x: float) -> str:
    """2, 1.5, 0.33: no trailing zeros."""
    return f"{round(x, 2):g}"


def fenced(lines: list[str]) -> list[str]:
    """`lines` in a code block that nothing inside can close."""
    longest = max((len(m) for line in lines for m in re.findall(r"`+", line)), default=0)
    fence = "`" * max(3, longest + 1)
    return [fence, *lines, fence]


def _line_block(line, md: bool = True) -> list[str]:
    # control characters escaped: a student's ESC sequence never reaches the terminal that shows the feedback
    lines = [shown(f"line {line.number}: {line.text}"), *map(shown, line.notes)]
    return fenced(lines) if md else lines


def quantity_section(mark, md: bool = True) -> list[str]:
    """One quantity's lines as check judged them, or why none was found: Markdown, or plain text (`md` False)."""
    out = []
    if mark.verdict == "missing" and not mark.lines:
        out += [f"No line names {mark.name}; write it as {mark.name} = ...", ""]
    for line in mark.lines:
        out += [f"{line.status}:", *_line_block(line, md), ""]
    return out


def overview(o: Outcome) -> str:
    """The whole submission's grade in one plain line (PrairieLearn's message)."""
    cost = f"; {len(o.unreadable)} line(s) could not be read (-{points(o.deducted)})" if o.unreadable else ""
    return f"{points(o.score)} / {points(o.max_points)} points{cost}" + (f": {o.message}" if o.message else "")


def markdown(o: Outcome, title: str = "", details: bool = True) -> str:
    """The feedback file; without `details` only what concerns the whole submission (a platform's tests
    carry each quantity's)."""
    head = [f"# {title or 'Feedback'}: {o.name}", "", f"**Score: {points(o.score)} / {points(o.max_points)}**", ""]
    if o.status != GRADED:
        return "\n".join(head + [f"Not graded ({o.status}): {o.message}", ""])
    out = head + ["| quantity | points | verdict |", "|---|---|---|"]
    out += [f"| `{m.name}` | {points(m.points)} / {points(m.max_points)} | {m.verdict} |" for m in o.marks] + [""]
    for m in o.marks if details else ():
        out += [f"## {m.name}: {points(m.points)} / {points(m.max_points)}, {m.verdict}", "", *quantity_section(m)]
    if o.unreadable:
        cost = f" (-{points(o.deducted)} point{'s' if o.deducted != 1 else ''})" if o.deducted else ""
        out += [f"## Lines that could not be read{cost}", ""]
        for line in o.unreadable:
            out += _line_block(line) + [""]
    if o.others and details:
        out += ["## Other lines (not graded)", ""]
        for line in o.others:
            out += [f"{line.status}:", *_line_block(line), ""]
    return "\n".join(out).rstrip() + "\n"


def summary_rows(outcomes: list[Outcome]) -> list[dict]:
    return [{"submission": o.name, "score": round(o.score, 4), "max_points": o.max_points, "status": o.status,
             **{m.name: m.points for m in o.marks}, "message": o.message} for o in outcomes]


def _cell(value):
    """A spreadsheet reads a cell starting with = + - @ as a formula: such text (a file name) is quoted."""
    return "'" + value if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def summary_csv(outcomes: list[Outcome], assignment) -> str:
    rows = [{k: _cell(v) for k, v in row.items()} for row in summary_rows(outcomes)]
    columns = ["submission", "score", "max_points", "status", *(q.name for q in assignment.quantities), "message"]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def outcome_dict(o: Outcome) -> dict:
    lines = lambda ls: [{"line": x.number, "text": x.text, "status": x.status, "notes": x.notes} for x in ls]
    return {"submission": o.name, "score": round(o.score, 4), "max_points": o.max_points, "status": o.status,
            "message": o.message,
            "quantities": [{"name": m.name, "points": m.points, "max_points": m.max_points, "verdict": m.verdict,
                            "lines": lines(m.lines)} for m in o.marks],
            "unreadable": lines(o.unreadable), "deducted": o.deducted, "other_lines": lines(o.others)}


def summary_json(outcomes: list[Outcome], assignment) -> dict:
    return {"assignment": assignment.title or assignment.path, "spec": assignment.spec,
            "max_points": assignment.total, "submissions": [outcome_dict(o) for o in outcomes]}


def _detail(o: Outcome, mark, md: bool) -> str:
    """A platform test's output: the quantity's lines, or why the submission was not graded at all."""
    return "\n".join(quantity_section(mark, md)).strip() if o.status == GRADED else o.message


def gradescope(o: Outcome, title: str = "") -> dict:
    """Gradescope's results.json for one submission (https://gradescope-autograders.readthedocs.io/en/latest/specs/)."""
    tests = [{"name": m.name, "score": m.points, "max_score": m.max_points,
              "status": "passed" if m.passed else "failed",
              "output": _detail(o, m, md=True),
              "output_format": "md", "visibility": "visible"} for m in o.marks]
    return {"score": round(o.score, 4), "output": markdown(o, title, details=False), "output_format": "md",
            "visibility": "visible", "stdout_visibility": "hidden", "tests": tests}


def prairielearn(o: Outcome) -> dict:
    """PrairieLearn's external-grader results.json (https://prairielearn.readthedocs.io/en/latest/externalGrading/).

    PrairieLearn shows these texts as they are, so they are plain text, not Markdown. A file that could not be
    read at all (empty, binary, too large, not UTF-8) is not gradable: PrairieLearn shows the format error and
    charges no attempt. A time-out or a graded file scores what it earned.
    """
    errors = [f"line {x.number}: {x.notes[0]}" for x in o.unreadable] + ([o.message] if o.status == REFUSED else [])
    tests = [{"name": m.name, "points": m.points, "max_points": m.max_points, "message": m.verdict,
              "output": _detail(o, m, md=False)} for m in o.marks]
    total = o.max_points or 1.0
    return {"gradable": o.status != REFUSED, "score": round(o.score / total, 6), "message": overview(o),
            "format_errors": errors, "tests": tests}
