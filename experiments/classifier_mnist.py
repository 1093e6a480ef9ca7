"""The MNIST digit classifier jgan evaluates digit GANs with (FID/KID/P&R features, IS-style
score, mode counting on Stacked MNIST).

A small convnet (``jgan.eval.classifier.MnistClassifier``) trained on the embedded MNIST
subset (4,500 training digits, random shifts of up to 2 pixels, AdamW with cosine decay);
its accuracy on the 500 held-out digits is written to ``eval.json``.

    python launch.py --config experiments/classifier_mnist.py     # -> runs/classifier_mnist
    python launch.py --config experiments/classifier_mnist.py:quick
"""
import ml_collections


def get_config(variant: str | None = None):
    c = ml_collections.ConfigDict()
    c.kind = "classifier"          # launch.py: train a classifier, not a GAN
    c.name, c.variant = "classifier_mnist", variant or ""
    c.seed = 0
    c.data = ml_collections.ConfigDict()
    c.data.holdout = 500           # last N digits of the subset: the held-out test set
    c.train = ml_collections.ConfigDict()
    c.train.steps = 1500
    c.train.batch_size = 128
    c.train.lr = 2e-3
    c.train.weight_decay = 1e-4
    c.train.max_shift = 2          # augmentation: random translation in pixels
    if variant == "quick":
        c.train.steps = 30
    elif variant:
        raise ValueError(f"unknown variant {variant!r} of experiments/classifier_mnist.py: use quick")
    return c
