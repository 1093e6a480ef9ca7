"""The SNGAN networks of Miyato et al. 2018 ("Spectral Normalization for GANs", App. B).

``SNGANStandardGenerator`` / ``SNGANStandardDiscriminator``: the "standard CNN" of Table 3.
``ResNetGenerator`` / ``ResNetDiscriminator``: the CIFAR-10 ResNet of Table 4 (Gulrajani et
al. 2017's architecture, as in the authors' chainer code ``pfnet-research/sngan_projection``
and in Mimicry / StudioGAN).

Conventions (as ``dcgan.py``): NHWC; generators map ``z [N, z_dim]`` to images
``[N, H, W, C]`` in [-1, 1] (tanh); discriminators map images to logits ``[N]``; ``train``
selects batch statistics (synchronised over ``axis_name`` when bound) and, with spectral
normalisation, updates the power-iteration state. Spectral normalisation is flax's
``nn.SpectralNorm`` (via :func:`jgan.models.attention.maybe_sn`): its ``u`` / ``sigma`` live in
the ``batch_stats`` collection next to BatchNorm's running averages.

Sizes. A generator starts at ``M_g x M_g`` and doubles the size ``n_up`` times:
``image_size % 8 == 0`` gives ``n_up = 3``, ``M_g = image_size / 8`` (32 -> 4, the paper's
CIFAR-10 networks; 48 -> 6, its STL-10 networks); otherwise ``image_size % 4 == 0`` gives
``n_up = 2``, ``M_g = image_size / 4`` (28 -> 7: the MNIST adaptation, which drops the first
up-sampling stage, i.e. the widest one). Discriminators take any input size (the standard
CNN's three stride-2 convs map 32 -> 4 and 28 -> 3; the ResNet's two down-sampling blocks map
32 -> 8 and 28 -> 7, so the MNIST ResNet D is the CIFAR one unchanged).

Departures from the letter of the tables, following the authors' code:
- standard G: the BatchNorm after the dense layer normalises each of its
  ``M_g*M_g*512`` outputs (chainer ``BatchNormalization(bottom_width**2 * ch)``, i.e.
  BatchNorm1d) before the reshape; all layers have biases; N(0, 0.02) init.
- standard D: channels as Table 3 (64, 64, 128, 128, 256, 256, 512); the chainer code
  (``SNDCGANDiscriminator``) doubles the channels at the stride-2 convs instead
  (64, 128, 128, 256, 256, 512, 512): ``widen_strided=True``. lReLU slope 0.1 (the paper's;
  chainer's default is 0.2). N(0, 0.02) init.
- ResNet: residual convs Xavier-uniform with gain sqrt(2), shortcuts / dense / output conv
  gain 1 (chainer, Mimicry). Shortcut 1x1 convs are applied at the lower resolution
  (conv-then-upsample in G, pool-then-conv in D): exactly the same function as the
  reference order for nearest up-sampling and 2x2 average pooling, with 4x fewer FLOPs.
- BatchNorm is ``dcgan.BatchNorm`` (PyTorch momentum/eps; scale init N(1, 0.02)).

``attention_resolution`` (0 = none) inserts a SAGAN :class:`SelfAttention` after the first
stage whose output has that spatial size (G: the reshaped dense output or an up-sampling
stage; D: a layer / block); a size no stage produces raises ``ValueError``. Its convs are
spectrally normalised when the network's ``spectral_norm`` is on.
"""
from __future__ import annotations

import math

import flax.linen as nn
import jax.numpy as jnp

from jgan.axes import DATA
from jgan.models.attention import SelfAttention, maybe_sn
from jgan.models.dcgan import DCGAN_INIT, _norm
from jgan.models.layers import Conv, ConvTranspose, torch_padding, upsample_nearest

__all__ = ["DBlock", "GBlock", "ResNetDiscriminator", "ResNetGenerator", "SNGANStandardDiscriminator",
           "SNGANStandardGenerator", "SelfAttention", "generator_layout", "maybe_sn"]


def xavier(gain: float = 1.0):
    """PyTorch ``xavier_uniform_(w, gain)``: U(+-gain * sqrt(6 / (fan_in + fan_out)))."""
    return nn.initializers.variance_scaling(gain ** 2, "fan_avg", "uniform")


def generator_layout(image_size: int) -> tuple[int, int]:
    """``(n_up, M_g)``: number of 2x up-sampling stages and the start size (see module doc)."""
    if image_size % 8 == 0 and image_size >= 16:
        return 3, image_size // 8
    if image_size % 4 == 0 and image_size >= 8:
        return 2, image_size // 4
    raise ValueError(f"image_size must be a multiple of 8 (>= 16) or of 4 (>= 8), got {image_size}")


def _downsample(x):
    """2x2 average pooling (even sizes)."""
    if x.shape[1] % 2 or x.shape[2] % 2:
        raise ValueError(f"2x2 average pooling needs even sizes, got {x.shape[1:3]}")
    return nn.avg_pool(x, (2, 2), strides=(2, 2))


