"""BiGAN — Donahue, Kraehenbuehl & Darrell, "Adversarial Feature Learning", ICLR 2017 (the
authors' code: jeffdonahue/bigan, ``train_mnist.sh``); ALI — Dumoulin et al., "Adversarially
Learned Inference", ICLR 2017.

An encoder E beside G; D judges joint pairs (x, E(x)) against (G(z), z); G and E share the
flipped-label objective and all three networks update simultaneously. The authors' permutation-
invariant MNIST networks (``jgan.models.bigan``): G z(50) -> 1024 -> 1024 (+ z again) -> 784
sigmoid, E 784 -> 1024 -> 1024 -> 50, D (x; z at the second layer) -> 1024 -> 1024 -> 1; no
biases, BatchNorm without affine, N(0, 0.02) weights. z ~ U(-1, 1)^50. Adam 2e-4, beta1 0.5,
L2 weight decay 2.5e-5, batch 128, the rate constant for half the run, then exponential decay to
1/100.

Default: the MNIST subset shipped with jgan (4,500 training digits, 500 held out), 10,000
iterations (~285 epochs of the subset). Evaluated every 2,500 iterations: G's samples (FID,
KID, precision/recall, ... in jgan's MNIST classifier's features) and E as a feature learner:
linear-probe and 1NN accuracy of E(x) on the held-out digits against E at initialisation and
raw pixels; reconstructions G(E(x)) (``samples/recon_*``: rows of digits, each followed by its
reconstruction) and how often jgan's classifier reads them as the digit they came from.

``paper``: the authors' MNIST run: TFDS ``mnist`` (60,000 digits; the reference holds out
10,000 of them for validation), 400 epochs (200 constant + 200 decaying) = 187,500 iterations.
The paper reports 97.39% 1NN accuracy of E(x) on the MNIST test set (Table 1).

``ali``: ALI (Dumoulin et al.; reference ``IshmaelBelghazi/ALI``, ``experiments/ali_cifar10.py``)
with its own convolutional CIFAR-10 networks (``jgan.models.ali``: 'valid' convs, BatchNorm and
LeakyReLU 0.1 in E and G, maxout and dropout 0.2 / 0.5 in D, N(0, 0.01) weights, G's output
bias at the data's log-odds), z ~ N(0, I)^64 and a Gaussian posterior ``mu + exp(log_sigma)
eps``, Adam 1e-4 (beta1 0.5) at a constant rate, batch 100; on the MNIST subset padded to 32 px
at a quarter of the paper's widths (``width`` 8: 8 ... 128 feature maps; 0.2 s per iteration
here, 1.1 s at the paper's 32), 4,000 iterations (~14 min). Measured on 2026-11-30 it does
**not** train in this budget: G stays at the data's mean image (its initial output) for ~2,000
iterations while D wins (D(x, E(x)) 0.98, D(G(z), z) 0.02), then falls to one shape (FID 869
at 4,000, 99.5% of the samples one class; E's linear probe 0.69, below its initialisation's
0.77). At 2x and 5x the rate G moves sooner but collapses by 1,000 (one and two shapes), and so
does a deterministic encoder at 2x (``results/bigan_biggan_mnist.md``).

``ali_cifar10``: the paper's CIFAR-10 run (TFDS ``cifar10``, the paper's widths, 1,000 epochs of
50,000 images as the reference's ``NUM_EPOCHS``: 500,000 iterations; Inception features).
Accelerator only.

``ali_mlp``: ALI's game on BiGAN's MLP networks (z ~ N(0, I), the Gaussian posterior as
``mean + exp(log_var / 2) eps``, dropout 0.2 on D's hidden units). Measured on 2026-11-30 it
does **not** train: G had collapsed to one digit class by iteration 2,500 (FID 859) and the run
diverged (NaN) at 3,233; with the BiGAN authors' log-variance bias of -5 it collapsed all the
same (FID 881 at 2,500, 928 at 5,000); without D's dropout it collapsed too; the BiGAN default
with only an N(0, I) prior reached FID 612 at 2,500 (291.8 with the uniform prior)
(``results/bigan_biggan_mnist.md``).

    python launch.py --config experiments/bigan.py
    python launch.py --config experiments/bigan.py:ali
    python launch.py --config experiments/bigan.py:ali_cifar10 --config.data.data_dir=~/tensorflow_datasets
    python launch.py --config experiments/bigan.py:paper --config.data.data_dir=~/tensorflow_datasets
    python launch.py --config experiments/bigan.py:quick      # seconds, for tests
"""
from jgan.config import base_config
from jgan.families import configs


