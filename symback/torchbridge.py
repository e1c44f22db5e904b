"""The PyTorch bridge: an ``nn.Sequential`` -> a `Network`; its weights -> a module's parameters, and back.

Stage: facade (beside `api`, above the front ends). Input: a torch model of the layers in `LAYERS` (Linear,
Conv1d/2d, BatchNorm1d, LayerNorm, Dropout, Softmax, MaxPool/AvgPool 1d/2d, Flatten) and the activations of
`ACTIVATIONS`, and a named loss; or a ``state_dict``. Output: the `Network` with the same layers (``derive``
gives its equations, ``compile`` a standalone kernel), or parameter arrays copied between a state dict and a
generated module's parameters. The layouts agree: ``W_k`` is PyTorch's ``weight`` (out, in) of a Linear, its
conv weight (out, in, kh, kw) reshaped to (out, in*kh*kw); ``b_k`` its ``bias``; ``gamma_k``, ``beta_k`` a
norm layer's ``weight``, ``bias``. Values are copied bit for bit, in their own dtype. BatchNorm1d is symback's
training-mode BatchNorm (the batch's own mean and variance): its running_mean/running_var are not used; loading
skips them and `to_torch_state` passes the model's own through unchanged. torch is imported inside the
functions that need it: symback and the modules it generates never import it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import replace
from functools import partial

import numpy as np
import sympy as sp

from .declare.conv import Conv, Flatten, Pool, image_shape
from .declare.dag import width
from .declare.dropout import Dropout
from .declare.layernorm import LayerNorm, Softmax
from .declare.layers import Activation, BatchNorm
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


class _Refused(SymbackError):
    """A torch module's setting symback has no equivalent for (the message follows "layer i (Kind)")."""


def _image(shape) -> None:
    """Refuse, in one line naming input_shape, a conv or pooling layer whose input is not an image."""
    if not isinstance(shape, tuple):
        given = "" if shape is None else f" (its input is a vector of width {shape})"
        raise _Refused(f"needs an image input{given}: pass input_shape=(C, H, W), or (C, L) in 1-D, to from_torch")


def _features(n: int, shape, before: str, what: str = "inputs") -> None:
    """A vector layer's declared width against the width it is given."""
    if isinstance(shape, tuple):
        raise _Refused(f"reads an image ({'x'.join(map(str, shape))}); put nn.Flatten() before it")
    if n != shape:
        raise _Refused(f"takes {n} {what} but {before} gives {shape}")


def _biased(m) -> None:
    if m.bias is None:
        raise _Refused("has no bias (bias=False); symback's layer always has one: build the model with bias=True")


def _one(value):
    """One number when every axis has it (kernel_size=(2, 2) -> 2), as symback's layers print it."""
    return value[0] if isinstance(value, tuple) and len(set(value)) == 1 else value


def _linear(m, shape, before):
    _biased(m)
    _features(m.in_features, shape, before)
    return Dense(m.out_features)


