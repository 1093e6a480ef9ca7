"""The PatchGAN discriminator of pix2pix and CycleGAN (Isola et al. 2017, §3.2.2 and appendix
6.1.2; the authors' PyTorch ``NLayerDiscriminator`` in ``junyanz/pytorch-CycleGAN-and-pix2pix``,
``models/networks.py``).

``x [N, H, W, C] -> logits [N, h, w]``, one logit per overlapping patch (the channel dim of the
final 1-channel conv is squeezed). For pix2pix the caller concatenates (input, output) on the
channel axis. Layers, with ``c_i = min(2^i, 8) * width`` and every conv 4x4 with padding 1:

- ``Conv(c_0, stride 2)`` - LeakyReLU 0.2 (no norm);
- for ``i = 1 .. n_layers-1``: ``Conv(c_i, stride 2)`` - norm - LeakyReLU 0.2;
- ``Conv(c_{n_layers}, stride 1)`` - norm - LeakyReLU 0.2;
- ``Conv(1, stride 1)`` (logits; the reference's optional sigmoid is the loss's business).

Receptive field of one logit (:func:`receptive_field`): 16x16 for ``n_layers=1`` (the paper's
16x16 PatchGAN, C64-C128), 34x34 for 2, **70x70 for 3** (the default, the paper's C64-C128-C256-
C512 and the reference's ``basic`` D), 142 for 4, 286 for 5 (the paper's 286x286 "ImageGAN").
Output side: ``floor(S / 2^n_layers) - 2`` (256 -> 30x30 for ``n_layers=3``).

Biases as the reference (``use_bias = norm_layer == InstanceNorm2d``): the first and last convs
always have one; the normalised convs have one only with ``norm='instance'`` (and with
``'none'``, where nothing else shifts them; the reference drops them there). Init: kernels
N(0, 0.02), biases 0, BatchNorm scale N(1, 0.02). Norms as
:func:`jgan.models.unet.translation_norm` ('batch' synchronised over ``axis_name`` inside
``shard_map``; 'instance' without affine parameters or running statistics; 'none').

Parameter count (``n_layers=3``, ``width`` 64, 6 input channels, BatchNorm): 2,768,705, the
reference's printed "Total number of parameters : 2.769 M" for its ``basic`` D in pix2pix.
"""
from __future__ import annotations

import flax.linen as nn
import jax

from jgan.axes import DATA
from jgan.models.dcgan import DCGAN_INIT
from jgan.models.layers import Conv
from jgan.models.unet import NORMS, translation_norm

__all__ = ["PatchGANDiscriminator", "receptive_field"]

_PAD = ((1, 1), (1, 1))


def _strides(n_layers: int) -> list[int]:
    return [2] * n_layers + [1, 1]


def receptive_field(n_layers: int) -> int:
    """Side of the input square one PatchGAN logit sees: 16, 34, 70, 142, 286 for
    ``n_layers`` 1..5 (every layer a 4x4 conv; strides 2 x n_layers, then 1, 1)."""
    rf = 1
    for s in reversed(_strides(n_layers)):
        rf = (rf - 1) * s + 4
    return rf


class PatchGANDiscriminator(nn.Module):
    """PatchGAN: ``x [N, H, W, C] -> logits [N, h, w]``; see the module docstring.

    ``train`` selects BatchNorm batch statistics (updating ``batch_stats``).
    """

    n_layers: int = 3
    width: int = 64
    norm: str = "batch"  # 'batch' | 'instance' | 'none'
    axis_name: str | None = DATA

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        if x.ndim != 4:
            raise ValueError(f"PatchGANDiscriminator expects NHWC images, got shape {x.shape}")
        if self.n_layers < 1:
            raise ValueError(f"PatchGANDiscriminator needs n_layers >= 1, got {self.n_layers}")
        if self.norm not in NORMS:
            raise ValueError(f"norm {self.norm!r} is not one of {', '.join(map(repr, NORMS))}")
        side = min(x.shape[1:3]) // 2 ** self.n_layers - 2
        if side < 1:
            raise ValueError(f"PatchGANDiscriminator(n_layers={self.n_layers}) gives no patches for "
                             f"{x.shape[1]}x{x.shape[2]} images (needs >= {3 * 2 ** self.n_layers})")
        bias = self.norm != "batch"
        width = lambda i: min(2 ** i, 8) * self.width  # noqa: E731
        x = Conv(width(0), (4, 4), strides=(2, 2), padding=_PAD, use_bias=True,
                 kernel_init=DCGAN_INIT, name="conv0")(x)
        x = nn.leaky_relu(x, 0.2)
        for i, s in enumerate(_strides(self.n_layers)[1:-1], start=1):
            x = Conv(width(i), (4, 4), strides=(s, s), padding=_PAD, use_bias=bias,
                     kernel_init=DCGAN_INIT, name=f"conv{i}")(x)
            x = translation_norm(self.norm, self.axis_name, name=f"norm{i}")(x, train)
            x = nn.leaky_relu(x, 0.2)
        x = Conv(1, (4, 4), strides=(1, 1), padding=_PAD, use_bias=True, kernel_init=DCGAN_INIT,
                 name=f"conv{self.n_layers + 1}")(x)
        return x[..., 0]
