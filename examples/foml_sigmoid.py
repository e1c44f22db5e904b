"""FoML, Backpropagation: a three-layer network of sigmoid units.

s^(l) = W^(l) x^(l-1) + b^(l), x^(l) = sigma(s^(l)) for l = 1, 2, 3, with
the squared loss on x^(3). SymPy derives sigma' and symback writes it
through the stored output, sigma'(s^(l)) = x^(l) (1 - x^(l)).

    symback derive examples/foml_sigmoid.py --notation foml
"""

import symback as sb

net = sb.Network(
    n_in=2,
    layers=[sb.Dense(3, "sigmoid"), sb.Dense(3, "sigmoid"), sb.Dense(2, "sigmoid")],
    loss="mse",
)
