"""Generator and discriminator networks, chosen by ``config.model.{generator,discriminator}.name``."""
from __future__ import annotations

from typing import Sequence

import flax.linen as nn

from jgan.models.dcgan import DCGANDiscriminator, DCGANGenerator, MnistDiscriminator, MnistGenerator
from jgan.models.mlp import MLPDiscriminator, MLPGenerator
from jgan.models.packing import Packed
from jgan.models.sngan import (ResNetDiscriminator, ResNetGenerator, SNGANStandardDiscriminator,
                               SNGANStandardGenerator)


def _gen_dcgan(cfg, shape):
    return DCGANGenerator(image_size=shape[0], channels=shape[-1], width=cfg.width, norm=cfg.norm)


def _gen_mnist(cfg, shape):
    return MnistGenerator(channels=shape[-1], width=cfg.width, norm=cfg.norm)


def _gen_mlp(cfg, shape):
    output = "tanh" if len(shape) == 3 else "linear"
    return MLPGenerator(out_shape=tuple(shape), hidden=tuple(cfg.hidden), norm=cfg.norm, output=output)


def _dis_dcgan(cfg, shape):
    return DCGANDiscriminator(image_size=shape[0], width=cfg.width, norm=cfg.norm)


def _dis_mnist(cfg, shape):
    return MnistDiscriminator(width=cfg.width, norm=cfg.norm)


def _dis_mlp(cfg, shape):
    return MLPDiscriminator(hidden=tuple(cfg.hidden), pieces=cfg.pieces, dropout=cfg.dropout)


def _gen_sngan_cnn(cfg, shape):
    return SNGANStandardGenerator(image_size=shape[0], channels=shape[-1], width=cfg.width,
                                  norm=cfg.norm, attention_resolution=cfg.attention_resolution)


def _gen_resnet(cfg, shape):
    return ResNetGenerator(image_size=shape[0], channels=shape[-1], width=cfg.width, norm=cfg.norm,
                           attention_resolution=cfg.attention_resolution)


def _dis_sngan_cnn(cfg, shape):
    return SNGANStandardDiscriminator(width=cfg.width, spectral_norm=cfg.spectral_norm,
                                      attention_resolution=cfg.attention_resolution)


def _dis_resnet(cfg, shape):
    return ResNetDiscriminator(width=cfg.width, spectral_norm=cfg.spectral_norm,
                               attention_resolution=cfg.attention_resolution)


GENERATORS = {"dcgan": _gen_dcgan, "dcgan28": _gen_mnist, "mlp": _gen_mlp,
              "sngan_cnn": _gen_sngan_cnn, "resnet": _gen_resnet}
DISCRIMINATORS = {"dcgan": _dis_dcgan, "dcgan28": _dis_mnist, "mlp": _dis_mlp,
                  "sngan_cnn": _dis_sngan_cnn, "resnet": _dis_resnet}


def make_generator(cfg, data_shape: Sequence[int]) -> nn.Module:
    """The generator named by ``cfg.name`` for samples of ``data_shape`` (no batch dim)."""
    return GENERATORS[cfg.name](cfg, tuple(data_shape))


def make_discriminator(cfg, data_shape: Sequence[int], pack: int = 1) -> nn.Module:
    """The discriminator named by ``cfg.name`` for samples of ``data_shape`` (no batch dim),
    judging packs of ``pack`` samples (PacGAN) when ``pack`` > 1."""
    d = DISCRIMINATORS[cfg.name](cfg, tuple(data_shape))
    return Packed(d, pack) if pack > 1 else d
