"""Stacked MNIST — the mode-collapse benchmark of Metz, Poole, Pfau & Sohl-Dickstein 2017,
"Unrolled Generative Adversarial Networks", as run by Srivastava et al. 2017, "VEEGAN", and
Lin, Khetan, Fanti & Oh 2018, "PacGAN: The power of two samples in generative adversarial
networks", Section 5.2 (DCGAN vs PacDCGAN-m, their Table 3).

Data: three digits drawn uniformly with replacement, stacked as the R, G, B channels of a
28x28 image (1,000 modes: the digit triples); 128,000 such images drawn once from the seed
(the PacGAN code's ``num_training_sample``). The digits are the 4,500 training digits of
the embedded MNIST subset, not all 70,000 of MNIST. DCGAN (Radford et al. 2015) as in
``experiments/dcgan.py`` with the 28x28 networks (``dcgan28``) on 3 channels: Adam(2e-4,
beta1 0.5), the non-saturating loss, z ~ N(0, I) of 100 dims. ``model.pack`` = m makes D
judge packs of m samples (PacDCGAN-m); as in PacGAN, D sees 64 packs per update, so
``train.batch_size`` = 64 m samples.

Evaluated on 26,000 samples: jgan's MNIST classifier (``eval.classifier_workdir``; by
default the one it trains by itself into ``~/.cache/jgan`` when first needed) labels each channel; ``modes`` = distinct
triples, ``kl`` = KL of the triple histogram to uniform (PacGAN Table 3: DCGAN 99 modes,
KL 3.40; PacDCGAN2 1000 modes, KL 0.06 with their larger 4-layer DCGAN and 50 epochs).

Differences from the PacGAN code: the smaller 2-layer ``dcgan28`` networks, Gaussian rather
than uniform z, one G update per D update (the carpedm20 DCGAN code they build on runs two),
and 10,000 iterations (5 epochs) instead of 50 epochs, so the run fits a laptop CPU: on two
cores ~12 it/s for pack=1 (measured), about 14 minutes, plus ~25 s for each of the 4
evaluations (``eval.every`` 2,500); pack=m has m times the batch and is roughly m times
slower (not measured). The evaluations need the classifier: the first run trains it (about
a minute) before training the GAN (``--config.eval.every=0`` trains without evaluations).

    python launch.py --config experiments/stacked_mnist.py
    python launch.py --config experiments/stacked_mnist.py:pack=2
    python launch.py --config experiments/stacked_mnist.py --mode eval   # -> eval.json
    python launch.py --config experiments/stacked_mnist.py:quick   # seconds, for tests
"""
from jgan.config import base_config


def get_config(variant: str | None = None):
    """``variant``: '' (pack 1), 'pack=M', 'quick' or 'quick,pack=M'."""
    parts = [p for p in (variant or "").split(",") if p]
    quick = "quick" in parts
    options = dict(p.split("=", 1) for p in parts if p != "quick" and "=" in p)
    unknown = [p for p in parts if p != "quick" and "=" not in p]
    c = base_config()
    c.name, c.variant = "stacked_mnist", (variant or "").replace(",", "-").replace("=", "")
    c.data.source = "stacked_mnist"
    c.data.num_examples = 128_000
    c.data.image_size = 28
    c.data.channels = 3
    c.model.z_dim = 100
    c.model.pack = int(options.pop("pack", 1))
    c.model.generator.name = c.model.discriminator.name = "dcgan28"
    c.model.generator.norm = c.model.discriminator.norm = "batch"
    c.loss.name = "non_saturating"
    for net in ("g", "d"):
        c.optim[net].name = "adam"
        c.optim[net].lr = 2e-4
        c.optim[net].b1, c.optim[net].b2 = 0.5, 0.999
    c.train.batch_size = 64 * c.model.pack  # 64 packs of m samples per D update
    c.train.d_steps = 1
    c.train.reuse_fake = True
    c.train.steps = 10_000
    c.train.log_every = 100
    c.train.sample_every = 1000
    c.train.checkpoint_every = 1000
    c.eval.every = 2500
    c.eval.metrics = ("modes",)
    c.eval.num_samples = 26_000
    if quick:
        c.data.num_examples = 1000
        c.model.generator.width = c.model.discriminator.width = 8
        c.train.batch_size = 48  # 4 test devices x any pack in 1..4
        c.train.steps = 6
        c.train.log_every = c.train.sample_every = c.train.checkpoint_every = c.eval.every = 3
        c.eval.num_samples = 300
    if unknown or options:
        raise ValueError(f"unknown variant {variant!r} of experiments/stacked_mnist.py: use pack=M, "
                         f"quick or quick,pack=M")
    return c
