"""DCGAN — Radford, Metz & Chintala, "Unsupervised Representation Learning with Deep
Convolutional Generative Adversarial Networks", 2015.

The paper's recipe: all-convolutional G and D with stride-2 (transposed) convolutions,
BatchNorm in both (not on D's input layer nor G's output), ReLU in G with tanh output,
LeakyReLU 0.2 in D, weights ~ N(0, 0.02), Adam(lr 2e-4, beta1 0.5), the non-saturating
loss, minibatches of 128. One D update then one G update on the same fake batch (the
pytorch/examples loop). Default: the embedded MNIST subset at 28x28; ``celeba64``: TFDS
``celeb_a`` at 64x64 (faces, as in the course) with the paper's 64x64 networks;
``cifar10``: TFDS ``cifar10`` at 32x32.

    python launch.py --config experiments/dcgan.py
    python launch.py --config experiments/dcgan.py:celeba64 --config.data.data_dir=DIR
    python launch.py --config experiments/dcgan.py:cifar10 --config.data.data_dir=DIR
    python launch.py --config experiments/dcgan.py:quick        # seconds, for tests
"""
from jgan.config import base_config


def get_config(variant: str | None = None):
    c = base_config()
    c.name, c.variant = "dcgan", variant or ""
    c.model.z_dim = 100
    c.model.generator.name = c.model.discriminator.name = "dcgan28"
    c.model.generator.norm = c.model.discriminator.norm = "batch"
    c.loss.name = "non_saturating"
    for net in ("g", "d"):
        c.optim[net].name = "adam"
        c.optim[net].lr = 2e-4
        c.optim[net].b1, c.optim[net].b2 = 0.5, 0.999
    c.train.batch_size = 128
    c.train.d_steps = 1
    c.train.reuse_fake = True
    c.train.steps = 3000
    c.train.log_every = 50
    c.train.sample_every = 250
    c.train.checkpoint_every = 1000

    if variant in ("celeba64", "cifar10"):
        c.data.source = "tfds"
        c.data.name = {"celeba64": "celeb_a", "cifar10": "cifar10"}[variant]
        c.data.image_size = {"celeba64": 64, "cifar10": 32}[variant]
        c.data.channels = 3
        c.model.generator.name = c.model.discriminator.name = "dcgan"
        c.train.steps = 50_000
        c.train.sample_every, c.train.checkpoint_every = 1000, 5000
    elif variant == "quick":
        c.train.batch_size = 16
        c.train.steps = 6
        c.model.generator.width = c.model.discriminator.width = 8
        c.train.log_every = c.train.sample_every = c.train.checkpoint_every = 3
    elif variant:
        raise ValueError(f"unknown variant {variant!r} of experiments/dcgan.py: use celeba64, cifar10 or quick")
    return c
