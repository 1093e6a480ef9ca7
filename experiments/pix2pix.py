"""pix2pix — Isola, Zhu, Zhou & Efros, "Image-to-Image Translation with Conditional
Adversarial Networks", CVPR 2017 (the authors' code: junyanz/pytorch-CycleGAN-and-pix2pix).

G: U-Net with skips, 4x4 stride-2 convs, LeakyReLU 0.2 down / ReLU up, dropout 0.5 in the three
innermost decoder blocks (also at test time), tanh. D: PatchGAN on the (input, output) pair.
Vanilla GAN loss + 100 * L1, D's loss halved, Adam 2e-4 beta (0.5, 0.999), N(0, 0.02) init,
BatchNorm, constant then linearly decaying learning rate; random jitter (resize up, crop back)
with the same crop on input and target.

Default: **typeface conversion** (the course's exercise; no download): letters and digits
rendered in DejaVu Sans (input) and DejaVu Serif (target) at 32x32, the same random scale and
shift on both sides; 10 characters never seen in training (``jgan.data.glyphs.TEST_CHARS``) are
the test split, so evaluation measures generalisation to unseen glyphs. U-Net width 32 (5
down-samplings), PatchGAN with 2 layers (34x34 patches: the whole glyph), batch 16, jitter 36 ->
32, no mirroring (a mirrored glyph is another character), 6,000 iterations (~11 it/s: about
10 minutes on 2 CPU cores; width 64, the paper's, runs at ~1.9 it/s). Evaluated on the held-out glyphs every 1,000 iterations with the glyph classifier
(train it first: ``python launch.py --config experiments/classifier_glyphs.py``).

``facades`` (and ``folder``): the paper's setting on an aligned folder (``data.path``, the
authors' ``A|B`` layout, e.g. their facades set): 256x256 RGB, U-Net 256 (8 down-samplings,
width 64), 70x70 PatchGAN, batch 1, jitter 286 -> 256 with mirroring, 200 epochs of the 400
facades (100 at a constant rate, 100 decaying): 80,000 iterations. An accelerator run.

    python launch.py --config experiments/classifier_glyphs.py     # once: the evaluator
    python launch.py --config experiments/pix2pix.py
    python launch.py --config experiments/pix2pix.py:facades --config.data.path=~/data/facades
    python launch.py --config experiments/pix2pix.py:quick          # seconds, for tests
"""
from jgan.config import base_config
from jgan.families import configs


def get_config(variant: str | None = None):
    c = configs.pix2pix(base_config())
    c.name, c.variant = "pix2pix", variant or ""
    c.model.generator.width = 32
    c.model.discriminator.width = 32
    c.model.discriminator.n_layers = 2
    c.train.batch_size = 16
    c.train.steps = 6000
    for net in ("g", "d"):  # the paper's schedule: half constant, half linear decay
        c.optim[net].constant_steps = c.optim[net].decay_steps = c.train.steps // 2
    c.train.log_every = 50
    c.train.sample_every = 1000
    c.train.checkpoint_every = 1000
    c.train.num_samples = 20         # held-out examples in the grids (2 of each test character)
    c.eval.every = 1000
    c.eval.num_samples = 2000        # held-out pairs evaluated (all 10 x 200)

    if variant in ("facades", "folder"):
        c.data.source = "aligned_folder"
        c.data.image_size, c.data.channels = 256, 3
        c.data.load_size, c.data.flip = 286, True
        c.model.generator.width = c.model.discriminator.width = 64
        c.model.discriminator.n_layers = 3
        c.train.batch_size = 1
        c.train.steps = 80_000
        for net in ("g", "d"):
            c.optim[net].constant_steps = c.optim[net].decay_steps = 40_000
        c.train.sample_every = c.train.checkpoint_every = 4000
        c.train.num_samples = 6
        c.eval.extractor = "inception"   # FID/KID in Inception features (eval.inception_weights)
        c.eval.every, c.eval.num_samples = 20_000, 500
        if variant == "facades":
            c.data.direction = "BtoA"    # the paper's facades task: label map -> photo
    elif variant == "quick":
        c.model.generator.width = c.model.discriminator.width = 4
        c.data.per_char = 4
        c.train.batch_size = 8
        c.train.steps = 4
        for net in ("g", "d"):
            c.optim[net].constant_steps = c.optim[net].decay_steps = 2
        c.train.log_every = c.train.sample_every = c.train.checkpoint_every = 2
        c.train.num_samples = 6
        c.eval.every, c.eval.num_samples = 4, 40
    elif variant:
        raise ValueError(f"unknown variant {variant!r} of experiments/pix2pix.py: use facades, folder or quick")
    return c
