"""The pix2pix U-Net generator (Isola, Zhu, Zhou & Efros 2017, *Image-to-Image Translation with
Conditional Adversarial Networks*, appendix 6.1.1; the authors' PyTorch code
``junyanz/pytorch-CycleGAN-and-pix2pix``, ``models/networks.py``: ``UnetGenerator`` /
``UnetSkipConnectionBlock``).

Architecture, for ``D`` down-samplings (``num_downs``; 0 = ``log2`` of the image size, i.e. down
to 1x1: ``D = 8`` is the reference's ``unet_256``, ``D = 7`` its ``unet_128``). Level ``i = 0 ..
D-1`` (0 outermost) has ``c_i = min(2^i, 8) * width`` channels (64, 128, 256, 512, 512, ...):

- encoder: ``e_0 = Conv(c_0)(x)``; ``e_i = Norm(Conv(c_i)(LeakyReLU_0.2(e_{i-1})))``; every conv
  4x4, stride 2, padding 1. No norm on the outermost conv (the paper's "BatchNorm is not applied to
  the first C64 layer") nor on the innermost one (the reference's ``innermost`` block; at 1x1 a
  BatchNorm over a batch of one would zero the bottleneck);
- decoder, from the innermost level out: ``u_i = Norm(ConvT(c_{i-1})(ReLU(h)))``, [dropout],
  ``h <- concat(e_{i-1}, u_i)`` (skip first, as the reference's ``torch.cat([x, model(x)], 1)``),
  starting from ``h = e_{D-1}``; the outermost ``ConvT(out_channels)(ReLU(h))`` has a bias and
  ends in tanh. Transposed convs are 4x4, stride 2, PyTorch padding 1.

The reference's in-place LeakyReLU also rewrites the skip tensor to ``LeakyReLU(e)``; the next op
on it is the decoder's ReLU and ``ReLU(LeakyReLU(e)) = ReLU(e)``, so concatenating ``e`` itself,
as here, computes the same function.

Dropout (rate ``dropout_rate``, flax rng collection ``'dropout'``) follows the *paper*: the
decoder is ``CD512-CD1024-CD1024-C1024-...``, i.e. dropout after the norm of the **three
innermost** decoder blocks, levels ``D-1, D-2, D-3`` (``dropout_blocks``; at most the ``D - 1``
non-outermost blocks). The reference code differs: its innermost block has no dropout and the
``num_downs - 5`` intermediate 8w blocks have it (levels ``D-2 .. 4``: three blocks, one level
further out, for ``unet_256``; two for ``unet_128``; none below 6 downs). Dropout is the model's
only noise. ``dropout=None`` means "active iff ``train``"; the paper also applies dropout at test
time (``dropout=True, train=False``), and uses the test batch's own BatchNorm statistics there,
which is ``train=True`` with the ``batch_stats`` update discarded.

Biases: as the reference's ``use_bias = norm_layer == InstanceNorm2d``, convs have no bias with
``norm='batch'`` (the outermost down conv and the innermost convs included) and a bias with
``'instance'``; the outermost transposed conv always has one. With ``norm='none'`` all convs have
biases (the reference would drop them there too, leaving nothing to shift the activations).
Init: conv kernels N(0, 0.02), biases 0, BatchNorm scale N(1, 0.02) (reference
``init_weights('normal')``). Norms: ``'batch'`` is :class:`jgan.models.dcgan.BatchNorm`
(PyTorch defaults; statistics synchronised over ``axis_name`` inside ``shard_map``),
``'instance'`` is ``InstanceNorm2d(affine=False, track_running_stats=False)`` (no parameters,
no running statistics, eps 1e-5), ``'none'`` the identity.

Parameter count (``width`` 64, 3 -> 3 channels, BatchNorm): 54,413,955 at ``D = 8``, the
reference's printed "Total number of parameters : 54.414 M" for ``unet_256``.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jgan.axes import DATA
from jgan.models.dcgan import DCGAN_INIT, BatchNorm
from jgan.models.layers import Conv, ConvTranspose, torch_padding

__all__ = ["NORMS", "UNetGenerator", "translation_norm", "unet_depth"]

NORMS = ("batch", "instance", "none")
_DOWN_PAD = ((1, 1), (1, 1))  # PyTorch Conv2d(k=4, s=2, p=1): S -> S / 2
_UP_PAD = torch_padding(4, 1)  # PyTorch ConvTranspose2d(k=4, s=2, p=1): S -> 2 S


def translation_norm(kind: str, axis_name: str | None = DATA,
                     name: str | None = None) -> Callable[[jax.Array, bool], jax.Array]:
    """The normalisation ``(x, train) -> x`` of the pix2pix / CycleGAN networks.

    'batch': :class:`jgan.models.dcgan.BatchNorm` (synchronised over ``axis_name`` when bound);
    'instance': flax ``InstanceNorm`` without scale/shift and without running statistics
    (PyTorch ``InstanceNorm2d(affine=False, track_running_stats=False)``, eps 1e-5);
    'none': identity. Call inside a compact method.
    """
    if kind == "batch":
        return BatchNorm(axis_name=axis_name, name=name)
    if kind == "instance":
        norm = nn.InstanceNorm(epsilon=1e-5, use_scale=False, use_bias=False, name=name)
        return lambda x, train: norm(x)
    if kind == "none":
        return lambda x, train: x
    raise ValueError(f"norm {kind!r} is not one of {', '.join(map(repr, NORMS))}")


def unet_depth(spatial: Sequence[int], num_downs: int = 0) -> int:
    """The number of down-samplings for an image of ``spatial = (H, W)``.

    Each side must be a power of two and at least ``2 ** num_downs``; ``num_downs=0`` means
    ``log2(min(H, W))`` (down to 1x1 on the shorter side). Raises ``ValueError`` otherwise.
    """
    sides = tuple(int(s) for s in spatial)
    if any(s < 2 or s & (s - 1) for s in sides):
        raise ValueError(f"UNetGenerator needs power-of-two image sides >= 2, got {sides}")
    if num_downs < 0:
        raise ValueError(f"num_downs must be >= 0 (0: down to 1x1), got {num_downs}")
    depth = num_downs or int(math.log2(min(sides)))
    if min(sides) < 2 ** depth:
        raise ValueError(f"UNetGenerator with num_downs={depth} needs images of at least "
                         f"{2 ** depth}x{2 ** depth}, got {sides[0]}x{sides[1]}")
    return depth


class UNetGenerator(nn.Module):
    """pix2pix U-Net: ``x [N, H, W, Cin]`` in [-1, 1] -> ``[N, H, W, out_channels]`` (tanh).

    See the module docstring for the architecture and where it follows the paper rather than
    the reference code (dropout placement). ``__call__(x, train, dropout=None)``: ``train``
    selects BatchNorm batch statistics (and updates ``batch_stats``); ``dropout`` (None = same
    as ``train``) switches the dropout layers, which need an rng named ``'dropout'``.
    """

    out_channels: int
    width: int = 64
    norm: str = "batch"  # 'batch' | 'instance' | 'none'
    num_downs: int = 0  # 0: log2(image size), down to 1x1
    dropout_rate: float = 0.5
    dropout_blocks: int = 3  # innermost decoder blocks with dropout (paper: 3)
    axis_name: str | None = DATA

    def channels(self, level: int) -> int:
        """Channels of encoder level ``level`` (0 outermost): ``min(2^level, 8) * width``."""
        return min(2 ** level, 8) * self.width

    def dropout_levels(self, depth: int) -> tuple[int, ...]:
        """The decoder levels with dropout, innermost first: ``depth-1, depth-2, ...``, the
        ``min(dropout_blocks, depth - 1)`` innermost non-outermost blocks."""
        k = max(0, min(self.dropout_blocks, depth - 1))
        return tuple(range(depth - 1, depth - 1 - k, -1))

    @nn.compact
    def __call__(self, x: jax.Array, train: bool, dropout: bool | None = None) -> jax.Array:
        if x.ndim != 4:
            raise ValueError(f"UNetGenerator expects NHWC images, got shape {x.shape}")
        if self.norm not in NORMS:
            raise ValueError(f"norm {self.norm!r} is not one of {', '.join(map(repr, NORMS))}")
        depth = unet_depth(x.shape[1:3], self.num_downs)
        use_dropout = train if dropout is None else bool(dropout)
        bias = self.norm != "batch"
        drop_at = set(self.dropout_levels(depth))

        # Encoder: skips[i] = e_i.
        skips = []
        h = x
        for i in range(depth):
            if i > 0:
                h = nn.leaky_relu(h, 0.2)
            h = Conv(self.channels(i), (4, 4), strides=(2, 2), padding=_DOWN_PAD, use_bias=bias,
                     kernel_init=DCGAN_INIT, name=f"down{i}")(h)
            if 0 < i < depth - 1:
                h = translation_norm(self.norm, self.axis_name, name=f"down{i}_norm")(h, train)
            skips.append(h)

        # Decoder, innermost first: h = concat(e_{i-1}, u_i).
        for i in range(depth - 1, 0, -1):
            u = ConvTranspose(self.channels(i - 1), (4, 4), strides=(2, 2), padding=_UP_PAD,
                              use_bias=bias, kernel_init=DCGAN_INIT, name=f"up{i}")(nn.relu(h))
            u = translation_norm(self.norm, self.axis_name, name=f"up{i}_norm")(u, train)
            if i in drop_at:
                u = nn.Dropout(self.dropout_rate, deterministic=not use_dropout,
                               name=f"up{i}_dropout")(u)
            h = jnp.concatenate([skips[i - 1], u], axis=-1)
        h = ConvTranspose(self.out_channels, (4, 4), strides=(2, 2), padding=_UP_PAD,
                          use_bias=True, kernel_init=DCGAN_INIT, name="up0")(nn.relu(h))
        return jnp.tanh(h)
