"""Two convolutions on a C x H x W image of symbolic size (H, W SymPy symbols): the golden case of the conv
recursion, where the second layer's input gradient is the full convolution with the flipped kernel."""

import sympy as sp

import symback as sb

H, W = sp.symbols("H W")
net = sb.Network(n_in=(1, H, W), layers=[sb.Conv2D(4, 3, padding=1, activation="relu"), sb.Conv2D(2, 3, padding=1)],
                 loss="mse", name="cnn_symbolic")
