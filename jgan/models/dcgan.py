"""DCGAN-style convolutional generators and discriminators (NHWC).

``DCGANGenerator`` / ``DCGANDiscriminator`` follow Radford et al. 2015 (the pytorch/examples
``dcgan`` networks): a 4x4 start, stride-2 4x4 (transposed) convolutions with padding 1,
BatchNorm, ReLU in G, LeakyReLU 0.2 in D, tanh output, no biases. ``image_size`` 32 or 64
(3 or 4 up/down-sampling blocks); widths double towards the 4x4 end.

``MnistGenerator`` / ``MnistDiscriminator`` are the small 28x28 networks of the shared
benchmark (``../shared/bench``): G Dense(7*7*2w)-BN-ReLU-ConvT(w)-BN-ReLU-ConvT(c)-tanh,
D Conv(w)-LReLU-Conv(2w)-[BN]-LReLU-Dense(1).

Conventions: generators map ``z [N, z_dim]`` to images ``[N, H, W, C]`` in [-1, 1]
(with ``num_classes`` > 0 they also take labels ``y int [N]`` for class-conditional BatchNorm);
discriminators map images to logits ``[N]``. ``train=True`` uses batch statistics
(synchronised over ``axis_name`` when it is bound, e.g. inside ``shard_map``) and updates
the running averages in the ``batch_stats`` collection.
"""
from __future__ import annotations

import math
from typing import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from jgan.axes import DATA
from jgan.models.layers import Conv, ConvTranspose, torch_padding

DCGAN_INIT = nn.initializers.normal(0.02)


def dcgan_bn_scale_init(key, shape, dtype=jnp.float32):
    """BatchNorm scale ~ N(1, 0.02), as in the DCGAN reference code."""
    return 1.0 + 0.02 * jax.random.normal(key, shape, dtype)


BN_MOMENTUM = 0.9  # flax's running-average momentum: PyTorch's 0.1


class BatchNorm(nn.Module):
    """BatchNorm with the PyTorch defaults (momentum 0.1 ~ flax 0.9, eps 1e-5) and DCGAN init.

    ``axis_name`` is used only when it is bound (inside ``shard_map``/``pmap``), so the same
    module runs unsynchronised outside a mesh, e.g. when sampling.
    """

    axis_name: str | None = DATA
    affine: bool = True  # False: no scale and shift of its own (ConditionalBatchNorm adds them)
    momentum: float = BN_MOMENTUM  # flax's: the running average keeps this share of itself
    epsilon: float = 1e-5
    scale_init: Callable = dcgan_bn_scale_init

    @nn.compact
    def __call__(self, x, train: bool):
        axis = self.axis_name if (train and self.axis_name and _axis_bound(self.axis_name)) else None
        return nn.BatchNorm(use_running_average=not train, momentum=self.momentum, epsilon=self.epsilon,
                            axis_name=axis, use_scale=self.affine, use_bias=self.affine,
                            scale_init=self.scale_init)(x)


def _axis_bound(name: str) -> bool:
    try:
        jax.lax.axis_index(name)
        return True
    except NameError:
        return False


def _norm(kind: str, axis_name: str | None):
    if kind == "batch":
        return BatchNorm(axis_name=axis_name)
    if kind == "layer":
        return lambda x, train: nn.LayerNorm()(x)
    if kind == "none":
        return lambda x, train: x
    raise ValueError(f"norm {kind!r} is not one of 'batch', 'layer', 'none'")


