"""`make generate`: compile every network or DAG declared in examples/*.py into generated/.

examples/NAME.py declaring one network -> generated/NAME.py; declaring
several (a, b) -> generated/NAME_a.py, generated/NAME_b.py. Each module is
written by `symback compile` (atomically; a hand-edited file is refused).
``python tools/generate.py --out DIR`` writes elsewhere (the regeneration test).
"""

from __future__ import annotations

import argparse
import runpy
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def targets(examples: Path = ROOT / "examples") -> list[tuple[str, str]]:
    """(SPEC, output file name) for every declared network, sorted."""
    from symback.declare.spec import declared

    out = []
    for path in sorted(examples.glob("*.py")):
        scope = runpy.run_path(str(path), run_name="__symback_spec__")
        names = sorted(k for k, v in scope.items() if not k.startswith("_") and declared(v))
        rel = path.relative_to(ROOT).as_posix()
        if len(names) == 1:
            out.append((rel, f"{path.stem}.py"))
        else:
            out += [(f"{rel}:{n}", f"{path.stem}_{n}.py") for n in names]
    return out


def main(argv=None) -> int:
    from symback.cli import main as cli

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "generated"), help="folder to write into (default: generated/)")
    args = ap.parse_args(argv)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    status = 0
    for spec, name in targets():
        code = cli(["compile", spec, "-o", str(Path(args.out) / name)])
        status = status or code
    return status


if __name__ == "__main__":
    import os

    os.chdir(ROOT)  # SPEC paths in the headers are relative to the repository
    sys.exit(main())
