"""WGAN-GP — Gulrajani, Ahmed, Arjovsky, Dumoulin & Courville, "Improved Training of
Wasserstein GANs", 2017.

Algorithm 1 of the paper: the Wasserstein critic loss plus a two-sided gradient penalty
lambda * E(||grad D(x_hat)|| - 1)^2 on random interpolates of real and fake samples
(lambda = 10), no BatchNorm in the critic (per-example gradients; the paper suggests layer
normalisation, its MNIST model uses none), Adam(lr 1e-4, beta1 0, beta2 0.9), n_critic = 5,
batch 64. MNIST subset at 28x28 with the DCGAN-style 28x28 nets; ``cifar10``: TFDS
CIFAR-10 at 32x32 with the DCGAN nets and a layer-normalised critic.

    python launch.py --config experiments/wgan_gp.py
    python launch.py --config experiments/wgan_gp.py:cifar10 --config.data.data_dir=DIR
    python launch.py --config experiments/wgan_gp.py:quick        # seconds, for tests
"""
from jgan.config import base_config


def get_config(variant: str | None = None):
    c = base_config()
    c.name, c.variant = "wgan_gp", variant or ""
    c.model.z_dim = 128
    c.model.generator.name = c.model.discriminator.name = "dcgan28"
    c.model.generator.width = c.model.discriminator.width = 32
    c.model.generator.norm = "batch"
    c.model.discriminator.norm = "none"
    c.loss.name = "wasserstein"
    c.loss.penalty = "wgan_gp"
    c.loss.penalty_weight = 10.0
    for net in ("g", "d"):
        c.optim[net].name = "adam"
        c.optim[net].lr = 1e-4
        c.optim[net].b1, c.optim[net].b2 = 0.0, 0.9
    c.train.batch_size = 64
    c.train.d_steps = 5
    c.train.steps = 5000
    c.train.log_every = 50
    c.train.sample_every = 500
    c.train.checkpoint_every = 1000

    if variant == "cifar10":
        c.data.source, c.data.name = "tfds", "cifar10"
        c.data.image_size, c.data.channels = 32, 3
        c.model.generator.name = c.model.discriminator.name = "dcgan"
        c.model.generator.width = c.model.discriminator.width = 64
        c.model.discriminator.norm = "layer"
        c.train.steps = 100_000
        c.train.sample_every, c.train.checkpoint_every = 1000, 5000
    elif variant == "quick":
        c.train.batch_size = 16
        c.train.steps = 6
        c.model.generator.width = c.model.discriminator.width = 8
        c.train.log_every = c.train.sample_every = c.train.checkpoint_every = 3
    elif variant:
        raise ValueError(f"unknown variant {variant!r} of experiments/wgan_gp.py: use cifar10 or quick")
    return c
