"""``symback check``: hand-derived formulas against the derivation (exit 0 equal, 1 different, 2 bad input).

The front ends live here, not in `symback.check`: a SPEC is loaded and derived
(`spec.load_spec`), an expression parsed and differentiated (`gradient.grad`);
the checker then takes the `Derivation` either gives.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from ..cli import command, emit
from ..errors import SymbackError
from ..declare.gradient import grad
from ..declare.spec import load_spec


def is_spec(target: str) -> bool:
    """A SPEC names a Python file (``net.py`` or ``net.py:name``); anything else is a scalar expression."""
    return Path(target).is_file() or re.search(r"\.py(:[A-Za-z_]\w*)?$", target.strip()) is not None


@command("check", "compare hand-derived formulas with the derivation: exit 0 equal, 1 different, 2 bad input")
def _check_command(p: argparse.ArgumentParser):
    p.add_argument("target", metavar="SPEC|EXPR",
                   help='a network, path/to/file.py[:name], or a scalar expression such as "(x + y)*z"')
    p.add_argument("--hand", required=True, metavar="FILE", help="one 'LHS = RHS' equation per line")
    p.add_argument("--notation", help="udl (default), cs229 or foml: the symbols the hand file uses")
    p.add_argument("--layout", choices=("numerator", "denominator"), help="override the notation's layout")

    def run(args) -> int:
        if is_spec(args.target):
            derivation = load_spec(args.target).derive()
            report = derivation.check(args.hand, notation=args.notation or "udl", layout=args.layout,
                                      target=args.target)
        else:
            if args.notation or args.layout:
                raise SymbackError("--notation and --layout apply to a network SPEC (file.py), "
                                   f"not to the expression {args.target!r}")
            report = grad(args.target).check(args.hand, target=args.target)
        emit(args, report.to_dict(), report.render())
        return report.exit_code

    return run
