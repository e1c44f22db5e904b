"""A weight-decayed digits MLP: the network of train_digits.py with J = L + lambda/2 sum_k ||W_k||^2.

    symback derive examples/digits_decay.py --notation cs229    # dJ/dW^[k] = delta^[k] a^[k-1]T + 1/1000 W^[k]
    .venv/bin/python examples/digits_decay.py                     # train the compiled kernel, print the accuracy

lambda = 1e-3 (exact: 1/1000). The penalty is counted once per minibatch, on the weights only (not the
biases), as torch.optim.SGD(weight_decay=1e-3) does. Declared with ``weight_decay=sp.Symbol("lambda")``
the derivation prints lambda W^[k] instead; a kernel needs the number.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

import symback as sb

net = sb.Network(64, [sb.Dense(64, "relu"), sb.Dense(10)], loss="softmax_cross_entropy", name="digits_decay",
                 weight_decay=1e-3)


def main(epochs: int = 20) -> int:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X / 16.0, y, test_size=0.25, random_state=0, stratify=y)
    path = Path.home() / ".cache" / "symback" / "digits_decay.py"
    path.parent.mkdir(parents=True, exist_ok=True)
    module = net.derive().compile(path, force=True)
    params = module.init_params(seed=0)
    losses = module.train(params, X_train, y_train, lr=0.1, epochs=epochs, batch_size=32)
    accuracy = np.mean(np.argmax(module.forward(params, X_test), axis=1) == y_test)
    print(f"objective (loss + decay) {losses[0]:.3f} -> {losses[-1]:.3f}; test accuracy {accuracy:.3f}; "
          f"sum of squared weights {sum(float((params[w] ** 2).sum()) for w in ('W1', 'W2')):.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
