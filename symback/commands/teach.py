"""``symback draw``, ``explain`` and ``norms``: the picture, the narrative and the gradient norms, on the CLI."""

from __future__ import annotations

import json

import numpy as np

from ..api import EXPLANATION_FORMATS, explain, is_spec, make_picture
from ..declare.spec import load_spec
from ..errors import SymbackError
from ..parse import parse_names
from ..teach.dot import output_format, save
from ..teach.gradients import LECTURE, compare, plot, plot_path
from ..teach.point import INITS
from . import (
    AT_HELP,
    EXPR_OR_SPEC,
    GATES,
    NOTATION,
    OUTPUT,
    PAGE_FORMAT,
    SPEC_NOTATION,
    SPEC_SEED,
    STANDALONE,
    WRT,
    arg,
    at_point,
    command,
    deliver,
    destination,
    emit,
    not_an_input,
)

#: networks x initialisations x scales that one `norms` compares (each run derives and evaluates a network)
MAX_RUNS = 100
MAX_BATCH = 1_000_000  # random inputs per run: a million samples of a wide layer already take gigabytes


@command("draw", "the computation graph as a picture (SVG or PNG), with values and gradients at a point",
         EXPR_OR_SPEC, arg("--at", help=AT_HELP + "; every wire shows its value and gradient (norms for vectors)"),
         WRT, GATES, SPEC_NOTATION, SPEC_SEED,
         arg("--expand", action="store_true",
             help="a small network's scalar graph, one node per unit (instead of one box per module)"),
         arg("-o", "--output", required=True, metavar="FILE",
             help="FILE.svg or FILE.png (FILE.dot writes the Graphviz source)"))
def _draw(args) -> None:
    path, fmt = output_format(args.output)
    not_an_input(args, path)
    wrt, title = parse_names(args.wrt) if args.wrt else None, _label(args.expr) if is_spec(args.expr) else None
    pic = at_point(args, lambda: make_picture(args.expr, args.at, wrt, args.notation, args.expand, args.seed, title,
                                              args.gates))
    data = pic.to_dict()
    if args.json:  # a value beyond float64 (inf) is no JSON: refused before the picture is written
        json.dumps(data, allow_nan=False)
    size = save(pic, path)
    count = sum(1 for n in data["nodes"] if n["kind"] != "branch")
    emit(args, {"path": str(path), "format": fmt, **data}, f"wrote {path} ({size} bytes, {count} nodes)")


@command("explain", "the forward and backward passes told step by step, with the chain-rule factor of each",
         EXPR_OR_SPEC, arg("--at", help=AT_HELP + "; every step carries its numbers (norms for vectors)"),
         arg("--wrt", help="variables to differentiate by, comma-separated, in the order to list them"), GATES,
         SPEC_NOTATION, SPEC_SEED, PAGE_FORMAT, OUTPUT, STANDALONE)
def _explain(args) -> None:
    where = destination(args, EXPLANATION_FORMATS)
    ex = at_point(args, lambda: explain(args.expr, at=args.at, wrt=parse_names(args.wrt) if args.wrt else None,
                                        notation=args.notation, seed=args.seed,
                                        title=_label(args.expr) if is_spec(args.expr) else None, gates=args.gates))
    deliver(args, where, ex)


@command("norms", "vanishing and exploding gradients: per-layer norms of the local factors and deltas, and a plot",
         arg("specs", nargs="+", metavar="SPEC", help="path/to/file.py[:name] declaring a layered sb.Network"),
         arg("--init", default="he", help=f"initialisations, comma-separated: {', '.join(INITS)} (default: he)"),
         arg("--scale", default="1", help="factors for the initial weights, comma-separated, e.g. 0.5,1,2"),
         arg("--batch", type=int, default=256, help="random inputs per run (default: 256)"),
         arg("--seed", type=int, default=0, help="seed of the weights and inputs (default: 0)"),
         NOTATION, arg("-o", "--output", metavar="FILE", help="plot across depth: FILE.png or FILE.svg"))
def _norms(args) -> None:
    inits = [i.strip() for i in args.init.split(",") if i.strip()]
    if unknown := [i for i in inits if i not in INITS]:
        raise SymbackError(f"--init: unknown initialisation {unknown[0]!r}; choose from {', '.join(INITS)}")
    try:
        scales = [float(x) for x in args.scale.split(",") if x.strip()]
    except ValueError:
        raise SymbackError(f"--scale {args.scale}: expected numbers such as 0.5,1,2") from None
    if args.output:
        not_an_input(args, plot_path(args.output))  # a bad path fails before any work
    if not 1 <= args.batch <= MAX_BATCH:
        raise SymbackError(f"--batch must be from 1 to {MAX_BATCH:,} (the limit), got {args.batch:,}")
    if not inits or not scales:
        raise SymbackError(f"--{'init' if not inits else 'scale'} is empty; give one value or more, comma-separated")
    if (runs := len(args.specs) * len(inits) * len(scales)) > MAX_RUNS:
        raise SymbackError(f"{runs:,} runs asked (SPECs x --init x --scale; limit {MAX_RUNS}); compare fewer at once")
    sources = {}
    for spec in args.specs:
        label = _label(spec)
        sources[spec.strip() if label in sources else label] = load_spec(spec.strip())
    with np.errstate(over="ignore", invalid="ignore"):  # an overflow shows as inf / nan in the table, not as warnings
        reports = compare(sources, inits, scales, args.batch, args.seed, args.notation)
    if args.output:
        plot(reports, args.output, title="vanishing and exploding gradients: " + ", ".join(sources))
    if args.json:
        data, nonfinite = finite_json({"runs": [r.to_dict() for r in reports], "plot": args.output})
        return emit(args, {**data, "nonfinite": nonfinite}, "")
    if len(reports) == 1:
        text = reports[0].render()
    else:
        width = max(len(r.label) for r in reports)
        text = "".join(f"{r.label:<{width}}  {r.summary()}\n" for r in reports) + "\n" + LECTURE + "\n"
    emit(args, {}, text + (f"\nwrote {args.output}\n" if args.output else ""))


def finite_json(data, at: str = "") -> tuple[object, list[str]]:
    """`data` with each non-finite float as the string "inf", "-inf" or "nan" (JSON has no such numbers), and the
    paths of those values, e.g. ``runs[0].layers[2].delta``, so a reader knows which strings are numbers."""
    if isinstance(data, float) and not np.isfinite(data):
        return ("nan" if np.isnan(data) else "inf" if data > 0 else "-inf"), [at]
    if isinstance(data, (dict, list, tuple)):
        items = data.items() if isinstance(data, dict) else enumerate(data)
        out, paths = {}, []
        for k, v in items:
            out[k], found = finite_json(v, (f"{at}.{k}" if at else str(k)) if isinstance(data, dict) else f"{at}[{k}]")
            paths += found
        return (out if isinstance(data, dict) else list(out.values())), paths
    return data, []


def _label(spec: str) -> str:
    """``examples/deep_mlp.py:relu20`` -> ``relu20``; ``examples/udl_toy.py`` -> ``udl_toy``."""
    path, _, name = spec.strip().partition(".py:")
    return name or path.rsplit("/", 1)[-1].removesuffix(".py")
