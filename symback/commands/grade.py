"""``symback grade``: a class's hand files against an assignment: points, feedback, a summary (exit 0; 2 bad input).

``--format csv|json`` grades a folder (one submission per entry) into OUTDIR:
``NAME.md`` feedback per submission and ``summary.csv`` or ``summary.json``.
``--format gradescope|prairielearn`` grades one student's upload (a folder as
the platform mounts it, or a file) into that platform's ``results.json``.
An existing output with other contents is kept as ``NAME.bak``, as ``-o`` does everywhere.
"""

from __future__ import annotations

import argparse
import hashlib
import os
from pathlib import Path

from ..declare.spec import load_spec
from ..errors import SymbackError
from ..files import output_path, write_atomic
from ..grade import feedback, grade_all, load, prepare
from ..grade.assignment import where
from ..render.jsonform import dumps
from ..textparse import abbreviate
from . import arg, command, emit, not_an_input

PLATFORMS = ("gradescope", "prairielearn")
#: the longest file name (bytes) file systems take: a longer submission's feedback file is named by its start and a hash
NAME_MAX = 255


def derive(spec: str):
    """The assignment's derivation (a worker's initializer builds it with this when it was not forked)."""
    return load_spec(spec).derive()


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


#: worker processes at most: each holds a SymPy derivation (~200 MB); --jobs 100000 would fork until memory ran out
MAX_JOBS = 64


def _positive(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or text.strip("0") == "":
        raise argparse.ArgumentTypeError(f"expected a whole number of worker processes, 1 or more, got "
                                         f"{abbreviate(text, 30)}")
    if len(text) > 4 or int(text) > MAX_JOBS:  # by its length first: int() of 5,000 digits is a ValueError
        raise argparse.ArgumentTypeError(f"{abbreviate(text, 30)} is more worker processes than the limit {MAX_JOBS}; "
                                         "give fewer (the default is the cores available)")
    return int(text)


def _write(path: Path, text: str) -> None:
    """`text` to `path` at once; an existing file with other contents is kept as NAME.bak."""
    same = path.is_file() and path.read_bytes() == text.encode("utf-8")
    if not same:
        write_atomic(path, text, keep_old=path.exists())


def feedback_name(name: str) -> str:
    """NAME.md; for a NAME too long to be a file name, its start and a hash of the whole (still one file per name)."""
    whole = f"{name}.md"
    if len(whole.encode("utf-8")) <= NAME_MAX:
        return whole
    digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:16]
    return f"{name.encode('utf-8')[:NAME_MAX - 30].decode('utf-8', 'ignore')}~{digest}.md"


def _outdir(args) -> Path:
    """The folder for feedback and summary; never the submissions' own folder or one inside it."""
    subs = Path(args.submissions).resolve()
    out = Path(args.output) if args.output else subs.parent / f"{subs.name}-feedback"
    if out.exists() and not out.is_dir():
        raise SymbackError(f"-o {out}: a file exists there; name a folder for the feedback files")
    if subs.is_dir() and (out.resolve() == subs or subs in out.resolve().parents):
        raise SymbackError(f"-o {out} is inside the submissions folder, where feedback would be graded next "
                           "time; name a folder outside it")
    if not out.resolve().parent.is_dir():
        raise SymbackError(f"-o {out}: its folder {out.resolve().parent} does not exist")
    return out


@command("grade", "grade a folder of hand files against an assignment: points, Markdown feedback, a CSV/JSON "
         "summary, or a Gradescope/PrairieLearn results.json",
         arg("assignment", metavar="ASSIGNMENT", help="the assignment's .toml file (README: Grading a class)"),
         arg("submissions", metavar="SUBMISSIONS",
             help="a folder with one hand file (or one student's folder) per submission; for gradescope and "
                  "prairielearn, one student's upload (a folder or a file)"),
         arg("-o", "--output", metavar="OUT", help="csv/json: the folder for NAME.md and the summary (default: "
             "SUBMISSIONS-feedback next to it); gradescope/prairielearn: the results file (default results.json)"),
         arg("--format", choices=("csv", "json", *PLATFORMS), default="csv", help="default: csv"),
         arg("--jobs", type=_positive, metavar="N", help="worker processes (default: the cores available)"))
def _grade(args) -> int:
    assignment = load(args.assignment)
    platform = args.format in PLATFORMS
    out = output_path(args.output or "results.json") if platform else _outdir(args)  # a bad -o fails before work
    not_an_input(args, out)
    try:
        derivation = derive(assignment.spec)
    except SymbackError as exc:  # the spec's own message, where the assignment names it
        raise SymbackError(f"{where(assignment, 'spec')}: spec: {exc}") from None
    grader = prepare(assignment, derivation)
    outcomes = grade_all(grader, args.submissions, one=platform, jobs=args.jobs or _cores(), build=derive)
    title = assignment.title
    if platform:
        o = outcomes[0]
        data = feedback.gradescope(o, title) if args.format == "gradescope" else feedback.prairielearn(o)
        _write(out, dumps(data) + "\n")
    else:
        out.mkdir(exist_ok=True)
        for o in outcomes:
            _write(out / feedback_name(o.name), feedback.markdown(o, title))
        table = (feedback.summary_csv(outcomes, assignment) if args.format == "csv"
                 else dumps(feedback.summary_json(outcomes, assignment)) + "\n")
        _write(out / f"summary.{args.format}", table)
    mean = sum(o.score for o in outcomes) / len(outcomes) if outcomes else 0.0
    counts = {s: sum(o.status == s for o in outcomes) for s in sorted({o.status for o in outcomes})}
    status = ", ".join(f"{n} {s}" for s, n in counts.items())
    emit(args, {"output": str(out), "format": args.format, "submissions": len(outcomes), "statuses": counts,
                "mean": round(mean, 4), "max_points": assignment.total},
         f"graded {len(outcomes)} submission{'s' if len(outcomes) != 1 else ''} ({status or 'none'}): mean "
         f"{feedback.points(mean)} / {feedback.points(assignment.total)}; wrote {out}")
    return 0
