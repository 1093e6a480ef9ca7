"""Layers whose gradients stay on XLA:CPU's fast convolution path.

``flax.linen.ConvTranspose`` lowers to a convolution with ``lhs_dilation``
(the input is stride-dilated with zeros). Autodiff of that op yields a weight
gradient that is itself an lhs-dilated convolution, which XLA:CPU does not
send to its fast (Eigen) convolution kernels; a DCGAN generator then trains
several times slower than in PyTorch. ``conv_transpose`` below computes the
same function with a hand-written VJP that uses only ordinary convolutions
(window strides / rhs dilation, never lhs dilation), and optionally a
"sub-pixel" forward pass that avoids lhs dilation as well. ``conv`` / ``Conv``
are ordinary strided convolutions whose *input* gradient (which autodiff also
writes as an lhs-dilated convolution) goes through the same fast path.

Conventions throughout: activations NHWC ``[N, H, W, C]``, kernels HWIO
``[kh, kw, Cin, Cout]`` (flax's ``ConvTranspose`` layout, no spatial flip),
``padding`` is a pair ``(low, high)`` per spatial dim applied to the
stride-dilated input, exactly as in ``jax.lax.conv_transpose`` with
``transpose_kernel=False``.
"""

from __future__ import annotations

import functools
from typing import Any, Literal, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

Pads = tuple[tuple[int, int], ...]
Forward = Literal["auto", "dilated", "subpixel"]

_DN = ("NHWC", "HWIO", "NHWC")
# Weight-gradient conv: dy [N,Ho,Wo,Cout] is the lhs with N as the contracted
# feature dim and Cout as its batch dim; x [N,H,W,Cin] is the rhs with N as
# its input-feature dim. The result comes out as [kh, kw, Cin, Cout].
_DN_KERNEL_GRAD = ("CHWN", "IHWO", "HWCN")

# Output channels at or above which strided layers use the sub-pixel forward
# when ``forward='auto'``. Measured on a 2-core XLA:CPU (batch 64, k=4, s=2):
# the lhs-dilated conv is fastest for very narrow outputs (RGB: 32x32x64 ->
# 64x64x3 in ~5-10 ms vs ~15-20 ms) but degrades sharply from ~7 output
# channels on (x64 -> 8: ~55 ms vs ~25 ms; 16x16x128 -> 64: ~85 vs ~35 ms);
# from 16 channels up the sub-pixel forward is never meaningfully slower.
# See benchmarks/conv_transpose.py.
SUBPIXEL_MIN_FEATURES = 8
# ... and output sizes from which it pays: at 8x8 or 14x14 outputs (4x4x512 -> 8x8x256,
# 7x7x128 -> 14x14x64) the two forwards tie or the lhs-dilated conv wins inside a whole
# training step; at 16x16 and up (8x8x256 -> 16x16x128: ~42 vs ~21 ms) sub-pixel wins.
SUBPIXEL_MIN_SIZE = 16


# --------------------------------------------------------------------------
# Padding helpers
# --------------------------------------------------------------------------


def torch_padding(
    kernel_size: int | Sequence[int],
    padding: int | Sequence[int],
    output_padding: int | Sequence[int] = 0,
) -> Pads:
    """(low, high) pairs matching PyTorch ``ConvTranspose2d`` output sizes.

    ``ConvTranspose2d(k, stride=s, padding=p, output_padding=op)`` maps a size
    ``H`` to ``(H - 1) * s - 2p + k + op``; the pairs returned here,
    ``low = k - 1 - p`` and ``high = k - 1 - p + op``, give the same size with
    :func:`conv_transpose` / ``lax.conv_transpose``. The computed function is
    also PyTorch's, provided the kernel is flipped spatially: a PyTorch weight
    ``w_t`` of shape ``[Cin, Cout, kh, kw]`` corresponds to
    ``jnp.flip(w_t.transpose(2, 3, 0, 1), (0, 1))`` here.

    Args:
      kernel_size: ``k``, an int or one int per spatial dim.
      padding: PyTorch ``padding``, an int or one int per spatial dim.
      output_padding: PyTorch ``output_padding``, an int or one per dim.

    Returns:
      A tuple of ``(low, high)`` int pairs, one per spatial dim (2 when every
      argument is an int).
    """
    n = next((len(a) for a in (kernel_size, padding, output_padding)
              if isinstance(a, Sequence)), 2)
    ks, ps, ops = (_per_dim(a, n) for a in (kernel_size, padding, output_padding))
    return tuple((k - 1 - p, k - 1 - p + op) for k, p, op in zip(ks, ps, ops))


