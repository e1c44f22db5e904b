"""The network of the assignment (a copy of examples/cs229_two_layer.py:two_layer, so the zip is self-contained).

CS229's two-layer ReLU network, J = 1/2 (y - o)^2: z^[1] = W^[1] x + b^[1], a^[1] = relu(z^[1]), o = W^[2] a^[1] + b^[2].
"""

import sympy as sp

import symback as sb

f, y = sp.symbols("f y")
two_layer = sb.Network(n_in=3, layers=[sb.Dense(4, "relu"), sb.Dense(1)], loss=(f - y) ** 2 / 2)
