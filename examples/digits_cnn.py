"""Train a symback-generated CNN on scikit-learn's bundled 8x8 digits: conv 3x3 (8 channels), ReLU, max-pool, dense.

    .venv/bin/python examples/digits_cnn.py                 # >= 98% test accuracy
    .venv/bin/python examples/digits_cnn.py --epochs 10 --plot cnn.png

The derivation is SymPy's, in index form: the kernel's gradient is the correlation of the input with the upstream
delta, the input's the full convolution of the delta with the flipped kernel, max-pooling routes to the argmax
(``net.derive()`` prints them). The kernel is the module `symback compile` writes for `net` (generated/digits_cnn.py,
or compiled into a cache folder); each epoch is one compiled call of its `train`, as in train_digits.py.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import symback as sb

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_digits import ROOT, _progress, accuracy, load  # noqa: E402  (the MLP example's helpers)

net = sb.Network(n_in=(1, 8, 8), layers=[sb.Conv2D(8, 3, padding=1, activation="relu"), sb.MaxPool(2), sb.Flatten(),
                                         sb.Dense(10)], loss="softmax_cross_entropy", name="digits_cnn")


def kernel():
    """The generated module for `net`: generated/digits_cnn.py, else compiled into a cache folder."""
    path = ROOT / "generated" / "digits_cnn.py"
    if path.exists():
        spec = importlib.util.spec_from_file_location("digits_cnn_kernel", path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # Numba's cache looks the module up by name
        spec.loader.exec_module(module)
        return module
    path = Path.home() / ".cache" / "symback" / "digits_cnn.py"
    path.parent.mkdir(parents=True, exist_ok=True)
    return net.derive().compile(path, force=True)


def train(epochs: int = 30, batch: int = 32, lr: float = 0.01, seed: int = 0, progress: bool = True,
          optimizer: str = "adam", module=None):
    """Minibatch training (Adam by default) by the module's `train` (`module`: a compiled module of `net`, else
    `kernel()`); returns (params, history) with per-epoch loss and accuracies."""
    module = module or kernel()
    X_train, X_test, y_train, y_test = load(seed)
    params = module.init_params(seed=seed)
    history = {"loss": [], "train_acc": [], "test_acc": []}
    with _progress(progress) as bar:
        task = bar.add_task("training", total=epochs)

        def epoch_done(epoch, losses):
            history["train_acc"].append(accuracy(module, params, X_train, y_train))
            history["test_acc"].append(accuracy(module, params, X_test, y_test))
            bar.update(task, completed=epoch, description=f"epoch {epoch}/{epochs} loss {losses[-1]:.3f}")

        losses = module.train(params, X_train, y_train, lr, epochs=epochs, batch_size=batch, seed=seed,
                              optimizer=optimizer, callback=epoch_done)
    history["loss"] = losses.tolist()
    return params, history


def plot(history, path: Path) -> None:
    """The loss and test-accuracy curves, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    ax.plot(history["loss"], color="tab:red", label="training loss")
    ax2 = ax.twinx()
    ax2.plot(history["test_acc"], color="tab:blue", label="test accuracy")
    ax.set_xlabel("epoch")
    ax.set_title(f"8x8 digits, symback CNN kernel: {history['test_acc'][-1]:.1%} test accuracy")
    fig.legend(loc="center right")
    fig.savefig(path)
    plt.close(fig)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--optimizer", choices=("sgd", "adam", "adamw"), default="adam")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--plot", type=Path, default=Path("digits_cnn_curve.png"))
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    args = p.parse_args(argv)
    _, history = train(args.epochs, args.batch, args.lr, args.seed, progress=not args.quiet,
                         optimizer=args.optimizer)
    plot(history, args.plot)
    print(f"test accuracy {history['test_acc'][-1]:.2%} after {args.epochs} epochs; curve saved to {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
