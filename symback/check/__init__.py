"""Check: hand-derived formulas against the derivation (``symback check``).

`hand.check_derivation` compares a hand file with a network's derivation in
a course's notation; `scalar.check_gradient` does the same for the partial
derivatives of a scalar expression. Both return a `report.Report` (text via
``str``, JSON via ``to_dict``, ``exit_code`` 0 when everything is equal).
The modules, in pipeline order: `handfile` (lines), `formula` / `latex`
(right-hand sides -> AST), `names` (course symbols -> quantities),
`instances` (random small instances), `matrix` (AST -> numbers),
`diagnose` (likely mistakes), `report`.
"""

from ..derivation import provides
from .hand import check_derivation
from .report import Report, Result
from .scalar import check_gradient

provides("check")(check_derivation)
provides("check_gradient")(check_gradient)

__all__ = ["Report", "Result", "check_derivation", "check_gradient"]
