"""CS 7643, Gradient Descent and Neural Networks: softmax with cross-entropy, and the sigmoid perceptron.

The softmax classifier scores s = W x + b and takes the loss
L = -log softmax(s)_y; its gradient collapses to p - onehot(y).

The sigmoid perceptron is one sigmoid unit with the cross-entropy loss;
sigmoid' cancels against the loss, so the update rule is
w <- w - alpha (sigma - y) x. (The slides' variant with the squared loss
keeps the factor sigma (1 - sigma): declare it with loss="mse".)

    symback derive examples/cs7643_softmax.py:softmax_classifier
    symback derive examples/cs7643_softmax.py:perceptron
"""

import symback as sb

softmax_classifier = sb.Network(n_in=4, layers=[sb.Dense(3)], loss="softmax_cross_entropy")

perceptron = sb.Network(n_in=3, layers=[sb.Dense(1, "sigmoid")], loss="bce")
