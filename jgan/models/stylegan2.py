"""StyleGAN2's networks (Karras, Laine, Aittala, Hellsten, Lehtinen & Aila 2020, *Analyzing and
Improving the Image Quality of StyleGAN*), as the reference PyTorch code
``NVlabs/stylegan2-ada-pytorch`` writes them (``training/networks.py``,
``torch_utils/ops/upfirdn2d.py``, ``conv2d_resample.py``, ``bias_act.py``). Images are NHWC.

* ``StyleGAN2Generator``: ``map(z [N, z_dim], psi) -> w [N, w_dim]`` (the mapping network,
  then the truncation ``w_avg + psi (w - w_avg)``), ``synthesize(ws [N, num_ws, w_dim],
  noise) -> [N, r, r, C]`` (the skip synthesis network), ``__call__(z, noise, psi)`` both;
  ``w_avg`` (the tracked mean of w) is the variable ``batch_stats/w_avg``, updated by the
  family (``jgan.families.stylegan2``), so it is in every checkpoint and in the EMA's copy;
* ``StyleGAN2Discriminator``: ``(x [N, r, r, C]) -> logits [N]`` (residual, or ``'orig'``).

Layers, as the reference:

* **equalised learning rate**: every weight drawn N(0, 1) (``/ lr_mul`` for the mapping
  network) and multiplied at run time by ``lr_mul / sqrt(fan_in)``; biases ``* lr_mul``;
* ``bias_act``: ``act(x + b) * gain``, then clamped to ``+-conv_clamp * gain`` (the reference
  sets ``conv_clamp = 256`` for every conv layer of G and D but D's residual skips; ``None`` =
  no clamp); leaky ReLU 0.2 with gain sqrt 2;
* **modulated convolution** (:func:`modulated_conv2d`, the reference's non-fused path, which
  it uses for training): ``x * s`` per input channel, the shared convolution, then ``*
  d_o = 1 / sqrt(sum_{i,k} (w_{oik} s_i)^2 + 1e-8)`` per output channel (demodulation), plus
  the noise. This equals convolving each example with its own weights ``w_{oik} s_i d_o``,
  whose norm over ``(i, k)`` is 1 (``tests/test_stylegan2.py`` checks both against the
  written formula). Styles come from an affine layer of w with bias 1; to_rgb layers scale
  their styles by ``1 / sqrt(fan_in)`` and do not demodulate;
* **noise**: per synthesis layer ``strength * n``, ``n [N, r, r, 1]`` given by the caller
  (the family draws it from keys; ``None`` = no noise), ``strength`` a learned scalar from 0;
* **resampling** with the [1, 3, 3, 1] low-pass filter (:func:`upfirdn2d`): the up-sampling
  conv is zero insertion, padding, the filter with gain 4, then the 3x3 conv (the reference's
  generic path; its fast path is the same operator as a transposed conv); the down-sampling
  conv is the filter, then the conv with stride 2; the skip generator's image is up-sampled
  by :func:`upsample2d`;
* feature maps ``min(channel_base // r, channel_max)`` at resolution ``r``;
* **minibatch standard deviation** (one channel) in D's 4x4 epilogue, groups of consecutive
  examples (``jgan.models.progan.minibatch_stddev``: a deliberate departure from the
  reference's strided groups, so the result does not depend on the device count).

Checked against the reference itself: ``tests/test_stylegan2_reference.py`` loads the
reference networks' weights (written by torch, ``tests/data/make_stylegan2_reference.py``) and
matches their mapping, truncation, images and logits to ~1e-6 relative, with clamps that cut.

Left out: mixed precision (the reference runs its 4 highest resolutions in float16; jgan
computes in float32 and keeps the clamp), conditioning (``c_dim`` 0: unconditional), the
fused modulated conv (the same function, grouped), and ADA's augmentation (a separate paper).
"""
from __future__ import annotations

import math
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jgan.models.layers import conv
from jgan.models.progan import minibatch_stddev

SQRT2 = math.sqrt(2.0)
FILTER = (1.0, 3.0, 3.0, 1.0)  # the reference's resample_filter


