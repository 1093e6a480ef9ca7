"""StarGAN's discriminator and its conditioning of the generator (Choi et al. 2018, *StarGAN:
Unified Generative Adversarial Networks for Multi-Domain Image-to-Image Translation*, Sec. 3
and appendix; the authors' PyTorch ``model.py`` in ``yunjey/stargan``).

:class:`StarGANDiscriminator`: ``x [N, S, S, C] -> (src [N, S/2^n, S/2^n], cls [N, num_domains])``
with ``n = n_layers`` (the reference's ``repeat_num``, 6 at 128 px) and ``w = width`` (64):

- ``n`` times ``Conv 4x4 stride 2 padding 1`` (``w, 2w, 4w, ...``, with biases) - LeakyReLU 0.01
  (no normalisation: the critic of WGAN-GP must be per-example);
- ``src``: ``Conv 3x3 stride 1 padding 1 -> 1`` channel, no bias (a PatchGAN real/fake map);
- ``cls``: ``Conv (S/2^n x S/2^n), valid -> num_domains``, no bias (one logit per domain or
  attribute).

Init: flax's default (LeCun normal) where the reference keeps PyTorch's default
(Kaiming-uniform with ``a = sqrt(5)``); a deliberate simplification.

:func:`condition`: the generator's input, the target label ``c [N, K]`` replicated over the
image and concatenated on the channel axis (the reference's ``Generator.forward``).
"""
from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from jgan.models.layers import Conv

__all__ = ["StarGANDiscriminator", "condition"]


def condition(x: jax.Array, c: jax.Array) -> jax.Array:
    """``x [N, H, W, C]``, ``c [N, K]`` -> ``[N, H, W, C + K]`` (``c`` tiled over H, W)."""
    tiled = jnp.broadcast_to(c[:, None, None, :].astype(x.dtype), (*x.shape[:3], c.shape[-1]))
    return jnp.concatenate([x, tiled], axis=-1)


class StarGANDiscriminator(nn.Module):
    """See the module docstring. ``__call__(x, train)`` (``train`` is unused: no norm layers)."""

    num_domains: int
    n_layers: int = 6
    width: int = 64

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = True) -> tuple[jax.Array, jax.Array]:
        del train
        if x.ndim != 4:
            raise ValueError(f"StarGANDiscriminator expects NHWC images, got shape {x.shape}")
        if min(x.shape[1:3]) < 2 ** self.n_layers:
            raise ValueError(f"StarGANDiscriminator(n_layers={self.n_layers}) needs sides of at least "
                             f"{2 ** self.n_layers}, got {x.shape[1]}x{x.shape[2]}")
        h = x
        for i in range(self.n_layers):
            h = Conv(self.width * 2 ** i, (4, 4), strides=(2, 2), padding=((1, 1), (1, 1)), name=f"conv{i}")(h)
            h = nn.leaky_relu(h, 0.01)
        src = Conv(1, (3, 3), padding=((1, 1), (1, 1)), use_bias=False, name="src")(h)[..., 0]
        cls = Conv(self.num_domains, h.shape[1:3], padding="VALID", use_bias=False, name="cls")(h)
        return src, cls.reshape(x.shape[0], self.num_domains)
