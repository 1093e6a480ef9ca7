"""SNGAN — Miyato, Kataoka, Koyama & Yoshida, "Spectral Normalization for Generative
Adversarial Networks", 2018.

Spectral normalisation on every discriminator layer (power iteration state carried in the
state's ``batch_stats`` and updated in the step), the hinge loss, Adam(lr 2e-4, beta1 0,
beta2 0.9), n_dis = 5 D updates per G update, batch 64. Networks: the paper's "standard
CNN" (Table 3) or the ResNet (Table 4). Default: the MNIST subset at 28x28 with the
standard CNN (28x28 counterpart); ``cifar10``: TFDS CIFAR-10 at 32x32 with the ResNet;
``cifar10_cnn``: with the standard CNN; ``,attn=R``: a SAGAN self-attention block at
resolution R in G and D (e.g. ``cifar10,attn=16``).

Cost: the paper-width (w = 64) networks with n_dis = 5 take ~1.4 s per iteration on two CPU
cores at 28x28 (measured), so the default 5,000 iterations are ~2 hours there; it is meant
for an accelerator. ``--config.model.generator.width=32 --config.model.discriminator.width=32``
has ~4x fewer FLOPs (not timed).

    python launch.py --config experiments/sngan.py
    python launch.py --config experiments/sngan.py:cifar10 --config.data.data_dir=DIR
    python launch.py --config experiments/sngan.py:quick          # seconds, for tests
"""
from jgan.config import base_config, variant_options


def get_config(variant: str | None = None):
    data, options = variant_options(variant, "mnist", "experiments/sngan.py")
    c = base_config()
    c.name, c.variant = "sngan", (variant or "").replace(",", "-").replace("=", "")
    c.model.z_dim = 128
    c.model.generator.name = c.model.discriminator.name = "sngan_cnn"
    c.model.generator.width = c.model.discriminator.width = 64
    c.model.generator.norm = "batch"
    c.model.discriminator.norm = "none"
    c.model.discriminator.spectral_norm = True
    attn = int(options.pop("attn", 0))
    c.model.generator.attention_resolution = c.model.discriminator.attention_resolution = attn
    c.loss.name = "hinge"
    for net in ("g", "d"):
        c.optim[net].name = "adam"
        c.optim[net].lr = 2e-4
        c.optim[net].b1, c.optim[net].b2 = 0.0, 0.9
    c.train.batch_size = 64
    c.train.d_steps = 5
    c.train.steps = 5000
    c.train.log_every = 50
    c.train.sample_every = 500
    c.train.checkpoint_every = 1000

    if data in ("cifar10", "cifar10_cnn"):
        c.data.source, c.data.name = "tfds", "cifar10"
        c.data.image_size, c.data.channels = 32, 3
        if data == "cifar10":
            c.model.generator.name = c.model.discriminator.name = "resnet"
            c.model.generator.width, c.model.discriminator.width = 256, 128
        c.train.steps = 50_000
        c.train.sample_every, c.train.checkpoint_every = 1000, 5000
    elif data == "quick":
        c.train.batch_size = 16
        c.train.d_steps = 2
        c.train.steps = 6
        c.model.generator.width = c.model.discriminator.width = 8
        c.train.log_every = c.train.sample_every = c.train.checkpoint_every = 3
    elif data != "mnist":
        raise ValueError(f"unknown variant {variant!r} of experiments/sngan.py: use cifar10, "
                         f"cifar10_cnn or quick, optionally ',attn=R'")
    if options:
        raise ValueError(f"unknown options {sorted(options)} in variant {variant!r}; only attn=R")
    return c
