"""SPEC arguments of the CLI: ``path/to/file.py`` or ``path/to/file.py:name``.

The file is run as a script; `name` picks a declared object (a `Network`,
or any object with a ``derive()`` method). Without a name the file must
declare exactly one such object.
"""

from __future__ import annotations

import runpy
import traceback
from pathlib import Path

from ..errors import SymbackError


def declared(obj) -> bool:
    return callable(getattr(obj, "derive", None)) and not isinstance(obj, type)


def load_spec(spec: str):
    """The declared object a SPEC names; SymbackError (one line) for every way it can fail."""
    path_text, _, name = spec.partition(":") if not Path(spec).exists() else (spec, "", "")
    path = Path(path_text)
    if path.suffix != ".py":
        raise SymbackError(f"SPEC {spec!r} should be path/to/file.py or path/to/file.py:name")
    if path.is_dir():
        raise SymbackError(f"SPEC {spec!r} is a directory; name a file, path/to/file.py")
    if not path.is_file():
        raise SymbackError(f"SPEC {spec!r}: no such file {str(path)!r}")
    try:
        scope = runpy.run_path(str(path), run_name="__symback_spec__")
    except SymbackError as exc:
        raise SymbackError(f"{path}: {exc}") from None
    except SyntaxError as exc:
        raise SymbackError(f"{path}:{exc.lineno}: syntax error: {exc.msg}") from None
    except SystemExit as exc:  # the file called sys.exit(): not a declaration, and never our exit code
        raise SymbackError(f"{path}: the file called sys.exit({exc.code!r}); a SPEC declares networks and "
                           "returns, remove the exit call") from None
    except Exception as exc:  # the user's file failed: say where, in one line
        frames = traceback.extract_tb(exc.__traceback__)
        line = next((f.lineno for f in reversed(frames) if f.filename == str(path)), None)
        where = f"{path}:{line}" if line else str(path)
        raise SymbackError(f"{where}: {type(exc).__name__}: {exc}") from None
    candidates = {k: v for k, v in scope.items() if not k.startswith("_") and declared(v)}
    if name:
        if name not in scope:
            known = ", ".join(sorted(candidates)) or "none"
            raise SymbackError(f"{path} has no {name!r}; declared networks there: {known}")
        if not declared(scope[name]):
            raise SymbackError(f"{path}:{name} is a {type(scope[name]).__name__}, not a network (sb.Network(...))")
        return scope[name]
    if len(candidates) == 1:
        return next(iter(candidates.values()))
    if not candidates:
        raise SymbackError(f"{path} declares no network; assign one, e.g. net = sb.Network(...)")
    raise SymbackError(f"{path} declares several networks ({', '.join(sorted(candidates))}); "
                       f"pick one with {path}:NAME")
