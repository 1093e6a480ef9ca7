"""Generator and discriminator networks, chosen by ``config.model.{generator,discriminator}.name``
and wrapped for ``config.model.conditioning`` (see ``jgan.models.conditional``)."""
from __future__ import annotations

from typing import Sequence

import flax.linen as nn

from jgan.models.biggan import BigGANDiscriminator, BigGANGenerator
from jgan.models.dcgan import DCGANDiscriminator, DCGANGenerator, MnistDiscriminator, MnistGenerator
from jgan.models.improved_wgan import ImprovedWGANCritic, ImprovedWGANGenerator
from jgan.models.mlp import MLPDiscriminator, MLPGenerator
from jgan.models.conditional import (AuxHeadDiscriminator, LabelConcatDiscriminator, LabelConcatGenerator,
                                     ProjectionDiscriminator)
from jgan.models.packing import Packed
from jgan.models.sngan import (ResNetDiscriminator, ResNetGenerator, SNGANStandardDiscriminator,
                               SNGANStandardGenerator)


def _gen_dcgan(cfg, shape, num_classes=0):
    return DCGANGenerator(image_size=shape[0], channels=shape[-1], width=cfg.width, norm=cfg.norm,
                          num_classes=num_classes)


def _gen_mnist(cfg, shape, num_classes=0):
    return MnistGenerator(channels=shape[-1], width=cfg.width, norm=cfg.norm, num_classes=num_classes,
                          fc=cfg.get("fc", 0))


def _gen_improved_wgan(cfg, shape):
    return ImprovedWGANGenerator(channels=shape[-1], width=cfg.width)


def _gen_mlp(cfg, shape):
    output = cfg.get("output", "tanh") if len(shape) == 3 else "linear"
    return MLPGenerator(out_shape=tuple(shape), hidden=tuple(cfg.hidden), norm=cfg.norm, output=output,
                        dropout=cfg.get("dropout", 0.0), init_range=cfg.get("init_range", 0.0))


def _dis_dcgan(cfg, shape):
    return DCGANDiscriminator(image_size=shape[0], width=cfg.width, norm=cfg.norm)


def _dis_mnist(cfg, shape):
    return MnistDiscriminator(width=cfg.width, norm=cfg.norm, fc=cfg.get("fc", 0))


def _dis_improved_wgan(cfg, shape):
    return ImprovedWGANCritic(width=cfg.width)


def _dis_mlp(cfg, shape):
    return MLPDiscriminator(hidden=tuple(cfg.hidden), pieces=cfg.pieces, dropout=cfg.dropout,
                            input_dropout=cfg.get("input_dropout", -1.0), init_range=cfg.get("init_range", 0.0),
                            unit_input=cfg.get("unit_input", False) and len(shape) == 3)


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


def _gen_biggan(cfg, shape, num_classes=0):
    if not num_classes:
        raise ValueError("BigGAN's generator is class-conditional: set model.conditioning='projection'")
    return BigGANGenerator(image_size=shape[0], channels=shape[-1], width=cfg.width, num_classes=num_classes,
                           shared_dim=cfg.get("shared_dim", 128), hierarchical=cfg.get("hierarchical", True),
                           attention_resolution=cfg.attention_resolution)


GENERATORS = {"dcgan": _gen_dcgan, "dcgan28": _gen_mnist, "improved_wgan28": _gen_improved_wgan,
              "mlp": _gen_mlp, "sngan_cnn": _gen_sngan_cnn, "resnet": _gen_resnet, "biggan": _gen_biggan}
def _dis_biggan(cfg, shape):
    return BigGANDiscriminator(image_size=shape[0], width=cfg.width, spectral_norm=cfg.spectral_norm,
                               attention_resolution=cfg.attention_resolution)


DISCRIMINATORS = {"dcgan": _dis_dcgan, "dcgan28": _dis_mnist, "improved_wgan28": _dis_improved_wgan,
                  "mlp": _dis_mlp, "sngan_cnn": _dis_sngan_cnn, "resnet": _dis_resnet, "biggan": _dis_biggan}


