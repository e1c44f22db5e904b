"""Where a cold test run's time goes: every Numba compile, per test, in CPU seconds (a pytest plugin).

    rm -rf .pytest_cache/symback-codegen
    NUMBA_CACHE_DIR=$(mktemp -d) PYTHONPATH=$PWD:tools python -m pytest -p compile_profile -n 2 --dist loadgroup

Each process (each xdist worker) appends one JSON line per compile (the function, its file, its argument types,
its CPU seconds without the compiles nested in it) and one per test (its CPU seconds) to
``.pytest_cache/compile-profile/<worker>.jsonl``; at the end the summary says which files, tests and functions
compiled most, which compiles were repeated (the same function, file and types twice: waste), and when each worker
was busy (wall clock, from the first test). CPU, not wall time, for costs: the machine may be shared. A
subprocess's compiles are not seen.
"""

from __future__ import annotations

import collections
import json
import os
import time
from pathlib import Path

import pytest
from numba.core import event

OUT = Path(__file__).resolve().parent.parent / ".pytest_cache" / "compile-profile"
_state = {"test": "<collection>", "stack": [], "file": None}


class _Compiles(event.Listener):
    def on_start(self, ev):
        _state["stack"].append([time.process_time(), 0.0])

    def on_end(self, ev):
        start, nested = _state["stack"].pop()
        took = time.process_time() - start
        if _state["stack"]:
            _state["stack"][-1][1] += took
        fn = ev.data["dispatcher"].py_func
        _write(test=_state["test"], fn=fn.__qualname__, file=Path(fn.__code__.co_filename).name,
               args=str(ev.data["args"]), cpu=took - nested)


def _write(**record):
    _state["file"].write(json.dumps(record) + "\n")
    _state["file"].flush()


def pytest_configure(config):
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker is None:  # the controller (or a run without xdist) starts afresh
        for old in OUT.glob("*.jsonl"):
            old.unlink()
    OUT.mkdir(parents=True, exist_ok=True)
    _state["file"] = open(OUT / f"{worker or 'main'}.jsonl", "a", encoding="utf-8")  # noqa: SIM115
    event.register("numba:compile", _Compiles())


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    _state["test"] = item.nodeid
    start, wall = time.process_time(), time.time()
    yield
    _write(test=item.nodeid, cpu=time.process_time() - start, wall=[wall, time.time()],
           worker=os.environ.get("PYTEST_XDIST_WORKER", "main"))


def pytest_terminal_summary(terminalreporter):
    if os.environ.get("PYTEST_XDIST_WORKER") is not None:
        return
    _state["file"].flush()
    records = [json.loads(line) for path in OUT.glob("*.jsonl") for line in path.open(encoding="utf-8")]
    tests = [r for r in records if "fn" not in r]
    compiles = [r for r in records if "fn" in r]
    say = terminalreporter.write_line
    say(f"compile profile: {len(tests)} tests, {sum(r['cpu'] for r in tests):.1f} s CPU in them; "
        f"{len(compiles)} compiles, {sum(r['cpu'] for r in compiles):.1f} s CPU")
    for title, key in (("test file", lambda r: r["test"].split("::")[0]), ("compiled function", lambda r: r["fn"])):
        total, count = collections.Counter(), collections.Counter()
        for r in compiles:
            total[key(r)] += r["cpu"]
            count[key(r)] += 1
        say(f"  by {title}: " + "; ".join(f"{k} {t:.1f} s ({count[k]})" for k, t in total.most_common(12)))
    timed = [r for r in tests if "wall" in r]
    start = min((r["wall"][0] for r in timed), default=0.0)
    for worker in sorted({r["worker"] for r in timed}):  # a worker that ends long before the other: a lopsided tail
        mine = [r for r in timed if r["worker"] == worker]
        say(f"  {worker}: {len(mine)} tests, {sum(r['cpu'] for r in mine):.1f} s CPU, busy from "
            f"{min(r['wall'][0] for r in mine) - start:.0f} s to {max(r['wall'][1] for r in mine) - start:.0f} s")
    seen, repeated = set(), 0.0
    for r in compiles:
        same = (r["fn"], r["file"], r["args"])
        repeated += r["cpu"] if same in seen else 0.0
        seen.add(same)
    say(f"  repeated compiles (same function, file and types): {repeated:.1f} s CPU")
    say("  slowest tests (CPU s):")
    for r in sorted(tests, key=lambda r: -r["cpu"])[:15]:
        say(f"    {r['cpu']:5.1f} {r['test']}")
