"""``symback check SPEC HANDFILE``: hand-derived formulas against the derivation (exit 0 equal, 1 different, 2 bad).

The front ends live here, not in `symback.check`: a SPEC is loaded and derived
(`spec.load_spec`), an expression parsed and differentiated (`gradient.grad`);
the checker then takes the `Derivation` either gives.
"""

from __future__ import annotations

from pathlib import Path

from ..api import is_spec
from ..declare.gradient import grad
from ..declare.spec import load_spec
from ..errors import SymbackError
from . import ALSO_WRT, OUTPUT, arg, command, deliver, destination


@command("check", "compare hand-derived formulas with the derivation: exit 0 equal, 1 different, 2 bad input",
         arg("target", metavar="SPEC|EXPR",
             help='a network, path/to/file.py[:name], or a scalar expression such as "(x + y)*z"'),
         arg("hand_file", nargs="?", metavar="HANDFILE", help="one 'LHS = RHS' equation per line (or --hand FILE)"),
         arg("--hand", metavar="FILE", help="the hand file, as HANDFILE"),
         arg("--notation", help="udl (default), cs229 or foml: the symbols the hand file uses"),
         arg("--layout", choices=("numerator", "denominator"), help="override the notation's layout"), ALSO_WRT, OUTPUT)
def _check(args) -> int:
    if (args.hand is None) == (args.hand_file is None):
        raise SymbackError("check: give the hand file once, as HANDFILE or as --hand FILE"
                           if args.hand else "check: which hand file? symback check SPEC HANDFILE")
    args.hand = args.hand or args.hand_file
    if not args.hand.strip():
        raise SymbackError("--hand '': name the hand file")
    hand = Path(args.hand)  # a path, never formula text, whatever it holds
    where = destination(args, ("text", "json"))
    if Path(args.target).is_file() or is_spec(args.target):  # a SPEC names a Python file; else an expression
        report = load_spec(args.target).derive(wrt=args.wrt).check(hand, notation=args.notation or "udl",
                                                       layout=args.layout, target=args.target)
    else:
        if args.notation or args.layout or args.wrt:
            raise SymbackError("--notation, --layout and --wrt apply to a network SPEC (file.py), "
                               f"not to the expression {args.target!r}")
        report = grad(args.target).check(hand, target=args.target)
    deliver(args, where, report)
    return report.exit_code
