"""BigGAN's generator (Brock, Donahue & Simonyan 2019, *Large Scale GAN Training for High
Fidelity Natural Image Synthesis*, App. B; the authors' PyTorch code ``ajbrock/BigGAN-PyTorch``,
``BigGAN.py`` / ``layers.py``).

``BigGANGenerator(z [N, z_dim], y int [N]) -> [N, S, S, C]`` in [-1, 1]:

* **hierarchical z**: z is split into ``n_blocks + 1`` equal chunks (``z_dim`` rounded down to
  a multiple, as the reference); the first goes through a linear layer to the
  ``bottom x bottom x ch_0`` input, each of the others joins the class embedding as the
  conditioning vector of one block;
* **shared class embedding** ``E[y]`` (``shared_dim`` wide) for every block, concatenated with
  that block's z chunk;
* **conditional BatchNorm** ``BN(x) * (1 + W_g c) + W_b c`` (the reference's ``ccbn``; the
  gain is centred on **1**, and ``W_g``, ``W_b`` are bias-free spectrally normalised linear maps
  of the conditioning vector c);
* residual up-blocks ``ccbn-ReLU-up2-conv3x3-ccbn-ReLU-conv3x3`` with an ``up2-conv1x1``
  shortcut (here conv1x1 then up2, the same function for nearest up-sampling, as
  ``jgan.models.sngan``), self-attention (SAGAN) after the block whose output has
  ``attention_resolution`` (0 = none);
* output ``BN-ReLU-conv3x3-tanh`` (an ordinary, affine BatchNorm);
* spectral normalisation on every linear and conv layer (``G_param='SN'``), orthogonal
  initialisation (``G_init='ortho'``), BatchNorm eps 1e-5, momentum 0.1.

Channels follow the reference's ``G_arch``: 32 px, ``[4ch] * 3`` from a 4x4 start (CIFAR);
64 / 128 px, ``ch * (16, 16, 8, 4[, 2])`` in, ``ch * (16, 8, 4, 2[, 1])`` out; 28 px (MNIST,
this codebase's adaptation) ``[4ch] * 2`` from 7x7.
"""
from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax.numpy as jnp

from jgan.axes import DATA
from jgan.models.attention import SelfAttention, maybe_sn
from jgan.models.dcgan import BatchNorm
from jgan.models.layers import Conv, upsample_nearest
from jgan.models.sngan import DBlock, xavier

ORTHO = nn.initializers.orthogonal()


def biggan_layout(image_size: int, ch: int) -> tuple[int, list[int], list[int]]:
    """``(bottom, in_channels, out_channels)`` of the reference's ``G_arch`` for ``image_size``."""
    if image_size == 28:
        return 7, [4 * ch] * 2, [4 * ch] * 2
    if image_size == 32:
        return 4, [4 * ch] * 3, [4 * ch] * 3
    if image_size == 64:
        return 4, [ch * m for m in (16, 16, 8, 4)], [ch * m for m in (16, 8, 4, 2)]
    if image_size == 128:
        return 4, [ch * m for m in (16, 16, 8, 4, 2)], [ch * m for m in (16, 8, 4, 2, 1)]
    raise ValueError(f"BigGAN's generator is laid out for 28, 32, 64 or 128 px images, not {image_size}")


class ConditionalBN(nn.Module):
    """``BN(x) * (1 + W_g c) + W_b c``: BatchNorm without its own affine (batch statistics
    synchronised over ``axis_name`` when bound), then the class- and z-conditional gain and
    bias (bias-free SN linear maps of ``c [N, d]``)."""

    spectral_norm: bool = True
    axis_name: str | None = DATA

    @nn.compact
    def __call__(self, x, c, train: bool = True):
        features = x.shape[-1]
        gain = maybe_sn(nn.Dense(features, use_bias=False, kernel_init=ORTHO, name="gain"), self.spectral_norm)(c, train)
        bias = maybe_sn(nn.Dense(features, use_bias=False, kernel_init=ORTHO, name="bias"), self.spectral_norm)(c, train)
        x = BatchNorm(self.axis_name, affine=False, name="bn")(x, train)
        shape = (x.shape[0],) + (1,) * (x.ndim - 2) + (features,)
        return x * (1.0 + gain.reshape(shape)) + bias.reshape(shape)


class BigGANBlock(nn.Module):
    features: int
    spectral_norm: bool = True
    axis_name: str | None = DATA

    @nn.compact
    def __call__(self, x, c, train: bool = True):
        def conv(k, name):
            return maybe_sn(Conv(self.features, (k, k), padding="SAME", kernel_init=ORTHO, name=name),
                            self.spectral_norm)

        h = nn.relu(ConditionalBN(self.spectral_norm, self.axis_name, name="bn1")(x, c, train))
        h = conv(3, "conv1")(upsample_nearest(h), train)
        h = nn.relu(ConditionalBN(self.spectral_norm, self.axis_name, name="bn2")(h, c, train))
        h = conv(3, "conv2")(h, train)
        return h + upsample_nearest(conv(1, "shortcut")(x, train))


