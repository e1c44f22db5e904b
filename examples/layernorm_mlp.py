"""A digits MLP with layer normalisation after its hidden layer and a softmax layer: derived, compiled, trained.

    symback derive examples/layernorm_mlp.py --notation udl    # dl/dh_1 = (n g - sum g - xhat sum g xhat)/(n sigma)
    .venv/bin/python examples/layernorm_mlp.py                  # train the compiled kernel, print the accuracy

Per sample, over the 32 hidden features: mu = mean(h), sigma = sqrt(mean(h^2) - mu^2 + eps) (eps = 1e-5 inside the
square root, as torch.nn.LayerNorm), xhat = (h - mu)/sigma, n = gamma * xhat + beta. gamma starts at 1 and beta at 0,
as in PyTorch; weight decay would leave both alone (their kinds are "scale" and "shift", not "weight"). The softmax
is a layer of its own, p = softmax(f_2), scored by the squared error against the one-hot class (the Brier score), so
its VJP p * (g - sum_j g_j p_j) shows (cross-entropy on logits would fold it into p - e_y).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

import symback as sb

net = sb.Network(64, [sb.Dense(32, "relu"), sb.LayerNorm(eps=1e-5), sb.Dense(10), sb.Softmax()], loss="mse",
                 name="layernorm_mlp")


def main(epochs: int = 15) -> int:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X / 16.0, y, test_size=0.25, random_state=0, stratify=y)
    path = Path.home() / ".cache" / "symback" / "layernorm_mlp.py"
    path.parent.mkdir(parents=True, exist_ok=True)
    module = net.derive().compile(path, force=True)
    params = module.init_params(seed=0)
    losses = module.train(params, X_train, np.eye(10)[y_train], lr=0.5, epochs=epochs, batch_size=32)
    accuracy = np.mean(np.argmax(module.forward(params, X_test), axis=1) == y_test)
    print(f"loss {losses[0]:.3f} -> {losses[-1]:.3f}; test accuracy {accuracy:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
