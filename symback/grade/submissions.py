"""Finding and reading submissions, refusing the hostile ones before they cost anything.

A class is a folder: each visible entry is one submission, a file (a hand
file) or a folder (one student's upload, as Gradescope mounts
``/autograder/submission`` and PrairieLearn ``/grade/student``: the
assignment's ``file`` in it, or its only file). A submission is read only if
it is a regular file (no link, device or pipe), at most the assignment's
``max_bytes`` (checked before reading, and never more than that read), not
binary, UTF-8, and not empty; otherwise `Refused` says why in one line.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from ..errors import SymbackError


class Refused(Exception):
    """A submission that is not read: the message says why and what to submit instead."""


def _entries(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if not p.name.startswith("."))


def upload(folder: Path, wanted: str | None) -> Path:
    """The hand file in one student's folder: the assignment's `wanted` name, or the folder's only file."""
    if wanted and os.path.lexists(folder / wanted):
        return folder / wanted
    files = [p for p in _entries(folder) if stat.S_ISREG(os.lstat(p).st_mode)]
    if not wanted and len(files) == 1:
        return files[0]
    found = ", ".join(p.name for p in files[:5]) + (", ..." if len(files) > 5 else "") or "nothing"
    ask = f"a file named {wanted}" if wanted else "one hand file"
    raise Refused(f"expected {ask} in the submission (found: {found})")


def collect(path, one: bool) -> list[tuple[str, Path]]:
    """(name, path) of every submission under `path`, sorted by name; `one`: `path` is one student's."""
    path = Path(path)
    if not path.exists():
        raise SymbackError(f"submissions {str(path)!r}: no such file or folder")
    if one or not path.is_dir():
        return [(path.name or str(path), path)]
    return [(p.name, p) for p in _entries(path)]


def read(path: Path, wanted: str | None, max_bytes: int) -> str:
    """The text of a submission; `Refused` for anything that is not a small UTF-8 hand file."""
    info = os.lstat(path)
    if stat.S_ISDIR(info.st_mode):
        path = upload(path, wanted)
        info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode):
        raise Refused(f"{path.name} is a symbolic link; submit the hand file itself")
    if not stat.S_ISREG(info.st_mode):
        raise Refused(f"{path.name} is not a regular file; submit a text file")
    if info.st_size > max_bytes:
        raise Refused(f"{path.name} has {info.st_size:,} bytes, more than this assignment's limit of "
                      f"{max_bytes:,}; a hand derivation is a few lines of text")
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as fh:
        data = fh.read(max_bytes + 1)  # never more than the limit, even if the file grew since
    if len(data) > max_bytes:
        raise Refused(f"{path.name} has more than this assignment's limit of {max_bytes:,} bytes")
    if b"\0" in data:
        raise Refused(f"{path.name} is a binary file (it holds NUL bytes); submit a plain-text hand file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise Refused(f"{path.name} is not UTF-8 text (byte {exc.start + 1} is not UTF-8); "
                      "save it as UTF-8 plain text") from None
    if not text.strip():
        raise Refused(f"{path.name} is empty; write one 'LHS = RHS' equation per line")
    return text
