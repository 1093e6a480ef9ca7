"""Fully connected generators and discriminators (Goodfellow et al. 2014; PacGAN's 2D nets).

Generators map ``z [N, z_dim]`` to samples of ``out_shape`` (images ``[N, H, W, C]`` in
[-1, 1] through tanh, or 2D points ``[N, 2]`` with a linear output); discriminators flatten
their input and return logits ``[N]``.
"""
from __future__ import annotations

import math
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jgan.axes import DATA
from jgan.models.dcgan import _norm


def kernel_init(init_range: float):
    """Dense kernels ~ U(-init_range, init_range) (pylearn2's ``irange``, the MLP GAN papers'
    code), or Flax's default LeCun normal when ``init_range`` is 0. Biases start at 0 either way."""
    if not init_range:
        return nn.linear.default_kernel_init
    return lambda key, shape, dtype=jnp.float32: jax.random.uniform(key, shape, dtype, -init_range, init_range)


class Maxout(nn.Module):
    """Maxout layer (Goodfellow et al. 2013): ``features`` units, each the max of ``pieces``
    affine pieces. ``[N, d] -> [N, features]``."""

    features: int
    pieces: int = 5
    init_range: float = 0.0  # > 0: kernel ~ U(-r, r) (see kernel_init)

    @nn.compact
    def __call__(self, x):
        y = nn.Dense(self.features * self.pieces, kernel_init=kernel_init(self.init_range))(x)
        return y.reshape(x.shape[0], self.features, self.pieces).max(axis=-1)


class MLPGenerator(nn.Module):
    """z -> Dense(h)-[norm]-ReLU-[dropout] for each h in ``hidden`` -> Dense(prod(out_shape))
    -> out. Dropout (rate ``dropout``, train mode only, flax rng ``'dropout'``) is the cGAN
    paper's generator dropout (Mirza & Osindero 2014)."""

    out_shape: Sequence[int] = (28, 28, 1)
    hidden: Sequence[int] = (1200, 1200)
    norm: str = "none"
    output: str = "tanh"  # 'tanh' / 'sigmoid' (2 sigmoid(a) - 1) for images in [-1, 1], 'linear' for 2D points
    dropout: float = 0.0  # dropout rate on every hidden layer
    init_range: float = 0.0  # > 0: kernels ~ U(-r, r) (see kernel_init)
    axis_name: str | None = DATA

    @nn.compact
    def __call__(self, z, train: bool = True):
        x, init = z, kernel_init(self.init_range)
        for h in self.hidden:
            x = nn.relu(_norm(self.norm, self.axis_name)(nn.Dense(h, kernel_init=init)(x), train))
            if self.dropout:
                x = nn.Dropout(self.dropout, deterministic=not train)(x)
        x = nn.Dense(math.prod(self.out_shape), kernel_init=init)(x)
        if self.output == "tanh":
            x = jnp.tanh(x)
        elif self.output == "sigmoid":  # pylearn2's sigmoid output unit, mapped to [-1, 1]
            x = 2.0 * nn.sigmoid(x) - 1.0
        return x.reshape((z.shape[0], *self.out_shape))


class MLPDiscriminator(nn.Module):
    """x (flattened) -> [dropout at ``input_dropout``] -> Maxout(h, pieces) (or LeakyReLU 0.2
    Dense when ``pieces`` is 1) for each h in ``hidden``, each followed by dropout at
    ``dropout`` -> Dense(1). Goodfellow et al.'s reference (goodfeli/adversarial mnist.yaml)
    drops D's input at 0.2 and its hidden layers at 0.5."""

    hidden: Sequence[int] = (240, 240)
    pieces: int = 5
    dropout: float = 0.0  # dropout rate on every hidden layer (and the input when input_dropout < 0)
    input_dropout: float = -1.0  # dropout rate on the input; < 0: the same as ``dropout``
    head: bool = True     # False: return the last hidden layer [N, hidden[-1]]
    keep_tail: int = 0    # the last keep_tail input features skip input dropout (a cGAN's label)
    init_range: float = 0.0  # > 0: kernels ~ U(-r, r) (see kernel_init)
    unit_input: bool = False  # read images in [0, 1], (x + 1) / 2, as pylearn2's MNIST
    axis_name: str | None = DATA

    @nn.compact
    def __call__(self, x, train: bool = True):
        x = x.reshape(x.shape[0], -1)
        if self.unit_input:
            x = (x + 1.0) / 2.0 if not self.keep_tail else jnp.concatenate(
                [(x[:, :-self.keep_tail] + 1.0) / 2.0, x[:, -self.keep_tail:]], -1)
        rate = self.dropout if self.input_dropout < 0 else self.input_dropout
        if self.keep_tail:
            head = nn.Dropout(rate, deterministic=not train)(x[:, :-self.keep_tail])
            x = jnp.concatenate([head, x[:, -self.keep_tail:]], -1)
        else:
            x = nn.Dropout(rate, deterministic=not train)(x)
        init = kernel_init(self.init_range)
        for h in self.hidden:
            x = (Maxout(h, self.pieces, self.init_range)(x) if self.pieces > 1
                 else nn.leaky_relu(nn.Dense(h, kernel_init=init)(x), 0.2))
            x = nn.Dropout(self.dropout, deterministic=not train)(x)
        if not self.head:
            return x
        return nn.Dense(1, kernel_init=init)(x).reshape(x.shape[0])
