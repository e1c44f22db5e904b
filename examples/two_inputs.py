"""Two feature vectors, concatenated, then a softmax classifier."""

import symback as sb

net = sb.DAG("two_inputs")
xa = net.input("xa", 3)
xb = net.input("xb", 2)
W1, b1 = net.param("W1", (4, 5)), net.param("b1", 4)
W2, b2 = net.param("W2", (3, 4)), net.param("b2", 3)
hidden = net.map("hid", net.linear("pre", W1, net.concat("xab", xa, xb), b1), "tanh")
net.loss(net.linear("logits", W2, hidden, b2), "softmax_cross_entropy")
