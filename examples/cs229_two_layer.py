"""CS229 notes, backpropagation: the one-neuron and the two-layer ReLU networks.

Both use the notes' loss J = 1/2 (y - o)^2, given here as a loss expression
in the output component f and its target y (not a named loss), so
delta^[2] = o - y as in the notes. Widths: x in R^3, m = 4 hidden units.

    symback derive examples/cs229_two_layer.py:one_neuron --notation cs229
    symback derive examples/cs229_two_layer.py:two_layer --notation cs229
"""

import sympy as sp

import symback as sb

f, y = sp.symbols("f y")
half_squared = (f - y) ** 2 / 2  # J = 1/2 (y - o)^2, per output component

# o = relu(w^T x + b)
one_neuron = sb.Network(n_in=3, layers=[sb.Dense(1, "relu")], loss=half_squared)

# z^[1] = W^[1] x + b^[1], a^[1] = relu(z^[1]), o = W^[2] a^[1] + b^[2]
two_layer = sb.Network(n_in=3, layers=[sb.Dense(4, "relu"), sb.Dense(1)], loss=half_squared)
