"""``symback grad``: the scalar front end on the command line."""

from __future__ import annotations

import argparse

from ..cli import command, emit


@command("grad", "gradient of a scalar expression over its IR, and the worked table at a point")
def _grad_command(p: argparse.ArgumentParser):
    p.add_argument("expr", help='a SymPy expression, e.g. "(x + y)*z", or named steps "q = x + y; f = q*z"')
    p.add_argument("--wrt", help="variables to differentiate by, comma-separated (default: all)")
    p.add_argument("--at", help="a point, e.g. x=-2,y=5,z=-4: prints the forward/backward table")
    p.add_argument("--expand", action="store_true", help="write gradients in the input variables alone")
    p.add_argument("--format", choices=("text", "markdown", "latex"), default="text")

    def run(args) -> int:
        from ..declare.gradient import grad
        from ..parse import parse_names, parse_point

        wrt = parse_names(args.wrt) if args.wrt else None
        g = grad(args.expr, wrt=wrt)
        table = g.at(parse_point(args.at)) if args.at else None
        if args.json:
            emit(args, g.to_dict(table, expand=args.expand), "")
        else:
            from ..render.grad import render_gradient

            emit(args, {}, render_gradient(g, table, args.format, args.expand))
        return 0

    return run