class ConditionalBatchNorm(nn.Module):
    """Class-conditional BatchNorm (de Vries et al. 2017; the generator of Miyato & Koyama
    2018): normalise with batch statistics (no affine of its own), then scale and shift by
    per-class vectors, ``gamma[y] * x_hat + beta[y]`` (gamma initialised to 1, beta to 0).

    ``x [N, ..., C]``, ``y int [N]`` -> ``[N, ..., C]``; statistics synchronised over
    ``axis_name`` when bound, as :class:`BatchNorm`.
    """

    num_classes: int
    axis_name: str | None = DATA

    @nn.compact
    def __call__(self, x, y, train: bool):
        x = BatchNorm(self.axis_name, affine=False, name="norm")(x, train)
        c = x.shape[-1]
        gamma = nn.Embed(self.num_classes, c, embedding_init=nn.initializers.ones, name="gamma")(y)
        beta = nn.Embed(self.num_classes, c, embedding_init=nn.initializers.zeros, name="beta")(y)
        shape = (x.shape[0],) + (1,) * (x.ndim - 2) + (c,)
        return x * gamma.reshape(shape) + beta.reshape(shape)


def _g_norm(kind: str, axis_name: str | None, num_classes: int, y):
    """A generator's normalisation ``(x, train) -> x``: class-conditional BatchNorm on ``y``
    when ``num_classes`` > 0 (needs ``kind == 'batch'``), else ``_norm(kind)``."""
    if not num_classes:
        return _norm(kind, axis_name)
    if kind != "batch":
        raise ValueError(f"conditional normalisation needs norm 'batch', got {kind!r}")
    if y is None:
        raise ValueError("a generator with num_classes > 0 needs labels y")
    return lambda x, train: ConditionalBatchNorm(num_classes, axis_name)(x, y, train)


def _num_blocks(image_size: int) -> int:
    n = math.log2(image_size / 4)
    if n != int(n) or n < 1:
        raise ValueError(f"DCGAN image_size must be 4 * 2^k (e.g. 32, 64), got {image_size}")
    return int(n)


class DCGANGenerator(nn.Module):
    """z ``[N, z_dim]`` -> image ``[N, S, S, C]``; ConvT 1x1->4x4 then k stride-2 ConvTs."""

    image_size: int = 64
    channels: int = 3
    width: int = 64  # ngf: channels of the last hidden layer
    norm: str = "batch"
    num_classes: int = 0  # > 0: class-conditional BatchNorm on labels y (projection cGAN)
    axis_name: str | None = DATA

    @nn.compact
    def __call__(self, z, y=None, train: bool = True):
        n = _num_blocks(self.image_size)
        norm = lambda: _g_norm(self.norm, self.axis_name, self.num_classes, y)  # noqa: E731
        x = z.reshape(z.shape[0], 1, 1, z.shape[-1])
        x = ConvTranspose(self.width * 2 ** (n - 1), (4, 4), padding="VALID", use_bias=False,
                          kernel_init=DCGAN_INIT)(x)
        x = nn.relu(norm()(x, train))
        for i in range(n - 1, 0, -1):
            x = ConvTranspose(self.width * 2 ** (i - 1), (4, 4), strides=(2, 2),
                              padding=torch_padding(4, 1), use_bias=False, kernel_init=DCGAN_INIT)(x)
            x = nn.relu(norm()(x, train))
        x = ConvTranspose(self.channels, (4, 4), strides=(2, 2), padding=torch_padding(4, 1),
                          use_bias=False, kernel_init=DCGAN_INIT)(x)
        return jnp.tanh(x)


class DCGANDiscriminator(nn.Module):
    """image ``[N, S, S, C]`` -> logits ``[N]``; k stride-2 convs then a 4x4 valid conv."""

    image_size: int = 64
    width: int = 64  # ndf: channels of the first layer
    norm: str = "batch"
    head: bool = True  # False: return the flattened 4x4 features [N, 16 * C] the head reads
    axis_name: str | None = DATA

    @nn.compact
    def __call__(self, x, train: bool = True):
        n = _num_blocks(self.image_size)
        for i in range(n):
            x = Conv(self.width * 2 ** i, (4, 4), strides=(2, 2), padding=((1, 1), (1, 1)),
                        use_bias=False, kernel_init=DCGAN_INIT)(x)
            if i > 0:  # no normalisation on the input layer (Radford et al.)
                x = _norm(self.norm, self.axis_name)(x, train)
            x = nn.leaky_relu(x, 0.2)
        if not self.head:
            return x.reshape(x.shape[0], -1)
        x = Conv(1, (4, 4), padding="VALID", use_bias=False, kernel_init=DCGAN_INIT)(x)
        return x.reshape(x.shape[0])


