"""Render a derivation in a course's notation: one document, one printer per format.

Stage: render. Input: a `Derivation` (network, DAG or expression) and a
notation preset. The pipeline, one job per module:

- `sections`, `steps`, `grad`: build a format-free `document` (sections of
  equations and notes; an expression's `Worksheet`), every symbol a notation
  term (`symback.notation.nodes`), every formula a SymPy expression;
- `printers`, `fragments`: the printer family (`TextPrinter`,
  `UnicodePrinter`, `LatexPrinter`), SymPy's ``_print_<Class>`` dispatch;
- `pages`, `tables`: each format one page printer of the document (text,
  Unicode, LaTeX, Markdown, HTML); `jsonform`: the JSON form;
- `network`: the entry points `render_derivation` and `equations`.

Registers ``Derivation.render``, ``Derivation.equations`` and ``Gradient.render`` / ``Table.render``.
"""

from ..derivation import provides
from .grad import render_gradient
from .network import equations, render_derivation

__all__ = ["equations", "render_derivation", "render_gradient"]

provides("render")(render_derivation)
provides("render_gradient")(render_gradient)
provides("equations")(equations)
