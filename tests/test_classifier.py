"""The MNIST classifier used for digit-GAN evaluation."""
import os
import subprocess
import sys

import numpy as np

from jgan.data import sources
from jgan.eval import classifier

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_quick_classifier_learns_and_reloads(tmp_path):
    r = subprocess.run([sys.executable, os.path.join(ROOT, "launch.py"), "--config",
                        "experiments/classifier_mnist.py:quick", "--workdir", str(tmp_path)],
                       cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "held-out accuracy" in r.stdout
    model, variables = classifier.load_classifier(str(tmp_path))
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
