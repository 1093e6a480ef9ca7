"""Conditional GAN — Mirza & Osindero, "Conditional Generative Adversarial Nets", 2014.

G(z, y) and D(x, y) on MNIST with the digit label y given to both as a one-hot vector
(``model.conditioning='concat'``). Default: the paper's MLPs on flattened digits: G maps z
to 200 and y to 1000 ReLU units, joins them into a 1200-unit ReLU layer and a tanh output;
D maps x to a maxout layer of 240 units (5 pieces) and y to one of 50 units (5 pieces), joins
them into a 240-unit maxout layer (4 pieces) and a linear output, dropout 0.5
(``model.{generator,discriminator}.cond_input_units``; with ``()`` the one-hot label is
simply concatenated to the input). ``conv``: the 28x28 DCGAN networks with the label
concatenated to z and as 10 constant input channels of D. Departure from the paper: Adam
(2e-4, beta1 0.5) instead of SGD with momentum and a decaying learning rate.

Without the separate label layers (plain concatenation) the MLP cGAN ignored the labels
in 5,000 iterations (label accuracy 0.13, chance 0.10); with them it follows them.

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
        # the paper's MLPs: G z -> 200 ReLU, y -> 1000 ReLU, joined -> 1200 ReLU -> 784;
        # D x -> maxout 240 (5 pieces), y -> maxout 50 (5 pieces), joined -> maxout 240 (4) -> 1
        c.model.generator.name = c.model.discriminator.name = "mlp"
        c.model.generator.cond_input_units = (200, 1000)
        c.model.generator.hidden = (1200,)
        c.model.generator.norm = "none"
        c.model.discriminator.cond_input_units = (240, 50)
        c.model.discriminator.hidden = (240,)
        c.model.discriminator.pieces = 4
        c.model.discriminator.dropout = 0.5
        c.train.iterations_per_call = 50  # MLP iterations: 50 per compiled call, same bits as 1
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
        c.model.generator.hidden = (64,)
        c.model.discriminator.hidden = (32,)
        if "conv" not in parts:
            c.model.generator.cond_input_units = (16, 32)
            c.model.discriminator.cond_input_units = (16, 8)
        c.model.generator.width = c.model.discriminator.width = 8
        c.train.batch_size = 20
        c.train.steps = 6
        c.train.iterations_per_call = 1
        c.train.num_samples = 20
        c.train.log_every = c.train.sample_every = c.train.checkpoint_every = 3
        c.eval.num_samples = 200
    return c
