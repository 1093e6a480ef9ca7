"""Centred padding and cropping of NHWC images in [-1, 1]: how data smaller than a network's
resolution (MNIST's 28 px in 32 px networks) are read and written by progan, stylegan2 and
ALI's networks."""
from __future__ import annotations

import jax
import jax.numpy as jnp


def pad_to(x: jax.Array, size: int) -> jax.Array:
    """NHWC images in [-1, 1] padded (centred, value -1: the background) to ``size`` pixels."""
    extra = size - x.shape[1]
    if extra == 0:
        return x
    lo, hi = extra // 2, extra - extra // 2
    return jnp.pad(x, ((0, 0), (lo, hi), (lo, hi), (0, 0)), constant_values=-1.0)


def crop_to(x, size: int):
    """The centre ``size x size`` of NHWC images, NumPy or JAX (the inverse of :func:`pad_to`)."""
    extra = x.shape[1] - size
    lo = extra // 2
    return x[:, lo:lo + size, lo:lo + size]
