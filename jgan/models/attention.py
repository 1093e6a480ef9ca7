"""Self-attention (SAGAN) and the spectral-normalisation switch shared by the SNGAN models.

``maybe_sn(layer, enabled)`` wraps a layer in flax's own ``nn.SpectralNorm`` (Miyato et al.
2018): the layer's matrix-shaped params (kernels, reshaped to ``[-1, out_features]``) are
divided by their largest singular value, estimated by power iteration. The iteration
vector ``u`` and the last ``sigma`` live in the ``batch_stats`` collection (the same one
BatchNorm uses, so jgan's train step, which applies the networks with
``mutable=['batch_stats']``, carries them along); ``train=True`` stores the updated ``u`` /
``sigma``, ``train=False`` runs the same ``n_steps`` iterations from the stored ``u`` without
storing them. Biases (1-D params) are left alone. It works with jgan's ``Conv`` /
``ConvTranspose`` (``layers.py``) as well as with flax's layers.

``SelfAttention`` is the self-attention block of Zhang et al. 2019 (SAGAN) as written in the
SAGAN / BigGAN-PyTorch code: 1x1 convolutions ``f`` (query, C/8 channels), ``g`` (key, C/8)
and ``h`` (value, C/2), keys and values 2x2 max-pooled (``pool=True``, default; 4x fewer
key positions), softmax over key positions, a 1x1 convolution ``v`` back to C channels and
``y = x + gamma * o`` with a learned scalar ``gamma`` initialised to 0 (so the block is the
identity at initialisation). No biases, no 1/sqrt(d) scaling, as in those implementations.
"""
from __future__ import annotations

from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from jgan.models.layers import Conv

XAVIER = nn.initializers.xavier_uniform()  # SAGAN's init for the attention convolutions


def maybe_sn(layer: nn.Module, enabled: bool, n_steps: int = 1) -> Callable:
    """``(x, train) -> y``: ``nn.SpectralNorm(layer, n_steps)(x, update_stats=train)`` when
    ``enabled``, else ``layer(x)``.

    Call it inside a compact method with a freshly constructed ``layer``. The layer's params
    stay where they would be without SN (``params/<layer name>/kernel``); the SN state goes to
    ``batch_stats/SpectralNorm_<k>/<layer name>/kernel/{u,sigma}``.
    """
    if enabled:
        sn = nn.SpectralNorm(layer, n_steps=n_steps)
        return lambda x, train: sn(x, update_stats=train)
    return lambda x, train: layer(x)


class SelfAttention(nn.Module):
    """SAGAN self-attention ``[N, H, W, C] -> [N, H, W, C]`` (C a multiple of 8).

    Attributes:
      spectral_norm: spectral normalisation on the four 1x1 convolutions.
      pool: 2x2 max-pool keys and values (BigGAN / SAGAN code); odd sizes are padded
        ('SAME', with -inf), so a 7x7 map has 4x4 key positions.

    The attention weights ``[N, H*W, key positions]`` (rows sum to 1) are sown into the
    ``intermediates`` collection as ``attention``.
    """

    spectral_norm: bool = False
    pool: bool = True

    @nn.compact
    def __call__(self, x, train: bool = True):
        n, h, w, c = x.shape
        if c % 8:
            raise ValueError(f"SelfAttention needs channels divisible by 8, got {c}")

        def conv1x1(features, name):
            layer = Conv(features, (1, 1), use_bias=False, kernel_init=XAVIER, name=name)
            return maybe_sn(layer, self.spectral_norm)

        query = conv1x1(c // 8, "f")(x, train)
        key = conv1x1(c // 8, "g")(x, train)
        value = conv1x1(c // 2, "h")(x, train)
        if self.pool:
            key = nn.max_pool(key, (2, 2), strides=(2, 2), padding="SAME")
            value = nn.max_pool(value, (2, 2), strides=(2, 2), padding="SAME")
        query = query.reshape(n, h * w, c // 8)
        key = key.reshape(n, -1, c // 8)
        value = value.reshape(n, -1, c // 2)
        logits = jnp.einsum("nqc,nkc->nqk", query, key)
        beta = jax.nn.softmax(logits.astype(jnp.float32), axis=-1).astype(x.dtype)
        self.sow("intermediates", "attention", beta)
        o = jnp.einsum("nqk,nkc->nqc", beta, value).reshape(n, h, w, c // 2)
        o = conv1x1(c, "v")(o, train)
        gamma = self.param("gamma", nn.initializers.zeros_init(), ())
        return x + gamma.astype(x.dtype) * o
