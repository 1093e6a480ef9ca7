"""StyleGAN2 — Karras, Laine, Aittala, Hellsten, Lehtinen & Aila, "Analyzing and Improving the
Image Quality of StyleGAN", CVPR 2020 (reference code: NVlabs/stylegan2-ada-pytorch, whose
settings without augmentation are StyleGAN2's).

Mapping network (z normalised, 8 layers, learning-rate multiplier 0.01, tracked w_avg 0.995),
synthesis from a learned 4x4 constant with modulated/demodulated 3x3 convs, per-layer noise,
equalised learning rate, [1, 3, 3, 1] resampling, skip generator, residual discriminator with
minibatch stddev; non-saturating loss, style mixing 0.9, lazy R1 every 16 D steps, path length
(weight 2) every 4 G steps, Adam (0, 0.99) with the lazy-regularisation correction, an EMA of G
with a half-life in images (``jgan.families.stylegan2``).

Default (CPU): the embedded MNIST subset padded to 32x32; ``--cfg=auto``'s formulas for 32 px
at batch 16 (lr 0.0025, gamma 0.0002 * 32^2 / 16 = 0.0128, EMA half-life 16 * 10 / 32 = 5k
images, minibatch-stddev group 4) with the paper's 8 mapping layers and no EMA ramp-up (``auto``
itself uses 2 and 0.05; the ``cifar`` settings, also tried, use both), z = w = 128, feature maps 64, 64, 32, 16
at 4, 8, 16, 32 px (``channel_base`` 512, ``channel_max`` 64), 6,000 iterations. Why so
small: per call on 2 idle cores, ``g`` 0.049 s, ``d`` 0.044 s, ``g_reg`` 0.16 s, ``d_reg``
0.105 s (~0.125 s per iteration, ~13 min); at (128, 128, 128, 64) and batch 32, ``g`` and
``d`` alone take 0.80 + 0.66 s. **This default collapses** (FID 743 at 2,000 iterations, 92%
of the samples one digit): every variant measured (R1 gamma 1 and 10, no mixing or path
length, the reference's ``cifar`` settings, twice the width, lower learning rates) collapses or
does not reach digits in this budget (``results/stylegan2_mnist.md``). The networks match the
reference's outputs (``tests/test_stylegan2_reference.py``), and the reference implementation
itself, trained with these settings on the same digits, collapses the same way (FID 747 and
recall 0 at 2,000 iterations; ``results/stylegan2_reference_training.py``); the recipe is the
reference's, kept as it is.

``cifar10``: the reference's ``--cfg=cifar`` (batch 64, minibatch-stddev group 32, feature
maps min(32768 / r, 512), 2 mapping layers, gamma 0.01, EMA 500 kimg with ramp-up 0.05, no
path length, no style mixing, the 'orig' discriminator, 100M images). ``celeba128``: TFDS
``celeb_a`` at 128 px with ``--cfg=auto``'s settings for 8 GPUs (batch 64, group 4, gamma
0.0512, EMA 20 kimg, 25M images). Both are accelerator runs.

    python launch.py --config experiments/stylegan2.py
    python launch.py --config experiments/stylegan2.py --mode sample --seeds 0-63 --config.eval.psi=0.7
    python launch.py --config experiments/stylegan2.py:cifar10 --config.data.data_dir=DIR
    python launch.py --config experiments/stylegan2.py:quick          # seconds, for tests
"""
from jgan.config import base_config
from jgan.families import configs


def get_config(variant: str | None = None):
    c = configs.stylegan2(base_config())
    c.name, c.variant = "stylegan2", variant or ""
    m = c.model
    m.z_dim = m.w_dim = 128
    m.channel_base, m.channel_max = 512, 64
    c.train.batch_size = 16
    c.loss.r1_gamma = 0.0002 * 32 ** 2 / 16    # --cfg=auto's gamma at batch 16
    c.train.ema_kimg = 16 * 10 / 32            # --cfg=auto's EMA half-life at batch 16 (5k images)
    c.train.steps = 6000
    c.train.log_every = 50
    c.train.sample_every = 500
    c.train.checkpoint_every = 1000
    c.eval.every = 2000

    if variant in ("cifar10", "celeba128"):
        c.data.source = "tfds"
        c.data.name = {"cifar10": "cifar10", "celeba128": "celeb_a"}[variant]
        c.data.channels = 3
        c.data.image_size = m.resolution = {"cifar10": 32, "celeba128": 128}[variant]
        m.z_dim = m.w_dim = 512
        c.train.batch_size = 64
        c.train.sample_every, c.train.checkpoint_every = 5000, 10_000
        c.eval.every = 50_000
        if variant == "cifar10":
            m.channel_base, m.channel_max = 32768, 512
            m.mapping_layers, m.mbstd_group, m.d_architecture = 2, 32, "orig"
            c.loss.r1_gamma, c.loss.pl_weight, c.loss.style_mixing = 0.01, 0.0, 0.0
            c.train.ema_kimg, c.train.ema_rampup = 500.0, 0.05
            c.train.steps = 100_000_000 // 64
        else:
            m.channel_base, m.channel_max = 16384, 512
            c.loss.r1_gamma = 0.0002 * 128 ** 2 / 64
            c.train.ema_kimg = 20.0
            c.train.steps = 25_000_000 // 64
    elif variant == "quick":
        m.z_dim = m.w_dim = 16
        m.mapping_layers = 2
        m.channel_base, m.channel_max = 128, 16
        c.train.batch_size = 16          # 4 devices x a minibatch-stddev group of 4
        c.loss.pl_interval, c.loss.r1_interval = 2, 4
        c.train.steps = 6
        c.train.ema_kimg, c.train.ema_rampup = 0.05, 0.05
        c.train.num_samples = 16
        c.train.log_every = c.train.sample_every = c.train.checkpoint_every = 3
        c.eval.every = 0
        c.eval.num_samples = 200
        c.eval.num_real = 500
    elif variant:
        raise ValueError(f"unknown variant {variant!r} of experiments/stylegan2.py: use cifar10, celeba128 or quick")
    return c
