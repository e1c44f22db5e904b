"""The PyTorch bridge: an ``nn.Sequential`` MLP -> a `Network`; its weights -> a module's parameters, and back.

Stage: facade (beside `api`, above the front ends). Input: a torch model of ``nn.Linear`` layers, each
followed by at most one activation module, and a named loss; or a ``state_dict``. Output: the `Network`
with the same widths and activations (``derive`` gives its equations, ``compile`` a standalone kernel),
or parameter arrays copied between a state dict and a generated module's parameters. The layouts agree:
``W_k`` is PyTorch's ``weight`` (out, in), ``b_k`` its ``bias`` (out,). Values are copied bit for bit,
in their own dtype. torch is imported inside the functions that need it: symback and the modules it
generates never import it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np
import sympy as sp

from .declare.network import Dense, Network
from .errors import SymbackError
from .library import Z


def _exact(x) -> sp.Rational:
    """A module's float setting (a slope, a scale) as the decimal it prints as: 0.2 -> 1/5."""
    return sp.Rational(repr(float(x)))


#: torch activation module -> symback's activation (a name, or a SymPy expression of its settings)
ACTIVATIONS = {
    "ReLU": lambda m: "relu",
    "Sigmoid": lambda m: "sigmoid",
    "Tanh": lambda m: "tanh",
    "SiLU": lambda m: "swish",
    "LeakyReLU": lambda m: "leaky_relu" if m.negative_slope == 0.01 else
    sp.Piecewise((Z, Z > 0), (_exact(m.negative_slope) * Z, True)),
    "ELU": lambda m: "elu" if m.alpha == 1 else sp.Piecewise((Z, Z > 0), (_exact(m.alpha) * (sp.exp(Z) - 1), True)),
    # torch's Softplus is linear above `threshold` (20): it differs from log(1 + e^z) by less than 3e-9 there
    "Softplus": lambda m: "softplus" if m.beta == 1 else sp.log(1 + sp.exp(_exact(m.beta) * Z)) / _exact(m.beta),
    "GELU": lambda m: "gelu" if m.approximate == "none" else
    Z / 2 * (1 + sp.tanh(sp.sqrt(2 / sp.pi) * (Z + sp.Rational("0.044715") * Z**3))),
    "Softsign": lambda m: Z / (1 + sp.Abs(Z)),
}
#: loss names PyTorch users write, as symback's (any name of `sb.LOSSES` works too)
LOSS_NAMES = {"cross_entropy": "softmax_cross_entropy", "cross-entropy": "softmax_cross_entropy",
              "ce": "softmax_cross_entropy", "bce-with-logits": "bce_with_logits"}
_SUPPORTED = "Linear (with its bias), each followed by at most one of Identity, " + ", ".join(ACTIVATIONS)


def _torch():
    try:
        import torch
    except ImportError:
        raise ImportError("the PyTorch bridge needs torch (pip install torch); symback and its modules do not") \
            from None
    return torch


def from_torch(model, loss="mse", reduction: str = "mean", name: str | None = None) -> Network:
    """The `Network` of a torch ``nn.Sequential`` of Linear layers and activations, with a named loss.

    ``loss`` is one of symback's (``"mse"``: the sum of squares per sample, ``"softmax_cross_entropy"``
    alias ``"cross_entropy"``, ``"bce"``, ``"bce_with_logits"``, ``"huber"``), averaged over the batch
    (``reduction="sum"``: summed). Copy the weights with `load_torch_state`.
    """
    torch = _torch()
    if not isinstance(model, torch.nn.Sequential):
        raise TypeError(f"from_torch: expected a torch.nn.Sequential of {_SUPPORTED}; got {type(model).__name__}")
    layers: list[list] = []  # [n_out, activation or None] per Linear
    n_in = None
    for index, m in enumerate(model):
        kind = type(m).__name__
        if isinstance(m, torch.nn.Linear):
            if m.bias is None:
                raise SymbackError(f"from_torch: layer {index} (Linear) has no bias (bias=False); symback's Dense "
                                   "always has one: build the model with bias=True")
            given = layers[-1][0] if layers else n_in
            if given is not None and m.in_features != given:
                raise SymbackError(f"from_torch: layer {index} (Linear) takes {m.in_features} inputs but the layer "
                                   f"before it gives {given}")
            n_in = m.in_features if n_in is None else n_in
            layers.append([m.out_features, None])
        elif kind == "Identity":
            continue
        elif kind not in ACTIVATIONS:
            raise SymbackError(f"from_torch: layer {index} ({kind}) is not supported; supported: {_SUPPORTED}")
        elif not layers or layers[-1][1] is not None:
            where = "comes first" if not layers else "follows another activation"
            raise SymbackError(f"from_torch: layer {index} ({kind}) {where}; symback's Dense is a Linear layer "
                               "followed by at most one activation")
        else:
            layers[-1][1] = ACTIVATIONS[kind](m)
    if not layers:
        raise SymbackError(f"from_torch: the model has no Linear layer; supported: {_SUPPORTED}")
    loss = LOSS_NAMES.get(loss, loss) if isinstance(loss, str) else loss
    return Network(n_in, [Dense(n, act or "identity") for n, act in layers], loss=loss, reduction=reduction,
                   name=name)


