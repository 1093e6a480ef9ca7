"""ALI's convolutional networks (Dumoulin et al. 2017, *Adversarially Learned Inference*,
Appendix A, Table 3: the CIFAR-10 model; reference code ``IshmaelBelghazi/ALI``,
``experiments/ali_cifar10.py`` and ``ali/bricks.py``).

Every convolution is 'valid' (Theano's default border mode), kernels ~ N(0, 0.01), biases 0,
and only the layers the reference gives one have a bias. Widths scale with ``width`` (32 in the
paper: the first conv's feature maps; the others 2, 4, 8, 16 and 16 times it). The images these
networks read and write are in [-1, 1] (jgan's convention): E and D read ``(x + 1) / 2`` and G
writes ``2 sigmoid(a) - 1``, so the arithmetic is the reference's on its [0, 1] pixels. Inputs
smaller than 32 px (MNIST's 28) are padded, centred, with the background (-1); G's 32 px output
is cropped to ``out_shape``, centred.

* :class:`ALIEncoder` ``G_z(x)``: conv 5x5/1 w, 4x4/2 2w, 4x4/1 4w, 4x4/2 8w, 4x4/1 16w, 1x1/1 16w,
  each without bias, BatchNorm and LeakyReLU (slope ``leak``, 0.1), then a 1x1 conv with bias to
  ``2 z_dim``: ``mu`` and ``log_sigma`` (the reference's parameterisation, ``sigma =
  exp(log_sigma)``), ``z = mu + sigma eps`` (reparameterised, ``eps`` ~ N(0, I) passed in); in
  inference mode (or without ``eps``) the mean. 32 -> 28 -> 13 -> 10 -> 4 -> 1 -> 1 px.
* :class:`ALIDecoder` ``G_x(z)``: z as a 1x1 image, transposed convs 4x4/1 8w, 4x4/2 4w, 4x4/1 2w,
  4x4/2 w, 5x5/1 w, then a 1x1 conv w (all without bias, each with BatchNorm and LeakyReLU), a
  1x1 conv to the channels and a sigmoid. 1 -> 4 -> 10 -> 13 -> 28 -> 32 -> 32 px. The output's
  bias is untied (one per pixel and channel, the reference's ``tied_biases = False``) and starts
  at the log-odds of the data's mean image (``get_log_odds``): the family sets it from the data
  (``marginal_bias``; zeros until then).
* :class:`ALIDiscriminator` ``D(x, z) -> logits [N]``: ``D(x)`` conv 5x5/1 w (with a bias),
  4x4/2 2w, 4x4/1 4w, 4x4/2 8w, 4x4/1 16w, each followed by maxout over pairs of channels
  (``pieces`` 2: 16w -> 8w); ``D(z)`` 1x1 convs 16w, 16w with maxout; the two concatenated along
  channels and ``D(x, z)`` 1x1 convs 32w, 32w with maxout, then 1x1 to 1 (these three with
  biases). No BatchNorm. Dropout on every conv's input in train mode (flax rng ``'dropout'``):
  ``dropout_in`` (0.2) on the first conv of ``D(x)`` and of ``D(z)``, ``dropout`` (0.5) on all
  the others; this follows the paper's table. The reference code's ``layers[2::3]`` selection,
  written for the SVHN model's (conv, BN, activation) layout, lands in the CIFAR-10 model on the
  2nd and 5th convs' inputs and on the 3rd conv's output before its maxout, and misses the 4th
  conv's input: a deliberate departure, named here.
"""
from __future__ import annotations

from typing import Callable, Sequence

import flax.linen as nn
import jax.numpy as jnp

from jgan.axes import DATA
from jgan.models.dcgan import BatchNorm
from jgan.models.layers import Conv, ConvTranspose
from jgan.padding import crop_to, pad_to

INIT = nn.initializers.normal(0.01)  # the reference's IsotropicGaussian(std=0.01)
RESOLUTION = 32
# (kernel, stride, width multiple) of the encoder's and D(x)'s convolutions
X_CONVS = ((5, 1, 1), (4, 2, 2), (4, 1, 4), (4, 2, 8), (4, 1, 16))
# the decoder's transposed convolutions
Z_TCONVS = ((4, 1, 8), (4, 2, 4), (4, 1, 2), (4, 2, 1), (5, 1, 1))


