"""symback: backpropagation you can read, check and run fast.

Public names only; each lives in the module named for its stage. Importing the
consumers (render, check, codegen, teach) registers the methods they give a
`Derivation` (``render``, ``check``, ``compile``).
"""

from . import codegen, render  # noqa: F401  (register Derivation.compile and .render)
from ._version import __version__
from .api import draw, explain, save
from .check.conv import check_layer
from .check.fd import gradcheck
from .declare.conv import AvgPool, Conv1D, Conv2D, Flatten, MaxPool
from .declare.dag import DAG
from .declare.dropout import Dropout
from .declare.gradient import Gradient, Table, grad
from .declare.attention import Attention
from .declare.layernorm import LayerNorm, Softmax
from .declare.layers import Activation, BatchNorm
from .declare.network import Dense, Network
from .derivation import Derivation
from .errors import SymbackError
from .library import ACTIVATIONS, LOSSES, register_activation, register_loss
from .nonsmooth import Indicator
from .notation import NOTATIONS, Notation, register_notation
from .ops import register_op
from .torchbridge import from_torch, load_torch_state, to_torch_state

__all__ = [
    "ACTIVATIONS", "Activation", "Attention", "AvgPool", "BatchNorm", "Conv1D", "Conv2D", "DAG", "Dense", "Derivation", "Dropout",
    "Flatten", "Gradient", "Indicator", "LOSSES", "LayerNorm", "MaxPool", "NOTATIONS", "Network", "Notation", "Softmax",
    "SymbackError", "Table", "check_layer", "draw", "explain", "from_torch", "grad", "gradcheck", "load_torch_state",
    "register_activation",
    "register_loss", "register_notation", "register_op", "save", "to_torch_state",
]