def _per_dim(a: int | Sequence[int], n: int) -> tuple[int, ...]:
    return (int(a),) * n if isinstance(a, (int, np.integer)) else tuple(map(int, a))


def _string_padding(k: int, s: int, padding: str) -> tuple[int, int]:
    """(low, high) for 'SAME'/'VALID', as ``lax.conv_transpose`` computes them.

    Mirrors ``jax._src.lax.convolution._conv_transpose_padding``: the string
    names the padding of the forward conv that this layer transposes, so
    'SAME' gives an output of size ``H * s`` and 'VALID' of size
    ``H * s + max(k - s, 0)``.
    """
    if padding == "SAME":
        pad_len = k + s - 2
        low = k - 1 if s > k - 1 else int(np.ceil(pad_len / 2))
    elif padding == "VALID":
        pad_len = k + s - 2 + max(k - s, 0)
        low = k - 1
    else:
        raise ValueError(f"Invalid padding mode: {padding!r}")
    return low, pad_len - low


def resolve_padding(
    padding: str | int | Sequence[int | tuple[int, int]],
    kernel_size: Sequence[int],
    strides: Sequence[int],
) -> Pads:
    """Canonicalise ``padding`` to a tuple of (low, high) pairs per dim.

    Accepts 'SAME' / 'VALID' (interpreted like ``flax.linen.ConvTranspose``
    and ``lax.conv_transpose``), an int (same pair on every side), or a
    sequence holding one int or one ``(low, high)`` pair per spatial dim.
    """
    n = len(kernel_size)
    if isinstance(padding, str):
        return tuple(_string_padding(k, s, padding.upper())
                     for k, s in zip(kernel_size, strides))
    if isinstance(padding, (int, np.integer)):
        return ((int(padding), int(padding)),) * n
    pads = tuple((int(p), int(p)) if isinstance(p, (int, np.integer))
                 else (int(p[0]), int(p[1])) for p in padding)
    if len(pads) != n:
        raise ValueError(f"padding {padding!r} does not have {n} entries")
    return pads


def output_size(size: int, k: int, s: int, pad: tuple[int, int]) -> int:
    """Spatial output size of :func:`conv_transpose` along one dim."""
    return (size - 1) * s + 1 + pad[0] + pad[1] - k + 1


# --------------------------------------------------------------------------
# Convolution building blocks
# --------------------------------------------------------------------------


def _conv(lhs, rhs, strides, pads, dimension_numbers=_DN, rhs_dilation=None):
    """Ordinary convolution (no lhs dilation) with possibly negative ``pads``.

    Negative padding is applied as a crop with ``lax.pad`` so that the conv
    itself only sees non-negative padding: XLA:CPU (jax 0.10) returns garbage
    for some convs with negative padding, e.g. an ``[1, 8, 7, 1]`` input, a
    3x3 kernel and padding ``((-3, 2), (0, 0))``. The lhs spatial dims must be axes
    ``1 .. ndim - 2`` (true for every layout used in this module).
    """
    # Dims with a negative side are padded/cropped up front (both sides at
    # once, as a crop may exceed the input when the other side is padded).
    explicit = [lo < 0 or hi < 0 for lo, hi in pads]
    if any(explicit):
        config = [(lo, hi, 0) if e else (0, 0, 0) for (lo, hi), e in zip(pads, explicit)]
        lhs = lax.pad(lhs, jnp.zeros((), lhs.dtype), [(0, 0, 0), *config, (0, 0, 0)])
    return lax.conv_general_dilated(
        lhs, rhs,
        window_strides=tuple(strides),
        padding=[(0, 0) if e else p for p, e in zip(pads, explicit)],
        rhs_dilation=rhs_dilation,
        dimension_numbers=dimension_numbers,
    )


