"""ProGAN's networks (Karras, Aila, Laine & Lehtinen 2018, *Progressive Growing of GANs for
Improved Quality, Stability, and Variation*; the authors' TensorFlow code
``tkarras/progressive_growing_of_gans``, ``networks.py`` ``G_paper`` / ``D_paper``).

Both networks hold **every stage's parameters from initialisation**: ``init`` builds all
blocks and every ``to_rgb`` / ``from_rgb`` layer, so the parameter tree (and with it the
optimiser state, the EMA and the checkpoints) never changes shape as the networks grow.
A call runs the stage it is given, a Python int (one compiled program per stage):

* ``ProGANGenerator(z [N, latent], stage, alpha) -> [N, r, r, C]``, ``r = 4 * 2**stage``;
* ``ProGANDiscriminator(x [N, r, r, C], alpha) -> [N]`` (the stage is read from ``r``).

``alpha`` in [0, 1] (a traced scalar) fades the newest block in: G outputs ``(1 - alpha) *
up2(to_rgb_{s-1}(h_{s-1})) + alpha * to_rgb_s(h_s)``; D reads ``(1 - alpha) *
from_rgb_{s-1}(down2(x)) + alpha * block_s(from_rgb_s(x))``. At ``alpha = 1`` the lower path
gets weight exactly 0 (so its gradient is exactly 0). Stage 0 ignores ``alpha``.

Layers, as the reference:

* **equalised learning rate**: weights drawn N(0, 1), multiplied at run time by He's constant
  ``gain / sqrt(fan_in)`` (gain sqrt 2; 1 for to_rgb and D's last dense layer; sqrt(2) / 4
  for G's first dense layer, "to match the original Theano implementation"), biases 0;
* **pixel norm** ``x / sqrt(mean_c x^2 + 1e-8)``: the second moment over channels (not the
  variance), on the latent and after every conv of G (after the leaky ReLU);
* leaky ReLU 0.2; nearest-neighbour up-sampling and 2x2 box down-sampling; the reference's
  fused up-sample+conv and conv+down-sample are these same functions computed in one op;
* **minibatch standard deviation** before D's 4x4 block: per group of ``mbstd_group``
  examples, the standard deviation of every feature over the group, averaged to one value,
  appended as a feature map. The reference groups examples ``i, i + M, i + 2M, ...`` (a
  strided reshape); here groups are **consecutive** examples, so a group never straddles two
  devices and the result does not depend on the device count (deliberate; the batch is
  shuffled, so the grouping is equally random);
* feature maps ``nf(s) = min(fmap_base / 2**s, fmap_max)`` for the block at ``2**(s+1)``
  pixels; the latent size is ``nf(0)`` (the reference's default).
"""
from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from jgan.models.layers import conv, upsample_nearest

SQRT2 = math.sqrt(2.0)


def num_stages(resolution: int) -> int:
    """Stages of a network growing from 4x4 to ``resolution`` (a power of 2 >= 4)."""
    log2 = int(round(math.log2(resolution)))
    if resolution < 4 or 2 ** log2 != resolution:
        raise ValueError(f"ProGAN's resolution must be a power of 2 >= 4, not {resolution}")
    return log2 - 1


def stage_resolution(stage: int) -> int:
    return 4 * 2 ** stage


def feature_maps(stage: int, fmap_base: int, fmap_max: int) -> int:
    """The reference's ``nf(stage) = min(fmap_base / 2**stage, fmap_max)``."""
    return min(int(fmap_base / 2.0 ** stage), fmap_max)


def pixel_norm(x: jax.Array, eps: float = 1e-8) -> jax.Array:
    """``x / sqrt(mean over the last axis of x^2 + eps)``."""
    return x * jax.lax.rsqrt(jnp.mean(jnp.square(x), axis=-1, keepdims=True) + eps)


def lrelu(x: jax.Array) -> jax.Array:
    return jnp.maximum(x, 0.2 * x)


