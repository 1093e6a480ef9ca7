"""The classifiers that evaluate StarGAN on digit domains (``experiments/stargan.py``), the MNIST
network of ``jgan.eval.classifier`` trained on the 'train' splits of all of StarGAN's digit
domains (``jgan.families.configs.STARGAN_DIGIT_DOMAINS``: handwritten MNIST and digits typeset
in three fonts) and tested on their held-out 'test' splits, the digits StarGAN is evaluated on
(it never trains on them):

* default: which *domain* an image is in (4 classes): the domain accuracy of translations;
* ``digit``: which *digit* it shows, one classifier over all domains (10 classes): digit
  preservation, and the features of StarGAN's per-domain FID/KID.

    python launch.py --config experiments/classifier_stargan.py          # -> runs/classifier_stargan
    python launch.py --config experiments/classifier_stargan.py:digit    # -> runs/classifier_stargan-digit
    python launch.py --config experiments/classifier_stargan.py:quick
"""
import ml_collections

from jgan.families.configs import STARGAN_DIGIT_DOMAINS


def get_config(variant: str | None = None):
    c = ml_collections.ConfigDict()
    c.kind = "classifier"          # launch.py: train a classifier, not a GAN
    c.name, c.variant = "classifier_stargan", variant or ""
    c.seed = 0
    c.data = ml_collections.ConfigDict()
    c.data.source = "digit_domains"
    c.data.domains = STARGAN_DIGIT_DOMAINS
    c.data.target = "domain"       # 'domain' | 'digit': what the label is
    c.data.mnist_holdout = 500     # held-out MNIST digits (StarGAN's data.holdout)
    c.data.num_train = 4500        # typeset: training renders per font (StarGAN's data.typeset_train)
    c.data.num_test = 500          # typeset: held-out renders per font (StarGAN's data.typeset_test)
    c.data.holdout = 300           # sklearn: held-out digits
    c.data.seed = 0                # typeset: render seed (StarGAN's data.render_seed)
    c.train = ml_collections.ConfigDict()
    c.train.steps = 300            # domains are easy to tell apart; the digit variant trains longer
    c.train.batch_size = 128
    c.train.lr = 2e-3
    c.train.weight_decay = 1e-4
    c.train.max_shift = 2          # augmentation: random translation in pixels
    opts = variant.split(",") if variant else []
    for o in opts:
        if o not in ("digit", "quick"):
            raise ValueError(f"unknown variant {variant!r} of experiments/classifier_stargan.py: "
                             f"use digit and/or quick")
    if "digit" in opts:
        c.data.target = "digit"
        c.train.steps = 800
    if "quick" in opts:
        c.data.num_train, c.data.num_test = 200, 40
        c.train.steps = 30
    return c
