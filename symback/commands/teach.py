"""``symback draw`` and ``symback explain``: the picture and the narrative on the command line."""

from __future__ import annotations

import argparse

from ..cli import command, emit

EXPR_HELP = 'a SymPy expression, e.g. "(x + y)*z", or named steps "q = x + y; f = q*z"'


@command("draw", "the computation graph as a picture (SVG or PNG), with values and gradients at a point")
def _draw_command(p: argparse.ArgumentParser):
    p.add_argument("expr", help=EXPR_HELP)
    p.add_argument("--at", help="a point, e.g. x=-2,y=5,z=-4: every wire shows its value and gradient")
    p.add_argument("--wrt", help="variables to differentiate by, comma-separated (default: all)")
    p.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="FILE",
        help="FILE.svg or FILE.png (FILE.dot writes the Graphviz source)",
    )

    def run(args) -> int:
        from ..parse import parse_names
        from ..teach import resolve
        from ..teach.draw import output_format, picture, save

        path, fmt = output_format(args.output)
        derivation, values = resolve(args.expr, args.at, parse_names(args.wrt) if args.wrt else None)
        pic = picture(derivation, values)
        size = save(pic, path)
        emit(
            args,
            {"path": str(path), "format": fmt, **pic.to_dict()},
            f"wrote {path} ({size} bytes, {sum(1 for _, k, _ in pic.nodes if k != 'branch')} nodes)",
        )
        return 0

    return run


@command("explain", "the forward and backward passes told step by step, with the chain-rule factor of each")
def _explain_command(p: argparse.ArgumentParser):
    p.add_argument("expr", help=EXPR_HELP)
    p.add_argument("--at", help="a point, e.g. x=-2,y=5,z=-4: every step carries its numbers")
    p.add_argument("--wrt", help="variables to differentiate by, comma-separated, in the order to list them")
    p.add_argument("--format", choices=("text", "markdown", "latex"), default="text")

    def run(args) -> int:
        from ..parse import parse_names
        from ..teach.explain import explain

        ex = explain(args.expr, at=args.at, wrt=parse_names(args.wrt) if args.wrt else None)
        emit(args, ex.to_dict() if args.json else {}, "" if args.json else ex.render(args.format))
        return 0

    return run
