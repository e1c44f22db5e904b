"""Keep the README's console examples real: run each ``$ symback ...`` line and paste its output.

In ```console blocks of README.md, a line starting with ``$ `` is a command;
the lines after it, up to the next command or the end of the block, are its
output. `python tools/readme.py` reruns every command and rewrites the
outputs in place (``make readme``); `tests/test_readme.py` fails when a
pasted output differs from what the command prints now.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
BLOCK = re.compile(r"```console\n(.*?)```", re.S)


def run(command: str) -> str:
    """Output of one README command, run from the repository root with the venv's symback."""
    argv = shlex.split(command)
    if argv[0] == "symback":
        argv = [sys.executable, "-m", "symback", *argv[1:]]
    env = {**os.environ, "COLUMNS": "100", "NO_COLOR": "1"}
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, env=env)
    out = proc.stdout + proc.stderr
    return out if out.endswith("\n") or not out else out + "\n"


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
    def fix(block: re.Match) -> str:
        out = []
        for command, _ in blocks(block.group(0)):
            out.append(f"$ {command}\n{run(command)}")
        return "```console\n" + "".join(out) + "```"

    return BLOCK.sub(fix, text)


if __name__ == "__main__":
    README.write_text(refresh(README.read_text()))
    print(f"refreshed {sum(1 for _ in blocks(README.read_text()))} commands in {README.name}")
