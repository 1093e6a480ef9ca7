"""WGAN with weight clipping — Arjovsky, Chintala & Bottou, "Wasserstein GAN", 2017.

Algorithm 1 of the paper: a critic without sigmoid trained for n_critic = 5 updates per
generator update with RMSProp (lr 5e-5) and its weights clipped to [-0.01, 0.01] after
every update (``optim.d.clip``, an optax chain); z ~ N(0, I) of size 100; the paper's batch
is 64. As in the reference code, the critic gets 100 updates for the first 25 generator
iterations and every 500th. Default: the embedded MNIST subset (4,500 training digits) at
28x28 with the DCGAN-style 28x28 conv G and critic at width 32, BatchNorm in both as in the
paper's DCGAN critic; batch 16 and 24,000 generator iterations (about 13 minutes on 2 CPU
cores: 30,000 took 966 s end to end). ``lsun64`` / ``celeba64``: 64x64 RGB TFDS data with
the paper's DCGAN-64 networks (width 64, batch 64, 100,000 iterations). ``improved_wgan``:
the weight-clipped WGAN on MNIST of Gulrajani et al.'s reference code (``gan_mnist.py``,
``MODE = 'wgan'``): TFDS mnist, its networks (``jgan.models.improved_wgan``, width 64: a
three-layer 5x5 critic with BatchNorm), z of size 128, batch 50, 5 critic updates throughout
(no 100-update warm-up) and 200,000 generator iterations. Deviation: the optimiser is
PyTorch's RMSProp (decay 0.99) as in Arjovsky et al.'s code, where ``gan_mnist.py`` uses
TF1's (decay 0.9, mean square starting at 1). Measured on these 2 CPU cores: 3.4 s per
iteration, so its 200,000 iterations would take ~8 days here (an accelerator run). At batch 16
and width 16 (14 iterations/s, under half the default's 32) it was no better per iteration
than the default: FID 284 vs 246 at 4,000 (2,000 samples).

Why batch 16: at Algorithm 1's lr 5e-5 the number of generator updates, not the critic's
capacity or the batch, limits the run. Measured on the default data (jgan's classifier,
5,000 samples vs the 4,500 training digits, seed 0): batch 64 x 8,000 iterations (the
paper's batch; this experiment's default before 2026-11-29) FID 117.0, confident share
0.255; batch 32 x 14,000 FID 97.8, 0.308; batch 32 with a critic of width 48 FID 98.5
(capacity is not the limit); batch 16 x 24,000 (this default) FID 90.2, 0.324, recall 0.80;
batch 16 x 30,000 FID 92.0, 0.338 (a plateau: 24,000 is the default); batch 16 with G at
width 64 FID 97.3; and on this default: an EMA of G FID 91.3, a critic without BatchNorm 141.4,
both learning rates 1e-4 97.9, standing BatchNorm statistics 88.7. The weight-clipped critic
plateaus near FID 90 here: the digits are still recognisable only in part, with broken strokes
and specks (held-out real digits: FID 4.2, confident 0.90). Seed 1 of this default gave FID
100.7 (confident 0.328), so the settings from batch 32 on differ by no more than seed noise;
batch 8 and deeper critics (below) did not pass the plateau either. results/mnist_defaults.md
has every number.

    python launch.py --config experiments/wgan.py
    python launch.py --config experiments/wgan.py:celeba64 --config.data.data_dir=DIR
    python launch.py --config experiments/wgan.py:improved_wgan  # Gulrajani et al.'s MNIST WGAN
    python launch.py --config experiments/wgan.py:quick          # seconds, for tests
"""
from jgan.config import base_config


def get_config(variant: str | None = None):
    c = base_config()
    c.name, c.variant = "wgan", variant or ""
    c.model.z_dim = 100
    c.model.generator.name = "dcgan28"
    c.model.discriminator.name = "dcgan28"
    c.model.generator.width = c.model.discriminator.width = 32
    c.model.generator.norm = c.model.discriminator.norm = "batch"
    c.loss.name = "wasserstein"
    for net in ("g", "d"):
        c.optim[net].name = "rmsprop"
        c.optim[net].lr = 5e-5
        c.optim[net].decay = 0.99
        c.optim[net].eps = 1e-8
    c.optim.d.clip = 0.01
    c.train.batch_size = 16
    c.train.d_steps = 5
    c.train.d_steps_long = 100
    c.train.long_first = 25
    c.train.long_every = 500
    c.train.steps = 24_000
    c.train.log_every = 50
    c.train.sample_every = 500
    c.train.checkpoint_every = 1000

    if variant in ("lsun64", "celeba64"):
        c.data.source = "tfds"
        c.data.name = {"lsun64": "lsun/bedroom", "celeba64": "celeb_a"}[variant]
        c.data.image_size, c.data.channels = 64, 3
        c.model.generator.name = c.model.discriminator.name = "dcgan"
        c.model.generator.width = c.model.discriminator.width = 64
        c.train.batch_size = 64
        c.train.steps = 100_000
        c.train.sample_every, c.train.checkpoint_every = 1000, 5000
    elif variant == "improved_wgan":
        # Gulrajani et al.'s gan_mnist.py, MODE = 'wgan': the weight-clipped WGAN on MNIST
        c.data.source, c.data.name = "tfds", "mnist"
        c.model.z_dim = 128
        c.model.generator.name = c.model.discriminator.name = "improved_wgan28"
        c.model.generator.width = c.model.discriminator.width = 64
        c.train.batch_size = 50
        c.train.steps = 200_000
        c.train.d_steps_long = c.train.long_first = c.train.long_every = 0  # CRITIC_ITERS = 5 throughout
        c.train.sample_every, c.train.checkpoint_every = 1000, 5000
    elif variant == "quick":
        c.train.steps = 6
        c.train.batch_size = 16
        c.train.d_steps_long = 10
        c.train.long_first = 2
        c.train.long_every = 4
        c.model.generator.width = c.model.discriminator.width = 8
        c.train.log_every = c.train.sample_every = c.train.checkpoint_every = 3
    elif variant:
        raise ValueError(f"unknown variant {variant!r} of experiments/wgan.py: use lsun64, celeba64, "
                         f"improved_wgan or quick")
    return c