class MnistGenerator(nn.Module):
    """z ``[N, z_dim]`` -> image ``[N, 28, 28, C]`` (the shared benchmark's ``dcgan_mnist`` G).
    ``fc`` > 0 puts a fully connected layer Dense(fc)-norm-ReLU first (InfoGAN's MNIST G:
    FC 1024 before the 7x7x128 projection, Chen et al. 2016, Table 1 of the appendix)."""

    channels: int = 1
    width: int = 64
    norm: str = "batch"
    num_classes: int = 0  # > 0: class-conditional BatchNorm on labels y (projection cGAN)
    fc: int = 0           # > 0: a Dense(fc)-norm-ReLU layer before the 7x7 projection
    axis_name: str | None = DATA

    @nn.compact
    def __call__(self, z, y=None, train: bool = True):
        norm = lambda: _g_norm(self.norm, self.axis_name, self.num_classes, y)  # noqa: E731
        if self.fc:
            z = nn.relu(norm()(nn.Dense(self.fc, use_bias=False, kernel_init=DCGAN_INIT)(z), train))
        x = nn.Dense(7 * 7 * 2 * self.width, use_bias=False, kernel_init=DCGAN_INIT)(z)
        x = nn.relu(norm()(x, train))  # per feature, as BatchNorm1d
        x = x.reshape(z.shape[0], 7, 7, 2 * self.width)
        x = ConvTranspose(self.width, (4, 4), strides=(2, 2), padding=torch_padding(4, 1),
                          use_bias=False, kernel_init=DCGAN_INIT)(x)
        x = nn.relu(norm()(x, train))
        x = ConvTranspose(self.channels, (4, 4), strides=(2, 2), padding=torch_padding(4, 1),
                          use_bias=True, kernel_init=DCGAN_INIT)(x)
        return jnp.tanh(x)


class MnistDiscriminator(nn.Module):
    """image ``[N, 28, 28, C]`` -> logits ``[N]`` (the shared benchmark's 28x28 D / critic).
    ``fc`` > 0 adds Dense(fc)-norm-LReLU(0.2) after the convolutions (InfoGAN's MNIST D: FC
    1024 before the D and Q heads)."""

    width: int = 64
    norm: str = "batch"  # 'none' for the WGAN critic
    head: bool = True    # False: return the features [N, fc or 7 * 7 * 2w] the head reads
    fc: int = 0          # > 0: a Dense(fc)-norm-LReLU layer before the head
    axis_name: str | None = DATA

    @nn.compact
    def __call__(self, x, train: bool = True):
        x = Conv(self.width, (4, 4), strides=(2, 2), padding=((1, 1), (1, 1)),
                    kernel_init=DCGAN_INIT)(x)
        x = nn.leaky_relu(x, 0.2)
        x = Conv(2 * self.width, (4, 4), strides=(2, 2), padding=((1, 1), (1, 1)),
                    use_bias=self.norm != "batch", kernel_init=DCGAN_INIT)(x)
        x = nn.leaky_relu(_norm(self.norm, self.axis_name)(x, train), 0.2)
        x = x.reshape(x.shape[0], -1)
        if self.fc:
            x = nn.Dense(self.fc, use_bias=self.norm != "batch", kernel_init=DCGAN_INIT)(x)
            x = nn.leaky_relu(_norm(self.norm, self.axis_name)(x, train), 0.2)
        if not self.head:
            return x
        x = nn.Dense(1, kernel_init=DCGAN_INIT)(x)
        return x.reshape(x.shape[0])
