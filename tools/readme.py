"""Keep the README's console examples real: run each ``$ symback ...`` line and paste its output.

In ```console blocks of README.md, a line starting with ``$ `` is a command;
the lines after it, up to the next command or the end of the block, are its
output. `python tools/readme.py` reruns every command and rewrites the
outputs in place (``make readme``); `tests/test_readme.py` fails when a
pasted output differs from what the command prints now. `run_all` runs every
``symback`` command in a child forked from one Python that has imported
symback once (1 s of start-up saved per command): each child is the process
``python -m symback`` would be, with its own stdout and stderr.
"""

from __future__ import annotations

import json
import os
import re
import runpy
import shlex
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
BLOCK = re.compile(r"```console\n(.*?)```", re.S)


ENV = {**os.environ, "COLUMNS": "100", "NO_COLOR": "1"}


def _joined(out: str, err: str) -> str:
    out += err
    return out if out.endswith("\n") or not out else out + "\n"


def run(command: str) -> str:
    """Output of one README command, run from the repository root with the venv's symback."""
    argv = shlex.split(command)
    if argv[0] == "symback":
        argv = [sys.executable, "-m", "symback", *argv[1:]]
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, env=ENV)
    return _joined(proc.stdout, proc.stderr)


def run_all(commands: list[str]) -> list[str]:
    """What `run` gives for each command, from one Python that forks a child per ``symback`` command."""
    proc = subprocess.run([sys.executable, __file__, "--fork-each"], input=json.dumps(commands), cwd=ROOT,
                          capture_output=True, text=True, env=ENV, check=True)
    return json.loads(proc.stdout)


def _forked(argv: list[str]) -> str:
    """`python -m symback ARGV`'s output, from a child of this process writing into files of its own."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the child: what `python -m symback` runs, its exit status as the interpreter sets it
            os.dup2(out.fileno(), 1)
            os.dup2(err.fileno(), 2)
            sys.argv, code = ["-m", *argv], 1
            try:
                runpy.run_module("symback", run_name="__main__", alter_sys=True)
                code = 0
            except SystemExit as e:
                if e.code is None or isinstance(e.code, int):
                    code = e.code or 0
                else:
                    print(e.code, file=sys.stderr)
            except BaseException:  # noqa: BLE001 (the interpreter would print it and exit 1)
                traceback.print_exc()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        os.waitpid(pid, 0)
        out.seek(0)
        err.seek(0)
        text = [f.read().decode().replace("\r\n", "\n").replace("\r", "\n") for f in (out, err)]  # as text=True reads
    return _joined(*text)


def _fork_each() -> None:
    """The side of `run_all` that runs the commands (read as JSON from stdin); prints their outputs as JSON."""
    sys.path[0] = str(ROOT)  # as `python -m` sets it, from the repository root
    import symback.cli  # noqa: F401 (imported once, before the children are forked)

    commands = json.load(sys.stdin)
    outputs = [_forked(shlex.split(c)[1:]) if shlex.split(c)[0] == "symback" else run(c) for c in commands]
    sys.stdout.write(json.dumps(outputs))


def blocks(text: str):
    """(command, pasted output) pairs in README order."""
    for block in BLOCK.finditer(text):
        current, lines = None, []
        for line in block.group(1).splitlines(keepends=True):
            if line.startswith("$ "):
                if current:
                    yield current, "".join(lines)
                current, lines = line[2:].strip(), []
            else:
                lines.append(line)
        if current:
            yield current, "".join(lines)


def refresh(text: str) -> str:
    outputs = iter(run_all([command for command, _ in blocks(text)]))

    def fix(block: re.Match) -> str:
        out = [f"$ {command}\n{next(outputs)}" for command, _ in blocks(block.group(0))]
        return "```console\n" + "".join(out) + "```"

    return BLOCK.sub(fix, text)


if __name__ == "__main__" and sys.argv[1:] == ["--fork-each"]:
    _fork_each()
elif __name__ == "__main__":
    README.write_text(refresh(README.read_text()))
    print(f"refreshed {sum(1 for _ in blocks(README.read_text()))} commands in {README.name}")
