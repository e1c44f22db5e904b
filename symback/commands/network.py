"""``symback derive``: a declared network's backpropagation equations in a course's notation."""

from __future__ import annotations

import argparse
import sys

from ..cli import command


@command("derive", "a network's forward pass, backward recursion, gradients and SGD update, in a course's notation")
def _derive_command(p: argparse.ArgumentParser):
    from ..notation import LAYOUTS, NOTATIONS

    p.add_argument("spec", metavar="SPEC", help="path/to/file.py or path/to/file.py:name, declaring a sb.Network")
    p.add_argument("--notation", choices=sorted(NOTATIONS), default="udl", help="the course's symbols (default: udl)")
    p.add_argument("--format", choices=("text", "latex", "markdown", "json"), default="text")
    p.add_argument("--layout", choices=LAYOUTS, help="override the notation's layout convention")
    p.add_argument(
        "--steps", action="store_true", help="add the unsimplified chain rule, one local derivative per step"
    )
    p.add_argument("--batch", action="store_true", help="the minibatch form (one column per sample)")

    def run(args) -> int:
        from ..render.network import render_derivation
        from ..declare.spec import load_spec

        d = load_spec(args.spec).derive()
        fmt = "json" if args.json else args.format
        sys.stdout.write(render_derivation(d, fmt, args.notation, args.layout, args.steps, args.batch))
        return 0

    return run
