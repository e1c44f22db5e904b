"""A process pool whose tasks each have a time limit: a worker over its limit is killed and replaced.

`concurrent.futures` cannot stop one task, so this is a small pool of its own:
each worker runs `initializer(*initargs)` once (building the derivation; with
the 'fork' start method a parent that built it already hands it over for free),
says it is ready, then answers tasks over a pipe. The parent sends a task to an
idle worker, waits on all pipes at once, and kills any worker whose task passed
its deadline (or notices one that died), replacing it so the batch continues.
Results come back in the order of the tasks, whatever order they finished in.
"""

from __future__ import annotations

import multiprocessing
import time
from multiprocessing.connection import wait

READY = "ready"


class Stopped:
    """A task that did not finish: its worker ran out of time (`timed_out`) or died."""

    def __init__(self, timed_out: bool):
        self.timed_out = timed_out


def _serve(conn, func, initializer, initargs) -> None:
    """A worker: initialise, then answer tasks until the parent closes the pipe."""
    initializer(*initargs)
    conn.send(READY)
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        conn.send(func(*task))


def default_method() -> str:
    """'fork' where the platform has it (no start-up: the parent's derivation is inherited), else 'spawn'."""
    return "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"


class _Worker:
    def __init__(self, ctx, func, initializer, initargs):
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_serve, args=(child, func, initializer, initargs), daemon=True)
        self.process.start()
        child.close()
        self.task: int | None = None  # the index of the task it is working on
        self.deadline = float("inf")
        self.ready = False

    def stop(self) -> None:
        self.conn.close()
        if self.process.is_alive():
            self.process.kill()
        self.process.join()


def run(func, tasks: list[tuple], time_limit: float, jobs: int, initializer, initargs=(),
        method: str | None = None) -> list:
    """``func(*task)`` for every task on `jobs` workers; a `Stopped` for a task over `time_limit` seconds."""
    ctx = multiprocessing.get_context(method or default_method())
    results: list = [None] * len(tasks)
    todo = list(range(len(tasks)))[::-1]
    start = lambda: _Worker(ctx, func, initializer, initargs)
    workers = [start() for _ in range(max(1, min(jobs, len(tasks))))]
    try:
        while todo or any(w.task is not None for w in workers):
            for w in workers:
                if w.ready and w.task is None and todo:
                    w.task = todo.pop()
                    w.deadline = time.monotonic() + time_limit
                    w.conn.send(tasks[w.task])
            timeout = max(0.0, min(w.deadline for w in workers) - time.monotonic())
            ready = wait([w.conn for w in workers], timeout=min(timeout, 1.0))
            for i, w in enumerate(workers):
                died = False
                if w.conn in ready:
                    try:
                        message = w.conn.recv()
                    except (EOFError, OSError):
                        died = True
                    else:
                        if message == READY:
                            w.ready = True
                        else:
                            results[w.task], w.task, w.deadline = message, None, float("inf")
                late = w.task is not None and time.monotonic() > w.deadline
                if died or late:
                    if w.task is None and not w.ready:
                        raise RuntimeError("a grading worker died while starting")
                    if w.task is not None:
                        results[w.task] = Stopped(timed_out=late and not died)
                    w.stop()
                    workers[i] = start()
    finally:
        for w in workers:
            w.stop()
    return results
