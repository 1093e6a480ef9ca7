"""Config fields of the families beyond ``jgan.config.base_config`` (no training code).

An experiment of a family starts from ``base_config()`` and calls the family's function
here, which sets ``config.family`` and adds the fields that family reads, each with its
default and a one-line comment.
"""
from __future__ import annotations

import ml_collections


def pix2pix(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """pix2pix (Isola et al. 2017): paired translation a -> b (``jgan.families.pix2pix``)."""
    c.family = "pix2pix"
    d = c.data
    d.source = "glyphs"              # 'glyphs' (typeface conversion, rendered) | 'aligned_folder'
    d.split, d.eval_split = "train", "test"  # training split; held-out split for evaluation and grids
    d.source_font = "dejavu_sans"    # glyphs: the input typeface (jgan.data.glyphs.FONTS)
    d.target_font = "dejavu_serif"   # glyphs: the typeface to translate into
    d.per_char = 200                 # glyphs: renders (random scale and shift) per character
    d.render_seed = 0                # glyphs: the renders' seed (fixed: every run sees the same data)
    d.path = ""                      # aligned_folder: <path>/<split>/*.jpg, each A|B side by side
    d.direction = "AtoB"             # aligned_folder: 'AtoB' | 'BtoA'
    d.image_size, d.channels = 32, 1
    d.load_size = 36                 # augmentation: resize to this, random crop back to image_size
    d.flip = False                   # augmentation: random horizontal mirror (same on input and target)
    g = c.model.generator
    g.name, g.width, g.norm = "unet", 64, "batch"
    g.num_downs = 0                  # U-Net down-samplings (0 = log2(image_size), down to 1x1)
    g.dropout = 0.5                  # dropout rate of the innermost decoder blocks (the only noise)
    g.dropout_blocks = 3             # how many innermost decoder blocks have dropout
    g.test_dropout = True            # dropout also when translating for grids / evaluation (paper)
    g.test_batch_stats = False       # BatchNorm with the test batch's statistics (paper) or running ones
    dd = c.model.discriminator
    dd.name, dd.width, dd.norm = "patchgan", 64, "batch"
    dd.n_layers = 3                  # PatchGAN depth: 3 = 70x70 patches (256 px); 1-2 for 32 px
    c.loss.name = "non_saturating"   # 'non_saturating' (the paper's vanilla GAN loss) | 'lsgan'
    c.loss.l1_weight = 100.0         # lambda of the L1 term of G's loss
    for net in ("g", "d"):
        c.optim[net].name, c.optim[net].lr = "adam", 2e-4
        c.optim[net].b1, c.optim[net].b2 = 0.5, 0.999
    c.train.d_steps = 1
    c.eval.extractor = "classifier"
    c.eval.classifier_workdir = "runs/classifier_glyphs"
    c.eval.metrics = ("fid", "kid")
    return c


def cyclegan(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """CycleGAN (Zhu et al. 2017): unpaired translation A <-> B (``jgan.families.cyclegan``)."""
    c.family = "cyclegan"
    d = c.data
    d.source = "digits"              # 'digits' (jgan.data.digits domains) | 'tfds' (cycle_gan/<name>) | 'folders'
    d.domain_a = "mnist"             # digits: domain A, one of jgan.data.digits.DOMAINS
    d.domain_b = "typeset"           # digits: domain B
    d.split, d.eval_split = "train", "test"  # tfds / folders: <split>A, <split>B (trainA, testB, ...)
    d.name = "cycle_gan/horse2zebra" # tfds: the dataset (prepared beforehand)
    d.path = ""                      # folders: <path>/trainA/, trainB/, testA/, testB/
    d.holdout = 500                  # digits, mnist: held-out MNIST digits (the test split)
    d.typeset_train, d.typeset_test = 4500, 500  # digits, typeset: renders per split
    d.sklearn_holdout = 300          # digits, sklearn: held-out digits
    d.render_seed = 0                # digits, typeset: the renders' seed (fixed: every run sees the same data)
    d.image_size, d.channels = 28, 1
    d.load_size = 28                 # augmentation: resize to this, random crop back to image_size
    d.flip = False                   # augmentation: random horizontal mirror
    g = c.model.generator
    g.name, g.width, g.norm = "resnet", 64, "instance"
    g.num_blocks = 9                 # residual blocks (paper: 9 at 256 px, 6 at 128 px)
    dd = c.model.discriminator
    dd.name, dd.width, dd.norm = "patchgan", 64, "instance"
    dd.n_layers = 3                  # PatchGAN depth: 3 = 70x70 patches (256 px)
    c.loss.name = "lsgan"            # 'lsgan' (the paper's least squares) | 'non_saturating'
    c.loss.cycle_weight = 10.0       # lambda of the cycle-consistency L1, both directions
    c.loss.identity_weight = 0.5     # identity L1 weight, as a fraction of lambda (0 = off)
    c.loss.pool_size = 50            # images per direction in D's history pool (0 = no pool)
    for net in ("g", "d"):
        c.optim[net].name, c.optim[net].lr = "adam", 2e-4
        c.optim[net].b1, c.optim[net].b2 = 0.5, 0.999
    c.train.batch_size = 1
    c.train.d_steps = 1
    c.eval.extractor = "classifier"  # digits: each target domain's classifier; 'inception' for RGB
    c.eval.metrics = ("fid", "kid")
    c.eval.domain_classifiers = ml_collections.ConfigDict({
        "mnist": "",  # '' = the MNIST classifier of the project cache, trained on first use
        "typeset": "runs/classifier_typeset",           # experiments/classifier_typeset.py
        "sklearn": "runs/classifier_typeset-sklearn"})  # experiments/classifier_typeset.py:sklearn
    return c


# StarGAN's digit domains: handwritten, and typeset in three distinct fonts
STARGAN_DIGIT_DOMAINS = ("mnist", "typeset:dejavu_sans_bold", "typeset:dejavu_serif_italic", "typeset:dejavu_sans_mono")
CELEBA_ATTRIBUTES = ("Black_Hair", "Blond_Hair", "Brown_Hair", "Male", "Young")  # the paper's five


def stargan(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """StarGAN (Choi et al. 2018): one G(x, c) over several domains (``jgan.families.stargan``)."""
    c.family = "stargan"
    d = c.data
    d.source = "digits"              # 'digits' (jgan.data.digits domains) | 'tfds' (celeb_a attributes)
    d.domains = STARGAN_DIGIT_DOMAINS  # digits: the domains (mnist, sklearn, typeset, typeset:<font>)
    d.name = "celeb_a"               # tfds: the dataset (prepared beforehand)
    d.attributes = CELEBA_ATTRIBUTES  # tfds: the binary attributes that are the labels
    d.exclusive = CELEBA_ATTRIBUTES[:3]  # tfds: attributes of which one is set (hair colour) in grids
    d.split, d.eval_split = "train", "test"
    d.holdout = 500                  # digits, mnist: held-out MNIST digits (the test split)
    d.typeset_train, d.typeset_test = 4500, 500  # digits, typeset: renders per split and font
    d.sklearn_holdout = 300          # digits, sklearn: held-out digits
    d.render_seed = 0                # digits, typeset: the renders' seed
    d.image_size, d.channels = 28, 1
    d.flip = False                   # random horizontal mirror (CelebA: True)
    g = c.model.generator
    g.name, g.width, g.norm = "resnet", 64, "instance"
    g.num_blocks = 6                 # residual blocks (paper: 6 at 128 px)
    dd = c.model.discriminator
    dd.name, dd.width = "stargan", 64
    dd.n_layers = 6                  # stride-2 convs (the reference's repeat_num; 6 at 128 px)
    c.loss.cls_weight = 1.0          # lambda_cls
    c.loss.rec_weight = 10.0         # lambda_rec
    c.loss.gp_weight = 10.0          # lambda_gp
    for net in ("g", "d"):
        c.optim[net].name, c.optim[net].lr = "adam", 1e-4
        c.optim[net].b1, c.optim[net].b2 = 0.5, 0.999
    c.train.batch_size = 16
    c.train.d_steps = 5              # n_critic: D updates per G update
    c.eval.metrics = ("fid", "kid")
    c.eval.domain_classifier = "runs/classifier_stargan"        # experiments/classifier_stargan.py
    c.eval.digit_classifier = "runs/classifier_stargan-digit"   # experiments/classifier_stargan.py:digit
    return c


def bigan(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """BiGAN / ALI (Donahue et al. 2017; Dumoulin et al. 2017): G, an encoder E and a joint
    D(x, z) (``jgan.families.bigan``). Defaults: the authors' MNIST run (``train_mnist.sh``)."""
    c.family = "bigan"
    c.data.source = "mnist_subset"   # 'mnist_subset' | 'tfds' (e.g. data.name='mnist')
    c.data.image_size, c.data.channels = 28, 1
    m = c.model
    m.z_dim = 50                     # latent size
    m.prior = "uniform"              # 'uniform' (z ~ U(-1, 1), BiGAN) | 'normal' (z ~ N(0, I), ALI)
    g = m.generator
    g.name, g.norm, g.hidden = "bigan_mlp", "batch", (1024, 1024)  # 'bigan_mlp' | 'ali_conv' (jgan.models.ali)
    g.width, g.leak = 32, 0.1        # ali_conv: the first layer's feature maps (the paper's 32), LeakyReLU slope
    g.marginal_bias = True           # ali_conv: the output bias starts at the data's mean log-odds (else 0)
    m.encoder = ml_collections.ConfigDict()
    m.encoder.name = "bigan_mlp"     # E: the reference's mnist_mlp featuriser + a linear map to z | 'ali_conv'
    m.encoder.norm = "batch"
    m.encoder.hidden = (1024, 1024)
    m.encoder.width, m.encoder.leak = 32, 0.1
    m.encoder.stochastic = False     # ALI: Gaussian posterior, z = mean + std * eps (needs prior 'normal')
    dd = m.discriminator
    dd.name, dd.norm, dd.hidden = "bigan_mlp", "batch", (1024, 1024)
    dd.width, dd.maxout_pieces = 32, 2  # ali_conv
    dd.dropout = 0.0                 # dropout on D's hidden units (bigan_mlp's ALI: 0.2; ali_conv: 0.5)
    dd.input_dropout = 0.0           # ali_conv: dropout on the inputs x and z (ALI: 0.2)
    c.loss.name = "non_saturating"   # G and E: the flipped labels (the reference's opp_loss) | 'minimax'
    for net in ("g", "d"):           # E trains with G's optimiser settings (the reference's updater)
        o = c.optim[net]
        o.name, o.lr, o.b1, o.b2, o.eps = "adam", 2e-4, 0.5, 0.999, 1e-8
        o.weight_decay = 2.5e-5
        o.decay_schedule, o.final_lr_mult = "exponential", 0.01
    c.train.batch_size = 128
    c.train.d_steps = 1
    c.eval.metrics = ("fid", "kid", "precision_recall", "density_coverage", "is", "classes")
    c.eval.features = True           # the encoder's linear-probe / 1NN accuracy and reconstructions
    return c


def progan(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """ProGAN (Karras et al. 2018): progressive growing from 4x4 (``jgan.families.progan``).
    Defaults: the reference's ``config.py`` / ``train.py`` (its MNIST setting, padded to 32)."""
    c.family = "progan"
    c.data.source = "mnist_subset"   # 'mnist_subset' | 'tfds' (cifar10, celeb_a, ...)
    c.data.image_size, c.data.channels = 28, 1
    m = c.model
    m.resolution = 32                # the final resolution (a power of 2); smaller data are padded to it
    m.fmap_base, m.fmap_max = 8192, 512  # feature maps min(fmap_base / 2**s, fmap_max) (the reference's)
    m.z_dim = 0                      # latent size (0 = min(fmap_base, fmap_max), the reference's default)
    m.normalize_latents = True       # pixel norm on z
    m.mbstd_group = 4                # minibatch-stddev group size (0 = no minibatch-stddev layer)
    c.loss.gp_weight = 10.0          # lambda of the gradient penalty (wgan_lambda)
    c.loss.gp_target = 1.0           # its target gradient norm (wgan_target)
    c.loss.drift = 1e-3              # epsilon_drift: weight of E D(x)^2
    for net in ("g", "d"):
        o = c.optim[net]
        o.name, o.lr, o.b1, o.b2, o.eps = "adam", 1e-3, 0.0, 0.99, 1e-8
    c.train.batch_size = 16
    c.train.d_steps = 1
    c.train.stable_steps = 37_500    # iterations at each resolution (600k images at batch 16)
    c.train.fade_steps = 37_500      # iterations fading each new block in (600k images)
    c.train.reset_optimizer = True   # fresh Adam states at each fade's start and end (reset_opt_for_new_lod)
    c.train.ema_decay = 0.999        # G_smoothing
    c.eval.metrics = ("fid", "kid", "precision_recall", "density_coverage", "is", "classes")
    return c


def stylegan2(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """StyleGAN2 (Karras et al. 2020; ``jgan.families.stylegan2``). Defaults: the reference's
    ``train.py --cfg=auto`` for 32 px at batch 32 (``stylegan2-ada-pytorch``; ``fmaps`` 0.5,
    ``lrate`` 0.0025, ``gamma = 0.0002 res^2 / batch``, ``ema = batch * 10 / 32`` kimg), with
    the paper's 8 mapping layers and no EMA ramp-up where ``auto`` has 2 and 0.05, and
    ``StyleGAN2Loss``'s defaults, on MNIST padded to 32 px."""
    c.family = "stylegan2"
    c.data.source = "mnist_subset"   # 'mnist_subset' | 'tfds' (cifar10, celeb_a, ...)
    c.data.image_size, c.data.channels = 28, 1
    m = c.model
    m.resolution = 32                # the output resolution (a power of 2); smaller data are padded to it
    m.z_dim = m.w_dim = 512
    m.mapping_layers = 8
    m.mapping_lr_mul = 0.01          # the mapping network's learning-rate multiplier
    m.w_avg_beta = 0.995             # the tracked mean of w (for truncation)
    m.channel_base, m.channel_max = 16384, 512  # feature maps min(channel_base // r, channel_max)
    m.d_architecture = "resnet"      # 'resnet' | 'orig' (the reference's cifar setting)
    m.mbstd_group = 4                # minibatch-stddev group size (0 = no minibatch-stddev layer)
    m.conv_clamp = 256.0             # clamp of every conv layer's output (0 = none)
    c.loss.r1_gamma = 0.0002 * 32 ** 2 / 32
    c.loss.r1_interval = 16          # lazy R1: every 16 D steps (D_reg_interval)
    c.loss.pl_weight = 2.0
    c.loss.pl_decay = 0.01
    c.loss.pl_batch_shrink = 2
    c.loss.pl_interval = 4           # lazy path length: every 4 G steps (G_reg_interval)
    c.loss.style_mixing = 0.9        # style-mixing probability
    for net in ("g", "d"):
        o = c.optim[net]
        o.name, o.lr, o.b1, o.b2, o.eps = "adam", 0.0025, 0.0, 0.99, 1e-8
    c.train.batch_size = 32
    c.train.d_steps = 1
    c.train.ema_kimg = 10.0          # EMA half-life in thousands of images
    c.train.ema_rampup = 0.0         # > 0: half-life at most images seen * ema_rampup (0 = none)
    c.eval.psi = 1.0                 # truncation of --mode sample
    c.eval.truncation_psis = (1.0, 0.8, 0.6, 0.4, 0.2, 0.0)  # the truncation grid's columns
    c.eval.metrics = ("fid", "kid", "precision_recall", "density_coverage", "is", "classes")
    return c