def downscale2d(x: jax.Array, factor: int = 2) -> jax.Array:
    """Box-filter down-sampling (the mean of each ``factor x factor`` block) of NHWC images."""
    if factor == 1:
        return x
    n, h, w, c = x.shape
    return x.reshape(n, h // factor, factor, w // factor, factor, c).mean(axis=(2, 4))


def minibatch_stddev(x: jax.Array, group_size: int = 4) -> jax.Array:
    """``x [N, H, W, C]`` with one feature map appended: for each group of ``min(group_size,
    N)`` consecutive examples, ``mean_{h,w,c} sqrt(var_group(x) + 1e-8)`` (the population
    variance over the group). ``N`` must be a multiple of the group size."""
    n = x.shape[0]
    g = min(group_size, n)
    y = x.reshape(n // g, g, *x.shape[1:]).astype(jnp.float32)
    y = y - jnp.mean(y, axis=1, keepdims=True)
    y = jnp.sqrt(jnp.mean(jnp.square(y), axis=1) + 1e-8)       # [M, H, W, C]
    y = jnp.mean(y, axis=(1, 2, 3))                              # [M]
    y = jnp.repeat(y, g).astype(x.dtype)                         # [N]: each group's value
    return jnp.concatenate([x, jnp.broadcast_to(y[:, None, None, None], (*x.shape[:3], 1))], axis=-1)


class EqualizedDense(nn.Module):
    """``x @ (w * gain / sqrt(fan_in)) + b`` with ``w ~ N(0, 1)``, ``b = 0`` (inputs flattened)."""

    features: int
    gain: float = SQRT2

    @nn.compact
    def __call__(self, x):
        x = x.reshape(x.shape[0], -1)
        w = self.param("kernel", nn.initializers.normal(1.0), (x.shape[-1], self.features))
        b = self.param("bias", nn.initializers.zeros_init(), (self.features,))
        return x @ (w * (self.gain / math.sqrt(x.shape[-1]))) + b


class EqualizedConv(nn.Module):
    """A stride-1 'SAME' ``k x k`` conv with weights ``w * gain / sqrt(k * k * C_in)``,
    ``w ~ N(0, 1)``, ``b = 0``."""

    features: int
    kernel: int = 3
    gain: float = SQRT2

    @nn.compact
    def __call__(self, x):
        k, cin = self.kernel, x.shape[-1]
        w = self.param("kernel", nn.initializers.normal(1.0), (k, k, cin, self.features))
        b = self.param("bias", nn.initializers.zeros_init(), (self.features,))
        return conv(x, w * (self.gain / math.sqrt(k * k * cin)), (1, 1), "SAME") + b


def _lerp_paths(low, high, alpha):
    """``(1 - alpha) * low + alpha * high``: exactly ``high`` (and no gradient to ``low``) at 1."""
    return (1.0 - alpha) * low + alpha * high


class ProGANGenerator(nn.Module):
    """See the module doc. ``__call__(z, stage=None, alpha=1.0, train=...)``; ``stage`` None
    is the last stage (full resolution)."""

    resolution: int
    channels: int
    fmap_base: int = 8192
    fmap_max: int = 512
    normalize_latents: bool = True

    def nf(self, stage: int) -> int:
        return feature_maps(stage, self.fmap_base, self.fmap_max)

    def _block(self, x, s: int):
        """Block ``s`` (the 4x4 input block for s = 0): features at ``4 * 2**s`` pixels."""
        r = stage_resolution(s)
        if s == 0:
            if self.normalize_latents:
                x = pixel_norm(x)
            x = EqualizedDense(self.nf(1) * 16, gain=SQRT2 / 4, name="dense_4")(x)
            x = pixel_norm(lrelu(x.reshape(-1, 4, 4, self.nf(1))))
            return pixel_norm(lrelu(EqualizedConv(self.nf(1), 3, name="conv_4")(x)))
        x = upsample_nearest(x)
        x = pixel_norm(lrelu(EqualizedConv(self.nf(s + 1), 3, name=f"conv0_{r}")(x)))
        return pixel_norm(lrelu(EqualizedConv(self.nf(s + 1), 3, name=f"conv1_{r}")(x)))

    @nn.compact
    def __call__(self, z, stage: int | None = None, alpha=1.0, train: bool = False):
        del train  # no normalisation statistics, no dropout
        last = num_stages(self.resolution) - 1
        stage = last if stage is None else stage
        if not 0 <= stage <= last:
            raise ValueError(f"stage {stage} is not in [0, {last}]")
        to_rgb = [EqualizedConv(self.channels, 1, gain=1.0, name=f"to_rgb_{stage_resolution(s)}")
                  for s in range(last + 1)]
        top = last if self.is_initializing() else stage  # init: every stage's parameters
        features = [self._block(z, 0)]
        for s in range(1, top + 1):
            features.append(self._block(features[-1], s))
        if self.is_initializing():
            for s in range(top + 1):
                to_rgb[s](features[s])
        img = to_rgb[stage](features[stage])
        if stage > 0:
            img = _lerp_paths(upsample_nearest(to_rgb[stage - 1](features[stage - 1])), img, alpha)
        return img


class ProGANDiscriminator(nn.Module):
    """See the module doc. ``__call__(x, alpha=1.0, train=...)`` -> scores ``[N]``."""

    resolution: int
    fmap_base: int = 8192
    fmap_max: int = 512
    mbstd_group: int = 4

    def nf(self, stage: int) -> int:
        return feature_maps(stage, self.fmap_base, self.fmap_max)

    def _block(self, x, s: int):
        """Block ``s``: features at ``4 * 2**s`` pixels -> half the size (s >= 1), or the
        4x4 block -> one score per example (s = 0)."""
        r = stage_resolution(s)
        if s == 0:
            if self.mbstd_group > 1:
                x = minibatch_stddev(x, self.mbstd_group)
            x = lrelu(EqualizedConv(self.nf(1), 3, name="conv_4")(x))
            x = lrelu(EqualizedDense(self.nf(0), name="dense0_4")(x))
            return EqualizedDense(1, gain=1.0, name="dense1_4")(x)[:, 0]
        x = lrelu(EqualizedConv(self.nf(s + 1), 3, name=f"conv0_{r}")(x))
        x = lrelu(EqualizedConv(self.nf(s), 3, name=f"conv1_{r}")(x))
        return downscale2d(x)

    @nn.compact
    def __call__(self, x, alpha=1.0, train: bool = False):
        del train
        stage = num_stages(x.shape[1]) - 1
        if stage > num_stages(self.resolution) - 1:
            raise ValueError(f"images of {x.shape[1]} px are larger than this discriminator's {self.resolution}")
        from_rgb = [EqualizedConv(self.nf(s + 1), 1, name=f"from_rgb_{stage_resolution(s)}")
                    for s in range(num_stages(self.resolution))]
        if self.is_initializing():  # every stage's from_rgb (on box-filtered copies of x)
            for s in range(stage):
                from_rgb[s](downscale2d(x, 2 ** (stage - s)))
        h = lrelu(from_rgb[stage](x))
        if stage == 0:
            return self._block(h, 0)
        h = _lerp_paths(lrelu(from_rgb[stage - 1](downscale2d(x))), self._block(h, stage), alpha)
        for s in range(stage - 1, -1, -1):
            h = self._block(h, s)
        return h
