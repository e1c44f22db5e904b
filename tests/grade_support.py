"""A generated class of CS229 two-layer submissions, and the score each one must get.

`make_class(folder, ...)` writes right derivations, each classic mistake of
examples/hand/wrong made into a whole derivation (one line replaced), garbage,
hostile files (empty, binary, not UTF-8, 10 MB, a symbolic link, a named pipe, a path,
Python code, an empty folder) and one that takes far longer than the time limit to check. It returns
{submission name: (expected score, expected status)}. Used by tests/test_grade*.py
and benchmarks/bench_grade.py.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "examples" / "cs229_two_layer.py"
RIGHT = (ROOT / "examples" / "hand" / "cs229_two_layer.txt").read_text(encoding="utf-8")
# the quantities asked and their points (examples/assignments/cs229_two_layer.toml)
POINTS = {"delta^[2]": 1, "dJ/dW^[2]": 2, "dJ/db^[2]": 1, "delta^[1]": 2, "dJ/dW^[1]": 2, "dJ/db^[1]": 2}
TOTAL = sum(POINTS.values())
PENALTY = 0.5


def assignment(folder: Path, time_limit: float = 2.0, **extra) -> Path:
    """The CS229 assignment as a TOML file in `folder` (absolute spec path; a short time limit)."""
    lines = ['title = "CS229 two-layer"', f'spec = "{SPEC.as_posix()}:two_layer"', 'notation = "cs229"',
             'file = "backprop.txt"', f"time_limit = {time_limit}", f"penalty = {PENALTY}"]
    lines += [f"{k} = {v!r}".replace("'", '"') for k, v in extra.items()]
    for name, points in POINTS.items():
        lines += ["", "[[quantity]]", f'name = "{name}"', f"points = {points}"]
    path = folder / "assignment.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def replace(old_start: str, new: str) -> str:
    """The right derivation with the (first) line starting `old_start` replaced by `new`."""
    lines = RIGHT.splitlines()
    i = next(k for k, line in enumerate(lines) if line.startswith(old_start))
    return "\n".join(lines[:i] + [new] + lines[i + 1:]) + "\n"


#: a classic mistake (examples/hand/wrong) in a whole derivation: (text, the quantity it loses)
MISTAKES = {
    "sign": (replace("delta^[2] =", "delta^[2] = y - a^[2]"), "delta^[2]"),
    "sum_vs_mean": (replace("dJ/dW^[1] = \\frac", "dJ/dW^[1] = Delta^[1] X^T"), "dJ/dW^[1]"),
    "transpose": (replace("dJ/dW^[2] =", "dJ/dW^[2] = delta^[2] a^[1]"), "dJ/dW^[2]"),
    "activation_derivative": (replace("delta^[1] =", "delta^[1] = W^[2]^T delta^[2]"), "delta^[1]"),
    "wrong_layer": (replace("dJ/dW^[2] =", "dJ/dW^[2] = delta^[2] x^T"), "dJ/dW^[2]"),
    "factor_2": (replace("delta^[2] =", "delta^[2] = 2*(a^[2] - y)"), "delta^[2]"),
}
#: a line whose check takes about a second (70 terms): 15 of them take far longer than a short time limit
_SLOW_TERM = "(W^[2]^T delta^[2]) ⊙ g'(z^[1])"
SLOW_LINE = "delta^[1] = " + " + ".join([_SLOW_TERM] * 70) + " - " + " - ".join([_SLOW_TERM] * 69)


def make_class(folder: Path, copies: int = 1) -> dict:
    """Write the class into `folder`; {name: (score, status)}. `copies` repeats the gradable ones."""
    folder.mkdir(parents=True, exist_ok=True)
    expected = {}

    def put(name: str, data, score: float, status: str = "graded"):
        (folder / name).write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
        expected[name] = (score, status)

    for c in range(copies):
        put(f"right_{c:03d}.txt", RIGHT, TOTAL)
        # another spelling of the same quantity (dJ/dz^[2] is delta^[2]) and CRLF line ends
        put(f"spelling_{c:03d}.txt", RIGHT.replace("delta^[2] = a^[2]", "dJ/dz^[2] = a^[2]").replace("\n", "\r\n"),
            TOTAL)
        for kind, (text, loses) in MISTAKES.items():
            put(f"mistake_{kind}_{c:03d}.txt", text, TOTAL - POINTS[loses])
        put(f"typo_{c:03d}.txt", RIGHT + "dJ/dW^[2] = delta^[2] +* a^[1]^T\nfoo = 3\n", TOTAL - 2 * PENALTY)
        put(f"half_{c:03d}.txt", "\n".join(RIGHT.splitlines()[:5]) + "\n", POINTS["delta^[2]"] + POINTS["dJ/dW^[2]"]
            + POINTS["dJ/db^[2]"])
    put("garbage.txt", "I did not do the homework, sorry\n", 0.0)
    put("path.txt", "/etc/passwd", 0.0)  # a path is text, never a file to read
    put("python.txt", "delta^[2] = __import__('os').system('touch pwned')\n", 0.0)
    put("comments.txt", "# I will write it tomorrow\n", 0.0, "refused")
    put("empty.txt", "", 0.0, "refused")
    put("blank.txt", "\n  \n\t\n", 0.0, "refused")
    put("binary.bin", bytes(range(256)) * 8, 0.0, "refused")
    put("latin1.txt", "delta^[2] = a^[2] - y  # r\xe9ponse\n".encode("latin-1"), 0.0, "refused")
    with open(folder / "huge.txt", "wb") as fh:  # 10 MB, sparse: refused by its size, never read
        fh.truncate(10 * 1024 * 1024)
    expected["huge.txt"] = (0.0, "refused")
    put("slow.txt", (SLOW_LINE + "\n") * 15, 0.0, "timed out")
    student = folder / "student_folder"  # one student's upload, as a platform mounts it
    student.mkdir(exist_ok=True)
    (student / "backprop.txt").write_text(RIGHT, encoding="utf-8")
    expected["student_folder"] = (TOTAL, "graded")
    os.symlink(folder / f"right_{0:03d}.txt", folder / "symlink.txt")
    expected["symlink.txt"] = (0.0, "refused")
    os.mkfifo(folder / "fifo.txt")  # opening it would block: refused unopened
    expected["fifo.txt"] = (0.0, "refused")
    (folder / "empty_folder").mkdir(exist_ok=True)
    expected["empty_folder"] = (0.0, "refused")
    return expected
