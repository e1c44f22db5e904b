"""A residual MLP block: out = h + W2 relu(W1 h + b1), trained with squared loss."""

import symback as sb

block = sb.DAG("residual")
h = block.input("h", 4)
W1, b1 = block.param("W1", (4, 4)), block.param("b1", 4)
W2 = block.param("W2", (4, 4))
r = block.map("r", block.linear("u", W1, h, b1), "relu")
out = block.add("out", h, block.linear("v", W2, r))
block.loss(out, "mse")
