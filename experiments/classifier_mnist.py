"""The MNIST digit classifier jgan evaluates digit GANs with (FID/KID/P&R features, IS-style
score, mode counting on Stacked MNIST).

A small convnet (``jgan.eval.classifier.MnistClassifier``) trained on the embedded MNIST
subset (4,500 training digits, random shifts of up to 2 pixels, AdamW with cosine decay);
its accuracy on the 500 held-out digits is written to ``eval.json``. The recipe lives in
``jgan.eval.classifier.mnist_classifier_config``: digit evaluation trains this same recipe
automatically into the project cache (``~/.cache/jgan/classifier_mnist-<digest>``, or
``$JGAN_CACHE_DIR``) the first time it needs it; this file trains it explicitly.

    python launch.py --config experiments/classifier_mnist.py     # -> runs/classifier_mnist
    python launch.py --config experiments/classifier_mnist.py:long   # 1,500 steps of 128
    python launch.py --config experiments/classifier_mnist.py:quick
"""
from jgan.eval.classifier import mnist_classifier_config


def get_config(variant: str | None = None):
    return mnist_classifier_config(variant)
