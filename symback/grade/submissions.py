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
    found = ", ".join(shown(p.name) for p in files[:5]) + (", ..." if len(files) > 5 else "") or "nothing"
    ask = f"a file named {wanted}" if wanted else "one hand file"
    raise Refused(f"expected {ask} in the submission (found: {found})")


def shown(name: str) -> str:
    """A file name as printable UTF-8 text: bytes that are not UTF-8 and control characters as escapes."""
    text = name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def collect(path, one: bool) -> list[tuple[str, Path]]:
    """(name, path) of every submission under `path`, sorted; `one`: `path` is one student's.

    A name is the entry's `shown` name, made unique (``NAME (2)``) should two entries show alike.
    """
    path = Path(path)
    if not path.exists():
        raise SymbackError(f"submissions {shown(str(path))!r}: no such file or folder")
    entries = [path] if one or not path.is_dir() else _entries(path)
    named: dict[str, Path] = {}
    for p in entries:
        name = base = shown(p.name or str(p))
        copies = 1
        while name in named:
            copies += 1
            name = f"{base} ({copies})"
        named[name] = p
    return sorted(named.items())


def read(path: Path, wanted: str | None, max_bytes: int) -> str:
    """The text of a submission; `Refused` for anything that is not a small UTF-8 hand file."""
    info = os.lstat(path)
    name = shown(path.name)
    if stat.S_ISDIR(info.st_mode):
        path = upload(path, wanted)
        info, name = os.lstat(path), shown(path.name)
    if stat.S_ISLNK(info.st_mode):
        raise Refused(f"{name} is a symbolic link; submit the hand file itself")
    if not stat.S_ISREG(info.st_mode):
        raise Refused(f"{name} is not a regular file; submit a text file")
    if info.st_size > max_bytes:
        raise Refused(f"{name} has {info.st_size:,} bytes, more than this assignment's limit of "
                      f"{max_bytes:,}; a hand derivation is a few lines of text")
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as fh:
        data = fh.read(max_bytes + 1)  # never more than the limit, even if the file grew since
    if len(data) > max_bytes:
        raise Refused(f"{name} has more than this assignment's limit of {max_bytes:,} bytes")
    if b"\0" in data:
        raise Refused(f"{name} is a binary file (it holds NUL bytes); submit a plain-text hand file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise Refused(f"{name} is not UTF-8 text (byte {exc.start + 1} is not UTF-8); "
                      "save it as UTF-8 plain text") from None
    if not text.strip():
        raise Refused(f"{name} is empty; write one 'LHS = RHS' equation per line")
    return text
