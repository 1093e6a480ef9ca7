"""BiGAN's fully connected networks (Donahue, Kraehenbuehl & Darrell 2017, *Adversarial Feature
Learning*, Sec. 4.1 and the authors' ``jeffdonahue/bigan``: ``train_mnist.sh``, ``net.py``'s
``deconvnet_mnist_mlp`` and ``convnet(arch='mnist_mlp')``).

As the reference: every Dense layer has no bias, kernels ~ N(0, 0.02); BatchNorm has no scale
or shift of its own (``--nogain --nobias``); hidden widths 1024 (``size=64`` x 16); ReLU in G,
LeakyReLU 0.2 in E and D. The images these networks read and write are in [-1, 1] (jgan's
convention); inside, E and D read ``(x + 1) / 2`` and G writes ``2 sigmoid(a) - 1``, so the
arithmetic is the reference's on its [0, 1] pixels.

* :class:`BiGANGenerator` ``z [N, z_dim] -> x [N, *out_shape]``: Dense(1024)-BN-ReLU,
  Dense(1024) + Dense(z) (the reference re-injects z as a bias before the second BatchNorm,
  ``apply_cond``), BN-ReLU, Dense(prod(out_shape)), sigmoid.
* :class:`BiGANEncoder` ``x -> z``: Dense(1024)-LReLU, Dense(1024)-BN-LReLU, Dense(z_dim),
  then ``2 sigmoid - 1`` for the uniform prior (the reference's ``logits_to_sample`` for
  ``u-50``). ``stochastic`` (ALI, Dumoulin et al. 2017): Dense(2 z_dim) -> mean and log
  variance, ``z = mean + exp(log_var / 2) eps`` (reparameterised; ``eps`` ~ N(0, I) passed in);
  in inference mode the mean.
* :class:`JointDiscriminator` ``(x, z) -> logits [N]``: Dense(1024)-LReLU on x, Dense(1024) on
  x's features plus Dense(1024) on z, BN-LReLU, Dense(1) with a **zero** initial kernel (the
  reference's ``BinaryClassifier`` starts at 0). ``dropout`` > 0 (ALI's D) drops the hidden
  units in train mode (flax rng ``'dropout'``).
"""
from __future__ import annotations

import math
from typing import Sequence

import flax.linen as nn
import jax.numpy as jnp

from jgan.axes import DATA
from jgan.models.dcgan import BatchNorm

INIT = nn.initializers.normal(0.02)  # the reference's weight_init


def _dense(features: int, init=INIT) -> nn.Dense:
    return nn.Dense(features, use_bias=False, kernel_init=init)


def _norm(norm: str, axis_name: str | None):
    if norm == "batch":
        return BatchNorm(axis_name=axis_name, affine=False)
    if norm == "none":
        return lambda x, train: x
    raise ValueError(f"norm {norm!r} is not one of 'batch', 'none'")


class BiGANGenerator(nn.Module):
    out_shape: Sequence[int] = (28, 28, 1)
    hidden: Sequence[int] = (1024, 1024)
    norm: str = "batch"
    axis_name: str | None = DATA

    @nn.compact
    def __call__(self, z, train: bool = True):
        h = z
        for i, width in enumerate(self.hidden):
            a = _dense(width)(h)
            if i > 0:  # the reference's apply_cond: z again, as a learned bias
                a = a + _dense(width)(z)
            h = nn.relu(_norm(self.norm, self.axis_name)(a, train))
        x = _dense(math.prod(self.out_shape))(h)
        return (2.0 * nn.sigmoid(x) - 1.0).reshape(z.shape[0], *self.out_shape)


class BiGANEncoder(nn.Module):
    z_dim: int = 50
    hidden: Sequence[int] = (1024, 1024)
    norm: str = "batch"
    prior: str = "uniform"       # 'uniform' (z in (-1, 1): 2 sigmoid - 1) | 'normal' (linear)
    stochastic: bool = False     # ALI: a Gaussian posterior, reparameterised
    axis_name: str | None = DATA

    @nn.compact
    def __call__(self, x, eps=None, train: bool = True):
        """``eps [N, z_dim]`` ~ N(0, I): the posterior noise of a stochastic encoder in train
        mode (drawn by the caller, for the global batch); ignored otherwise."""
        h = ((x + 1.0) / 2.0).reshape(x.shape[0], -1)
        for i, width in enumerate(self.hidden):
            a = _dense(width)(h)
            if i > 0:  # the first layer has no BatchNorm (the reference's convnet)
                a = _norm(self.norm, self.axis_name)(a, train)
            h = nn.leaky_relu(a, 0.2)
        if not self.stochastic:
            out = _dense(self.z_dim)(h)
            return 2.0 * nn.sigmoid(out) - 1.0 if self.prior == "uniform" else out
        stats = _dense(2 * self.z_dim)(h)
        mean, log_var = stats[:, :self.z_dim], stats[:, self.z_dim:]
        if not train or eps is None:
            return mean
        return mean + jnp.exp(0.5 * log_var) * eps


class JointDiscriminator(nn.Module):
    hidden: Sequence[int] = (1024, 1024)
    norm: str = "batch"
    dropout: float = 0.0
    axis_name: str | None = DATA

    @nn.compact
    def __call__(self, x, z, train: bool = True):
        h = ((x + 1.0) / 2.0).reshape(x.shape[0], -1)
        for i, width in enumerate(self.hidden):
            a = _dense(width)(h)
            if i > 0:  # z joins as a bias of the second layer (the reference's apply_cond)
                a = _norm(self.norm, self.axis_name)(a + _dense(width)(z), train)
            h = nn.leaky_relu(a, 0.2)
            if self.dropout:
                h = nn.Dropout(self.dropout, deterministic=not train)(h)
        return _dense(1, init=nn.initializers.zeros)(h)[:, 0]