def _conv(m, shape, before):
    _image(shape)
    if m.groups != 1:
        raise _Refused(f"has groups={m.groups}; symback's convolutions connect every input channel (groups=1)")
    if m.padding_mode != "zeros":
        raise _Refused(f"has padding_mode={m.padding_mode!r}; symback pads with zeros only (padding_mode='zeros')")
    _biased(m)
    padding = m.padding
    if padding in ("valid", "same"):  # torch's names; "same" pads d*(k-1)/2 a side (stride 1)
        total = [0 if padding == "valid" else d * (k - 1) for d, k in zip(m.dilation, m.kernel_size)]
        if any(t % 2 for t in total):
            raise _Refused("has padding='same' with an even kernel, which pads one side more than the other; "
                           "symback pads both sides alike: give the padding as numbers")
        padding = tuple(t // 2 for t in total)
    return Conv(m.out_channels, _one(m.kernel_size), _one(m.stride), _one(padding), _one(m.dilation),
                m.in_channels, dims=len(m.kernel_size))


def _pool(m, shape, before, mode: str, dims: int):
    _image(shape)
    if m.ceil_mode:
        raise _Refused("has ceil_mode=True; symback's pooling windows tile the input exactly (ceil_mode=False)")
    if getattr(m, "return_indices", False):
        raise _Refused("has return_indices=True; symback's pooling returns the pooled values only")
    if getattr(m, "divisor_override", None) is not None:
        raise _Refused("has a divisor_override; symback's average divides by the kernel's size")
    if mode == "avg" and not m.count_include_pad and any(np.atleast_1d(m.padding)):
        raise _Refused("has count_include_pad=False with padding; symback's average counts the padding's zeros "
                       "in each window's size (count_include_pad=True)")
    kernel, stride = _one(m.kernel_size), _one(m.stride)
    return Pool(kernel, None if stride == kernel else stride, _one(m.padding), _one(getattr(m, "dilation", 1)), mode,
                dims)


def _batchnorm(m, shape, before):
    if not m.affine:
        raise _Refused("has affine=False; symback's BatchNorm always learns gamma and beta: build it with "
                       "affine=True")
    _features(m.num_features, shape, before, "features")
    return BatchNorm(eps=m.eps)


def _layernorm(m, shape, before):
    if len(m.normalized_shape) != 1:
        raise _Refused(f"normalizes over {tuple(m.normalized_shape)}; symback's LayerNorm normalises the features "
                       "of a vector: normalized_shape must be one width")
    if not m.elementwise_affine or m.bias is None:
        raise _Refused("has no weight or bias (elementwise_affine=False or bias=False); symback's LayerNorm always "
                       "learns gamma and beta")
    _features(m.normalized_shape[0], shape, before, "features")
    return LayerNorm(eps=m.eps)


def _softmax(m, shape, before):
    if m.dim not in (1, -1):
        raise _Refused(f"has dim={m.dim}; symback's Softmax is over each sample's features: dim=1 or dim=-1")
    _features(shape, shape, before)  # refuses an image only
    return Softmax()


def _flatten(m, shape, before):
    if (m.start_dim, m.end_dim) != (1, -1):
        raise _Refused(f"has start_dim={m.start_dim}, end_dim={m.end_dim}; symback flattens each sample whole "
                       "(start_dim=1, end_dim=-1)")
    return Flatten()


#: torch layer -> the symback layer of a module ``(m, shape it reads, what gives it)``, or a one-line refusal
LAYERS = {"Linear": _linear, "Conv1d": _conv, "Conv2d": _conv, "BatchNorm1d": _batchnorm, "LayerNorm": _layernorm,
          "Dropout": lambda m, shape, before: Dropout(m.p), "Softmax": _softmax, "Flatten": _flatten,
          **{f"{mode.capitalize()}Pool{d}d": partial(_pool, mode=mode, dims=d) for mode in ("max", "avg")
             for d in (1, 2)}}
#: the width a vector layer declares: the network's input width when it comes first
_TAKES = {"Linear": lambda m: m.in_features, "BatchNorm1d": lambda m: m.num_features,
          "LayerNorm": lambda m: m.normalized_shape[-1]}
_SUPPORTED = ", ".join(LAYERS) + ", Identity and the activations " + ", ".join(ACTIVATIONS)


def _torch():
    try:
        import torch
    except ImportError:
        raise ImportError("the PyTorch bridge needs torch (pip install torch); symback and its modules do not") \
            from None
    return torch


def from_torch(model, loss="mse", reduction: str = "mean", name: str | None = None, input_shape=None) -> Network:
    """The `Network` of a torch ``nn.Sequential`` (the layers of `LAYERS` and activations), with a named loss.

    ``loss`` is one of symback's (``"mse"``: the sum of squares per sample, ``"softmax_cross_entropy"``
    alias ``"cross_entropy"``, ``"bce"``, ``"bce_with_logits"``, ``"huber"``), averaged over the batch
    (``reduction="sum"``: summed). A model with a conv or pooling layer needs ``input_shape=(C, H, W)`` (or
    ``(C, L)``); an MLP's input width comes from its first layer. An activation after a Linear or conv layer is
    that layer's; after another layer it is an `Activation`. Copy the weights with `load_torch_state`; compare
    with the model in training mode (BatchNorm1d's batch statistics, Dropout's mask).
    """
    torch = _torch()
    if not isinstance(model, torch.nn.Sequential):
        raise TypeError(f"from_torch: expected a torch.nn.Sequential of {_SUPPORTED}; got {type(model).__name__}")
    if input_shape is not None:
        image = isinstance(input_shape, (tuple, list))
        input_shape = image_shape(input_shape, "from_torch(input_shape)") if image else \
            width(input_shape, "from_torch(input_shape)")
    layers, shape, last = [], input_shape, None  # last: "open" (Linear/conv, no activation yet), "act", "other"
    for index, m in enumerate(model):
        kind = type(m).__name__
        where = f"from_torch: layer {index} ({kind})"
        try:
            if kind == "Identity":
                continue
            if kind in ACTIVATIONS:
                if last in (None, "act"):
                    place = "comes first" if not layers else "follows another activation" if last else \
                        "comes before any Linear or conv layer"
                    raise _Refused(f"{place}; a Linear or conv layer takes at most one activation after it")
                act = ACTIVATIONS[kind](m)
                if last == "open":  # the Linear or conv layer's own activation, as in Dense(n, "relu")
                    layers[-1] = replace(layers[-1], activation=act)
                else:
                    layers.append(Activation(act))
                last = "act"
                continue
            if kind not in LAYERS:
                raise _Refused(f"is not supported; supported: {_SUPPORTED}")
            if shape is None and kind in _TAKES:
                input_shape = shape = _TAKES[kind](m)
            layer = LAYERS[kind](m, shape, "the layer before it" if layers else "input_shape")
            shape = layer.width(shape)
        except _Refused as exc:
            raise SymbackError(f"{where} {exc}") from None
        except SymbackError as exc:
            raise SymbackError(f"{where}: {exc}") from None
        layers.append(layer)
        last = "open" if isinstance(layer, (Dense, Conv)) else "other" if any(
            isinstance(l, (Dense, Conv)) for l in layers) else None
    if not any(isinstance(layer, (Dense, Conv)) for layer in layers):
        raise SymbackError(f"from_torch: the model has no Linear layer or conv layer; supported: {_SUPPORTED}")
    loss = LOSS_NAMES.get(loss, loss) if isinstance(loss, str) else loss
    return Network(input_shape, layers, loss=loss, reduction=reduction, name=name)


_BUFFERS = ("running_mean", "running_var", "num_batches_tracked")  # BatchNorm1d's statistics, not used


def _pairs(params) -> list[tuple[str, str]]:
    """(weight, bias) parameter names per layer, in the parameters' order (the model's): ``(W{k}, b{k})`` of a
    Linear or conv layer, ``(gamma{k}, beta{k})`` of a norm layer; checked: every name is one, in whole pairs."""
    if not isinstance(params, Mapping):
        raise TypeError(f"params: expected the module's parameters (a dict of arrays), got {type(params).__name__}")
    pairs: list[tuple[str, str]] = []
    for name in params:
        if not (found := re.fullmatch(r"(W|b|gamma|beta)([1-9]\d*|0)(_[1-9]\d*)?", str(name))):
            raise SymbackError(f"params: {name!r} is not a layer's parameter; expected W1, b1, ... and the gamma, beta "
                               "of norm layers (a module compiled from sb.from_torch)")
        tag = found[2] + (found[3] or "")
        pair = (f"W{tag}", f"b{tag}") if found[1] in ("W", "b") else (f"gamma{tag}", f"beta{tag}")
        if pair not in pairs:
            pairs.append(pair)
    if missing := [n for pair in pairs for n in pair if n not in params]:
        raise SymbackError(f"params: missing {missing[0]!r}; each layer has a weight and a bias (W, b or gamma, beta)")
    if not pairs:
        raise SymbackError("params: no parameters W1, b1, ...; pass the module's init_params() or the module")
    return pairs


def _groups(state_dict) -> list[tuple[str, str, list[str]]]:
    """(weight key, bias key, running statistics' keys) per torch layer with parameters, in the state dict's order."""
    if not isinstance(state_dict, Mapping):
        raise TypeError(f"state_dict: expected a dict of tensors (model.state_dict()), got {type(state_dict).__name__}")
    prefixes: dict[str, list[str]] = {}
    for key in state_dict:
        prefix, _, suffix = str(key).rpartition(".")
        if suffix not in ("weight", "bias", *_BUFFERS):
            raise SymbackError(f"state_dict: unexpected {key!r}; a layer has only a weight and a bias (and "
                               "BatchNorm1d its running statistics)")
        prefixes.setdefault(prefix, []).append(key)
    groups = []
    for prefix, keys in prefixes.items():
        pair = [f"{prefix}.{suffix}" if prefix else suffix for suffix in ("weight", "bias")]
        if missing := [k for k in pair if k not in state_dict]:
            raise SymbackError(f"state_dict: missing {missing[0]!r} (each layer has a weight and a bias)")
        groups.append((*pair, [k for k in keys if k not in pair]))
    return groups


def _matched(params, state_dict) -> list[tuple[str, str, np.ndarray]]:
    """(parameter, state dict key, the tensor's values in the parameter's shape) per parameter, in the model's
    order, every type and shape checked: layer i of the state dict is the module's i-th pair of parameters."""
    pairs, groups = _pairs(params), _groups(state_dict)
    if len(groups) < len(pairs):
        raise SymbackError(f"state_dict: {len(groups)} layers with parameters for the module's {len(pairs)}; missing "
                           f"the tensors of {', '.join(pairs[len(groups)])}")
    if len(groups) > len(pairs):
        raise SymbackError(f"state_dict: unexpected {groups[len(pairs)][0]!r}; the module has {len(pairs)} layers "
                           "with parameters")
    out = []
    for pair, (*keys, statistics) in zip(pairs, groups):
        if statistics and pair[0].startswith("W"):
            raise SymbackError(f"state_dict: unexpected {statistics[0]!r}; a Linear or conv layer has only a weight "
                               "and a bias")
        for name, key in zip(pair, keys):
            value = _numpy(state_dict[key], f"state_dict[{key!r}]")
            shape = np.shape(params[name])
            if value.shape != shape and (value.ndim < 3 or (len(value), math.prod(value.shape[1:])) != shape):
                raise SymbackError(f"state_dict[{key!r}]: shape {value.shape}, but {name} has shape {shape}")
            out.append((name, key, value.reshape(shape)))  # a conv kernel (out, in, kh, kw) as (out, in*kh*kw)
    return out


def load_torch_state(params, state_dict):
    """Copy a torch ``state_dict`` into a module's parameters in place and return them; checked before any copy.

    `params` is a module's ``init_params()`` (a ``Params``) or a dict of arrays ``W1, b1, ...`` in its order, or
    the module itself (then new parameters in the state dict's dtype). The model's layers with parameters, in
    order (``0.weight``, ``0.bias``, ``1.weight``, ...), go to the module's pairs in order: a Linear's or conv's
    ``weight``, ``bias`` to ``W{k}``, ``b{k}`` (a conv kernel reshaped), a norm layer's to ``gamma``, ``beta``;
    BatchNorm1d's running statistics are skipped. Bit for bit: the dtypes must agree (float32 or float64).
    """
    if hasattr(params, "init_params") and hasattr(params, "PARAMS"):  # a generated module: new parameters
        weights = state_dict.items() if isinstance(state_dict, Mapping) else ()
        first = next((v for k, v in weights if str(k).rpartition(".")[2] == "weight"), None)
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
    holding the module's parameters, bit for bit in their own dtype (a conv kernel in torch's shape), and the
    model's own BatchNorm1d running statistics unchanged: ``model.load_state_dict(...)`` takes it."""
    torch = _torch()
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model: expected the torch.nn.Module to name the tensors, got {type(model).__name__}")
    state = model.state_dict()
    matched = _matched(params, state)
    for name, _, _ in matched:
        value = params[name]
        if not isinstance(value, np.ndarray) or value.dtype not in (np.float32, np.float64):
            raise TypeError(f"params[{name!r}]: expected a float32 or float64 NumPy array, got "
                            f"{getattr(value, 'dtype', type(value).__name__)}")
    ours = {key: torch.from_numpy(np.array(params[name], copy=True).reshape(state[key].shape))
            for name, key, _ in matched}
    return {key: ours[key] if key in ours else tensor.clone() for key, tensor in state.items()}
