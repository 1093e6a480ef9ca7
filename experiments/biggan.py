"""BigGAN — Brock, Donahue & Simonyan, "Large Scale GAN Training for High Fidelity Natural Image
Synthesis", ICLR 2019 (the authors' code: ajbrock/BigGAN-PyTorch).

G (``jgan.models.biggan``): residual up-blocks with spectral norm, a shared class embedding,
hierarchical z (one chunk per block plus the input's), conditional BatchNorm with gain
``1 + W_g c`` and bias ``W_b c``, orthogonal init. D: residual down-blocks (wide), spectral
norm, global sum pooling and a projection head (Miyato & Koyama 2018). Hinge loss, Adam
beta (0, 0.999), two time-scale learning rates (G 1e-4, D 4e-4) and 2 D steps per G step (the
paper's ImageNet settings, App. C), orthogonal regularisation beta 1e-4 on G (Eq. 3; the
reference's launch scripts set it to 0), an EMA of G that copies G until ``train.ema_start``,
standing BatchNorm statistics for sampling (``eval.standing_stats`` batches), truncation by
resampling (``eval.truncation``; 0 = the untruncated prior, the default).

Default (CPU): class-conditional MNIST subset at 28 px, ch 8 (32-channel G and D blocks; ch 16
runs at ~1 s per iteration on 2 cores, ch 8 at ~0.33 s), z 120 in 3 chunks of 40, shared embedding 128, batch 64, 3,000 iterations, EMA 0.999
from iteration 1,000 (the paper's 0.9999 from 20,000 is for 100k+ iterations), standing
statistics over 16 batches. The class x seed grid (``--mode sample``) shows one class per
column.

``cifar10``: the reference's CIFAR-10 script (``launch_cifar_ema.sh``): 32 px, ch 64 (256-
channel blocks), batch 50, 4 D steps, both rates 2e-4, no orthogonal regularisation, EMA from
1,000, 500 epochs (500,000 G iterations at 1 G step per 4 D batches; an accelerator run). It
keeps the shared embedding and hierarchical z (the script turns both off; deliberate: this is
the paper's G). ``imagenet128``: the paper's ImageNet 128x128 (``launch_BigGAN_bs256x8.sh``):
ch 96, attention at 64, z 120 hierarchical, batch 2,048, 1 D step, G 1e-4 / D 4e-4, Adam eps
1e-6, EMA 0.9999 from 20,000, 150,000 iterations (TFDS ``imagenet2012``, prepared beforehand).

    python launch.py --config experiments/biggan.py
    python launch.py --config experiments/biggan.py --mode sample --seeds 0-7   # class x seed grid
    python launch.py --config experiments/biggan.py:quick
"""
from jgan.config import base_config


def get_config(variant: str | None = None):
    c = base_config()
    c.name, c.variant = "biggan", variant or ""
    c.data.source = "mnist_subset"
    c.data.image_size, c.data.channels = 28, 1
    m = c.model
    m.conditioning, m.num_classes = "projection", 10
    m.z_dim = 120
    m.generator.name, m.generator.width, m.generator.norm = "biggan", 8, "batch"
    m.generator.shared_dim, m.generator.hierarchical = 128, True
    m.discriminator.name, m.discriminator.width, m.discriminator.norm = "biggan", 8, "none"
    m.discriminator.spectral_norm = True
    c.loss.name = "hinge"
    for net, lr in (("g", 1e-4), ("d", 4e-4)):
        o = c.optim[net]
        o.name, o.lr, o.b1, o.b2, o.eps = "adam", lr, 0.0, 0.999, 1e-8
    c.optim.g.ortho_reg = 1e-4
    c.train.batch_size = 64
    c.train.d_steps = 2
    c.train.steps = 3000
    c.train.ema_decay, c.train.ema_start = 0.999, 1000
    c.train.log_every = 50
    c.train.sample_every = 500
    c.train.checkpoint_every = 1000
    c.train.num_samples = 100        # 10 per class: the grid's columns are the classes
    c.eval.every = 1000
    c.eval.standing_stats = 16

    if variant == "cifar10":
        c.data.source, c.data.name = "tfds", "cifar10"
        c.data.image_size, c.data.channels = 32, 3
        m.generator.width = m.discriminator.width = 64
        m.z_dim = 128
        for net in ("g", "d"):
            c.optim[net].lr = 2e-4
        c.optim.g.ortho_reg = 0.0
        c.train.batch_size = 50
        c.train.d_steps = 4
        c.train.steps = 500 * 50_000 // (50 * 4)
        c.train.ema_decay, c.train.ema_start = 0.9999, 1000
        c.train.sample_every = c.train.checkpoint_every = 5000
        c.eval.every = 5000
        c.eval.extractor = "inception"
    elif variant == "imagenet128":
        c.data.source, c.data.name = "tfds", "imagenet2012"
        c.data.image_size, c.data.channels = 128, 3
        m.num_classes = 1000
        m.generator.width = m.discriminator.width = 96
        m.generator.attention_resolution = m.discriminator.attention_resolution = 64
        for net in ("g", "d"):
            c.optim[net].eps = 1e-6
        c.train.batch_size = 2048
        c.train.d_steps = 1
        c.train.steps = 150_000
        c.train.ema_decay, c.train.ema_start = 0.9999, 20_000
        c.train.sample_every = c.train.checkpoint_every = 2000
        c.eval.every = 10_000
        c.eval.extractor = "inception"
    elif variant == "quick":
        m.z_dim = 12
        m.generator.width = m.discriminator.width = 4
        m.generator.shared_dim = 8
        c.train.batch_size = 8
        c.train.steps = 4
        c.train.ema_start = 2
        c.train.log_every = 2
        c.train.sample_every = 2
        c.train.checkpoint_every = 2
        c.train.num_samples = 20
        c.eval.every = 0
        c.eval.standing_stats = 2
        c.eval.num_samples = 64
        c.eval.num_real = 64
    elif variant:
        raise ValueError(f"unknown variant {variant!r} of experiments/biggan.py: use '', 'cifar10', "
                         f"'imagenet128' or 'quick'.")
    return c
