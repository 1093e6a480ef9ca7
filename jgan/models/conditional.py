"""Conditional and auxiliary-output wrappers around the unconditional networks.

* :class:`LabelConcatGenerator` / :class:`LabelConcatDiscriminator`: the cGAN of Mirza &
  Osindero 2014, the label as a one-hot vector concatenated to z and to D's input (to the
  flattened input for MLP discriminators, as constant one-hot feature maps for conv ones).
* :class:`ProjectionDiscriminator`: Miyato & Koyama 2018,
  ``D(x, y) = psi(phi(x)) + <embed(y), phi(x)>`` with ``phi`` the body of any discriminator
  (built with ``head=False``) and ``psi`` a linear head. Its generator is a base generator
  with ``num_classes`` > 0 (class-conditional BatchNorm).
* :class:`AuxHeadDiscriminator`: one body, two heads: the real/fake logit and an auxiliary
  output, the class logits of AC-GAN (Odena et al. 2017) or the recognition network Q of
  InfoGAN (Chen et al. 2016), ``Dense(128)-BN-LReLU(0.1)-Dense(aux_dim)`` as in its MNIST setup.

Conventions: labels ``y`` are ``int [N]``; discriminators with labels are called
``D(x, y, train=...)``; auxiliary discriminators return ``(logits [N], aux [N, aux_dim])``.
"""
from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from jgan.models.attention import maybe_sn
from jgan.models.dcgan import BatchNorm


class LabelConcatGenerator(nn.Module):
    """``(z [N, d], y [N]) -> inner(concat(z, onehot(y)))``.

    ``input_units = (a, b)`` (the MLP of Mirza & Osindero: (200, 1000)) first maps z and the
    one-hot label through their own ReLU layers of a and b units, ``inner(concat(relu(W_z z),
    relu(W_y y)))``; ``()`` concatenates them directly. ``dropout`` > 0 drops those two
    layers' units in train mode (the cGAN paper's generator dropout)."""

    inner: nn.Module
    num_classes: int
    input_units: tuple[int, ...] = ()
    dropout: float = 0.0
    init_range: float = 0.0  # > 0: the input layers' kernels ~ U(-r, r) (jgan.models.mlp.kernel_init)

    @nn.compact
    def __call__(self, z, y, train: bool = True):
        from jgan.models.mlp import kernel_init
        onehot = jax.nn.one_hot(y, self.num_classes, dtype=z.dtype)
        if self.input_units:
            init = kernel_init(self.init_range)
            z = nn.relu(nn.Dense(self.input_units[0], kernel_init=init, name="z_in")(z))
            onehot = nn.relu(nn.Dense(self.input_units[1], kernel_init=init, name="y_in")(onehot))
            if self.dropout:
                z = nn.Dropout(self.dropout, deterministic=not train)(z)
                onehot = nn.Dropout(self.dropout, deterministic=not train)(onehot)
        return self.inner(jnp.concatenate([z, onehot], -1), train=train)


class LabelConcatDiscriminator(nn.Module):
    """``(x, y) -> inner(x with onehot(y) appended)``: to the flattened input when
    ``flatten`` (MLP discriminators), else as ``num_classes`` constant channels of images
    ``[N, H, W, C] -> [N, H, W, C + num_classes]`` (or features of vectors ``[N, d]``)."""

    inner: nn.Module
    num_classes: int
    flatten: bool = False
    input_units: tuple[int, ...] = ()  # (a, b): maxout layers of a (x) and b (y) units first
    pieces: int = 5
    init_range: float = 0.0  # > 0: the input layers' kernels ~ U(-r, r) (jgan.models.mlp.kernel_init)
    unit_input: bool = False  # input_units: the x layer reads images in [0, 1], (x + 1) / 2

    @nn.compact
    def __call__(self, x, y, train: bool = True):
        onehot = jax.nn.one_hot(y, self.num_classes, dtype=x.dtype)
        if self.input_units:  # Mirza & Osindero's D: x and y through their own maxout layers
            from jgan.models.mlp import Maxout
            flat = x.reshape(x.shape[0], -1)
            hx = Maxout(self.input_units[0], self.pieces, self.init_range, name="x_in")(
                (flat + 1.0) / 2.0 if self.unit_input else flat)
            hy = Maxout(self.input_units[1], self.pieces, self.init_range, name="y_in")(onehot)
            return self.inner(jnp.concatenate([hx, hy], -1), train=train)
        if self.flatten or x.ndim == 2:
            x = jnp.concatenate([x.reshape(x.shape[0], -1), onehot], -1)
        else:
            maps = jnp.broadcast_to(onehot[:, None, None, :], (*x.shape[:-1], self.num_classes))
            x = jnp.concatenate([x, maps], -1)
        return self.inner(x, train=train)


class ProjectionDiscriminator(nn.Module):
    """``(x, y) -> Dense(1)(h) + sum(embed(y) * h)`` with ``h = body(x) [N, F]``."""

    body: nn.Module  # a discriminator built with head=False
    num_classes: int
    spectral_norm: bool = False

    @nn.compact
    def __call__(self, x, y, train: bool = True):
        h = self.body(x, train=train)
        out = maybe_sn(nn.Dense(1, name="linear"), self.spectral_norm)(h, train)[:, 0]
        embed = nn.Embed(self.num_classes, h.shape[-1], embedding_init=nn.initializers.xavier_uniform(),
                         name="embed")(y)
        return out + jnp.sum(embed * h, axis=-1)


class AuxHeadDiscriminator(nn.Module):
    """``x -> (Dense(1)(h), aux(h))`` with ``h = body(x) [N, F]``; ``aux`` is one Dense layer
    (``hidden`` = 0, AC-GAN's class head) or Dense(hidden)-BN-LReLU(0.1)-Dense (InfoGAN's Q)."""

    body: nn.Module  # a discriminator built with head=False
    aux_dim: int
    hidden: int = 0
    spectral_norm: bool = False

    @nn.compact
    def __call__(self, x, train: bool = True):
        h = self.body(x, train=train)
        logits = maybe_sn(nn.Dense(1, name="linear"), self.spectral_norm)(h, train)[:, 0]
        a = h
        if self.hidden:
            a = nn.Dense(self.hidden, name="aux_hidden")(a)
            a = nn.leaky_relu(BatchNorm(name="aux_bn")(a, train), 0.1)
        return logits, nn.Dense(self.aux_dim, name="aux_out")(a)
