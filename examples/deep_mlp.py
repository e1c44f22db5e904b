"""Deep MLPs for the vanishing/exploding-gradient experiment (UDL, "Looking ahead to initialization").

Twenty hidden layers of 64 units and a linear read-out, least squares.
The chain rule multiplies twenty local factors a'(f_k) ⊙ Omega_kᵀ together:

    symback norms examples/deep_mlp.py:relu20 --init he,glorot -o relu.png
    symback norms examples/deep_mlp.py:relu20 examples/deep_mlp.py:tanh20 --init he,glorot -o he_glorot.png
    symback norms examples/deep_mlp.py:relu20 --init he --scale 0.5,1,2 -o scaled.png
"""

import symback as sb

DEPTH, WIDTH = 20, 64

relu20 = sb.Network(n_in=WIDTH, layers=[sb.Dense(WIDTH, "relu") for _ in range(DEPTH)] + [sb.Dense(10)], loss="mse")
tanh20 = sb.Network(n_in=WIDTH, layers=[sb.Dense(WIDTH, "tanh") for _ in range(DEPTH)] + [sb.Dense(10)], loss="mse")