def _decay_from_half(c) -> None:
    for net in ("g", "d"):  # train_mnist.sh: --epochs N --decay_epochs N (half constant, half decay)
        c.optim[net].constant_steps = c.optim[net].decay_steps = c.train.steps // 2


def _ali_conv(c) -> None:
    """ALI's CIFAR-10 model and training (the paper's Table 3, ``experiments/ali_cifar10.py``):
    its convolutional networks (``jgan.models.ali``), z ~ N(0, I)^64 with a Gaussian posterior,
    D's dropout 0.2 on its inputs and 0.5 elsewhere, maxout 2, Adam 1e-4 (beta1 0.5, beta2
    0.999: blocks' ``beta2=0.001`` is 1 - beta2) at a constant rate, no weight decay, batch 100."""
    m = c.model
    m.prior, m.z_dim = "normal", 64
    for net in ("generator", "encoder", "discriminator"):
        m[net].name = "ali_conv"
    m.encoder.stochastic = True
    m.discriminator.input_dropout, m.discriminator.dropout = 0.2, 0.5
    for net in ("g", "d"):
        o = c.optim[net]
        o.lr, o.b1, o.b2, o.weight_decay, o.decay_steps = 1e-4, 0.5, 0.999, 0.0, 0
    c.train.batch_size = 100


def get_config(variant: str | None = None):
    c = configs.bigan(base_config())
    c.name, c.variant = "bigan", variant or ""
    c.train.steps = 10_000
    _decay_from_half(c)
    c.train.log_every = 100
    c.train.sample_every = 1000
    c.train.checkpoint_every = 2500
    c.eval.every = 2500

    if variant in ("ali", "ali_cifar10"):
        _ali_conv(c)
        if variant == "ali":      # the CPU default: a quarter of the paper's widths
            for net in ("generator", "encoder", "discriminator"):
                c.model[net].width = 8
            c.train.steps = 4000
            c.train.sample_every, c.train.checkpoint_every, c.eval.every = 500, 1000, 2000
        if variant == "ali_cifar10":
            c.data.source, c.data.name, c.data.channels, c.data.image_size = "tfds", "cifar10", 3, 32
            c.train.steps = 500_000   # the reference's NUM_EPOCHS = 1000 of 50,000 images at batch 100
            c.train.sample_every, c.train.checkpoint_every = 10_000, 10_000
            c.eval.every = 50_000
            c.eval.extractor = "inception"
    elif variant == "ali_mlp":
        c.model.prior = "normal"
        c.model.encoder.stochastic = True
        c.model.discriminator.dropout = 0.2
    elif variant == "paper":
        c.data.source, c.data.name = "tfds", "mnist"
        c.train.steps = 187_500       # 400 epochs of 60,000 at batch 128
        _decay_from_half(c)
        c.train.sample_every = c.train.checkpoint_every = 10_000
        c.eval.every = 25_000
        c.eval.extractor = "classifier"  # jgan's MNIST classifier for the samples' metrics
    elif variant == "quick":
        c.model.z_dim = 8
        c.model.generator.hidden = c.model.encoder.hidden = c.model.discriminator.hidden = (32, 32)
        c.train.batch_size = 16
        c.train.steps = 6
        _decay_from_half(c)
        c.train.log_every = 2
        c.train.sample_every = 3
        c.train.checkpoint_every = 3
        c.train.num_samples = 16
        c.eval.every = 0
        c.eval.num_samples = 64
        c.eval.num_real = 64
    elif variant:
        raise ValueError(f"unknown variant {variant!r} of experiments/bigan.py: use '', 'ali', "
                         f"'ali_cifar10', 'ali_mlp', 'paper' or 'quick'.")
    return c
