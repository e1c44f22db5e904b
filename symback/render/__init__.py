"""Printers: IR and derivations -> text, LaTeX, Markdown, JSON.

Registers ``Derivation.render`` (a network's or DAG's equations in a course's
notation) and the worked table of a scalar expression.
"""

from ..derivation import provides
from .grad import render_gradient
from .network import equations, render_derivation

__all__ = ["equations", "render_derivation", "render_gradient"]

provides("render")(render_derivation)
provides("render_gradient")(render_gradient)