def channels_at(resolution: int, channel_base: int, channel_max: int) -> int:
    """The reference's ``min(channel_base // res, channel_max)``."""
    return min(channel_base // resolution, channel_max)


def block_resolutions(resolution: int) -> list[int]:
    """``[4, 8, ..., resolution]`` (a power of 2 >= 4)."""
    log2 = int(round(math.log2(resolution)))
    if resolution < 4 or 2 ** log2 != resolution:
        raise ValueError(f"StyleGAN2's resolution must be a power of 2 >= 4, not {resolution}")
    return [2 ** i for i in range(2, log2 + 1)]


def num_ws(resolution: int) -> int:
    """How many w vectors the synthesis network reads: one per conv layer, plus the last
    to_rgb (each to_rgb shares its w with the next block's first conv, as the reference)."""
    return 2 * len(block_resolutions(resolution))


def noise_resolutions(resolution: int) -> list[int]:
    """The resolution of each synthesis layer's noise input, in order: 4, then two per block."""
    return [4] + [r for r in block_resolutions(resolution)[1:] for _ in range(2)]


def normalize_2nd_moment(x: jax.Array, eps: float = 1e-8) -> jax.Array:
    """``x / sqrt(mean over the last axis of x^2 + eps)``."""
    return x * jax.lax.rsqrt(jnp.mean(jnp.square(x), axis=-1, keepdims=True) + eps)


def bias_act(x, b=None, act: str = "linear", gain: float | None = None, clamp: float | None = None):
    """The reference's ``bias_act``: ``act(x + b) * gain`` clamped to ``[-clamp, clamp]``;
    ``gain`` defaults to the activation's (sqrt 2 for 'lrelu', 1 for 'linear')."""
    if b is not None:
        x = x + b
    if act == "lrelu":
        x = jnp.where(x >= 0, x, 0.2 * x)
        gain = SQRT2 if gain is None else gain
    elif act != "linear":
        raise ValueError(f"activation {act!r} is not 'linear' or 'lrelu'")
    if gain is not None and gain != 1:
        x = x * gain
    if clamp is not None:
        x = jnp.clip(x, -clamp, clamp)
    return x


def _filter_axis(x: jax.Array, taps: np.ndarray, axis: int) -> jax.Array:
    """Valid correlation of ``x`` with the 1-D ``taps`` along ``axis`` (the filter is
    symmetric, so correlation and convolution agree)."""
    n = x.shape[axis] - len(taps) + 1
    return sum(float(t) * jax.lax.slice_in_dim(x, k, k + n, axis=axis) for k, t in enumerate(taps))


def upfirdn2d(x: jax.Array, taps: Sequence[float] = FILTER, *, up: int = 1, down: int = 1,
              pad: tuple[int, int] = (0, 0), gain: float = 1.0) -> jax.Array:
    """The reference's ``upfirdn2d`` on NHWC images with the separable filter ``outer(f, f)``,
    ``f = taps / sum(taps)``: insert ``up - 1`` zeros after each pixel, pad both spatial axes
    by ``pad = (before, after)`` (negative crops), filter (valid) with total gain ``gain``,
    keep every ``down``-th pixel."""
    f = np.asarray(taps, np.float64)
    f = f / f.sum() * math.sqrt(gain)
    n, h, w, c = x.shape
    if up > 1:
        x = x.reshape(n, h, 1, w, 1, c)
        x = jnp.pad(x, ((0, 0), (0, 0), (0, up - 1), (0, 0), (0, up - 1), (0, 0)))
        x = x.reshape(n, h * up, w * up, c)
    p0, p1 = pad
    x = jnp.pad(x, ((0, 0), (max(p0, 0), max(p1, 0)), (max(p0, 0), max(p1, 0)), (0, 0)))
    x = x[:, max(-p0, 0):x.shape[1] - max(-p1, 0), max(-p0, 0):x.shape[2] - max(-p1, 0)]
    x = _filter_axis(_filter_axis(x, f, 1), f, 2)
    if down > 1:
        x = x[:, ::down, ::down]
    return x


def upsample2d(x: jax.Array, taps: Sequence[float] = FILTER) -> jax.Array:
    """2x up-sampling with the low-pass filter (the reference's ``upfirdn2d.upsample2d``)."""
    fw = len(taps)
    return upfirdn2d(x, taps, up=2, pad=((fw + 1) // 2, (fw - 2) // 2), gain=4.0)


def downsample2d(x: jax.Array, taps: Sequence[float] = FILTER) -> jax.Array:
    """2x down-sampling with the low-pass filter (the reference's ``upfirdn2d.downsample2d``)."""
    fw = len(taps)
    return upfirdn2d(x, taps, down=2, pad=((fw - 1) // 2, (fw - 2) // 2))


def conv2d_resample(x: jax.Array, w: jax.Array, *, up: int = 1, down: int = 1, padding: int = 0,
                    taps: Sequence[float] = FILTER) -> jax.Array:
    """The reference's ``conv2d_resample`` (``up`` or ``down`` in {1, 2}, not both): a
    ``w [k, k, C_in, C_out]`` convolution with ``padding``, preceded by filtered 2x
    up-sampling or followed by filtered 2x down-sampling (see the module doc)."""
    fw, k = len(taps), w.shape[0]
    if up > 1:
        x = upfirdn2d(x, taps, up=up, pad=(padding + (fw + up - 1) // 2, padding + (fw - up) // 2), gain=up ** 2)
        return conv(x, w, (1, 1), "VALID")
    if down > 1:
        pad = (padding + (fw - down + 1) // 2, padding + (fw - down) // 2)
        if k == 1:
            return conv(upfirdn2d(x, taps, down=down, pad=pad), w, (1, 1), "VALID")
        return conv(upfirdn2d(x, taps, pad=pad), w, (down, down), "VALID")
    return conv(x, w, (1, 1), ((padding, padding), (padding, padding)))


def demodulation(weight: jax.Array, styles: jax.Array) -> jax.Array:
    """``d [N, C_out]``: ``1 / sqrt(sum_{i,kh,kw} (weight_{kh,kw,i,o} styles_{n,i})^2 + 1e-8)``,
    computed as ``styles^2 @ sum_k weight^2``."""
    return jax.lax.rsqrt(jnp.square(styles) @ jnp.sum(jnp.square(weight), axis=(0, 1)) + 1e-8)


def modulated_conv2d(x: jax.Array, weight: jax.Array, styles: jax.Array, noise: jax.Array | None = None, *,
                     up: int = 1, padding: int = 0, demodulate: bool = True) -> jax.Array:
    """``x [N, H, W, C_in]``, ``weight [k, k, C_in, C_out]``, ``styles [N, C_in]``: the
    reference's non-fused modulated convolution (see the module doc), ``noise`` (broadcast
    to ``[N, H', W', C_out]``) added after the demodulation."""
    y = conv2d_resample(x * styles[:, None, None, :], weight, up=up, padding=padding)
    if demodulate:
        y = y * demodulation(weight, styles)[:, None, None, :]
    if noise is not None:
        y = y + noise
    return y


class FullyConnected(nn.Module):
    """``act(x @ (w * lr_mul / sqrt(fan_in)) + b * lr_mul)``, ``w ~ N(0, 1 / lr_mul^2)``,
    ``b = bias_init`` (the reference's ``FullyConnectedLayer``)."""

    features: int
    activation: str = "linear"
    lr_mul: float = 1.0
    bias_init: float = 0.0

    @nn.compact
    def __call__(self, x):
        fan_in = x.shape[-1]
        w = self.param("kernel", lambda k, s: jax.random.normal(k, s) / self.lr_mul, (fan_in, self.features))
        b = self.param("bias", nn.initializers.constant(self.bias_init), (self.features,))
        return bias_act(x @ (w * (self.lr_mul / math.sqrt(fan_in))), b * self.lr_mul, self.activation)


class Conv(nn.Module):
    """The reference's ``Conv2dLayer``: equalised ``k x k`` conv (padding ``k // 2``) with
    optional filtered 2x up/down-sampling, then ``bias_act`` with ``gain`` times the
    activation's gain and the clamp ``conv_clamp * gain``."""

    features: int
    kernel: int = 3
    activation: str = "linear"
    use_bias: bool = True
    up: int = 1
    down: int = 1
    conv_clamp: float | None = None

    @nn.compact
    def __call__(self, x, gain: float = 1.0):
        k, cin = self.kernel, x.shape[-1]
        w = self.param("kernel", nn.initializers.normal(1.0), (k, k, cin, self.features))
        b = self.param("bias", nn.initializers.zeros_init(), (self.features,)) if self.use_bias else None
        x = conv2d_resample(x, w * (1.0 / math.sqrt(cin * k * k)), up=self.up, down=self.down, padding=k // 2)
        act_gain = (SQRT2 if self.activation == "lrelu" else 1.0) * gain
        clamp = None if self.conv_clamp is None else self.conv_clamp * gain
        return bias_act(x, b, self.activation, act_gain, clamp)


class SynthesisLayer(nn.Module):
    """A modulated 3x3 conv (optionally up-sampling 2x), noise, bias, leaky ReLU (gain sqrt 2)."""

    features: int
    up: int = 1
    kernel: int = 3
    conv_clamp: float | None = None

    @nn.compact
    def __call__(self, x, w, noise=None):
        cin, k = x.shape[-1], self.kernel
        styles = FullyConnected(cin, bias_init=1.0, name="affine")(w)
        weight = self.param("kernel", nn.initializers.normal(1.0), (k, k, cin, self.features))
        strength = self.param("noise_strength", nn.initializers.zeros_init(), ())
        bias = self.param("bias", nn.initializers.zeros_init(), (self.features,))
        x = modulated_conv2d(x, weight, styles, None if noise is None else noise * strength, up=self.up,
                             padding=k // 2)
        return bias_act(x, bias, "lrelu", SQRT2, self.conv_clamp)


class ToRGB(nn.Module):
    """A modulated 1x1 conv without demodulation (styles scaled by ``1 / sqrt(C_in)``), bias."""

    channels: int
    conv_clamp: float | None = None

    @nn.compact
    def __call__(self, x, w):
        cin = x.shape[-1]
        styles = FullyConnected(cin, bias_init=1.0, name="affine")(w) * (1.0 / math.sqrt(cin))
        weight = self.param("kernel", nn.initializers.normal(1.0), (1, 1, cin, self.channels))
        bias = self.param("bias", nn.initializers.zeros_init(), (self.channels,))
        return bias_act(modulated_conv2d(x, weight, styles, demodulate=False), bias, clamp=self.conv_clamp)


class MappingNetwork(nn.Module):
    """``z [N, z_dim] -> w [N, w_dim]``: z normalised by its second moment, then ``layers``
    fully connected leaky-ReLU layers of ``w_dim`` features at learning-rate multiplier ``lr_mul``."""

    w_dim: int
    layers: int = 8
    lr_mul: float = 0.01

    @nn.compact
    def __call__(self, z):
        x = normalize_2nd_moment(z)
        for i in range(self.layers):
            x = FullyConnected(self.w_dim, "lrelu", self.lr_mul, name=f"fc{i}")(x)
        return x


class SynthesisNetwork(nn.Module):
    """``ws [N, num_ws, w_dim]``, ``noise`` (a list of ``[N, r, r, 1]``, one per layer in
    :func:`noise_resolutions` order, or None) -> images ``[N, r, r, channels]``: a learned
    4x4 constant, one modulated conv at 4x4, then per block an up-sampling and a plain
    modulated conv; the image is the sum of every block's to_rgb, up-sampled (skip)."""

    resolution: int
    channels: int
    channel_base: int = 32768
    channel_max: int = 512
    conv_clamp: float | None = None

    @nn.compact
    def __call__(self, ws, noise=None):
        nf = lambda r: channels_at(r, self.channel_base, self.channel_max)  # noqa: E731
        noise = [None] * (num_ws(self.resolution) - 1) if noise is None else list(noise)
        kw = {"conv_clamp": self.conv_clamp}
        const = self.param("const", nn.initializers.normal(1.0), (4, 4, nf(4)))
        x = jnp.broadcast_to(const, (ws.shape[0], *const.shape))
        x = SynthesisLayer(nf(4), name="b4_conv1", **kw)(x, ws[:, 0], noise[0])
        img = ToRGB(self.channels, name="b4_torgb", **kw)(x, ws[:, 1])
        i = 1
        for r in block_resolutions(self.resolution)[1:]:
            x = SynthesisLayer(nf(r), up=2, name=f"b{r}_conv0", **kw)(x, ws[:, i], noise[i])
            x = SynthesisLayer(nf(r), name=f"b{r}_conv1", **kw)(x, ws[:, i + 1], noise[i + 1])
            img = upsample2d(img) + ToRGB(self.channels, name=f"b{r}_torgb", **kw)(x, ws[:, i + 2])
            i += 2
        return img


class StyleGAN2Generator(nn.Module):
    """Mapping and synthesis networks and the tracked ``w_avg`` (see the module doc)."""

    resolution: int
    channels: int
    z_dim: int = 512
    w_dim: int = 512
    mapping_layers: int = 8
    lr_mul: float = 0.01
    channel_base: int = 32768
    channel_max: int = 512
    conv_clamp: float | None = 256.0

    @property
    def num_ws(self) -> int:
        return num_ws(self.resolution)

    def setup(self):
        self.mapping = MappingNetwork(self.w_dim, self.mapping_layers, self.lr_mul)
        self.synthesis = SynthesisNetwork(self.resolution, self.channels, self.channel_base, self.channel_max,
                                          self.conv_clamp)
        self.w_avg = self.variable("batch_stats", "w_avg", lambda: jnp.zeros((self.w_dim,), jnp.float32))

    def map(self, z, psi: float = 1.0):
        """``w [N, w_dim]``; ``psi`` != 1 (a Python float) truncates towards ``w_avg``."""
        w = self.mapping(z)
        return w if psi == 1 else self.w_avg.value + psi * (w - self.w_avg.value)

    def broadcast(self, w):
        """``w [N, w_dim] -> ws [N, num_ws, w_dim]`` (the same w for every layer)."""
        return jnp.broadcast_to(w[:, None], (w.shape[0], self.num_ws, w.shape[-1]))

    def synthesize(self, ws, noise=None):
        return self.synthesis(ws, noise)

    def __call__(self, z, noise=None, psi: float = 1.0, train: bool = False):
        del train
        return self.synthesize(self.broadcast(self.map(z, psi)), noise)


class StyleGAN2Discriminator(nn.Module):
    """``x [N, r, r, C] -> logits [N]``: per block from ``r`` down to 8 a 3x3 conv and a
    down-sampling 3x3 conv, with a down-sampling 1x1 skip (no bias) and both paths scaled by
    sqrt(1/2) (``architecture='resnet'``) or without (``'orig'``); from_rgb (1x1) before the
    first block; the 4x4 epilogue: minibatch stddev, 3x3 conv, dense, dense to one logit."""

    resolution: int
    channel_base: int = 32768
    channel_max: int = 512
    architecture: str = "resnet"
    mbstd_group: int = 4
    conv_clamp: float | None = 256.0

    @nn.compact
    def __call__(self, x, train: bool = False):
        del train
        if x.shape[1] != self.resolution:
            raise ValueError(f"images of {x.shape[1]} px given to a {self.resolution} px discriminator")
        nf = lambda r: channels_at(r, self.channel_base, self.channel_max)  # noqa: E731
        kw = {"conv_clamp": self.conv_clamp}
        x = Conv(nf(self.resolution), 1, "lrelu", name=f"b{self.resolution}_fromrgb", **kw)(x)
        for r in reversed(block_resolutions(self.resolution)[1:]):
            if self.architecture == "resnet":
                y = Conv(nf(r // 2), 1, use_bias=False, down=2, name=f"b{r}_skip")(x, gain=math.sqrt(0.5))  # unclamped
                x = Conv(nf(r), 3, "lrelu", name=f"b{r}_conv0", **kw)(x)
                x = y + Conv(nf(r // 2), 3, "lrelu", down=2, name=f"b{r}_conv1", **kw)(x, gain=math.sqrt(0.5))
            else:
                x = Conv(nf(r), 3, "lrelu", name=f"b{r}_conv0", **kw)(x)
                x = Conv(nf(r // 2), 3, "lrelu", down=2, name=f"b{r}_conv1", **kw)(x)
        if self.mbstd_group > 1:
            x = minibatch_stddev(x, self.mbstd_group)
        x = Conv(nf(4), 3, "lrelu", name="b4_conv", **kw)(x)
        x = FullyConnected(nf(4), "lrelu", name="b4_fc")(x.reshape(x.shape[0], -1))
        return FullyConnected(1, name="b4_out")(x)[:, 0]
