"""The original GAN — Goodfellow et al., "Generative Adversarial Nets", 2014.

Algorithm 1 of the paper on (flattened) MNIST: an MLP generator (two 1200-unit ReLU
layers, as in the paper's code, goodfeli/adversarial ``mnist.yaml``) and a maxout
discriminator (two layers of 240 units with 5 pieces; dropout as in that code: D's input
dropped at 0.2, its hidden layers at 0.5), trained with SGD with momentum 0.5,
``train.d_steps`` (k) D updates per G update, minibatches of 100. ``loss.name`` picks the
generator objective: the minimax game as written in Eq. 1 ('minimax', saturating) or the
non-saturating variant the paper recommends in Section 3 ('non_saturating': maximise
log D(G(z)), i.e. flipped labels).

Departures from the reference code: learning rate 0.05 rather than 0.1 (its decay,
x 1/1.000004 per update, and momentum ramp to 0.7 over 250 epochs hardly move in 10,000
updates, so they are left out); Flax's default (LeCun-normal) initialisation rather than
uniform +-0.005 (D) and +-0.05 (G); a tanh output on digits in [-1, 1] rather than a
sigmoid on [0, 1]. With dropout 0.2 on every layer of D (this experiment before
2026-11-29) the run diverged at iteration 520.

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
    c.model.discriminator.input_dropout = 0.2  # the reference: D's input kept with p 0.8,
    c.model.discriminator.dropout = 0.5        # its hidden layers with p 0.5
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
    # 50 iterations per compiled call: the MLP iteration is a few ms of arithmetic, so one call
    # each would spend most of the time on the host; same bits as 1 (tests/test_golden.py)
    c.train.iterations_per_call = 50

    if variant == "minimax":
        c.loss.name = "minimax"
    elif variant == "quick":
        c.model.generator.hidden = (64, 64)
        c.model.discriminator.hidden = (32, 32)
        c.train.batch_size = 20
        c.train.d_steps = 2
        c.train.iterations_per_call = 1
        c.train.steps = 6
        c.train.log_every = c.train.sample_every = c.train.checkpoint_every = 3
    elif variant:
        raise ValueError(f"unknown variant {variant!r} of experiments/gan.py: use minimax or quick")
    return c
