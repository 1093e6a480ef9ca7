"""The MNIST classifier used for digit-GAN evaluation."""
import os

import numpy as np

from jgan.data import sources
from jgan.eval import classifier


def test_quick_classifier_learns_and_reloads(mnist_classifier_dir):
    # the session fixture trained it through launch.py
    assert "held-out accuracy" in open(os.path.join(mnist_classifier_dir, "launch.log")).read()
    model, variables = classifier.load_classifier(mnist_classifier_dir)
    test = sources.mnist_subset_split("test", 500)
    x = test.x.astype(np.float32) / 127.5 - 1.0
    logits, feats = classifier.classifier_outputs(model, variables, x)
    assert logits.shape == (500, 10) and feats.shape == (500, classifier.FEATURE_DIM)
    # 30 steps of training already beat chance (10%) by far on held-out digits.
    assert np.mean(logits.argmax(1) == test.labels) > 0.6


def test_missing_classifier_is_a_clear_error(tmp_path):
    try:
        classifier.load_classifier(str(tmp_path))
    except classifier.ClassifierError as e:
        assert "classifier_mnist.py" in str(e)
    else:
        raise AssertionError("expected ClassifierError")
