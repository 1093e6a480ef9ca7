"""Conditional GAN — Mirza & Osindero, "Conditional Generative Adversarial Nets", 2014.

G(z, y) and D(x, y) on MNIST with the digit label y given to both as a one-hot vector
(``model.conditioning='concat'``). Default: the paper's MLPs on flattened digits: G maps z
to 200 and y to 1000 ReLU units, joins them into a 1200-unit ReLU layer and a sigmoid output;
D maps x to a maxout layer of 240 units (5 pieces) and y to one of 50 units (5 pieces), joins
them into a 240-unit maxout layer (4 pieces) and a linear output (sigmoid in the loss)
(``model.{generator,discriminator}.cond_input_units``; with ``()`` the one-hot label is
simply concatenated to the input). Trained with the paper's recipe (Section 4.1): SGD,
batch 100, lr 0.1 divided by 1.00004 after every update (down to 1e-6), momentum 0.5
increased linearly to 0.7, dropout 0.5 in G and D; the momentum ramp runs from update 500
to 125,000, pylearn2's MomentumAdjustor over epochs 1-250 of 50,000 digits at 100 a batch,
as in the same lab's maxout and GAN configs.

What the paper does not state, taken from the pylearn2 configs of that lab (the paper's own
are not public): initial weights ~ U(-0.05, 0.05) in G and U(-0.005, 0.005) in D
(goodfeli/adversarial ``mnist.yaml``), pixels in [0, 1] (D reads (x + 1) / 2 and G's output
is 2 sigmoid(a) - 1), and D's max column norm 1.9365 (the maxout paper's ``mnist_pi.yaml``,
the same SGD recipe on the same maxout layers). Without the norm constraint D's logits blew
up and lr 0.1 diverged at update 514 (309 on [-1, 1] pixels with tanh; lr 0.05 at 2,200).
Departures: z ~ N(0, I) rather than U(0, 1)^100; the alternating D/G updates of the GAN
family rather than pylearn2's simultaneous ones; 4,500 training digits (the embedded
subset) rather than 50,000; 5,000 iterations.

Measured (jgan's classifier, 5,000 samples vs the 4,500 training digits, seed 0): this
recipe reaches label accuracy 0.430, FID 147.5, precision / recall 0.89 / 0.04, coverage
0.26, confident share 0.57; the earlier default ``adam`` (Adam 2e-4, beta1 0.5, Flax
initialisation, tanh, no G dropout) collapsed within each class: label accuracy 0.336, FID
255.8, recall 0.0, coverage 0.03, confident 0.31. Neither follows its labels as the paper's
Figure 2 does; the held-out real digits give 0.966 accuracy.

``conv``: the 28x28 DCGAN networks with the label concatenated to z and as 10 constant
input channels of D, Adam (2e-4, beta1 0.5). Without the separate label layers (plain
concatenation) the MLP cGAN ignored the labels (label accuracy 0.13, chance 0.10).

    python launch.py --config experiments/cgan.py
    python launch.py --config experiments/cgan.py:adam
    python launch.py --config experiments/cgan.py:conv
    python launch.py --config experiments/cgan.py --workdir runs/cgan --mode sample --labels 9,4,3,0,5
    python launch.py --config experiments/cgan.py:quick          # seconds, for tests
"""
from jgan.config import base_config


def get_config(variant: str | None = None):
    c = base_config()
    c.name, c.variant = "cgan", variant or ""
    parts = [p for p in (variant or "").split(",") if p]
    unknown = [p for p in parts if p not in ("conv", "quick", "adam")]
    if unknown:
        raise ValueError(f"unknown variant {unknown[0]!r} of experiments/cgan.py: use adam, conv, quick "
                         f"or a comma-separated combination such as conv,quick")
    c.model.conditioning = "concat"
    c.model.num_classes = 10
    c.model.z_dim = 100
    c.loss.name = "non_saturating"
    for net in ("g", "d"):
        c.optim[net].name = "adam"
        c.optim[net].lr = 2e-4
        c.optim[net].b1, c.optim[net].b2 = 0.5, 0.999
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
        if "adam" not in parts:
            _paper_recipe(c)
    c.train.batch_size = 100
    c.train.steps = 5000
    c.train.num_samples = 100  # 10 x 10 grid, one class per column
    c.train.log_every = 100
    c.train.sample_every = 500
    c.train.checkpoint_every = 1000
    c.eval.metrics = ("fid", "kid", "precision_recall", "density_coverage", "is", "classes")
    c.eval.num_samples = 5000  # label_accuracy is computed besides for conditional MNIST models

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
        c.eval.metrics = ()
        c.eval.num_samples = 200
    return c


def _paper_recipe(c) -> None:
    """Section 4.1's SGD recipe and dropout, with pylearn2's unstated details (module doc)."""
    for net in ("g", "d"):
        o = c.optim[net]
        o.name, o.lr, o.momentum = "sgd", 0.1, 0.5
        o.final_momentum, o.momentum_start, o.momentum_saturate = 0.7, 500, 125_000
        o.lr_decay_factor, o.min_lr = 1.00004, 1e-6
    c.optim.d.max_col_norm = 1.9365
    c.model.generator.dropout = 0.5
    c.model.generator.init_range, c.model.discriminator.init_range = 0.05, 0.005
    c.model.generator.output, c.model.discriminator.unit_input = "sigmoid", True
