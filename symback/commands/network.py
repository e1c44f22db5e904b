"""``symback derive``: a declared network's backpropagation equations in a course's notation."""

from __future__ import annotations

import sys

from ..declare.spec import load_spec
from ..notation import LAYOUTS
from ..render.network import render_derivation
from . import NOTATION, arg, command


@command("derive", "a network's forward pass, backward recursion, gradients and SGD update, in a course's notation",
         arg("spec", metavar="SPEC", help="path/to/file.py or path/to/file.py:name, declaring a sb.Network"),
         NOTATION, arg("--format", choices=("text", "latex", "markdown", "json"), default="text"),
         arg("--layout", choices=LAYOUTS, help="override the notation's layout convention"),
         arg("--steps", action="store_true", help="add the unsimplified chain rule, one local derivative per step"),
         arg("--batch", action="store_true", help="the minibatch form (one column per sample)"))
def _derive(args) -> None:
    d = load_spec(args.spec).derive()
    fmt = "json" if args.json else args.format
    sys.stdout.write(render_derivation(d, fmt, args.notation, args.layout, args.steps, args.batch))