class _Attention:
    """Inserts one SelfAttention after the first stage whose output is ``resolution``."""

    def __init__(self, resolution: int, spectral_norm: bool):
        self.resolution, self.spectral_norm, self.done, self.seen = resolution, spectral_norm, False, []

    def __call__(self, x, train):
        self.seen.append(x.shape[1])
        if self.resolution and not self.done and x.shape[1] == self.resolution:
            self.done = True
            return SelfAttention(spectral_norm=self.spectral_norm, name="attention")(x, train)
        return x

    def check(self):
        if self.resolution and not self.done:
            raise ValueError(f"attention_resolution {self.resolution} is not one of the stage "
                             f"output sizes {sorted(set(self.seen))}")


# --------------------------------------------------------------------------------------
# Standard CNN (Table 3)
# --------------------------------------------------------------------------------------


class SNGANStandardGenerator(nn.Module):
    """z -> Dense(M_g*M_g*8w)-BN-ReLU -> reshape -> n_up x [ConvT 4x4 s2 (halving channels)-BN-
    ReLU] -> Conv 3x3 s1 -> ``channels``, tanh. ``width`` = w = channels of the last hidden
    layer (paper: 64, so 512-256-128-64 for 32x32); the 28x28 variant runs 7 -> 14 -> 28 with
    256-128-64 channels."""

    image_size: int = 32
    channels: int = 3
    width: int = 64
    norm: str = "batch"
    spectral_norm: bool = False
    attention_resolution: int = 0
    axis_name: str | None = DATA

    @nn.compact
    def __call__(self, z, train: bool = True):
        n_up, bottom = generator_layout(self.image_size)
        ch = self.width * 2 ** n_up
        attention = _Attention(self.attention_resolution, self.spectral_norm)
        x = maybe_sn(nn.Dense(bottom * bottom * ch, kernel_init=DCGAN_INIT), self.spectral_norm)(z, train)
        x = nn.relu(_norm(self.norm, self.axis_name)(x, train))  # per feature (BatchNorm1d)
        x = attention(x.reshape(z.shape[0], bottom, bottom, ch), train)
        for _ in range(n_up):
            ch //= 2
            layer = ConvTranspose(ch, (4, 4), strides=(2, 2), padding=torch_padding(4, 1),
                                  kernel_init=DCGAN_INIT)
            x = maybe_sn(layer, self.spectral_norm)(x, train)
            x = attention(nn.relu(_norm(self.norm, self.axis_name)(x, train)), train)
        attention.check()
        x = maybe_sn(Conv(self.channels, (3, 3), padding=((1, 1), (1, 1)), kernel_init=DCGAN_INIT),
                     self.spectral_norm)(x, train)
        return jnp.tanh(x)


class SNGANStandardDiscriminator(nn.Module):
    """image -> [conv 3x3 s1, conv 4x4 s2] x 3 -> conv 3x3 s1, each followed by lReLU(0.1) ->
    Dense(1). Channels w, w, 2w, 2w, 4w, 4w, 8w (paper, ``width`` w = 64) or, with
    ``widen_strided``, w, 2w, 2w, 4w, 4w, 8w, 8w (the authors' chainer code). All convs pad 1;
    no normalisation besides spectral normalisation of every layer."""

    width: int = 64
    spectral_norm: bool = True
    leak: float = 0.1
    widen_strided: bool = False
    attention_resolution: int = 0
    head: bool = True  # False: return the flattened last conv features the head reads

    @nn.compact
    def __call__(self, x, train: bool = True):
        w = self.width
        chans = [w, 2 * w, 2 * w, 4 * w, 4 * w, 8 * w, 8 * w] if self.widen_strided else \
            [w, w, 2 * w, 2 * w, 4 * w, 4 * w, 8 * w]
        attention = _Attention(self.attention_resolution, self.spectral_norm)
        for i, c in enumerate(chans):
            k, s = (3, 1) if i % 2 == 0 else (4, 2)
            layer = Conv(c, (k, k), strides=(s, s), padding=((1, 1), (1, 1)), kernel_init=DCGAN_INIT)
            x = nn.leaky_relu(maybe_sn(layer, self.spectral_norm)(x, train), self.leak)
            x = attention(x, train)
        attention.check()
        x = x.reshape(x.shape[0], -1)
        if not self.head:
            return x
        x = maybe_sn(nn.Dense(1, kernel_init=DCGAN_INIT), self.spectral_norm)(x, train)
        return x.reshape(x.shape[0])


# --------------------------------------------------------------------------------------
# ResNet (Table 4)
# --------------------------------------------------------------------------------------


