"""PacGAN packing (Lin et al. 2018): the discriminator judges m samples at once.

``Packed(inner, pack=m)`` reshapes a batch of ``N`` samples into ``N / m`` packs of ``m``
consecutive samples, concatenated along channels (images ``[N, H, W, C] -> [N/m, H, W, m*C]``)
or features (vectors ``[N, d] -> [N/m, m*d]``), and returns the inner discriminator's logits
``[N/m]``. Real packs come from real batches and fake packs from generated ones, because the
step feeds D one kind at a time. ``m = 1`` is the plain GAN.
"""
from __future__ import annotations

import flax.linen as nn
import jax


def pack_samples(x: jax.Array, pack: int) -> jax.Array:
    """``[N, ...] -> [N/pack, ...]`` with the pack's samples side by side on the last axis."""
    n = x.shape[0]
    if n % pack:
        raise ValueError(f"a batch of {n} samples cannot be split into packs of {pack}")
    if x.ndim == 2:
        return x.reshape(n // pack, pack * x.shape[1])
    x = x.reshape(n // pack, pack, *x.shape[1:])
    x = jax.numpy.moveaxis(x, 1, -2)  # [N/m, ..., m, C]
    return x.reshape(*x.shape[:-2], pack * x.shape[-1])


class Packed(nn.Module):
    inner: nn.Module
    pack: int = 1

    @nn.compact
    def __call__(self, x, train: bool = True):
        return self.inner(pack_samples(x, self.pack) if self.pack > 1 else x, train)
