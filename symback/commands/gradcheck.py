"""``symback gradcheck SPEC``: compile a network's kernels and check them against central differences."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from ..cli import command, emit


@command("gradcheck", "the generated kernels' gradients against float64 central differences")
def _gradcheck_command(p: argparse.ArgumentParser):
    p.add_argument("spec", metavar="SPEC", help="path/to/file.py or path/to/file.py:name")
    p.add_argument("--seed", type=int, default=0, help="seed of the parameters and the random batch")
    p.add_argument("--tolerance", type=float, default=None, help="largest relative error that passes (1e-6)")

    def run(args) -> int:
        from ..check.fd import DEFAULT_TOLERANCE, gradcheck
        from ..spec import load_spec

        declared = load_spec(args.spec)
        derivation = declared.derive()
        with tempfile.TemporaryDirectory(prefix="symback-gradcheck-") as tmp:
            module = derivation.compile(Path(tmp) / "kernel.py")
            params = module.init_params(seed=args.seed)
            X, Y = _batch(module, derivation, args.seed)
            report = gradcheck(module, params, X, Y, seed=args.seed,
                               tolerance=args.tolerance or DEFAULT_TOLERANCE)
        emit(args, {"spec": args.spec, **report.to_dict()}, str(report))
        return report.exit_code

    return run


def _batch(module, derivation, seed: int, batch: int = 4):
    """A small random batch that fits the module's inputs and loss."""
    import numpy as np

    rng = np.random.default_rng(seed + 1)
    width = sum(int(n) for _, n in module.INPUTS)  # several inputs sit side by side in X's columns
    X = rng.normal(size=(batch, width))
    g = derivation.graph
    if g["y"].shape == ():
        Y = rng.integers(0, int(g["l"].meta.size), size=batch)
    elif g["l"].meta.loss in ("bce", "bce_with_logits"):
        Y = rng.uniform(size=(batch, int(g["y"].shape[0])))
    else:
        Y = rng.normal(size=(batch, int(g["y"].shape[0])))
    return X, Y