# generators with class-conditional BatchNorm (the projection cGAN's G)
CONDITIONAL_BN_GENERATORS = ("dcgan", "dcgan28", "biggan")
CONDITIONING = ("none", "concat", "projection", "acgan", "infogan")
INFOGAN_Q_HIDDEN = 128  # Q head: Dense(128)-BN-LReLU (Chen et al. 2016, MNIST)


def make_generator(cfg, data_shape: Sequence[int], conditioning: str = "none",
                   num_classes: int = 0) -> nn.Module:
    """The generator named by ``cfg.name`` for samples of ``data_shape`` (no batch dim).

    ``conditioning`` 'concat' / 'acgan': ``G(z, y)`` with one-hot y concatenated to z;
    'projection': ``G(z, y)`` with class-conditional BatchNorm; 'none' / 'infogan': ``G(z)``
    (InfoGAN's codes are part of its z).
    """
    shape = tuple(data_shape)
    if conditioning == "projection":
        if cfg.name not in CONDITIONAL_BN_GENERATORS:
            raise ValueError(f"model.conditioning='projection' needs a generator with conditional "
                             f"BatchNorm ({', '.join(CONDITIONAL_BN_GENERATORS)}), not {cfg.name!r}")
        return GENERATORS[cfg.name](cfg, shape, num_classes=num_classes)
    g = GENERATORS[cfg.name](cfg, shape)
    if conditioning == "concat":
        mlp = cfg.name == "mlp"
        return LabelConcatGenerator(g, num_classes, tuple(cfg.get("cond_input_units", ())),
                                    dropout=cfg.get("dropout", 0.0) if mlp else 0.0,
                                    init_range=cfg.get("init_range", 0.0) if mlp else 0.0)
    if conditioning == "acgan":
        return LabelConcatGenerator(g, num_classes)
    return g


def make_discriminator(cfg, data_shape: Sequence[int], pack: int = 1, conditioning: str = "none",
                       num_classes: int = 0, num_continuous: int = 0) -> nn.Module:
    """The discriminator named by ``cfg.name`` for samples of ``data_shape`` (no batch dim),
    judging packs of ``pack`` samples (PacGAN) when ``pack`` > 1.

    ``conditioning`` 'concat': ``D(x, y)`` with one-hot y appended to the input;
    'projection': ``D(x, y)`` with a projection head; 'acgan': ``D(x) -> (logits, class
    logits [N, num_classes])``; 'infogan': ``D(x) -> (logits, Q [N, num_classes +
    num_continuous])``.
    """
    d = DISCRIMINATORS[cfg.name](cfg, tuple(data_shape))
    if conditioning != "none" and pack > 1:
        raise ValueError("PacGAN packing (model.pack > 1) works with unconditional models only")
    sn = bool(cfg.name in ("sngan_cnn", "resnet", "biggan") and cfg.spectral_norm)
    units = tuple(cfg.get("cond_input_units", ()))
    if conditioning == "concat" and units:
        mlp = cfg.name == "mlp"
        return LabelConcatDiscriminator(d.clone(unit_input=False) if mlp else d, num_classes, input_units=units,
                                        init_range=cfg.get("init_range", 0.0) if mlp else 0.0,
                                        unit_input=mlp and cfg.get("unit_input", False))
    if conditioning == "concat":
        if cfg.name == "mlp":  # the one-hot label is appended to the flattened input, never dropped out
            return LabelConcatDiscriminator(d.clone(keep_tail=num_classes), num_classes, flatten=True)
        return LabelConcatDiscriminator(d, num_classes)
    if conditioning == "projection":
        return ProjectionDiscriminator(d.clone(head=False), num_classes, spectral_norm=sn)
    if conditioning == "acgan":
        return AuxHeadDiscriminator(d.clone(head=False), num_classes, spectral_norm=sn)
    if conditioning == "infogan":
        return AuxHeadDiscriminator(d.clone(head=False), num_classes + num_continuous,
                                    hidden=INFOGAN_Q_HIDDEN, spectral_norm=sn)
    return Packed(d, pack) if pack > 1 else d
