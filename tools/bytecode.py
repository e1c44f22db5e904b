"""`make test`'s first step: bytecode for what the suite's processes import, written once into the venv and tree.

Where PYTHONDONTWRITEBYTECODE=1 is set (this machine's shells set it), pip's --no-compile install leaves no
bytecode, so every process the suite starts -- each xdist worker and each CLI run a test starts -- would compile
SymPy, Numba, SciPy and torch from source again (`import symback`: 3.0 s of CPU, 0.75 s from bytecode; collecting
the suite 11 s, 4.7 s). The Makefile runs this script without that variable and the suite with it as it was: Python
reads bytecode either way, and the modules the tests generate (some rewritten in place, where a rewrite of the same
size within a second could load the old module's bytecode) never get any.

What is compiled: the test modules and everything they import (pytest's collection, assertions rewritten as the
suite runs them), every symback module, and the modules Numba and SciPy import on a first compile (udl_toy's
module, compiled into a temporary folder and called once).
"""

from __future__ import annotations

import contextlib
import importlib
import io
import pkgutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    import numpy as np
    import pytest

    import symback
    from symback.codegen import compile_derivation
    from symback.declare.spec import load_spec

    for info in pkgutil.walk_packages(symback.__path__, "symback."):
        if not info.name.endswith("__main__"):  # running it would be the CLI
            importlib.import_module(info.name)
    sys.path.insert(0, str(ROOT))  # as `python -m pytest` in the root: the tests import tests.codegen_support
    with contextlib.redirect_stdout(io.StringIO()) as out:  # a count per file; shown only if collection fails
        code = pytest.main(["--collect-only", "-qq", "-p", "no:cacheprovider", str(ROOT / "tests")])
    if code != 0:
        print(out.getvalue()[-4000:] + f"tools/bytecode.py: collecting the suite failed (pytest exit {code})",
              file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        mod = compile_derivation(load_spec(str(ROOT / "examples" / "udl_toy.py")).derive(), Path(tmp) / "warm.py",
                                 force=True)
        mod.loss_and_grad(mod.init_params(seed=0), np.ones((2, mod.N_IN)), np.ones((2, 1)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
