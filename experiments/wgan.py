"""WGAN with weight clipping — Arjovsky, Chintala & Bottou, "Wasserstein GAN", 2017.

Algorithm 1 of the paper: a critic without sigmoid trained for n_critic = 5 updates per
generator update with RMSProp (lr 5e-5) and its weights clipped to [-0.01, 0.01] after
every update (``optim.d.clip``, an optax chain); batch 64, z ~ N(0, I) of size 100. As in
the reference code, the critic gets 100 updates for the first 25 generator iterations and
every 500th. Default: the embedded MNIST subset (4,500 training digits) at 28x28 with the
DCGAN-style 28x28 conv G and critic at width 32, BatchNorm in both as in the paper's DCGAN
critic; 8,000 generator iterations, 11-13 minutes on 2 CPU cores. ``lsun64`` /
``celeba64``: 64x64 RGB TFDS data with the paper's DCGAN-64 networks (width 64).

    python launch.py --config experiments/wgan.py
    python launch.py --config experiments/wgan.py:celeba64 --config.data.data_dir=DIR
    python launch.py --config experiments/wgan.py:quick          # seconds, for tests
"""
from jgan.config import base_config


def get_config(variant: str | None = None):
    c = base_config()
    c.name, c.variant = "wgan", variant or ""
    c.model.z_dim = 100
    c.model.generator.name = "dcgan28"
    c.model.discriminator.name = "dcgan28"
    c.model.generator.width = c.model.discriminator.width = 32
    c.model.generator.norm = c.model.discriminator.norm = "batch"
    c.loss.name = "wasserstein"
    for net in ("g", "d"):
        c.optim[net].name = "rmsprop"
        c.optim[net].lr = 5e-5
        c.optim[net].decay = 0.99
        c.optim[net].eps = 1e-8
    c.optim.d.clip = 0.01
    c.train.batch_size = 64
    c.train.d_steps = 5
    c.train.d_steps_long = 100
    c.train.long_first = 25
    c.train.long_every = 500
    c.train.steps = 8000
    c.train.log_every = 50
    c.train.sample_every = 500
    c.train.checkpoint_every = 1000

    if variant in ("lsun64", "celeba64"):
        c.data.source = "tfds"
        c.data.name = {"lsun64": "lsun/bedroom", "celeba64": "celeb_a"}[variant]
        c.data.image_size, c.data.channels = 64, 3
        c.model.generator.name = c.model.discriminator.name = "dcgan"
        c.model.generator.width = c.model.discriminator.width = 64
        c.train.steps = 100_000
        c.train.sample_every, c.train.checkpoint_every = 1000, 5000
    elif variant == "quick":
        c.train.steps = 6
        c.train.batch_size = 16
        c.train.d_steps_long = 10
        c.train.long_first = 2
        c.train.long_every = 4
        c.model.generator.width = c.model.discriminator.width = 8
        c.train.log_every = c.train.sample_every = c.train.checkpoint_every = 3
    elif variant:
        raise ValueError(f"unknown variant {variant!r} of experiments/wgan.py: use lsun64, celeba64 or quick")
    return c
