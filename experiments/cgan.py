"""Conditional GAN — Mirza & Osindero, "Conditional Generative Adversarial Nets", 2014.

G(z, y) and D(x, y) on MNIST with the digit label y given to both as a one-hot vector
concatenated to z and to D's input (``model.conditioning='concat'``). Default: the paper's
MLP version on flattened digits (G: two ReLU layers of 256 and 1024 units with BatchNorm,
tanh output; D: two maxout layers of 240 units with 5 pieces and dropout 0.5, as the paper's
D); ``conv``: the 28x28 DCGAN networks with the label as 10 constant input channels of D.
Departures from the paper: its G and D first map z and y (x and y) through separate hidden
layers before joining them, and it trains with SGD; here the one-hot label is concatenated
directly to the input (the form the course presents) and both nets use Adam(2e-4, beta1 0.5),
which trains reliably in a few thousand iterations.

    python launch.py --config experiments/cgan.py
    python launch.py --config experiments/cgan.py:conv
    python launch.py --config experiments/cgan.py --workdir runs/cgan --mode sample --labels 9,4,3,0,5
    python launch.py --config experiments/cgan.py:quick          # seconds, for tests
"""
from jgan.config import base_config


def get_config(variant: str | None = None):
    c = base_config()
    c.name, c.variant = "cgan", variant or ""
    parts = [p for p in (variant or "").split(",") if p]
    unknown = [p for p in parts if p not in ("conv", "quick")]
    if unknown:
        raise ValueError(f"unknown variant {unknown[0]!r} of experiments/cgan.py: use conv, quick or conv,quick")
    c.model.conditioning = "concat"
    c.model.num_classes = 10
    c.model.z_dim = 100
    if "conv" in parts:
        c.model.generator.name = c.model.discriminator.name = "dcgan28"
        c.train.reuse_fake = True
    else:
        c.model.generator.name = c.model.discriminator.name = "mlp"
        c.model.generator.hidden = (256, 1024)
        c.model.generator.norm = "batch"
        c.model.discriminator.hidden = (240, 240)
        c.model.discriminator.pieces = 5
        c.model.discriminator.dropout = 0.5
    c.loss.name = "non_saturating"
    for net in ("g", "d"):
        c.optim[net].name = "adam"
        c.optim[net].lr = 2e-4
        c.optim[net].b1, c.optim[net].b2 = 0.5, 0.999
    c.train.batch_size = 100
    c.train.steps = 5000
    c.train.num_samples = 100  # 10 x 10 grid, one class per column
    c.train.log_every = 100
    c.train.sample_every = 500
    c.train.checkpoint_every = 1000
    c.eval.metrics = ()  # label_accuracy (and nothing else) is computed for conditional MNIST models
    c.eval.num_samples = 2000

    if "quick" in parts:
        c.model.generator.hidden = (64, 64)
        c.model.discriminator.hidden = (32, 32)
        c.model.generator.width = c.model.discriminator.width = 8
        c.train.batch_size = 20
        c.train.steps = 6
        c.train.num_samples = 20
        c.train.log_every = c.train.sample_every = c.train.checkpoint_every = 3
        c.eval.num_samples = 200
    return c
