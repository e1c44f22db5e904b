"""Inverted dropout on the digits MLP of train_digits.py, and the input gradient dJ/dx (an adversarial step).

    symback derive examples/dropout_digits.py --notation cs229 --wrt x   # d1 = 5/4 (a^[1] ∘ m1), dJ/dx
    symback check examples/dropout_digits.py --hand examples/hand/dropout_digits.txt --notation cs229 --wrt x
    .venv/bin/python examples/dropout_digits.py     # train the compiled kernel; the accuracy, then under attack

Dropout(0.2) after the hidden layer: d1 = m1 ∘ a^[1] / (1 - 1/5), with a mask m1 of zeros and ones drawn in each
training step of the compiled module (keep with probability 4/5; `seed_dropout` seeds it) and set to 4/5 in
forward() (dropout off). SymPy derives the backward dJ/da^[1] = 5/4 m1 ∘ dJ/dd1. The module of
``net.derive(wrt=["x"])`` also has ``input_grad``: one signed-gradient step on the test images (FGSM) shows how
far the accuracy falls.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

import symback as sb

net = sb.Network(64, [sb.Dense(64, "relu"), sb.Dropout(0.2), sb.Dense(10)], loss="softmax_cross_entropy",
                 name="dropout_digits")


def main(epochs: int = 30, eps: float = 0.1) -> int:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X / 16.0, y, test_size=0.25, random_state=0, stratify=y)
    path = Path.home() / ".cache" / "symback" / "dropout_digits.py"
    path.parent.mkdir(parents=True, exist_ok=True)
    module = net.derive(wrt=["x"]).compile(path, force=True)
    params = module.init_params(seed=0)
    module.seed_dropout(0)
    losses = module.train(params, X_train, y_train, lr=0.1, epochs=epochs, batch_size=32)
    accuracy = np.mean(module.predict(params, X_test) == y_test)
    attacked = np.clip(X_test + eps * np.sign(module.input_grad(params, X_test, y_test)), 0.0, 1.0)
    print(f"loss {losses[0]:.3f} -> {losses[-1]:.3f}; test accuracy {accuracy:.3f}, "
          f"{np.mean(module.predict(params, attacked) == y_test):.3f} after a signed-gradient step of {eps}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
