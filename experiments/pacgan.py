"""PacGAN — Lin, Khetan, Fanti & Oh, "PacGAN: The power of two samples in generative
adversarial networks", 2018, Section 5.1 (the 2D-mixture experiments of VEEGAN).

Data: ``ring8`` (8 Gaussians on the unit circle, std 0.01) or ``grid25`` (25 Gaussians at
{-4,-2,0,2,4}^2, std 0.05). G: four 400-unit fully connected layers with BatchNorm and ReLU
on a 2-d Gaussian z, linear 2-d output; D: three maxout layers of 200 units with 5 pieces.
Adam (lr 1e-4, beta1 0.8), batches of 100 packs (100 m samples, as the authors' code), the
non-saturating loss. ``model.pack`` = m makes D judge m samples at once (PacGAN-m; 1 = the
plain GAN). The authors' code trains 400 epochs of the 100,000 points (400,000 iterations,
``num_epoch`` in fjxmlzn/PacGAN); the default here is 20,000 (~6 min per seed on 2 CPU cores). Evaluated with the mode metrics on
2,500 samples: modes with a high-quality sample, % high-quality samples, reverse KL.

    python launch.py --config experiments/pacgan.py:grid25
    python launch.py --config experiments/pacgan.py:grid25,pack=2
    python launch.py --config experiments/pacgan.py:ring8 --config.model.pack=3
    python launch.py --config experiments/pacgan.py:quick          # seconds, for tests
"""
from jgan.config import base_config, variant_options


def get_config(variant: str | None = None):
    """``variant``: 'grid25' (default) or 'ring8', optionally ',pack=M'; or 'quick'."""
    data, options = variant_options(variant, "grid25", "experiments/pacgan.py")
    c = base_config()
    c.name, c.variant = "pacgan", (variant or "").replace(",", "-").replace("=", "")
    c.data.source = "grid25" if data == "quick" else data
    c.data.num_examples = 100_000
    c.model.z_dim = 2
    c.model.pack = int(options.pop("pack", 1))
    c.model.generator.name = "mlp"
    c.model.generator.hidden = (400, 400, 400, 400)
    c.model.generator.norm = "batch"
    c.model.discriminator.name = "mlp"
    c.model.discriminator.hidden = (200, 200, 200)
    c.model.discriminator.pieces = 5
    c.model.discriminator.norm = "none"
    c.loss.name = "non_saturating"
    for net in ("g", "d"):
        c.optim[net].name = "adam"
        c.optim[net].lr = 1e-4
        c.optim[net].b1, c.optim[net].b2 = 0.8, 0.999
    c.train.batch_size = 100 * c.model.pack  # 100 packs of m samples per update
    c.train.d_steps = 1
    c.train.steps = 20_000
    c.train.iterations_per_call = 50  # MLP iterations: 50 per compiled call, same bits as 1
    c.train.log_every = 200
    c.train.sample_every = 2000
    c.train.checkpoint_every = 5000
    c.train.num_samples = 2500
    c.eval.every = 5000
    c.eval.metrics = ("modes",)
    c.eval.num_samples = 2500
    if data == "quick":
        c.model.generator.hidden = (32, 32)
        c.model.discriminator.hidden = (16,)
        c.train.batch_size = 48  # 4 test devices x any pack in 1..4
        c.train.steps = 6
        c.train.iterations_per_call = 1
        c.train.log_every = c.train.sample_every = c.train.checkpoint_every = c.eval.every = 3
    elif data not in ("grid25", "ring8"):
        raise ValueError(f"unknown variant {variant!r} of experiments/pacgan.py: use grid25, ring8 "
                         f"(optionally ',pack=M') or quick")
    if options:
        raise ValueError(f"unknown options {sorted(options)} in variant {variant!r}; only pack=M")
    return c
