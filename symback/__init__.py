"""symback: backpropagation you can read, check and run fast.

Public names only; each lives in the module named for its stage.
"""

from .errors import SymbackError
from .gradient import Gradient, Table, grad
from .library import ACTIVATIONS, register_activation
from .nonsmooth import Indicator
from .teach.draw import draw
from .teach.explain import explain

__all__ = ["ACTIVATIONS", "Gradient", "Indicator", "SymbackError", "Table", "grad", "register_activation"]
__version__ = "0.1.0"
