"""The glyph classifier (jgan.eval.classifier with data.source='glyphs')."""
import json
import os

import numpy as np

from conftest import load_experiment
from jgan.data import glyphs
from jgan.eval import classifier


def test_quick_glyph_classifier_trains_and_reloads(tmp_path):
    config = load_experiment("experiments/classifier_glyphs.py", "quick")
    result = classifier.train_classifier(config, str(tmp_path))
    n_chars = len(glyphs.DEFAULT_CHARS)
    n_classes = 2 * n_chars  # the target font's characters and the source font's (other_fonts)
    assert result["num_test"] == n_classes * config.data.test_per_char
    assert 0.0 <= result["test_chars_accuracy"] <= 1.0
    assert json.load(open(tmp_path / "eval.json"))["test_accuracy"] == result["test_accuracy"]
    info = classifier.classifier_info(str(tmp_path))
    assert info["num_classes"] == n_classes and info["chars"] == glyphs.DEFAULT_CHARS
    assert info["font"] == "dejavu_serif" and info["other_fonts"] == ["dejavu_sans"]
    assert info["image_size"] == 32 and info["model"] == "glyph"

    model, variables = classifier.load_classifier(str(tmp_path))
    assert isinstance(model, classifier.GlyphClassifier)
    test = glyphs.glyph_images("dejavu_serif", "test", per_char=2)
    x = test.x.astype(np.float32) / 127.5 - 1.0
    logits, feats = classifier.classifier_outputs(model, variables, x)
    assert logits.shape == (len(x), n_classes) and feats.shape == (len(x), classifier.FEATURE_DIM)
    assert np.isfinite(logits).all()


def test_workdir_without_info_is_the_mnist_classifier(tmp_path):
    assert classifier.classifier_info(str(tmp_path)) == classifier.MNIST_INFO
    assert isinstance(classifier._make_model(classifier.MNIST_INFO), classifier.MnistClassifier)
    assert not os.path.exists(tmp_path / classifier.INFO_FILE)
