"""CS231n's batch-normalised fully connected net (assignment 2): affine - batchnorm - relu - affine - softmax.

    symback derive examples/cs231n_batchnorm.py --notation cs229   # the compact batch-norm backward pass
    .venv/bin/python examples/cs231n_batchnorm.py                    # train the compiled kernel on the digits

Batch normalisation in training mode: each feature of f_1 is standardised by the minibatch's mean mu_1
and standard deviation sigma_1 = sqrt(1/B sum_b (f_1[b] - mu_1)^2 + eps) (eps inside the root, as
CS231n and PyTorch), then scaled by gamma_1 and shifted by beta_1. The input gradient is derived by
SymPy and simplified to CS231n's batchnorm_backward_alt:
dl/df_1 = gamma_1 / (B sigma_1) (B g - sum_b g[b] - xhat_1 sum_b g[b] xhat_1[b]), g = dl/dbn_1.
The compiled module uses the batch's statistics in forward() too (training mode; no running averages).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

import symback as sb

net = sb.Network(64, [sb.Dense(64), sb.BatchNorm(eps=1e-5), sb.Activation("relu"), sb.Dense(10)],
                 loss="softmax_cross_entropy", name="cs231n_batchnorm")


def main(epochs: int = 20) -> int:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X / 16.0, y, test_size=0.25, random_state=0, stratify=y)
    path = Path.home() / ".cache" / "symback" / "cs231n_batchnorm.py"
    path.parent.mkdir(parents=True, exist_ok=True)
    module = net.derive().compile(path, force=True)
    params = module.init_params(seed=0)
    losses = module.train(params, X_train, y_train, lr=0.1, epochs=epochs, batch_size=32)
    accuracy = np.mean(np.argmax(module.forward(params, X_test), axis=1) == y_test)  # batch statistics of the test set
    print(f"loss {losses[0]:.3f} -> {losses[-1]:.3f}; test accuracy {accuracy:.3f} (batch statistics)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
