"""SPEC arguments of the CLI: ``path/to/file.py`` or ``path/to/file.py:name``.

The file is run as a script; `name` picks a declared object (a `Network`,
or any object with a ``derive()`` method). Without a name the file must
declare exactly one such object.
"""

from __future__ import annotations

import os
import runpy
import traceback
from pathlib import Path

from ..errors import SymbackError
from ..textparse import abbreviate


def declared(obj) -> bool:
    return callable(getattr(obj, "derive", None)) and not isinstance(obj, type)


def _line(path: Path, exc: BaseException) -> str:
    """``path:line`` of the SPEC's own line the exception came through (just `path` when none did)."""
    frames = traceback.extract_tb(exc.__traceback__)
    line = next((f.lineno for f in reversed(frames) if f.filename == str(path)), None)
    return f"{path}:{line}" if line else str(path)


def load_spec(spec: str):
    """The declared object a SPEC names; SymbackError (one line) for every way it can fail."""
    path_text, _, name = spec.partition(":") if not os.path.exists(spec) else (spec, "", "")  # False on ENAMETOOLONG
    path = Path(path_text)
    if path.suffix != ".py":
        raise SymbackError(f"SPEC {abbreviate(spec, 80)} should be path/to/file.py or path/to/file.py:name")
    if path.is_dir():
        raise SymbackError(f"SPEC {abbreviate(spec, 80)} is a directory; name a file, path/to/file.py")
    if not path.is_file():  # a pipe or device would be read without end, or block
        what = ("is not a regular file (a pipe or device); give a .py file" if path.exists()
                else f"no such file {abbreviate(str(path), 80)}")
        raise SymbackError(f"SPEC {abbreviate(spec, 80)}: {what}")
    try:
        scope = runpy.run_path(str(path), run_name="__symback_spec__")
    except SymbackError as exc:  # a declaration symback refused: where in the file
        raise SymbackError(f"{_line(path, exc)}: {exc}") from None
    except SyntaxError as exc:
        raise SymbackError(f"{path}{f':{exc.lineno}' if exc.lineno else ''}: syntax error: "  # null bytes: no line
                           f"{abbreviate(exc.msg, 100)[1:-1]}") from None
    except SystemExit as exc:  # the file called sys.exit(): not a declaration, and never our exit code
        raise SymbackError(f"{path}: the file called sys.exit({exc.code!r}); a SPEC declares networks and "
                           "returns, remove the exit call") from None
    except Exception as exc:  # the user's file failed: say where, in one line
        raise SymbackError(f"{_line(path, exc)}: {type(exc).__name__}: {abbreviate(str(exc), 120)}") from None
    candidates = {k: v for k, v in scope.items() if not k.startswith("_") and declared(v)}
    if name:
        if name not in scope:
            known = ", ".join(sorted(candidates)) or "none"
            raise SymbackError(f"{path} has no {abbreviate(name)}; declared networks there: {known}")
        if not declared(scope[name]):
            raise SymbackError(f"{path}:{name} is a {type(scope[name]).__name__}, not a network (sb.Network(...))")
        return scope[name]
    if len(candidates) == 1:
        return next(iter(candidates.values()))
    if not candidates:
        raise SymbackError(f"{path} declares no network; assign one, e.g. net = sb.Network(...)")
    raise SymbackError(f"{path} declares several networks ({', '.join(sorted(candidates))}); "
                       f"pick one with {path}:NAME")
