"""ProGAN — Karras, Aila, Laine & Lehtinen, "Progressive Growing of GANs for Improved Quality,
Stability, and Variation", ICLR 2018 (the authors' code: tkarras/progressive_growing_of_gans).

Progressive growing from 4x4 with a linear fade-in of each new block (``alpha``, a pure
function of the iteration), equalised learning rate, pixel norm, minibatch standard deviation,
WGAN-GP (lambda 10) plus the drift term 1e-3, one D step per G step, Adam 1e-3 beta (0, 0.99)
eps 1e-8 with both states reset when a fade starts and ends, an EMA of G (0.999) for the
grids and the evaluation; real images box-filtered to the current resolution and blended
during a fade (``jgan.families.progan``).

Default (CPU): the embedded MNIST subset padded to 32x32 (as the reference's ``create_mnist``),
four stages 4 -> 8 -> 16 -> 32, feature maps min(256 / 2**s, 64) (64 at 4-8 px, 32 at 16, 16
at 32; the latent is 64), batch 16, 1,000 iterations at 4x4, then 1,000 fading in and 1,000
stable at 8 and at 16, and the 32x32 networks from iteration 5,000 (fading to 6,000) to
10,000. Why so small: at 32 px one iteration (D with its gradient penalty, then G) took
~0.19 s at these widths and ~0.55 s at min(512 / 2**s, 128), both measured on 2 CPU cores
shared with another run. The reference shows each resolution 600k images (37,500 iterations
at batch 16): this default is a ~40x shorter schedule (FID 23.3, results/progan_mnist.md). The grids are written at each stage's own resolution
(``samples/ema_res<r>_step_<n>.png``: one per resolution as it grows).

``cifar10``: the reference's settings for 32x32 data (``config.py``, preset v2): feature maps
min(8192 / 2**s, 512), latent 512, 600k images per stage and per fade at batch 64 (9,375
iterations each), 12M images in all (187,500 iterations); TFDS ``cifar10`` (prepared
beforehand). ``celeba128``: TFDS ``celeb_a`` at 128x128 with the same settings at batch 16 (600k images =
37,500 iterations per stage), 12M images (750,000 iterations), without the reference's mirror
augmentation (the gan-family data pipeline has none). The reference changes the batch with
the resolution; jgan keeps one (deliberate). Both are accelerator runs.

    python launch.py --config experiments/progan.py
    python launch.py --config experiments/progan.py --mode sample --seeds 0-63
    python launch.py --config experiments/progan.py:cifar10 --config.data.data_dir=DIR
    python launch.py --config experiments/progan.py:quick          # seconds, for tests
"""
from jgan.config import base_config
from jgan.families import configs


def get_config(variant: str | None = None):
    c = configs.progan(base_config())
    c.name, c.variant = "progan", variant or ""
    m = c.model
    m.fmap_base, m.fmap_max = 256, 64
    c.train.batch_size = 16
    c.train.stable_steps = c.train.fade_steps = 1000
    c.train.steps = 10_000
    c.train.log_every = 50
    c.train.sample_every = 500
    c.train.checkpoint_every = 1000
    c.eval.every = 2000

    if variant in ("cifar10", "celeba128"):
        c.data.source = "tfds"
        c.data.name = {"cifar10": "cifar10", "celeba128": "celeb_a"}[variant]
        c.data.channels = 3
        c.data.image_size = m.resolution = {"cifar10": 32, "celeba128": 128}[variant]
        m.fmap_base, m.fmap_max = 8192, 512
        c.train.batch_size = {"cifar10": 64, "celeba128": 16}[variant]
        c.train.stable_steps = c.train.fade_steps = 600_000 // c.train.batch_size
        c.train.steps = 12_000_000 // c.train.batch_size
        c.train.sample_every, c.train.checkpoint_every = 5000, 10_000
        c.eval.every = 50_000
    elif variant == "quick":
        m.fmap_base, m.fmap_max = 32, 16
        c.train.batch_size = 16          # 4 devices x a minibatch-stddev group of 4
        c.train.stable_steps = c.train.fade_steps = 2
        c.train.steps = 14           # every stage: 2 at 4x4, then (2 fading + 2 stable) x 3
        c.train.num_samples = 16
        c.train.log_every = c.train.sample_every = c.train.checkpoint_every = 7
        c.eval.every = 0
        c.eval.num_samples = 200
        c.eval.num_real = 500
    elif variant:
        raise ValueError(f"unknown variant {variant!r} of experiments/progan.py: use cifar10, celeba128 or quick")
    return c
