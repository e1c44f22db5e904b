"""An assignment file (TOML): what is graded, how many points each quantity earns, and the limits.

::

    title = "CS229 two-layer network"
    spec = "../cs229_two_layer.py:two_layer"   # relative to this file
    notation = "cs229"                         # and optionally layout = "numerator" | "denominator"
    file = "backprop.txt"      # what a student submits (a folder per student: this file in it)
    time_limit = 10            # seconds per submission; a longer check scores 0
    max_bytes = 100_000        # a larger submission is refused unread
    require = "all"            # a quantity counts when all its lines are equal ("any": one equal line)
    penalty = 0.5              # points off per line that cannot be read (never below 0)
    max_points = 10            # the most a submission can score (default: the sum of the points)

    [[quantity]]
    name = "dJ/dW^[2]"         # as a hand file names it
    points = 2

Every mistake in the file is one `SymbackError` line: what is wrong, where
(``file:line``) and how to fix it (the command line's exit 2).
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from ..errors import SymbackError
from ..library import suggest
from ..notation import NOTATIONS
from ..textparse import abbreviate

#: an assignment file larger than this is not an assignment
MAX_FILE_BYTES = 100_000
#: the largest submission an assignment may allow: check's own limit for a hand file
MAX_SUBMISSION_BYTES = 1_000_000
REQUIRE = ("all", "any")
LAYOUTS = ("numerator", "denominator")


@dataclass(frozen=True)
class Quantity:
    name: str
    points: float
    require: str


@dataclass(frozen=True)
class Assignment:
    path: str
    spec: str  # the SPEC, its file resolved against the assignment's folder
    quantities: tuple
    title: str = ""
    notation: str = "udl"
    layout: str | None = None
    file: str | None = None
    time_limit: float = 10.0
    max_bytes: int = 100_000
    penalty: float = 0.0
    max_points: float | None = None

    @property
    def total(self) -> float:
        """The most a submission can score."""
        return self.max_points if self.max_points is not None else sum(q.points for q in self.quantities)


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


# key -> (is it of the right type?, what it should be)
_TOP = {
    "title": (lambda v: isinstance(v, str), "a string"),
    "spec": (lambda v: isinstance(v, str) and v.strip() != "", 'a SPEC, e.g. "../net.py:two_layer"'),
    "notation": (lambda v: isinstance(v, str) and v in NOTATIONS, "one of " + ", ".join(sorted(NOTATIONS))),
    "layout": (lambda v: v in LAYOUTS, "numerator or denominator"),
    "file": (lambda v: isinstance(v, str) and re.fullmatch(r"[^/\\\0]+", v) is not None and v not in (".", ".."),
             'a file name without folders, e.g. "backprop.txt"'),
    "time_limit": (lambda v: _number(v) and 0 < v <= 600, "a number of seconds, above 0 and at most 600"),
    "max_bytes": (lambda v: isinstance(v, int) and not isinstance(v, bool) and 0 < v <= MAX_SUBMISSION_BYTES,
                  f"a whole number of bytes, from 1 to {MAX_SUBMISSION_BYTES:,}"),
    "require": (lambda v: v in REQUIRE, '"all" (every line naming a quantity is equal) or "any" (one is)'),
    "penalty": (lambda v: _number(v) and v >= 0, "a finite number of points, 0 or more"),
    "max_points": (lambda v: _number(v) and v > 0, "a number of points above 0"),
    "quantity": (lambda v: isinstance(v, list) and v and all(isinstance(q, dict) for q in v),
                 'one [[quantity]] table or more, each with name = "..." and points = N'),
}
_QUANTITY = {
    "name": (lambda v: isinstance(v, str) and v.strip() != "" and "\n" not in v and "=" not in v,
             'a quantity as a hand file names it, e.g. "dJ/dW^[2]"'),
    "points": (lambda v: _number(v) and v >= 0, "a number of points, 0 or more"),
    "require": _TOP["require"],
}


class _Lines:
    """Where a key is in the file (tomllib gives no positions): its line, for error messages."""

    def __init__(self, path: str, text: str):
        self.path, self.lines = path, text.splitlines()

    def at(self, key: str | None = None, table: int | None = None) -> str:
        start = 0
        if table is not None:  # the table-th [[quantity]] header, and its keys after it
            heads = [i for i, s in enumerate(self.lines) if re.match(r"\s*\[\[\s*quantity\s*\]\]", s)]
            start = heads[table] if table < len(heads) else 0
            if key is None:
                return f"{self.path}:{start + 1}"
        pattern = re.compile(rf"\s*[\"']?{re.escape(key or '')}[\"']?\s*=")
        found = next((i for i in range(start, len(self.lines)) if pattern.match(self.lines[i])), None)
        return f"{self.path}:{found + 1}" if found is not None else self.path


def _check_keys(table: dict, rules: dict, where, what: str, table_index: int | None = None) -> None:
    for key, value in table.items():
        if key not in rules:
            raise SymbackError(f"{where.at(key, table_index)}: unknown key {abbreviate(key)} in {what}"
                               f"{suggest(key, rules)}")
        ok, expected = rules[key]
        if not ok(value):
            raise SymbackError(f"{where.at(key, table_index)}: {key} = {_shown(value)} in {what}: "
                               f"expected {expected}")


def _shown(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _read(path: Path) -> str:
    shown = str(path)
    if not path.is_file():
        what = "is a folder or a device, not a file" if path.exists() else "no such file"
        raise SymbackError(f"assignment {shown}: {what}; give the assignment's .toml file")
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise SymbackError(f"assignment {shown} has {size:,} bytes (limit {MAX_FILE_BYTES:,}); "
                           "an assignment file is a few lines of TOML")
    try:
        return path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SymbackError(f"assignment {shown}: not UTF-8 text (byte {exc.start + 1}); "
                           "save it as UTF-8 TOML") from None


def load(path) -> Assignment:
    """The assignment in TOML file `path`, validated; a one-line `SymbackError` for each way it can be wrong."""
    path = Path(path)
    text = _read(path)
    try:
        data = tomllib.loads(text)
    except RecursionError:
        raise SymbackError(f"{path}: arrays or tables nest too deeply; an assignment is key = value lines") from None
    except ValueError as exc:  # TOMLDecodeError, whose message ends "(at line L, column C)"; or a number too long
        pos = re.search(r"\(at line (\d+), column \d+\)", str(exc))
        line = pos.group(1) if pos else len(text.splitlines()) if "end of document" in str(exc) else None
        where = f"{path}:{line}" if line else str(path)
        reason = (re.sub(r"\s*\(at .*?\)$", "", str(exc)) or "invalid TOML" if isinstance(exc, tomllib.TOMLDecodeError)
                  else "a number has more than 4,300 digits")
        raise SymbackError(f"{where}: {reason}; the assignment file is TOML (key = value lines)") from None
    where = _Lines(str(path), text)
    _check_keys(data, _TOP, where, "the assignment")
    for key, fix in (("spec", 'spec = "path/to/net.py:name" (relative to the assignment file)'),
                     ("quantity", '[[quantity]] tables, each with name = "dJ/dW^[2]" and points = 2')):
        if key not in data:
            raise SymbackError(f"{path}: no {key!r}; add {fix}")
    seen, quantities = set(), []
    for i, q in enumerate(data["quantity"]):
        _check_keys(q, _QUANTITY, where, f"[[quantity]] {i + 1}", i)
        for key in ("name", "points"):
            if key not in q:
                raise SymbackError(f"{where.at(None, i)}: [[quantity]] {i + 1} has no {key!r}; "
                                   'give name = "dJ/dW^[2]" and points = N')
        name = q["name"].strip()
        if name in seen:
            raise SymbackError(f"{where.at('name', i)}: quantity {name!r} is asked twice; keep one [[quantity]]")
        seen.add(name)
        quantities.append(Quantity(name, float(q["points"]), q.get("require", data.get("require", "all"))))
    available = sum(q.points for q in quantities)
    if not math.isfinite(available):
        raise SymbackError(f"{path}: the quantities' points add up to {available}; give each a number of points "
                           "that adds up to a finite total")
    if data.get("max_points", 0) > available:
        raise SymbackError(f"{where.at('max_points')}: max_points = {data['max_points']} is more than the quantities' "
                           f"points ({available:g}), so no submission could earn it; lower it or add points")
    spec_path, colon, spec_name = data["spec"].strip().partition(":")
    spec = str((path.parent / spec_path).resolve()) + colon + spec_name
    options = {k: data[k] for k in ("title", "notation", "layout", "file", "max_bytes") if k in data}
    options |= {k: float(data[k]) for k in ("time_limit", "penalty", "max_points") if k in data}
    return Assignment(str(path), spec, tuple(quantities), **options)


def where(assignment: Assignment, key: str, index: int | None = None) -> str:
    """``file:line`` of `key` (in the index-th [[quantity]]), for errors found once the spec is loaded."""
    return _Lines(assignment.path, _read(Path(assignment.path))).at(key, index)
