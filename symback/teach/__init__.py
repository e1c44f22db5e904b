"""Teaching views of any derivation: the picture, the narrative, and gradient norms across depth.

Every view takes a `Derivation` (an expression's `Gradient`, a DAG's or a
network's) and, optionally, the value of every node at one point: exact
numbers for an expression (`evaluate.evaluate`), one random sample drawn
from a seed for a network (`point.values_at`). None of them reads the
declaration or calls a front end; `symback.api` turns an expression, a SPEC
or a declared network into a `Derivation` and a point, then calls these.

- `explain.Explanation` numbers the forward and backward steps; `narrate`
  tells them as text, Markdown or LaTeX.
- `draw.picture` lays out boxes and wires; `dot` writes them as DOT, SVG or PNG.
- `gradients` measures the per-layer norms of a deep network's backward pass.

A scalar circuit and a network differ only in small strategy objects
(`explain.CircuitSteps`/`CourseSteps`, `narrate_circuit`/`narrate_course`,
`draw.CircuitStyle`/`ModuleStyle`), not in the walks.
"""

from .draw import Picture, picture
from .explain import Explanation
from .point import values_at

__all__ = ["Explanation", "Picture", "picture", "values_at"]