class BigGANGenerator(nn.Module):
    image_size: int = 32
    channels: int = 3
    width: int = 64                  # ch
    num_classes: int = 10
    shared_dim: int = 128            # the shared class embedding's width
    hierarchical: bool = True
    attention_resolution: int = 0
    spectral_norm: bool = True
    axis_name: str | None = DATA

    def chunks(self, z_dim: int) -> tuple[int, int]:
        """``(number of z chunks, chunk size)``: hierarchical z uses ``n_blocks + 1`` chunks."""
        n_blocks = len(biggan_layout(self.image_size, self.width)[1])
        if not self.hierarchical:
            return 1, z_dim
        return n_blocks + 1, z_dim // (n_blocks + 1)

    @nn.compact
    def __call__(self, z, y, train: bool = True):
        bottom, ins, outs = biggan_layout(self.image_size, self.width)
        slots, size = self.chunks(z.shape[-1])
        shared = nn.Embed(self.num_classes, self.shared_dim, embedding_init=ORTHO, name="shared")(y)
        if self.hierarchical:
            zs = [z[:, i * size:(i + 1) * size] for i in range(slots)]
            z0, conds = zs[0], [jnp.concatenate([shared, zi], -1) for zi in zs[1:]]
        else:
            z0, conds = z, [shared] * len(ins)
        x = maybe_sn(nn.Dense(bottom * bottom * ins[0], kernel_init=ORTHO, name="linear"), self.spectral_norm)(z0, train)
        x = x.reshape(z.shape[0], bottom, bottom, ins[0])
        for i, features in enumerate(outs):
            x = BigGANBlock(features, self.spectral_norm, self.axis_name, name=f"block{i}")(x, conds[i], train)
            if self.attention_resolution and x.shape[1] == self.attention_resolution:
                x = SelfAttention(spectral_norm=self.spectral_norm, name="attention")(x, train)
        x = nn.relu(BatchNorm(self.axis_name, name="out_bn")(x, train))
        x = maybe_sn(Conv(self.channels, (3, 3), padding="SAME", kernel_init=ORTHO, name="out_conv"),
                     self.spectral_norm)(x, train)
        return jnp.tanh(x)


def attention_resolutions(image_size: int, width: int) -> Sequence[int]:
    """The block output sizes an attention layer can follow."""
    bottom, ins, _ = biggan_layout(image_size, width)
    return [bottom * 2 ** (i + 1) for i in range(len(ins))]


def discriminator_layout(image_size: int, ch: int) -> tuple[list[int], list[bool]]:
    """``(out_channels, downsample)`` per block of the reference's ``D_arch``."""
    if image_size in (28, 32):
        return [4 * ch] * 4, [True, True, False, False]
    if image_size == 64:
        return [ch * m for m in (1, 2, 4, 8, 16)], [True] * 4 + [False]
    if image_size == 128:
        return [ch * m for m in (1, 2, 4, 8, 16, 16)], [True] * 5 + [False]
    raise ValueError(f"BigGAN's discriminator is laid out for 28, 32, 64 or 128 px images, not {image_size}")


class BigGANDiscriminator(nn.Module):
    """The reference's ``Discriminator``: residual blocks of ``D_arch`` (the first without
    pre-activation, the others ``ReLU-conv3x3-ReLU-conv3x3[-avgpool]`` with hidden width = the
    block's output, ``D_wide``), self-attention after the block whose output is
    ``attention_resolution``, ReLU, global sum pooling, an SN linear head (``head=False``: the
    pooled features, for the projection head of ``jgan.models.conditional``). At 28 / 32 px it
    is SNGAN's ResNet D. Convolutions: SN, Xavier init as ``jgan.models.sngan`` (the reference
    initialises orthogonally; spectral normalisation fixes the scale either way)."""

    image_size: int = 32
    width: int = 64
    attention_resolution: int = 0
    spectral_norm: bool = True
    head: bool = True

    @nn.compact
    def __call__(self, x, train: bool = True):
        outs, downs = discriminator_layout(self.image_size, self.width)
        for i, (features, down) in enumerate(zip(outs, downs)):
            x = DBlock(features, down, i == 0, self.spectral_norm, wide=True, name=f"block{i}")(x, train)
            if self.attention_resolution and x.shape[1] == self.attention_resolution:
                x = SelfAttention(spectral_norm=self.spectral_norm, name="attention")(x, train)
        x = jnp.sum(nn.relu(x), axis=(1, 2))
        if not self.head:
            return x
        return maybe_sn(nn.Dense(1, kernel_init=xavier()), self.spectral_norm)(x, train)[:, 0]
