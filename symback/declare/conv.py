"""Front end for convolutional networks: `Conv1D`, `Conv2D`, `MaxPool`, `AvgPool`, `Flatten` and image inputs.

An image is a value of shape C x H x W (or C x L in 1-D), stored flat (C*H*W entries, row-major) with its shape in
``meta.geometry``; a kernel is a parameter matrix C_out x C_in*kh*kw (PyTorch's weight, reshaped). Each layer
follows `Network`'s protocol (``lower(g, prev, k, n_in)``, ``width(n_in)``; a conv opens a layer index as `Dense`
does) and is a DAG module when called: ``h = sb.Conv2D(8, 3, padding=1)(g, "x", k=1)``.

Bad geometry fails here, in one line: a kernel larger than the padded input, a stride that leaves a rest, a channel
count that differs from the input's, negative padding.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, replace

import sympy as sp

from .. import library
from ..errors import SymbackError
from ..ir import Meta
from ..ops import conv, pool
from ..ops.conv import Geometry, grad_indices, out_size
from .dag import DAG, _Decl, width
from .layers import checked_activation

#: the most entries one value of a sample (an image, a layer's output) or one parameter may have: 2**26 float64s are
#: 512 MB, so a 10^4 x 10^4 image is refused when declared rather than allocated (or hung on) when run
MAX_ENTRIES = 2**26
#: the most taps of a max-pool window: its max is written tap by tap, and deriving it grows with the square of the
#: taps (64 x 64 takes seconds; 256 x 256 would take many minutes)
MAX_TAPS = 64 * 64


def size(shape: tuple):
    """C*H*W: an int when every entry is one (as `width` wants), else a SymPy product."""
    return math.prod(shape) if all(isinstance(n, int) for n in shape) else sp.Mul(*shape)


def fits(n, what: str) -> None:
    """A one-line error when `n` (an int: entries of a value or a parameter) exceeds `MAX_ENTRIES`."""
    if isinstance(n, int) and n > MAX_ENTRIES:
        raise SymbackError(f"{what} has {n:,} entries, more than symback's limit of {MAX_ENTRIES:,} "
                           f"({MAX_ENTRIES * 8 // 2**20:,} MB of float64) per sample or parameter")


def image_shape(shape, where: str) -> tuple:
    """(C, H, W) or (C, L): positive integers or SymPy symbols, at most `MAX_ENTRIES` in all."""
    if not isinstance(shape, (tuple, list)) or len(shape) not in (2, 3):
        raise SymbackError(f"{where}: an image shape is (C, H, W) or (C, L), got {shape!r:.60}")
    shape = tuple(width(n, where) for n in shape)
    fits(size(shape), f"{where}: the image {_axes_text(shape)}")
    return shape


def image_input(g: DAG, name: str, shape) -> str:
    """A per-sample image input of shape (C, H, W) or (C, L), stored flat."""
    shape = image_shape(shape, f"input {name}")
    geometry = Geometry("image", shape, shape)
    return g._declare(_Decl(name, "input", (), (size(shape),), meta=Meta(kind="input", geometry=geometry)))


def check_shapes(n_in, layers: list) -> None:
    """Each layer's output shape from the one before, so a conv's kernel, stride or channel count that does not
    fit, an image given to a layer of vectors, or a value or weight matrix too large to hold fails when the network
    is declared, naming both layers."""
    for k, layer in enumerate(layers, 1):
        before = f"layer {k - 1}, {layers[k - 2]!r}" if k > 1 else "the input"
        try:
            if isinstance(n_in, tuple) and not getattr(layer, "takes_images", False):
                raise SymbackError(f"{layer!r} takes a vector, but its input is the image {_axes_text(n_in)}; "
                                   "put sb.Flatten() before it")
            n_out = layer.width(n_in)
            fits(size(n_out) if isinstance(n_out, tuple) else n_out, f"its output {_axes_text(n_out)}")
            if getattr(layer, "opens_layer", False) and not isinstance(n_in, tuple):  # a Dense: an n_out x n_in weight matrix
                fits(size((n_out, n_in)), f"its weight matrix {n_out} x {n_in}")
        except SymbackError as exc:
            raise SymbackError(f"layer {k} after {before}: {exc}") from None
        n_in = n_out


def shape_of(g: DAG, value: str) -> tuple:
    """The C x H x W shape of a declared value: an image input, a conv or pool, or an activation of one."""
    decl = g._decls.get(value)
    while decl is not None and decl.meta.geometry is None and decl.op == "ew" and len(decl.args) == 1:
        decl = g._decls.get(decl.args[0])
    if decl is None or decl.meta.geometry is None:
        raise SymbackError(f"{value} is not an image: declare it with image_input or as a conv/pool output first")
    return decl.meta.geometry.shape_out


def _per_axis(value, dims: int, what: str, least: int) -> tuple:
    """An int (NumPy's too) or one int per spatial axis, each at least `least`."""
    values = tuple(value) if isinstance(value, (tuple, list)) else (value,) * dims
    if len(values) != dims or any(isinstance(v, bool) or not isinstance(v, numbers.Integral) for v in values):
        raise SymbackError(f"{what} must be an integer or {dims} integers, got {value!r:.40}")
    if any(v < least for v in values):
        raise SymbackError(f"{what} must be at least {least}, got {value!r:.40}")
    return tuple(int(v) for v in values)


def _setting(value, what: str, least: int):
    """A pool's setting before its input says 1-D or 2-D: an int, or a tuple of 1 or 2 ints, each at least
    `least`."""
    dims = len(value) if isinstance(value, (tuple, list)) and len(value) in (1, 2) else 1
    values = _per_axis(value, dims, what, least)
    return values if isinstance(value, (tuple, list)) else values[0]


def _short(values):
    """One number when every axis has it: stride=2 rather than stride=(2, 2)."""
    if not isinstance(values, (tuple, list)):
        return values
    return values[0] if values and all(v == values[0] for v in values) else tuple(values)


def _axes_text(values) -> str:
    return "x".join(map(str, values)) if isinstance(values, (tuple, list)) else repr(values)[:40]


class _Spatial:
    """What conv and pool layers share: geometry from the input shape, a DAG call, the module's declaration."""

    dims: int | None
    takes_images = True

    def width(self, n_in) -> tuple:
        return self.geometry(n_in).shape_out

    def __call__(self, g: DAG, x: str, k: int = 1) -> str:
        """Declare this layer on the DAG `g` reading the image `x` (as layer `k`); returns its output's name."""
        return self.lower(g, x, k, shape_of(g, x))

    def _check_input(self, n_in) -> tuple:
        if not isinstance(n_in, tuple):
            raise SymbackError(f"{self!r}: its input must be an image (C, H, W) or (C, L), got width {n_in}; "
                               "give Network(n_in=(C, H, W))")
        dims = self.dims or len(n_in) - 1
        if len(n_in) - 1 != dims:
            raise SymbackError(f"{self!r} is {dims}-D but its input is {_axes_text(n_in)} ({len(n_in) - 1}-D)")
        return n_in

    def _spatial(self, n_in, kernel, stride, padding, dilation) -> tuple:
        return tuple(out_size(n_in[a + 1], kernel[a], stride[a], padding[a], dilation[a],
                              f"{self!r} on {_axes_text(n_in)}, {('height', 'width')[a] if len(kernel) == 2 else 'length'}")
                     for a in range(len(kernel)))

    def _module(self, g: DAG, name: str, op: str, args: tuple, geometry: Geometry, form, kind: str, k: int) -> str:
        out, flat = size(geometry.shape_out), size(geometry.shape_in)

        def build(shapes):
            if shapes[args[0]] != (flat,):
                raise SymbackError(f"module {name}: {args[0]} has shape {shapes[args[0]]}, expected "
                                   f"{_axes_text(geometry.shape_in)} = ({flat},)")
            return form, (out,)

        while name in g._decls:
            name += "_"
        return g._declare(_Decl(name, op, args, None, build, Meta(kind=kind, layer=k, geometry=geometry)))


@dataclass
class Conv(_Spatial):
    """A convolution layer ``h = a(conv(x, W) + b)`` with `out_channels` channels and a `kernel_size` kernel."""

    out_channels: int
    kernel_size: object
    stride: object = 1
    padding: object = 0
    dilation: object = 1
    in_channels: int | None = None
    activation: object = "identity"
    dims: int = 2

    opens_layer = True

    def __post_init__(self):
        what = repr(self)
        self.out_channels = _per_axis(self.out_channels, 1, f"{what}: out_channels", 1)[0]
        if self.in_channels is not None:
            self.in_channels = _per_axis(self.in_channels, 1, f"{what}: in_channels", 1)[0]
        self.kernel_size = _per_axis(self.kernel_size, self.dims, f"{what}: kernel_size", 1)
        self.stride = _per_axis(self.stride, self.dims, f"{what}: stride", 1)
        self.padding = _per_axis(self.padding, self.dims, f"{what}: padding", 0)
        self.dilation = _per_axis(self.dilation, self.dims, f"{what}: dilation", 1)
        self.fn = checked_activation(self.activation, what)

    def geometry(self, n_in) -> Geometry:
        n_in = self._check_input(n_in)
        if self.in_channels is not None and self.in_channels != n_in[0]:
            raise SymbackError(f"{self!r} expects {self.in_channels} input channels, but its input "
                               f"({_axes_text(n_in)}) has {n_in[0]}")
        out = self._spatial(n_in, self.kernel_size, self.stride, self.padding, self.dilation)
        fits(size((self.out_channels, n_in[0], *self.kernel_size)), f"{self!r}: its kernel")
        return Geometry("conv", n_in, (self.out_channels, *out), self.kernel_size, self.stride, self.padding,
                        self.dilation)

    def lower(self, g: DAG, prev: str, k: int, n_in) -> str:
        """``f_k = conv(h_{k-1}, W_k) + b_k`` and ``h_k = a(f_k)`` (no h_k for the identity)."""
        try:
            geometry = self.geometry(n_in)
        except SymbackError as exc:
            raise SymbackError(f"layer {k} (input {prev}): {exc}") from None
        w, b = f"W{k}", f"b{k}"
        g.param(w, (self.out_channels, n_in[0] * math.prod(self.kernel_size)), kind="weight", layer=k)
        g.param(b, (self.out_channels,), kind="bias", layer=k)
        geometry = replace(geometry, grad_indices=grad_indices(self.dims, prev, w, b))
        out = self._module(g, f"f{k}", "conv", (prev, w, b), geometry, conv.build(geometry, prev, w, b), "pre", k)
        if self.fn(library.Z) == library.Z:
            return out
        return g.map(f"h{k}", out, self.activation, kind="act", layer=k)

    def __repr__(self) -> str:
        channels = "" if self.in_channels is None else f"{self.in_channels} -> "
        extras = "".join(f", {n}={_short(getattr(self, n))!r}" for n, plain in (("stride", 1), ("padding", 0),
                                                                               ("dilation", 1))
                         if _short(getattr(self, n)) != plain)
        act = "" if self.activation == "identity" else f", {self.activation!r}"
        kernel = _axes_text(self.kernel_size) if isinstance(self.kernel_size, (tuple, list)) else self.kernel_size
        return f"Conv{self.dims}D({channels}{self.out_channels}, {kernel}{extras}{act})"


class _Unset:
    """An argument not given (None is a value, refused by the layer's checks)."""

    def __repr__(self) -> str:
        return "unset"


UNSET = _Unset()


def _either(given, alias, names: tuple, default=UNSET):
    """`kernel_size` (PyTorch's name) or the contract's `kernel`/`size`, not both; the default where neither."""
    if given is not UNSET and alias is not UNSET:
        raise TypeError(f"{names[0]}: give kernel_size={given!r} or {names[1]}={alias!r}, not both")
    chosen = given if given is not UNSET else alias if alias is not UNSET else default
    if chosen is UNSET:
        raise TypeError(f"{names[0]} needs its window size, as in {names[0]}(2) or {names[0]}(kernel_size=2)")
    return chosen


def Conv1D(out_channels, kernel_size=UNSET, stride=1, padding=0, dilation=1, in_channels=None, activation="identity",
           *, kernel=UNSET):
    """A 1-D convolution layer on inputs C x L; `kernel` is another name for `kernel_size` (3 when neither)."""
    size = _either(kernel_size, kernel, ("Conv1D", "kernel"), 3)
    return Conv(out_channels, size, stride, padding, dilation, in_channels, activation, dims=1)


def Conv2D(out_channels, kernel_size=UNSET, stride=1, padding=0, dilation=1, in_channels=None, activation="identity",
           *, kernel=UNSET):
    """A 2-D convolution layer on inputs C x H x W; `kernel` is another name for `kernel_size` (3 when neither)."""
    size = _either(kernel_size, kernel, ("Conv2D", "kernel"), 3)
    return Conv(out_channels, size, stride, padding, dilation, in_channels, activation, dims=2)


@dataclass
class Pool(_Spatial):
    """Max or average pooling (`mode`), 1-D or 2-D as its input; the stride is the kernel's unless given."""

    kernel_size: object
    stride: object = None
    padding: object = 0
    dilation: object = 1
    mode: str = "max"
    dims: int | None = None

    opens_layer = False

    def __post_init__(self):
        what = f"{self.mode.capitalize()}Pool"
        self.kernel_size = _setting(self.kernel_size, f"{what}: kernel_size", 1)
        if self.stride is not None:
            self.stride = _setting(self.stride, f"{what}: stride", 1)
        self.padding = _setting(self.padding, f"{what}: padding", 0)
        self.dilation = _setting(self.dilation, f"{what}: dilation", 1)

    def geometry(self, n_in) -> Geometry:
        n_in = self._check_input(n_in)
        dims, what = len(n_in) - 1, repr(self)
        kernel = _per_axis(self.kernel_size, dims, f"{what}: kernel_size", 1)
        stride = kernel if self.stride is None else _per_axis(self.stride, dims, f"{what}: stride", 1)
        padding = _per_axis(self.padding, dims, f"{what}: padding", 0)
        dilation = _per_axis(self.dilation, dims, f"{what}: dilation", 1)
        if any(2 * p > k for p, k in zip(padding, kernel)):
            raise SymbackError(f"{what}: padding {_axes_text(padding)} is more than half the kernel "
                               f"{_axes_text(kernel)}, so a window could hold padding alone")
        if self.mode == "max" and math.prod(kernel) > MAX_TAPS:
            raise SymbackError(f"{what}: a window of {math.prod(kernel):,} taps, more than the limit of {MAX_TAPS:,} "
                               "for a max (written tap by tap); pool in steps, e.g. two MaxPools")
        out = self._spatial(n_in, kernel, stride, padding, dilation)
        return Geometry(f"{self.mode}pool", n_in, (n_in[0], *out), kernel, stride, padding, dilation)

    def lower(self, g: DAG, prev: str, k: int, n_in) -> str:
        try:
            geometry = self.geometry(n_in)
        except SymbackError as exc:
            raise SymbackError(f"layer {k} (input {prev}): {exc}") from None
        geometry = replace(geometry, grad_indices=grad_indices(geometry.dims, prev))
        return self._module(g, f"pool{k}", "pool", (prev,), geometry, pool.build(geometry, prev), "value", k)

    def __repr__(self) -> str:
        extras = "".join(f", {n}={getattr(self, n)!r}" for n, plain in (("stride", None), ("padding", 0),
                                                                        ("dilation", 1)) if getattr(self, n) != plain)
        return f"{self.mode.capitalize()}Pool({self.kernel_size!r}{extras})"


def MaxPool(kernel_size=UNSET, stride=None, padding=0, dilation=1, *, size=UNSET):
    """Max pooling (1-D or 2-D, as its input): each window's largest entry; padding reads -inf. `size` is
    another name for `kernel_size`."""
    return Pool(_either(kernel_size, size, ("MaxPool", "size")), stride, padding, dilation, "max")


def AvgPool(kernel_size=UNSET, stride=None, padding=0, *, size=UNSET):
    """Average pooling (1-D or 2-D, as its input): each window's mean, padding counted as 0. `size` is another
    name for `kernel_size`."""
    return Pool(_either(kernel_size, size, ("AvgPool", "size")), stride, padding, 1, "avg")


class Flatten:
    """An image C x H x W as the vector of its C*H*W entries (row-major), for a `Dense` layer after it."""

    opens_layer = False
    takes_images = True

    def width(self, n_in):
        return size(n_in) if isinstance(n_in, tuple) else n_in

    def lower(self, g: DAG, prev: str, k: int, n_in) -> str:
        return prev  # the IR already stores images flat: nothing to compute

    def __repr__(self) -> str:
        return "Flatten()"
