"""The original GAN — Goodfellow et al., "Generative Adversarial Nets", 2014.

Algorithm 1 of the paper on (flattened) MNIST: an MLP generator (two 1200-unit ReLU
layers, as in the paper's code) and a maxout discriminator (two layers of 240 units with 5
pieces, dropout), trained with SGD with momentum, ``train.d_steps`` (k) D updates per G
update, minibatches of 100. ``loss.name`` picks the generator objective: the minimax game
as written in Eq. 1 ('minimax', saturating) or the non-saturating variant the paper
recommends in Section 3 ('non_saturating': maximise log D(G(z)), i.e. flipped labels).

    python launch.py --config experiments/gan.py
    python launch.py --config experiments/gan.py:minimax
    python launch.py --config experiments/gan.py --config.train.d_steps=2
    python launch.py --config experiments/gan.py:quick          # seconds, for tests
"""
from jgan.config import base_config


def get_config(variant: str | None = None):
    c = base_config()
    c.name, c.variant = "gan", variant or ""
    c.model.z_dim = 100
    c.model.generator.name = "mlp"
    c.model.generator.hidden = (1200, 1200)
    c.model.generator.norm = "none"
    c.model.discriminator.name = "mlp"
    c.model.discriminator.hidden = (240, 240)
    c.model.discriminator.pieces = 5
    c.model.discriminator.dropout = 0.2
    c.loss.name = "non_saturating"
    for net in ("g", "d"):
        c.optim[net].name = "sgd"
        c.optim[net].lr = 0.05
        c.optim[net].momentum = 0.5
    c.train.batch_size = 100
    c.train.d_steps = 1
    c.train.steps = 10_000
    c.train.log_every = 100
    c.train.sample_every = 1000
    c.train.checkpoint_every = 2000

    if variant == "minimax":
        c.loss.name = "minimax"
    elif variant == "quick":
        c.model.generator.hidden = (64, 64)
        c.model.discriminator.hidden = (32, 32)
        c.train.batch_size = 20
        c.train.d_steps = 2
        c.train.steps = 6
        c.train.log_every = c.train.sample_every = c.train.checkpoint_every = 3
    elif variant:
        raise ValueError(f"unknown variant {variant!r} of experiments/gan.py: use minimax or quick")
    return c