def maxout(x, pieces: int):
    """``[..., C] -> [..., C / pieces]``: the max over consecutive groups of ``pieces`` channels
    (the reference's ``ConvMaxout``)."""
    return jnp.max(x.reshape(*x.shape[:-1], x.shape[-1] // pieces, pieces), axis=-1)


def _norm(axis_name):
    # blocks' SpatialBatchNormalization: gamma 1, beta 0, epsilon 1e-4; the population
    # statistics are updated as 0.95 p + 0.05 m (ali_cifar10.py's bn_updates)
    return BatchNorm(axis_name=axis_name, momentum=0.95, epsilon=1e-4, scale_init=nn.initializers.ones)


def _conv(features, k, s, bias=False, name=None):
    return Conv(features, (k, k), (s, s), padding="VALID", use_bias=bias, kernel_init=INIT, name=name)


class ALIEncoder(nn.Module):
    z_dim: int = 64
    width: int = 32
    leak: float = 0.1
    stochastic: bool = True      # False: the posterior mean only (a deterministic encoder)
    axis_name: str | None = DATA

    @nn.compact
    def __call__(self, x, eps=None, train: bool = True):
        """``x [N, H, W, C]`` (H, W <= 32) -> ``z [N, z_dim]``."""
        h = (pad_to(x, RESOLUTION) + 1.0) / 2.0
        for k, s, m in (*X_CONVS, (1, 1, 16)):
            h = nn.leaky_relu(_norm(self.axis_name)(_conv(self.width * m, k, s)(h), train), self.leak)
        stats = _conv(2 * self.z_dim, 1, 1, bias=True, name="posterior")(h).reshape(x.shape[0], -1)
        mu, log_sigma = stats[:, :self.z_dim], stats[:, self.z_dim:]
        if not self.stochastic or not train or eps is None:
            return mu
        return mu + jnp.exp(log_sigma) * eps


class ALIDecoder(nn.Module):
    out_shape: Sequence[int] = (32, 32, 3)
    width: int = 32
    leak: float = 0.1
    axis_name: str | None = DATA
    marginal_init: Callable = nn.initializers.zeros  # the family sets the data's log-odds

    @nn.compact
    def __call__(self, z, train: bool = True):
        """``z [N, z_dim]`` -> ``x [N, *out_shape]`` in [-1, 1]."""
        h = z.reshape(z.shape[0], 1, 1, -1)
        for k, s, m in Z_TCONVS:
            h = ConvTranspose(self.width * m, (k, k), (s, s), padding="VALID", use_bias=False, kernel_init=INIT)(h)
            h = nn.leaky_relu(_norm(self.axis_name)(h, train), self.leak)
        h = nn.leaky_relu(_norm(self.axis_name)(_conv(self.width, 1, 1)(h), train), self.leak)
        a = crop_to(_conv(self.out_shape[-1], 1, 1, name="to_image")(h), self.out_shape[0])
        a = a + self.param("marginal_bias", self.marginal_init, tuple(self.out_shape))
        return 2.0 * nn.sigmoid(a) - 1.0


class ALIDiscriminator(nn.Module):
    width: int = 32
    pieces: int = 2
    dropout_in: float = 0.2
    dropout: float = 0.5

    @nn.compact
    def __call__(self, x, z, train: bool = True):
        """``x [N, H, W, C]`` (H, W <= 32), ``z [N, z_dim]`` -> logits ``[N]``."""
        def drop(h, rate):
            return nn.Dropout(rate, deterministic=not train)(h) if rate else h

        h = (pad_to(x, RESOLUTION) + 1.0) / 2.0
        for i, (k, s, m) in enumerate(X_CONVS):
            h = _conv(self.width * m, k, s, bias=i == 0)(drop(h, self.dropout_in if i == 0 else self.dropout))
            h = maxout(h, self.pieces)
        hz = z.reshape(z.shape[0], 1, 1, -1)
        for i in range(2):
            hz = maxout(_conv(self.width * 16, 1, 1)(drop(hz, self.dropout_in if i == 0 else self.dropout)),
                        self.pieces)
        h = jnp.concatenate([h, hz], axis=-1)
        for _ in range(2):
            h = maxout(_conv(self.width * 32, 1, 1, bias=True)(drop(h, self.dropout)), self.pieces)
        return _conv(1, 1, 1, bias=True)(drop(h, self.dropout)).reshape(x.shape[0])
