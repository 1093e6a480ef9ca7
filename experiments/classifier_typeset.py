"""The classifiers of CycleGAN's digit domains other than MNIST: they read which digit a
translation into that domain shows (label preservation, ``experiments/cyclegan.py``) and give
its features for FID/KID.

The MNIST network of ``experiments/classifier_mnist.py`` (``jgan.eval.classifier.
MnistClassifier``), trained on the 'train' split of a ``jgan.data.digits`` domain (random
shifts of up to 2 pixels, AdamW with cosine decay) and tested on its held-out 'test' split,
the same digits CycleGAN is evaluated on (CycleGAN never trains on them):

* default: typeset digits (the ten digits in matplotlib's fonts, random size, position and
  small rotation; 4,500 train / 500 test renders);
* ``sklearn``: scikit-learn's 8x8 handwritten digits upsampled to 28x28 (1,497 / 300).

    python launch.py --config experiments/classifier_typeset.py           # -> runs/classifier_typeset
    python launch.py --config experiments/classifier_typeset.py:sklearn   # -> runs/classifier_typeset-sklearn
    python launch.py --config experiments/classifier_typeset.py:quick
"""
import ml_collections


def get_config(variant: str | None = None):
    c = ml_collections.ConfigDict()
    c.kind = "classifier"          # launch.py: train a classifier, not a GAN
    c.name, c.variant = "classifier_typeset", variant or ""
    c.seed = 0
    c.data = ml_collections.ConfigDict()
    c.data.source = "typeset_digits"  # 'typeset_digits' | 'sklearn_digits' (jgan.data.digits)
    c.data.num_train = 4500        # typeset: training renders
    c.data.num_test = 500          # typeset: held-out renders (CycleGAN's test split)
    c.data.holdout = 300           # sklearn: held-out digits
    c.data.seed = 0                # typeset: render seed (the CycleGAN data's, so 'test' is its test split)
    c.train = ml_collections.ConfigDict()
    c.train.steps = 1000
    c.train.batch_size = 128
    c.train.lr = 2e-3
    c.train.weight_decay = 1e-4
    c.train.max_shift = 2          # augmentation: random translation in pixels
    base = variant.split(",")[0] if variant else ""
    if base == "sklearn":
        c.data.source = "sklearn_digits"
    elif base and base != "quick":
        raise ValueError(f"unknown variant {variant!r} of experiments/classifier_typeset.py: use sklearn or quick")
    if variant and "quick" in variant.split(","):
        c.data.num_train, c.data.num_test = 500, 100
        c.train.steps = 30
    return c
