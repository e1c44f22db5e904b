"""Check: hand-derived formulas against any derivation (``symback check``), and gradcheck.

`compare.check` is the one checker; what differs between a scalar
expression (partials ``df/dx``), a network (course symbols in a notation
and layout) and a DAG (its own value names, per-path shares) is a space
(`spaces`). ``Derivation.check`` is
`compare.check_derivation`, ``Gradient.check`` `compare.check_gradient`;
both return a `report.Report` (text via ``str``, JSON via ``to_dict``,
``exit_code`` 0 when everything is equal). The modules, in pipeline order:
`handfile` (lines), `formula` / `latex` (right-hand sides -> AST), `names` and
`dagnames` (left-hand sides -> quantities), `randomdata` and `instances` (seeded random
points), `matrix` (AST -> numbers), `trial` (both sides on every point),
`diagnose` and `mistakes` (likely mistakes), `report`. `fd` checks a compiled module against
central differences.
"""

from ..derivation import provides
from .compare import check_derivation, check_gradient
from .report import Report, Result

provides("check")(check_derivation)
provides("check_gradient")(check_gradient)

__all__ = ["Report", "Result", "check_derivation", "check_gradient"]
