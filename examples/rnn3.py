"""A vanilla RNN unrolled three steps (backpropagation through time), with squared loss on the last output.

    a_t = W h_{t-1} + U x_t + b,   h_t = tanh(a_t)   (t = 1, 2, 3; h_0 = 0)
    out = V h_3 + c,               l = ||out - y||^2

W, U and b are shared by the steps, so dl/dW sums one share per use
(dl/dW (via r3) + dl/dW (via r2)), as do dl/dU and dl/db.
"""

import symback as sb

rnn = sb.DAG("rnn3")
x1, x2, x3 = (rnn.input(f"x{t}", 2) for t in (1, 2, 3))
W, U, b = rnn.param("W", (3, 3)), rnn.param("U", (3, 2)), rnn.param("b", 3)
V, c = rnn.param("V", (2, 3)), rnn.param("c", 2)
h1 = rnn.map("h1", rnn.linear("a1", U, x1, b), "tanh")
h2 = rnn.map("h2", rnn.add("a2", rnn.linear("r2", W, h1), rnn.linear("s2", U, x2, b)), "tanh")
h3 = rnn.map("h3", rnn.add("a3", rnn.linear("r3", W, h2), rnn.linear("s3", U, x3, b)), "tanh")
rnn.loss(rnn.linear("out", V, h3, c), "mse")
