"""UDL (Prince, Understanding Deep Learning), the matrix forward and backward pass.

The lecture's network: one input, three hidden layers of three ReLU units,
one output, least-squares loss l = (f_3 - y)^2. In UDL's indexing
f_0 = beta_0 + Omega_0 x, h_1 = a[f_0], ..., f_3 = beta_3 + Omega_3 h_3.

    symback derive examples/udl_toy.py --notation udl
"""

import symback as sb

net = sb.Network(
    n_in=1,
    layers=[sb.Dense(3, "relu"), sb.Dense(3, "relu"), sb.Dense(3, "relu"), sb.Dense(1)],
    loss="mse",
)
