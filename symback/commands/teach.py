"""``symback draw`` and ``symback explain``: the picture and the narrative on the command line."""

from __future__ import annotations

import argparse

from ..api import explain, is_spec, make_picture
from ..cli import command, emit
from ..errors import SymbackError
from ..notation import NOTATIONS
from ..parse import parse_names
from ..declare.spec import load_spec
from ..teach.dot import output_format, save
from ..teach.gradients import LECTURE, compare, plot, plot_path
from ..teach.point import INITS

EXPR_HELP = (
    'a SymPy expression, e.g. "(x + y)*z", or named steps "q = x + y; f = q*z"; '
    "or a SPEC, path/to/file.py[:name], declaring a network or DAG"
)
AT_HELP = "a point, e.g. x=-2,y=5,z=-4 (for a SPEC: seed=N, a random sample drawn from seed N)"


def _network_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--notation", choices=sorted(NOTATIONS), help="a SPEC's symbols, as a course writes them (default: udl)"
    )
    p.add_argument("--seed", type=int, metavar="N", help="a SPEC at a random sample drawn from seed N (= --at seed=N)")


@command("draw", "the computation graph as a picture (SVG or PNG), with values and gradients at a point")
def _draw_command(p: argparse.ArgumentParser):
    p.add_argument("expr", metavar="EXPR|SPEC", help=EXPR_HELP)
    p.add_argument("--at", help=AT_HELP + "; every wire shows its value and gradient (norms for vectors)")
    p.add_argument("--wrt", help="variables to differentiate by, comma-separated (default: all)")
    _network_options(p)
    p.add_argument(
        "--expand",
        action="store_true",
        help="a small network's scalar graph, one node per unit (instead of one box per module)",
    )
    p.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="FILE",
        help="FILE.svg or FILE.png (FILE.dot writes the Graphviz source)",
    )

    def run(args) -> int:
        _check_seed(args.seed)
        path, fmt = output_format(args.output)
        title = args.expr.strip() if is_spec(args.expr) else None
        pic = make_picture(
            args.expr,
            args.at,
            parse_names(args.wrt) if args.wrt else None,
            args.notation,
            args.expand,
            args.seed,
            title,
        )
        size = save(pic, path)
        data = pic.to_dict()
        count = sum(1 for n in data["nodes"] if n["kind"] != "branch")
        emit(args, {"path": str(path), "format": fmt, **data}, f"wrote {path} ({size} bytes, {count} nodes)")
        return 0

    return run


@command("explain", "the forward and backward passes told step by step, with the chain-rule factor of each")
def _explain_command(p: argparse.ArgumentParser):
    p.add_argument("expr", metavar="EXPR|SPEC", help=EXPR_HELP)
    p.add_argument("--at", help=AT_HELP + "; every step carries its numbers (norms for vectors)")
    p.add_argument("--wrt", help="variables to differentiate by, comma-separated, in the order to list them")
    _network_options(p)
    p.add_argument("--format", choices=("text", "markdown", "latex"), default="text")

    def run(args) -> int:
        _check_seed(args.seed)
        title = args.expr.strip() if is_spec(args.expr) else None
        ex = explain(
            args.expr,
            at=args.at,
            wrt=parse_names(args.wrt) if args.wrt else None,
            notation=args.notation,
            seed=args.seed,
            title=title,
        )
        emit(args, ex.to_dict() if args.json else {}, "" if args.json else ex.render(args.format))
        return 0

    return run


@command("norms", "vanishing and exploding gradients: per-layer norms of the local factors and deltas, and a plot")
def _norms_command(p: argparse.ArgumentParser):
    p.add_argument("specs", nargs="+", metavar="SPEC", help="path/to/file.py[:name] declaring a layered sb.Network")
    p.add_argument("--init", default="he", help=f"initialisations, comma-separated: {', '.join(INITS)} (default: he)")
    p.add_argument("--scale", default="1", help="factors for the initial weights, comma-separated, e.g. 0.5,1,2")
    p.add_argument("--batch", type=int, default=256, help="random inputs per run (default: 256)")
    p.add_argument("--seed", type=int, default=0, help="seed of the weights and inputs (default: 0)")
    p.add_argument("--notation", choices=sorted(NOTATIONS), default="udl", help="the course's symbols (default: udl)")
    p.add_argument("-o", "--output", metavar="FILE", help="plot across depth: FILE.png or FILE.svg")

    def run(args) -> int:
        _check_seed(args.seed)
        inits = [i.strip() for i in args.init.split(",") if i.strip()]
        for i in inits:
            if i not in INITS:
                raise SymbackError(f"--init: unknown initialisation {i!r}; choose from {', '.join(INITS)}")
        try:
            scales = [float(x) for x in args.scale.split(",") if x.strip()]
        except ValueError:
            raise SymbackError(f"--scale {args.scale}: expected numbers such as 0.5,1,2") from None
        if args.output:
            plot_path(args.output)  # a bad path fails before any work
        if args.batch < 1:
            raise SymbackError(f"--batch must be at least 1, got {args.batch}")
        sources = {}
        for spec in args.specs:
            label = _label(spec)
            sources[spec.strip() if label in sources else label] = load_spec(spec.strip())
        reports = compare(sources, inits, scales, args.batch, args.seed, args.notation)
        if args.output:
            plot(reports, args.output, title="vanishing and exploding gradients: " + ", ".join(sources))
        if args.json:
            emit(args, {"runs": [r.to_dict() for r in reports], "plot": args.output}, "")
            return 0
        if len(reports) == 1:
            text = reports[0].render()
        else:
            width = max(len(r.label) for r in reports)
            text = "".join(f"{r.label:<{width}}  {r.summary()}\n" for r in reports) + "\n" + LECTURE + "\n"
        if args.output:
            text += f"\nwrote {args.output}\n"
        emit(args, {}, text)
        return 0

    return run


def _check_seed(seed: int | None) -> None:
    """--seed is an integer >= 0 (NumPy's generators refuse a negative one with a traceback)."""
    if seed is not None and seed < 0:
        raise SymbackError(f"--seed must be an integer >= 0, got {seed}")


def _label(spec: str) -> str:
    """``examples/deep_mlp.py:relu20`` -> ``relu20``; ``examples/udl_toy.py`` -> ``udl_toy``."""
    path, _, name = spec.strip().partition(".py:")
    return name or path.rsplit("/", 1)[-1].removesuffix(".py")
