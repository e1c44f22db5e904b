"""``symback derive``: a declared network's backpropagation equations in a course's notation."""

from __future__ import annotations

from ..declare.spec import load_spec
from ..notation import LAYOUTS
from . import ALSO_WRT, NOTATION, OUTPUT, STANDALONE, arg, command, deliver, destination

FORMATS = ("text", "latex", "markdown", "json")


@command("derive", "a network's forward pass, backward recursion, gradients and SGD update, in a course's notation",
         arg("spec", metavar="SPEC", help="path/to/file.py or path/to/file.py:name, declaring a sb.Network"),
         NOTATION, arg("--format", choices=FORMATS, help="default: text, or -o FILE's extension"),
         arg("--layout", choices=LAYOUTS, help="override the notation's layout convention"),
         arg("--steps", action="store_true", help="add the unsimplified chain rule, one local derivative per step"),
         arg("--batch", action="store_true", help="the minibatch form (one column per sample)"), ALSO_WRT, OUTPUT,
         STANDALONE)
def _derive(args) -> None:
    where = destination(args, FORMATS)
    d = load_spec(args.spec).derive(wrt=args.wrt)
    deliver(args, where, d, notation=args.notation, layout=args.layout, steps=args.steps, batch=args.batch)
