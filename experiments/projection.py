"""Projection discriminator — Miyato & Koyama, "cGANs with Projection Discriminator", 2018.

``D(x, y) = psi(phi(x)) + embed(y) . phi(x)``: the label enters D as an inner product with
the body's features instead of being concatenated; G uses class-conditional BatchNorm
(per-class scale and shift, de Vries et al. 2017) (``model.conditioning='projection'``).
Hinge loss as in the paper. Default: MNIST with the 28x28 DCGAN networks (D without
normalisation), Adam(2e-4, betas (0.5, 0.999)), one D update per G update. ``cifar10``: TFDS
``cifar10`` with the paper's optimiser (Adam(2e-4, betas (0, 0.9)), n_dis = 5), the 32x32
DCGAN generator with conditional BatchNorm and the SNGAN standard-CNN discriminator with
spectral normalisation (the paper's ResNets are not conditional-BN-enabled in jgan yet).

    python launch.py --config experiments/projection.py
    python launch.py --config experiments/projection.py:cifar10 --config.data.data_dir=DIR
    python launch.py --config experiments/projection.py:quick    # seconds, for tests
"""
from jgan.config import base_config


def get_config(variant: str | None = None):
    c = base_config()
    c.name, c.variant = "projection", variant or ""
    c.model.conditioning = "projection"
    c.model.num_classes = 10
    c.model.z_dim = 100
    c.model.generator.name = c.model.discriminator.name = "dcgan28"
    c.model.discriminator.norm = "none"
    c.loss.name = "hinge"
    for net in ("g", "d"):
        c.optim[net].name = "adam"
        c.optim[net].lr = 2e-4
        c.optim[net].b1, c.optim[net].b2 = 0.5, 0.999
    c.train.batch_size = 100
    c.train.steps = 3000
    c.train.num_samples = 100
    c.train.log_every = 50
    c.train.sample_every = 500
    c.train.checkpoint_every = 1000
    c.eval.metrics = ()
    c.eval.num_samples = 2000

    if variant == "cifar10":
        c.data.source, c.data.name = "tfds", "cifar10"
        c.data.image_size, c.data.channels = 32, 3
        c.model.z_dim = 128
        c.model.generator.name = "dcgan"
        c.model.discriminator.name = "sngan_cnn"
        c.model.discriminator.spectral_norm = True
        for net in ("g", "d"):
            c.optim[net].b1, c.optim[net].b2 = 0.0, 0.9
        c.train.d_steps = 5
        c.train.batch_size = 64
        c.train.steps = 50_000
        c.train.sample_every, c.train.checkpoint_every = 1000, 5000
        c.eval.metrics = ("fid", "kid", "is")
        c.eval.num_samples = 10_000
    elif variant == "quick":
        c.model.generator.width = c.model.discriminator.width = 8
        c.train.batch_size = 20
        c.train.steps = 6
        c.train.num_samples = 20
        c.train.log_every = c.train.sample_every = c.train.checkpoint_every = 3
        c.eval.num_samples = 200
    elif variant:
        raise ValueError(f"unknown variant {variant!r} of experiments/projection.py: use cifar10 or quick")
    return c
