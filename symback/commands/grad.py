"""``symback grad``: the scalar front end on the command line."""

from __future__ import annotations

from ..api import DOCUMENT_FORMATS
from ..declare.gradient import grad
from ..parse import parse_names, parse_point
from . import FORMAT, GATES, OUTPUT, STANDALONE, WRT, arg, at_point, command, deliver, destination


@command("grad", "gradient of a scalar expression over its IR, and the worked table at a point",
         arg("expr", help='a SymPy expression, e.g. "(x + y)*z", or named steps "q = x + y; f = q*z"'), WRT,
         arg("--at", help="a point, e.g. x=-2,y=5,z=-4: prints the forward/backward table"),
         arg("--expand", action="store_true", help="write gradients in the input variables alone"), GATES,
         FORMAT, OUTPUT, STANDALONE)
def _grad(args) -> None:
    where = destination(args, DOCUMENT_FORMATS)
    g = grad(args.expr, wrt=parse_names(args.wrt) if args.wrt else None, gates=args.gates)
    deliver(args, where, at_point(args, lambda: g.at(parse_point(args.at)) if args.at else g), expand=args.expand)