def _layer_names(params) -> list[tuple[str, str]]:
    """(W_k, b_k) per layer of a Network module's parameters, checked: a dict with exactly W1, b1, ..., WK, bK."""
    if not isinstance(params, Mapping):
        raise TypeError(f"params: expected the module's parameters (a dict of arrays), got {type(params).__name__}")
    found = {m[1]: int(m[2]) for k in params if (m := re.fullmatch(r"([Wb])([1-9]\d*)", str(k)))}
    depth = max(found.values(), default=0)
    want = [(f"W{k}", f"b{k}") for k in range(1, depth + 1)]
    names = [n for pair in want for n in pair]
    if extra := [k for k in params if k not in names]:
        raise SymbackError(f"params: {extra[0]!r} is not a Linear layer's parameter; expected W1, b1, ..., W{depth}, "
                           f"b{depth} (a module compiled from sb.from_torch)")
    if missing := [n for n in names if n not in params]:
        raise SymbackError(f"params: missing {missing[0]!r}; expected W1, b1, ..., W{depth}, b{depth}")
    if not names:
        raise SymbackError("params: no parameters W1, b1, ...; pass the module's init_params() or the module")
    return want


def _layer_keys(state_dict, depth: int) -> list[tuple[str, str]]:
    """(weight key, bias key) per Linear layer of a state dict, in order, checked against `depth` layers."""
    if not isinstance(state_dict, Mapping):
        raise TypeError(f"state_dict: expected a dict of tensors (model.state_dict()), got {type(state_dict).__name__}")
    prefixes: dict[str, list[str]] = {}
    for key in state_dict:
        prefix, _, suffix = str(key).rpartition(".")
        if suffix not in ("weight", "bias"):
            raise SymbackError(f"state_dict: unexpected {key!r}; a Linear layer has only a weight and a bias")
        prefixes.setdefault(prefix, []).append(suffix)
    pairs = [tuple(f"{p}.{suffix}" if p else suffix for suffix in ("weight", "bias")) for p in prefixes]
    for pair in pairs:
        if missing := [k for k in pair if k not in state_dict]:
            raise SymbackError(f"state_dict: missing {missing[0]!r} (each Linear layer has a weight and a bias)")
    if len(pairs) < depth:
        raise SymbackError(f"state_dict: {len(pairs)} Linear layers for the module's {depth}; missing the tensors "
                           f"of W{len(pairs) + 1}, b{len(pairs) + 1}")
    if len(pairs) > depth:
        raise SymbackError(f"state_dict: unexpected {pairs[depth][0]!r}; the module has {depth} Linear layers")
    return pairs


def _matched(params, state_dict) -> list[tuple[str, str, np.ndarray]]:
    """(parameter, state dict key, the tensor's values) per parameter, every type and shape checked."""
    names = _layer_names(params)
    out = []
    for name, key in (p for layer in zip(names, _layer_keys(state_dict, len(names))) for p in zip(*layer)):
        value = _numpy(state_dict[key], f"state_dict[{key!r}]")
        if value.shape != (shape := np.shape(params[name])):
            raise SymbackError(f"state_dict[{key!r}]: shape {value.shape}, but {name} has shape {shape}")
        out.append((name, key, value))
    return out


def load_torch_state(params, state_dict):
    """Copy a torch ``state_dict`` into a module's parameters in place and return them; checked before any copy.

    `params` is a module's ``init_params()`` (a ``Params``) or a dict of arrays ``W1, b1, ...``, or the
    module itself (then new parameters in the state dict's dtype). Layer k's ``weight`` and ``bias``
    (``0.weight``, ``0.bias``, ``2.weight``, ... in the model's order) go to ``W{k}`` and ``b{k}``, bit for
    bit: the dtypes must agree (float32 or float64).
    """
    if hasattr(params, "init_params") and hasattr(params, "PARAMS"):  # a generated module: new parameters
        first = next(iter(state_dict.values()), None) if isinstance(state_dict, Mapping) else None
        params = params.init_params(dtype=np.float64 if first is None else _numpy(first, "state_dict").dtype)
    matched = _matched(params, state_dict)
    for name, key, value in matched:
        target = params[name]
        if not isinstance(target, np.ndarray) or not target.flags.writeable:
            raise TypeError(f"params[{name!r}]: expected a writeable NumPy array, got {type(target).__name__}")
        if value.dtype != target.dtype:
            raise TypeError(f"state_dict[{key!r}]: dtype {value.dtype}, but params[{name!r}] is {target.dtype}; "
                            "make the parameters in that dtype (init_params(dtype=...)) or convert the model "
                            "(model.double() or model.float())")
    for name, _, value in matched:
        params[name][...] = value  # in place: a Params stays one packed buffer
    return params


def _numpy(tensor, where: str) -> np.ndarray:
    """A tensor's values as a float32 or float64 NumPy array (a copy on the CPU)."""
    torch = _torch()
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"{where}: expected a torch tensor, got {type(tensor).__name__}")
    if tensor.dtype not in (torch.float32, torch.float64):
        raise TypeError(f"{where}: dtype {tensor.dtype}; expected torch.float32 or torch.float64")
    return tensor.detach().cpu().numpy()


def to_torch_state(params, model) -> dict:
    """A ``state_dict`` for `model` (the torch model the parameters came from, or one of the same layers)
    holding the module's parameters, bit for bit in their own dtype: ``model.load_state_dict(...)`` takes it."""
    torch = _torch()
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model: expected the torch.nn.Module to name the tensors, got {type(model).__name__}")
    matched = _matched(params, model.state_dict())
    for name, _, _ in matched:
        value = params[name]
        if not isinstance(value, np.ndarray) or value.dtype not in (np.float32, np.float64):
            raise TypeError(f"params[{name!r}]: expected a float32 or float64 NumPy array, got "
                            f"{getattr(value, 'dtype', type(value).__name__)}")
    return {key: torch.from_numpy(np.array(params[name], copy=True)) for name, key, _ in matched}
