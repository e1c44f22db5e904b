"""Kernel source from a plan: one njit function per loop layout, one file per layout.

Stage: codegen. Input: a `Plan` and the equation of each node. Output: the
source of ``_step_<layout>``; what every layout shares is in `base`.
Three layouts (benchmarks/numba_mlp.py measured each):

``sample``  sample-outer loops, everything per sample (tiny layers, batch <= 4): `sample`;
``small``   batch-innermost loops over a transposed block, one row per component (tiny layers): `small`;
``blas``    ``np.dot`` into preallocated ``(B, n)`` views, fused elementwise loops: `blas`.
"""

from __future__ import annotations

from .blas import BlasLayout
from .sample import SampleLayout
from .small import SmallLayout

LAYOUTS = {"sample": SampleLayout, "small": SmallLayout, "blas": BlasLayout}

__all__ = ["LAYOUTS"]
