"""The CycleGAN ResNet generator (Zhu, Park, Isola & Efros 2017, *Unpaired Image-to-Image
Translation using Cycle-Consistent Adversarial Networks*, appendix 7.2, after Johnson et al.
2016; the authors' PyTorch ``ResnetGenerator`` / ``ResnetBlock`` in
``junyanz/pytorch-CycleGAN-and-pix2pix``, ``models/networks.py``).

``x [N, H, W, Cin]`` in [-1, 1] -> ``[N, H, W, out_channels]`` (tanh), H and W multiples of 4.
With ``w = width`` (the reference's ``ngf``, 64), the paper's ``c7s1-64, d128, d256, R256 x k,
u128, u64, c7s1-3``:

- stem: reflection pad 3, ``Conv 7x7 (w)``, norm, ReLU;
- two downsamplings: ``Conv 3x3 stride 2 padding 1 (2w, 4w)``, norm, ReLU;
- ``num_blocks`` residual blocks at ``4w``: ``x + [reflect 1, Conv 3x3, norm, ReLU,
  reflect 1, Conv 3x3, norm](x)`` (no ReLU after the sum, as the reference);
- two upsamplings: ``ConvTranspose 3x3 stride 2`` with PyTorch ``padding=1,
  output_padding=1`` (``2w``, ``w``; doubling the size), norm, ReLU;
- head: reflection pad 3, ``Conv 7x7 (out_channels)`` with a bias, tanh.

The paper uses 9 blocks at 256 px and 6 at 128 px; fewer suit small images. Norms as
:func:`jgan.models.unet.translation_norm` ('instance', the reference's CycleGAN default:
no affine parameters, no running statistics; 'batch'; 'none'). Biases as the reference
(``use_bias = norm_layer == InstanceNorm2d``): every conv has one with 'instance' or 'none', none
with 'batch' except the head. The reference's optional dropout in the blocks (``--no_dropout``
is CycleGAN's default) is left out. Init: kernels N(0, 0.02), biases 0.

``padding='zero'`` pads with zeros instead of reflecting (StarGAN's generator). It matters for
a conditional input: a spatially constant input channel (StarGAN's tiled label) adds a
constant to every position of the stem's output when the padding reflects, and the instance
norm right after removes it, so the label cannot reach the output at all; with zero padding
its contribution differs in the border band the kernel overhangs, which survives the norm
(that band is how the reference's StarGAN sees the label).

Parameter count (``width`` 64, 3 -> 3 channels, instance norm, 9 blocks): 11,378,179, the
reference's printed "Total number of parameters : 11.378 M" for ``resnet_9blocks``.
"""
from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from jgan.axes import DATA
from jgan.models.dcgan import DCGAN_INIT
from jgan.models.layers import Conv, ConvTranspose, torch_padding
from jgan.models.unet import NORMS, translation_norm

__all__ = ["ResnetGenerator", "reflect_pad"]

_UP_PAD = torch_padding(3, 1, 1)  # PyTorch ConvTranspose2d(k=3, s=2, p=1, output_padding=1): S -> 2 S


def reflect_pad(x: jax.Array, p: int) -> jax.Array:
    """PyTorch ``ReflectionPad2d(p)`` of NHWC ``x`` (the edge row is not repeated)."""
    return jnp.pad(x, ((0, 0), (p, p), (p, p), (0, 0)), mode="reflect")


class ResnetGenerator(nn.Module):
    """CycleGAN's ResNet-k translator; see the module docstring. ``__call__(x, train)``:
    ``train`` selects BatchNorm batch statistics (instance norm ignores it)."""

    out_channels: int
    width: int = 64
    num_blocks: int = 9
    norm: str = "instance"  # 'instance' | 'batch' | 'none'
    axis_name: str | None = DATA
    padding: str = "reflect"  # 'reflect' (CycleGAN) | 'zero' (StarGAN)

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        if x.ndim != 4:
            raise ValueError(f"ResnetGenerator expects NHWC images, got shape {x.shape}")
        if self.norm not in NORMS:
            raise ValueError(f"norm {self.norm!r} is not one of {', '.join(map(repr, NORMS))}")
        if x.shape[1] % 4 or x.shape[2] % 4:
            raise ValueError(f"ResnetGenerator needs sides divisible by 4, got {x.shape[1]}x{x.shape[2]}")
        if self.padding not in ("reflect", "zero"):
            raise ValueError(f"padding {self.padding!r} is not 'reflect' or 'zero'")
        bias = self.norm != "batch"
        pad = reflect_pad if self.padding == "reflect" else (
            lambda h, p: jnp.pad(h, ((0, 0), (p, p), (p, p), (0, 0))))
        norm = lambda name: translation_norm(self.norm, self.axis_name, name=name)  # noqa: E731

        def conv(h, features, k, stride, name, pad="VALID"):
            return Conv(features, (k, k), strides=(stride, stride), padding=pad, use_bias=bias,
                        kernel_init=DCGAN_INIT, name=name)(h)

        h = conv(pad(x, 3), self.width, 7, 1, "stem")
        h = nn.relu(norm("stem_norm")(h, train))
        for i in range(2):
            h = conv(h, self.width * 2 ** (i + 1), 3, 2, f"down{i}", pad=((1, 1), (1, 1)))
            h = nn.relu(norm(f"down{i}_norm")(h, train))
        for b in range(self.num_blocks):
            r = conv(pad(h, 1), 4 * self.width, 3, 1, f"block{b}_conv0")
            r = nn.relu(norm(f"block{b}_norm0")(r, train))
            r = conv(pad(r, 1), 4 * self.width, 3, 1, f"block{b}_conv1")
            h = h + norm(f"block{b}_norm1")(r, train)
        for i in range(2):
            h = ConvTranspose(self.width * 2 ** (1 - i), (3, 3), strides=(2, 2), padding=_UP_PAD,
                              use_bias=bias, kernel_init=DCGAN_INIT, name=f"up{i}")(h)
            h = nn.relu(norm(f"up{i}_norm")(h, train))
        h = Conv(self.out_channels, (7, 7), padding="VALID", use_bias=True, kernel_init=DCGAN_INIT,
                 name="head")(pad(h, 3))
        return jnp.tanh(h)
