"""The 28x28 MNIST networks of Gulrajani et al.'s reference code (``gan_mnist.py`` of
igul222/improved_wgan_training, "Improved Training of Wasserstein GANs", 2017), in the
form its ``MODE = 'wgan'`` trains them: the weight-clipped WGAN of Arjovsky et al. on
MNIST, with BatchNorm in G and in the critic's inner layers (the ``wgan-gp`` mode drops
every BatchNorm, the ``dcgan`` mode the critic's).

G: z -> Linear(4*4*4w) -> BN -> ReLU -> [4, 4, 4w] -> Deconv 5x5/2 (2w) -> BN -> ReLU
-> crop the top-left 7x7 -> Deconv 5x5/2 (w) -> BN -> ReLU -> Deconv 5x5/2 (1) -> image.
Critic: Conv 5x5/2 (w) -> LReLU(0.2) -> Conv 5x5/2 (2w) -> BN -> LReLU -> Conv 5x5/2 (4w)
-> BN -> LReLU -> Linear(1); 28 -> 14 -> 7 -> 4 ('SAME' padding, TF's alignment: the
extra pad below/right for the convolutions, above/left for the transposed ones). The
reference's ``DIM`` is ``width`` (64 there). Every layer has a bias, as tflib's.

Initialisation is tflib's: uniform with standard deviation ``sqrt(4 / (fan_in +
fan_out))`` for convolutions (``he_init``; a strided conv's ``fan_out`` and a transposed
conv's ``fan_in`` divided by stride^2) and ``sqrt(2 / (fan_in + fan_out))`` for the
linear layers; biases 0; BatchNorm scale 1, offset 0, epsilon 1e-5 (``fused_batch_norm``).

Pixel range: the reference's G ends in a sigmoid and its critic reads MNIST in [0, 1].
jgan's images are in [-1, 1], so G returns ``2 sigmoid(a) - 1`` and the critic reads
``(x + 1) / 2``: the composed functions are the reference's exactly.

Deviation: tflib's BatchNorm always normalises with the batch's statistics, also when it
draws its sample grids; here ``train=False`` (grids, evaluation) uses the running averages,
as every jgan network.

Conventions: ``z [N, z_dim]`` -> ``[N, 28, 28, channels]``; images ``[N, 28, 28, C]`` ->
logits ``[N]``; NHWC.
"""
from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from jgan.axes import DATA
from jgan.models.dcgan import BatchNorm
from jgan.models.layers import Conv, ConvTranspose

KERNEL = 5
STRIDE = 2


def tflib_uniform(std: float):
    """tflib's ``uniform(stdev, size)``: U(-std sqrt 3, std sqrt 3), whose standard deviation is std."""
    bound = std * math.sqrt(3.0)

    def init(key, shape, dtype=jnp.float32):
        return jax.random.uniform(key, shape, dtype, -bound, bound)
    return init


def conv_init(cin: int, cout: int, transposed: bool = False):
    """tflib ``Conv2D`` / ``Deconv2D`` with ``he_init``: std ``sqrt(4 / (fan_in + fan_out))``,
    ``fan_in = cin k^2`` and ``fan_out = cout k^2 / s^2`` (Conv2D), or ``fan_in = cin k^2 /
    s^2`` and ``fan_out = cout k^2`` (Deconv2D)."""
    k2, s2 = KERNEL ** 2, STRIDE ** 2
    fan_in, fan_out = (cin * k2 / s2, cout * k2) if transposed else (cin * k2, cout * k2 / s2)
    return tflib_uniform(math.sqrt(4.0 / (fan_in + fan_out)))


def linear_init(n_in: int, n_out: int):
    """tflib ``Linear`` with its default (glorot) initialisation: std ``sqrt(2 / (n_in + n_out))``."""
    return tflib_uniform(math.sqrt(2.0 / (n_in + n_out)))


def _bn(axis_name):
    return BatchNorm(axis_name, scale_init=nn.initializers.ones)


class ImprovedWGANGenerator(nn.Module):
    """``z [N, z_dim]`` -> ``[N, 28, 28, channels]`` in [-1, 1] (module docstring)."""

    channels: int = 1
    width: int = 64
    axis_name: str | None = DATA

    @nn.compact
    def __call__(self, z, train: bool = True):
        w = self.width
        x = nn.Dense(4 * 4 * 4 * w, kernel_init=linear_init(z.shape[-1], 4 * 4 * 4 * w))(z)
        x = nn.relu(_bn(self.axis_name)(x, train))
        x = x.reshape(z.shape[0], 4, 4, 4 * w)
        for cin, cout, keep in ((4 * w, 2 * w, 7), (2 * w, w, 14)):  # 4 -> 8, cropped to 7 -> 14
            x = ConvTranspose(cout, (KERNEL, KERNEL), strides=(STRIDE, STRIDE), padding="SAME",
                              kernel_init=conv_init(cin, cout, transposed=True))(x)
            x = nn.relu(_bn(self.axis_name)(x, train))[:, :keep, :keep]
        x = ConvTranspose(self.channels, (KERNEL, KERNEL), strides=(STRIDE, STRIDE), padding="SAME",
                          kernel_init=conv_init(w, self.channels, transposed=True))(x)
        return 2.0 * nn.sigmoid(x) - 1.0


class ImprovedWGANCritic(nn.Module):
    """``[N, 28, 28, C]`` in [-1, 1] -> logits ``[N]`` (module docstring)."""

    width: int = 64
    head: bool = True  # False: return the features [N, 4 * 4 * 4w] the head reads
    axis_name: str | None = DATA

    @nn.compact
    def __call__(self, x, train: bool = True):
        w = self.width
        x = (x + 1.0) / 2.0  # the reference's [0, 1] pixels
        cins = (x.shape[-1], w, 2 * w)
        for i, (cin, cout) in enumerate(zip(cins, (w, 2 * w, 4 * w))):
            x = Conv(cout, (KERNEL, KERNEL), strides=(STRIDE, STRIDE), padding="SAME",
                     kernel_init=conv_init(cin, cout))(x)
            if i > 0:
                x = _bn(self.axis_name)(x, train)
            x = nn.leaky_relu(x, 0.2)
        x = x.reshape(x.shape[0], -1)
        if not self.head:
            return x
        x = nn.Dense(1, kernel_init=linear_init(x.shape[-1], 1))(x)
        return x.reshape(x.shape[0])