class GBlock(nn.Module):
    """BN-ReLU-up2-conv3x3-BN-ReLU-conv3x3, plus shortcut up2 + conv1x1 (``features`` out)."""

    features: int
    norm: str = "batch"
    spectral_norm: bool = False
    axis_name: str | None = DATA

    @nn.compact
    def __call__(self, x, train: bool = True):
        def conv(k, gain, name):
            return maybe_sn(Conv(self.features, (k, k), padding="SAME", kernel_init=xavier(gain),
                                 name=name), self.spectral_norm)

        h = nn.relu(_norm(self.norm, self.axis_name)(x, train))
        h = conv(3, math.sqrt(2), "conv1")(upsample_nearest(h), train)
        h = nn.relu(_norm(self.norm, self.axis_name)(h, train))
        h = conv(3, math.sqrt(2), "conv2")(h, train)
        return h + upsample_nearest(conv(1, 1.0, "shortcut")(x, train))  # = conv1x1(up2(x))


class DBlock(nn.Module):
    """Discriminator residual block with ``features`` output channels.

    ``optimized`` (the first block): conv3x3-ReLU-conv3x3-avgpool, shortcut avgpool-conv1x1.
    Otherwise ReLU-conv3x3-ReLU-conv3x3-[avgpool], shortcut conv1x1-[avgpool] when the block
    down-samples or changes the channel count, else the identity. Hidden channels: ``features``
    in the optimized block, the input channels otherwise (as in the chainer code).
    """

    features: int
    downsample: bool = True
    optimized: bool = False
    spectral_norm: bool = True
    wide: bool = False  # hidden channels = features (BigGAN's D_wide) instead of the input's

    @nn.compact
    def __call__(self, x, train: bool = True):
        def conv(features, k, gain, name):
            return maybe_sn(Conv(features, (k, k), padding="SAME", kernel_init=xavier(gain),
                                 name=name), self.spectral_norm)

        if self.optimized:
            h = conv(self.features, 3, math.sqrt(2), "conv1")(x, train)
            h = conv(self.features, 3, math.sqrt(2), "conv2")(nn.relu(h), train)
            return _downsample(h) + conv(self.features, 1, 1.0, "shortcut")(_downsample(x), train)
        hidden = self.features if self.wide else x.shape[-1]
        h = conv(hidden, 3, math.sqrt(2), "conv1")(nn.relu(x), train)
        h = conv(self.features, 3, math.sqrt(2), "conv2")(nn.relu(h), train)
        s = x
        if self.downsample:
            h, s = _downsample(h), _downsample(s)
        if self.downsample or x.shape[-1] != self.features:
            s = conv(self.features, 1, 1.0, "shortcut")(s, train)  # = avgpool(conv1x1(x))
        return h + s


class ResNetGenerator(nn.Module):
    """z -> Dense(M_g*M_g*w) -> reshape -> n_up GBlocks(w) -> BN-ReLU-conv3x3(``channels``)-tanh.

    CIFAR-10 (Table 4): 4x4 start, 3 up-blocks, w = 256. 28x28: 7x7 start, 2 up-blocks.
    """

    image_size: int = 32
    channels: int = 3
    width: int = 256
    norm: str = "batch"
    spectral_norm: bool = False
    attention_resolution: int = 0
    axis_name: str | None = DATA

    @nn.compact
    def __call__(self, z, train: bool = True):
        n_up, bottom = generator_layout(self.image_size)
        attention = _Attention(self.attention_resolution, self.spectral_norm)
        x = maybe_sn(nn.Dense(bottom * bottom * self.width, kernel_init=xavier()), self.spectral_norm)(z, train)
        x = attention(x.reshape(z.shape[0], bottom, bottom, self.width), train)
        for _ in range(n_up):
            x = GBlock(self.width, self.norm, self.spectral_norm, self.axis_name)(x, train)
            x = attention(x, train)
        attention.check()
        x = nn.relu(_norm(self.norm, self.axis_name)(x, train))
        x = maybe_sn(Conv(self.channels, (3, 3), padding="SAME", kernel_init=xavier()),
                     self.spectral_norm)(x, train)
        return jnp.tanh(x)


class ResNetDiscriminator(nn.Module):
    """image -> optimized DBlock(w, down) -> DBlock(w, down) -> 2 x DBlock(w) -> ReLU ->
    global sum pooling -> Dense(1). CIFAR-10 (Table 4): w = 128, 32 -> 16 -> 8; 28x28 inputs
    go 28 -> 14 -> 7 through the same network."""

    width: int = 128
    spectral_norm: bool = True
    attention_resolution: int = 0
    head: bool = True  # False: return the pooled features [N, w] the head reads

    @nn.compact
    def __call__(self, x, train: bool = True):
        attention = _Attention(self.attention_resolution, self.spectral_norm)
        x = attention(DBlock(self.width, True, True, self.spectral_norm)(x, train), train)
        x = attention(DBlock(self.width, True, False, self.spectral_norm)(x, train), train)
        for _ in range(2):
            x = attention(DBlock(self.width, False, False, self.spectral_norm)(x, train), train)
        attention.check()
        x = jnp.sum(nn.relu(x), axis=(1, 2))
        if not self.head:
            return x
        x = maybe_sn(nn.Dense(1, kernel_init=xavier()), self.spectral_norm)(x, train)
        return x.reshape(x.shape[0])
