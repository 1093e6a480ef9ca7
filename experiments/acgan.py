"""AC-GAN — Odena, Olah & Shlens, "Conditional Image Synthesis with Auxiliary Classifier
GANs", 2017.

G(z, y) with the one-hot label concatenated to z; D sees only the image and has two heads
on one body: the real/fake logit and a class-logit head (``model.conditioning='acgan'``).
D maximises ``L_S + L_C`` and G maximises ``L_C - L_S`` (Eq. 2-3; L_C the log-likelihood of
the correct class on real and generated images, G's only on generated ones), with the
non-saturating form of ``L_S`` and ``loss.aux_weight`` weighting ``L_C``. Networks: the
28x28 DCGAN pair on MNIST (the paper's ImageNet/CIFAR networks are much larger), Adam(2e-4,
beta1 0.5) as in the paper.

    python launch.py --config experiments/acgan.py
    python launch.py --config experiments/acgan.py --workdir runs/acgan --mode sample --labels 9,4,3,0,5
    python launch.py --config experiments/acgan.py:quick         # seconds, for tests
"""
from jgan.config import base_config


def get_config(variant: str | None = None):
    c = base_config()
    c.name, c.variant = "acgan", variant or ""
    c.model.conditioning = "acgan"
    c.model.num_classes = 10
    c.model.z_dim = 100
    c.model.generator.name = c.model.discriminator.name = "dcgan28"
    c.loss.name = "non_saturating"
    c.loss.aux_weight = 1.0
    for net in ("g", "d"):
        c.optim[net].name = "adam"
        c.optim[net].lr = 2e-4
        c.optim[net].b1, c.optim[net].b2 = 0.5, 0.999
    c.train.batch_size = 100
    c.train.reuse_fake = True
    c.train.steps = 3000
    c.train.num_samples = 100
    c.train.log_every = 50
    c.train.sample_every = 500
    c.train.checkpoint_every = 1000
    c.eval.metrics = ()
    c.eval.num_samples = 2000

    if variant == "quick":
        c.model.generator.width = c.model.discriminator.width = 8
        c.train.batch_size = 20
        c.train.steps = 6
        c.train.num_samples = 20
        c.train.log_every = c.train.sample_every = c.train.checkpoint_every = 3
        c.eval.num_samples = 200
    elif variant:
        raise ValueError(f"unknown variant {variant!r} of experiments/acgan.py: use quick")
    return c
