"""Grading a class: 300 submissions of the CS229 two-layer assignment with ``symback grade`` (issue 13's target: 30 s).

    python benchmarks/bench_grade.py [--jobs N] [--copies 29] [--methods fork,forkserver]

The class is tests/grade_support.make_class: per copy a right derivation, another spelling, each classic
mistake made into a whole derivation, one with unreadable lines, a half-done one (10 files), plus garbage,
a path, Python code, comments only, an empty, a blank, a binary, a non-UTF-8, a 10 MB, a symbolic-link and a
named-pipe file, a student folder, an empty folder and one file whose check takes longer than the
assignment's 10 s limit (14 entries). 29 copies: 304.

It times the command itself (a fresh process: import, derivation, grading, writing every feedback file and
the summary), wall clock and CPU (all its processes, the workers' included; the one slow file costs its
10 s limit of wall time but little CPU), and checks every score. ``--methods`` also times the grading alone (the API, in this process)
with each multiprocessing start method: 'fork' hands the parent's derivation to the workers; 'forkserver'
builds it in each worker's initializer.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from grade_support import make_class

from symback.commands.grade import derive
from symback.grade import grade_all, load, prepare

ASSIGNMENT = ROOT / "examples" / "assignments" / "cs229_two_layer.toml"


def check_scores(summary: dict, expected: dict) -> None:
    got = {s["submission"]: (s["score"], s["status"]) for s in summary["submissions"]}
    wrong = {k: (got.get(k), v) for k, v in expected.items() if got.get(k) != v}
    if wrong or len(got) != len(expected):
        raise SystemExit(f"wrong scores (got, expected): {wrong}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=len(os.sched_getaffinity(0)))
    ap.add_argument("--copies", type=int, default=29)
    ap.add_argument("--methods", default="", help="also time the API with these start methods, e.g. fork,forkserver")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        subs, out = Path(tmp) / "submissions", Path(tmp) / "feedback"
        expected = make_class(subs, copies=args.copies)
        cmd = [sys.executable, "-m", "symback", "grade", str(ASSIGNMENT), str(subs), "-o", str(out),
               "--format", "json", "--jobs", str(args.jobs)]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        cpu = lambda: sum(resource.getrusage(resource.RUSAGE_CHILDREN)[:2])
        start, cpu0 = time.perf_counter(), cpu()
        subprocess.run(cmd, check=True, env=env, capture_output=True)
        wall, used = time.perf_counter() - start, cpu() - cpu0
        check_scores(json.loads((out / "summary.json").read_text(encoding="utf-8")), expected)
        print(f"symback grade: {len(expected)} submissions, {args.jobs} jobs: {wall:.1f} s wall, {used:.1f} s CPU "
              f"(every score right; {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f})")
        print("  " + " ".join(Path(c).name if c == sys.executable else c for c in cmd[:4]) + " ASSIGNMENT SUBS ...")
        assignment = load(ASSIGNMENT)
        for method in filter(None, args.methods.split(",")):
            start = time.perf_counter()
            grader = prepare(assignment, derive(assignment.spec))
            outcomes = grade_all(grader, subs, jobs=args.jobs, build=derive, method=method)
            took = time.perf_counter() - start
            check_scores({"submissions": [{"submission": o.name, "score": round(o.score, 4), "status": o.status}
                                          for o in outcomes]}, expected)
            print(f"grade_all, start method {method}: {took:.1f} s")


if __name__ == "__main__":
    main()