def _dilated_forward(x, kernel, strides: tuple[int, int], pads: Pads):
    """Reference formulation: conv of the stride-dilated, padded input.

    Exactly the op ``lax.conv_transpose`` emits (an lhs-dilated conv).
    """
    return lax.conv_general_dilated(
        x, kernel, (1, 1), pads, lhs_dilation=strides, dimension_numbers=_DN)


def _phase(k: int, s: int, low: int, size: int, n_out: int, r: int):
    """Taps and input padding for output phase ``r`` along one dim.

    Output position ``o = q * s + r`` only receives kernel taps
    ``t = t0, t0 + s, ...`` with ``t = low - r (mod s)``, applied to inputs
    ``x[q + c + j]`` for ``j = 0, 1, ...``. That is a stride-1 conv of ``x``
    shifted by ``c``, producing ``n_out`` outputs.

    Returns:
      ``(t0, m, (pad_low, pad_high))``: first tap, number of taps (may be 0
      when ``k < s``), and the (possibly negative) padding of ``x``.
    """
    t0 = (low - r) % s
    m = len(range(t0, k, s))
    c = (r + t0 - low) // s  # exact: r + t0 - low = 0 (mod s)
    return t0, m, (-c, n_out + m - 1 - size + c)


def _subpixel_forward(x, kernel, strides: tuple[int, int], pads: Pads):
    """Sub-pixel formulation: ``sh * sw`` stride-1 convs plus depth-to-space.

    Each output phase ``(rh, rw)`` is an ordinary conv of the undilated input
    with the sub-kernel ``kernel[th0::sh, tw0::sw]``; the phases are then
    interleaved. This does ``s*s`` times fewer multiply-adds than convolving
    the zero-dilated input.
    """
    n, h, w, _ = x.shape
    kh, kw, _, cout = kernel.shape
    (sh, sw), (ph, pw) = strides, pads
    ho, wo = output_size(h, kh, sh, ph), output_size(w, kw, sw, pw)
    nh, nw = -(-ho // sh), -(-wo // sw)  # outputs per phase (ceil)
    rows = []
    for rh in range(sh):
        th0, mh, pad_h = _phase(kh, sh, ph[0], h, nh, rh)
        cols = []
        for rw in range(sw):
            tw0, mw, pad_w = _phase(kw, sw, pw[0], w, nw, rw)
            if mh == 0 or mw == 0:  # kernel smaller than stride: no taps
                y = jnp.zeros((n, nh, nw, cout), jnp.result_type(x, kernel))
            else:
                sub = kernel[th0::sh, tw0::sw]
                y = _conv(x, sub, (1, 1), (pad_h, pad_w))
            cols.append(y)
        rows.append(jnp.stack(cols, axis=3))  # [N, nh, nw, sw, C]
    y = jnp.stack(rows, axis=2)  # [N, nh, sh, nw, sw, C]
    return y.reshape(n, nh * sh, nw * sw, cout)[:, :ho, :wo]


def _input_grad(dy, kernel, strides: tuple[int, int], pads: Pads):
    """d(loss)/dx [N,H,W,Cin] from dy [N,Ho,Wo,Cout]: a strided ordinary conv.

    ``dx[h] = sum_t dy[h*s + low - t] . kernel[t]^T``: correlate dy, padded by
    ``k - 1 - low`` / ``k - 1 - high``, with the spatially flipped kernel with
    Cin/Cout swapped, at stride ``s``.
    """
    kh, kw = kernel.shape[:2]
    grad_pads = tuple((k - 1 - lo, k - 1 - hi) for k, (lo, hi) in zip((kh, kw), pads))
    kernel_t = jnp.flip(kernel, (0, 1)).swapaxes(2, 3)  # [kh, kw, Cout, Cin]
    return _conv(dy, kernel_t, strides, grad_pads)


def _kernel_grad(dy, x, kernel_size, strides: tuple[int, int], pads: Pads):
    """d(loss)/dkernel [kh,kw,Cin,Cout]: an ordinary conv with rhs dilation.

    ``dk[t] = sum_{n,h} x[n,h]^T dy[n, h*s + low - t]``: correlate the padded
    dy (batch as the contracted dim) with x dilated by ``s`` (rhs dilation),
    which yields the taps in reverse order, hence the final flip.
    """
    grad_pads = tuple((k - 1 - lo, k - 1 - hi) for k, (lo, hi) in zip(kernel_size, pads))
    dk = _conv(dy, x, (1, 1), grad_pads, _DN_KERNEL_GRAD, rhs_dilation=strides)
    return jnp.flip(dk, (0, 1))


# --------------------------------------------------------------------------
# Public op
# --------------------------------------------------------------------------


def use_subpixel(strides: Sequence[int], features: int, out_size: int | None = None) -> bool:
    """The ``forward='auto'`` heuristic: sub-pixel for strided, wide layers with outputs of
    at least ``SUBPIXEL_MIN_SIZE`` (``out_size``: the smaller output side; None = large)."""
    large = out_size is None or out_size >= SUBPIXEL_MIN_SIZE
    return any(s > 1 for s in strides) and features >= SUBPIXEL_MIN_FEATURES and large


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def _conv_transpose(x, kernel, strides: tuple[int, int], pads: Pads, subpixel: bool):
    forward = _subpixel_forward if subpixel else _dilated_forward
    return forward(x, kernel, strides, pads)


def _conv_transpose_fwd(x, kernel, strides, pads, subpixel):
    return _conv_transpose(x, kernel, strides, pads, subpixel), (x, kernel)


def _conv_transpose_bwd(strides, pads, subpixel, res, dy):
    del subpixel
    x, kernel = res
    dx = _input_grad(dy, kernel, strides, pads)
    dk = _kernel_grad(dy, x, kernel.shape[:2], strides, pads)
    return dx.astype(x.dtype), dk.astype(kernel.dtype)


_conv_transpose.defvjp(_conv_transpose_fwd, _conv_transpose_bwd)


def conv_transpose(
    x: jax.Array,
    kernel: jax.Array,
    strides: Sequence[int],
    padding: str | int | Sequence[int | tuple[int, int]],
    forward: Forward = "auto",
) -> jax.Array:
    """Transposed 2-D convolution with an XLA:CPU-friendly custom VJP.

    Computes exactly ``jax.lax.conv_transpose(x, kernel, strides, padding,
    dimension_numbers=('NHWC', 'HWIO', 'NHWC'), transpose_kernel=False)``:
    ``x`` is dilated by ``strides``, padded by ``padding`` (pairs may be
    negative, i.e. crops) and correlated with the unflipped ``kernel``.
    The backward pass uses only ordinary convolutions. Reverse mode only
    (``jax.custom_vjp``: no ``jax.jvp``); only first-order gradients are
    tested.

    Args:
      x: ``[N, H, W, Cin]``.
      kernel: ``[kh, kw, Cin, Cout]``.
      strides: ``(sh, sw)``.
      padding: ``(low, high)`` per spatial dim, an int, or 'SAME' / 'VALID'
        (as in ``lax.conv_transpose``). See :func:`torch_padding` for PyTorch.
      forward: 'dilated' (lhs-dilated conv), 'subpixel' (``sh*sw`` stride-1
        convs plus interleave) or 'auto' (:func:`use_subpixel`).

    Returns:
      ``[N, Ho, Wo, Cout]`` with ``Ho = (H - 1) * sh + 1 + low + high - kh + 1``.
    """
    if x.ndim != 4 or kernel.ndim != 4:
        raise ValueError(f"expected NHWC x and HWIO kernel, got {x.shape}, {kernel.shape}")
    if x.shape[-1] != kernel.shape[2]:
        raise ValueError(f"x has {x.shape[-1]} channels, kernel expects {kernel.shape[2]}")
    strides = tuple(int(s) for s in strides)
    pads = resolve_padding(padding, kernel.shape[:2], strides)
    if forward == "auto":
        out = min(output_size(n, k, st, p) for n, k, st, p in zip(x.shape[1:3], kernel.shape[:2], strides, pads))
        subpixel = use_subpixel(strides, kernel.shape[-1], out)
    elif forward in ("dilated", "subpixel"):
        subpixel = forward == "subpixel"
    else:
        raise ValueError(f"unknown forward {forward!r}")
    return _conv_transpose(x, kernel, strides, pads, subpixel)


# --------------------------------------------------------------------------
# Flax module
# --------------------------------------------------------------------------


class ConvTranspose(nn.Module):
    """Drop-in for 2-D ``flax.linen.ConvTranspose`` with a fast CPU backward.

    Same parameters ('kernel' ``[kh, kw, Cin, features]``, 'bias'
    ``[features]``), initialisers and padding semantics as flax's module with
    ``transpose_kernel=False`` and no kernel dilation, so params are
    interchangeable. Input ``[N, H, W, Cin]`` -> ``[N, Ho, Wo, features]``.

    Attributes:
      features: output channels.
      kernel_size: ``(kh, kw)``.
      strides: ``(sh, sw)``.
      padding: 'SAME', 'VALID' (meaning as in flax / ``lax.conv_transpose``),
        an int, or ``(low, high)`` pairs applied to the stride-dilated input;
        use :func:`torch_padding` to mirror PyTorch's ``ConvTranspose2d``.
      use_bias: whether to add a bias.
      dtype: computation dtype.
      param_dtype: parameter dtype.
      kernel_init: kernel initialiser (flax's default, lecun normal).
      bias_init: bias initialiser (zeros).
      forward: forward implementation, see :func:`conv_transpose`.
    """

    features: int
    kernel_size: tuple[int, int]
    strides: tuple[int, int] = (1, 1)
    padding: str | int | Sequence[int | tuple[int, int]] = "SAME"
    use_bias: bool = True
    dtype: Any = jnp.float32
    param_dtype: Any = jnp.float32
    kernel_init: nn.initializers.Initializer = nn.linear.default_kernel_init
    bias_init: nn.initializers.Initializer = nn.initializers.zeros_init()
    forward: Forward = "auto"

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        kernel_shape = (*self.kernel_size, x.shape[-1], self.features)
        kernel = self.param("kernel", self.kernel_init, kernel_shape, self.param_dtype)
        x, kernel = x.astype(self.dtype), kernel.astype(self.dtype)
        y = conv_transpose(x, kernel, self.strides, self.padding, self.forward)
        if self.use_bias:
            bias = self.param("bias", self.bias_init, (self.features,), self.param_dtype)
            y = y + bias.astype(self.dtype)
        return y


# --------------------------------------------------------------------------
# Strided convolution whose input gradient avoids lhs dilation
# --------------------------------------------------------------------------


def _plain_conv(x, kernel, strides, pads):
    return lax.conv_general_dilated(x, kernel, strides, pads, dimension_numbers=_DN)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def _strided_conv(x, kernel, strides: tuple[int, int], pads: Pads):
    return _plain_conv(x, kernel, strides, pads)


def _strided_conv_fwd(x, kernel, strides, pads):
    return _plain_conv(x, kernel, strides, pads), (x, kernel)


def _strided_conv_bwd(strides, pads, res, dy):
    x, kernel = res
    # dx: the transpose of a strided conv is a conv-transpose of dy with the flipped,
    # in/out-swapped kernel; padding (k-1-lo, k-1-hi + rem) restores x's size, where rem
    # are the input rows the strided windows never reached. Autodiff would emit an
    # lhs-dilated conv here (slow on XLA:CPU); _conv_transpose uses the sub-pixel forward.
    kt = jnp.flip(kernel, (0, 1)).swapaxes(2, 3)
    t_pads, rems = [], []
    for size, k, s, (lo, hi) in zip(x.shape[1:3], kernel.shape[:2], strides, pads):
        rem = (size + lo + hi - k) % s
        t_pads.append((k - 1 - lo, k - 1 - hi + rem))
        rems.append(rem)
    # The lhs-dilated form is fine for most small layers, but when the strided windows miss
    # the last input rows (rem > 0) XLA:CPU rewrites it into a ~25x slower conv (SNGAN D,
    # 7x7x256 -> 3x3: 360 ms vs 14 ms sub-pixel), so those always go sub-pixel.
    subpixel = use_subpixel(strides, x.shape[-1], min(x.shape[1:3])) or any(rems)
    dx = _conv_transpose(dy, kt, strides, tuple(t_pads), subpixel)
    # dkernel: autodiff's rule is already an ordinary conv with rhs dilation = strides.
    _, kernel_vjp = jax.vjp(lambda k: _plain_conv(x, k, strides, pads), kernel)
    (dk,) = kernel_vjp(dy)
    return dx.astype(x.dtype), dk.astype(kernel.dtype)


_strided_conv.defvjp(_strided_conv_fwd, _strided_conv_bwd)


def upsample_nearest(x: jax.Array, factor: int = 2) -> jax.Array:
    """Nearest-neighbour up-sampling of NHWC images by ``factor``."""
    if factor == 1:
        return x
    return jnp.repeat(jnp.repeat(x, factor, axis=1), factor, axis=2)


def conv(x: jax.Array, kernel: jax.Array, strides: Sequence[int],
         padding: str | Sequence[tuple[int, int]]) -> jax.Array:
    """2-D convolution ``lax.conv_general_dilated(x, kernel, strides, padding)`` (NHWC,
    HWIO, no dilation) whose input gradient, for strides > 1, is computed with
    :func:`conv_transpose`'s fast path instead of an lhs-dilated convolution.

    ``padding``: 'SAME', 'VALID' or ``(low, high)`` pairs. Reverse mode only.
    """
    strides = tuple(int(s) for s in strides)
    if isinstance(padding, str):
        pads = tuple(lax.padtype_to_pads(x.shape[1:3], kernel.shape[:2], strides, padding))
    else:
        pads = tuple((int(lo), int(hi)) for lo, hi in padding)
    if all(s == 1 for s in strides):
        return _plain_conv(x, kernel, strides, pads)
    return _strided_conv(x, kernel, strides, pads)


class Conv(nn.Module):
    """Drop-in for 2-D ``flax.linen.Conv`` (no dilation, no groups) using :func:`conv`.

    Parameters 'kernel' ``[kh, kw, Cin, features]`` and 'bias' ``[features]`` with flax's
    default initialisers, so params are interchangeable with ``nn.Conv``.
    """

    features: int
    kernel_size: tuple[int, int]
    strides: tuple[int, int] = (1, 1)
    padding: str | Sequence[tuple[int, int]] = "SAME"
    use_bias: bool = True
    dtype: Any = jnp.float32
    param_dtype: Any = jnp.float32
    kernel_init: nn.initializers.Initializer = nn.linear.default_kernel_init
    bias_init: nn.initializers.Initializer = nn.initializers.zeros_init()

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        kernel_shape = (*self.kernel_size, x.shape[-1], self.features)
        kernel = self.param("kernel", self.kernel_init, kernel_shape, self.param_dtype)
        y = conv(x.astype(self.dtype), kernel.astype(self.dtype), self.strides, self.padding)
        if self.use_bias:
            y = y + self.param("bias", self.bias_init, (self.features,), self.param_dtype).astype(self.dtype)
        return y
