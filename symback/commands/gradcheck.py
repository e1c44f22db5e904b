"""``symback gradcheck SPEC``: compile a network's kernels and check them against central differences."""

from __future__ import annotations

import tempfile
from pathlib import Path

from ..check import randomdata
from ..check.fd import DEFAULT_TOLERANCE, gradcheck, positive
from ..declare.spec import load_spec
from . import arg, command, emit


@command("gradcheck", "the generated kernels' gradients against float64 central differences",
         arg("spec", metavar="SPEC", help="path/to/file.py or path/to/file.py:name"),
         arg("--seed", type=int, default=0, help="seed of the parameters and the random batch"),
         arg("--tolerance", type=float, default=DEFAULT_TOLERANCE, help="largest relative error that passes, "
             f"a positive finite number (default {DEFAULT_TOLERANCE:g})"))
def _gradcheck(args) -> int:
    tolerance = positive(args.tolerance, "--tolerance")  # --seed is checked by the cli, for every command
    derivation = load_spec(args.spec).derive()
    with tempfile.TemporaryDirectory(prefix="symback-gradcheck-") as tmp:
        module = derivation.compile(Path(tmp) / "kernel.py")
        params = module.init_params(seed=args.seed)
        X, Y = _batch(module, derivation, args.seed)
        report = gradcheck(module, params, X, Y, seed=args.seed, tolerance=tolerance)
    emit(args, {"spec": args.spec, **report.to_dict()}, str(report))
    return report.exit_code


def _batch(module, derivation, seed: int):
    """A small random batch that fits the module's inputs and the derivation's loss.

    Seeded with ``seed + 1``: the parameters (``init_params(seed)``) use ``seed``.
    Several inputs (a DAG) sit side by side in X's columns.
    """
    g = derivation.graph
    y, loss = g["y"], g[derivation.output]
    labels = y.shape == ()
    n_out = int(loss.meta.size) if labels else int(y.shape[0])
    width = sum(int(n) for _, n in module.INPUTS)
    kind = randomdata.target_kind(loss.meta.loss, labels)
    return randomdata.batch(randomdata.generator(seed + 1), width, n_out, kind)
