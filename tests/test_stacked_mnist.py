"""Stacked MNIST: the source, the mode metrics on hand-made samples, the experiment end to end."""
import glob
import json
import os

import numpy as np
import pytest
from PIL import Image

from conftest import launch, load_experiment

from jgan.config import base_config
from jgan.experiment import make_family
from jgan.data import pipeline, sources
from jgan.eval import classifier
from jgan.eval.evaluate import EvalError, stacked_mnist_metrics


@pytest.fixture(scope="module")
def clf_dir(mnist_classifier_dir):
    """The session's quick MNIST classifier (conftest)."""
    return mnist_classifier_dir


# ----------------------------------------------------------------------------- the source


def test_source_stacks_three_subset_digits_with_their_labels():
    src = sources.stacked_mnist("train", 500, 3000, seed=3)
    digits = sources.mnist_subset_split("train", 500)
    assert len(src) == 3000
    idx = np.array([0, 7, 2999, 7, 1234])
    x, labels = src.get_batch(idx)
    assert x.shape == (5, 28, 28, 3) and x.dtype == np.uint8
    assert labels.shape == (5,) and labels.dtype == np.int32
    # Each channel is one digit of the split, found by its pixels (not through src.triples).
    label_of = {d.tobytes(): int(y) for d, y in zip(digits.x, digits.labels)}
    for xi, yi in zip(x, labels):
        a, b, c = (label_of[np.ascontiguousarray(xi[..., k:k + 1]).tobytes()] for k in range(3))
        assert yi == 100 * a + 10 * b + c
    np.testing.assert_array_equal(labels[1], labels[3])
    ex = src[1234]
    np.testing.assert_array_equal(ex["x"], x[4])
    assert ex["label"] == labels[4]
    # All labels in 0..999 and spread over the modes (3,000 draws: ~950 distinct expected).
    assert src.labels.min() >= 0 and src.labels.max() <= 999
    assert len(np.unique(src.labels)) > 900
    # Test split: only the 500 held-out digits.
    test = sources.stacked_mnist("test", 500, 50, seed=0)
    held_out = {d.tobytes() for d in sources.mnist_subset_split("test", 500).x}
    xt, _ = test.get_batch(np.arange(50))
    assert all(np.ascontiguousarray(xt[i, ..., k:k + 1]).tobytes() in held_out for i in range(50) for k in range(3))


def test_source_is_deterministic_in_its_seed():
    a = sources.stacked_mnist("train", 500, 1000, seed=5)
    b = sources.stacked_mnist("train", 500, 1000, seed=5)
    c = sources.stacked_mnist("train", 500, 1000, seed=6)
    np.testing.assert_array_equal(a.triples, b.triples)
    np.testing.assert_array_equal(a.get_batch(np.arange(64))[0], b.get_batch(np.arange(64))[0])
    assert not np.array_equal(a.triples, c.triples)
    assert not np.array_equal(a.labels, c.labels)


def test_make_source_and_pipeline():
    cfg = base_config()
    cfg.data.source, cfg.data.channels, cfg.data.num_examples = "stacked_mnist", 3, 500
    make_family(cfg)
    src = sources.make_source(cfg.data, seed=1)
    assert len(src) == 500
    np.testing.assert_array_equal(src.triples, sources.stacked_mnist("train", 500, 500, 1).triples)
    batch = pipeline.load_batch(src, np.array([3, 1, 4]), image_size=28, channels=3)
    assert batch["x"].shape == (3, 28, 28, 3) and batch["x"].dtype == np.float32
    assert batch["x"].min() >= -1.0 and batch["x"].max() <= 1.0
    np.testing.assert_array_equal(batch["x"], src.get_batch(np.array([3, 1, 4]))[0].astype(np.float32) / 127.5 - 1.0)
    cfg.data.source = "stacked_mnis"
    with pytest.raises(sources.DataError, match="stacked_mnist"):
        sources.make_source(cfg.data, seed=1)


# ----------------------------------------------------------------------------- the metrics


def test_metrics_on_real_stacked_digits(clf_dir):
    """Samples built from held-out digits the classifier labels correctly: the modes are
    exactly the distinct true triples and the KL that of their histogram."""
    digits = sources.mnist_subset_split("test", 500)
    x01 = digits.x.astype(np.float32) / 127.5 - 1.0
    model, variables = classifier.load_classifier(clf_dir)
    logits, _ = classifier.classifier_outputs(model, variables, x01)
    correct = np.flatnonzero(np.argmax(logits, 1) == digits.labels)
    assert len(correct) > 250  # the quick classifier is far better than chance
    by_label = {d: correct[digits.labels[correct] == d] for d in range(10)}
    assert all(len(v) >= 3 for v in by_label.values())
    # 30 distinct triples, (1,2,3) and (3,2,1) among them, with 1-4 copies each; every copy
    # uses different digit images of the same labels.
    rng = np.random.default_rng(0)
    ids = [123, 321] + [int(i) for i in rng.choice(np.setdiff1d(np.arange(1000), [123, 321]), 28, replace=False)]
    counts = rng.integers(1, 5, size=len(ids))
    samples, true = [], []
    for mode, count in zip(ids, counts):
        triple = (mode // 100, mode // 10 % 10, mode % 10)
        for _ in range(count):
            samples.append(np.concatenate([x01[rng.choice(by_label[d])] for d in triple], axis=-1))
            true.append(triple)
    samples = np.stack(samples)
    order = rng.permutation(len(samples))
    cfg = base_config()
    cfg.eval.classifier_workdir = clf_dir
    out = stacked_mnist_metrics(cfg, samples[order])
    assert set(out) == {"modes/modes", "modes/kl"}
    assert out["modes/modes"] == 30
    p = counts / counts.sum()
    np.testing.assert_allclose(out["modes/kl"], np.sum(p * np.log(1000 * p)), rtol=1e-10)
    # The channel order counts: (1, 2, 3) and (3, 2, 1) are two modes.
    pair = samples[[i for i, t in enumerate(true) if t in ((1, 2, 3), (3, 2, 1))]]
    assert stacked_mnist_metrics(cfg, pair)["modes/modes"] == 2
    # One digit triple repeated: total collapse, KL = log 1000.
    collapsed = stacked_mnist_metrics(cfg, np.repeat(samples[:1], 20, axis=0))
    assert collapsed["modes/modes"] == 1
    np.testing.assert_allclose(collapsed["modes/kl"], np.log(1000), rtol=1e-12)


def test_missing_classifier_and_wrong_shape_are_eval_errors(tmp_path, clf_dir):
    cfg = base_config()
    cfg.eval.classifier_workdir = str(tmp_path / "nothing")
    with pytest.raises(EvalError, match="classifier_mnist.py"):
        stacked_mnist_metrics(cfg, np.zeros((4, 28, 28, 3), np.float32))
    cfg.eval.classifier_workdir = clf_dir
    with pytest.raises(EvalError, match="28, 28, 3"):
        stacked_mnist_metrics(cfg, np.zeros((4, 28, 28, 1), np.float32))


# ----------------------------------------------------------------------------- the experiment


def test_experiment_variants():
    c = load_experiment("experiments/stacked_mnist.py")
    make_family(c)
    assert (c.data.source, c.data.channels, c.data.image_size) == ("stacked_mnist", 3, 28)
    assert c.model.pack == 1 and c.train.batch_size == 64 and c.eval.num_samples == 26_000
    assert c.eval.metrics == ("modes",) and c.variant == ""
    c = load_experiment("experiments/stacked_mnist.py", "pack=3")
    make_family(c)
    assert c.model.pack == 3 and c.train.batch_size == 192 and c.variant == "pack3"
    c = load_experiment("experiments/stacked_mnist.py", "quick,pack=2")
    assert c.model.pack == 2 and c.train.steps == 6
    for bad in ("pak=2", "grid25", "quick,pack=2,x=1"):
        with pytest.raises(ValueError, match="stacked_mnist.py"):
            load_experiment("experiments/stacked_mnist.py", bad)


def test_quick_variant_through_launch_trains_and_evaluates(tmp_path, clf_dir):
    run = tmp_path / "run"
    args = ["--config", "experiments/stacked_mnist.py:quick,pack=2", "--workdir", str(run),
            f"--config.eval.classifier_workdir={clf_dir}"]
    r = launch(*args)
    assert r.returncode == 0, r.stderr[-3000:]
    assert json.loads((run / "config.json").read_text())["model"]["pack"] == 2
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    evals = [rec for rec in records if "eval/modes/modes" in rec]
    assert [rec["step"] for rec in evals] == [3, 6]
    assert 1 <= evals[-1]["eval/modes/modes"] <= 300
    assert 0 <= evals[-1]["eval/modes/kl"] <= np.log(1000) + 1e-9
    assert {"d_loss", "g_loss", "d_real_logit", "d_fake_logit"} <= set(records[0])
    assert sorted(os.listdir(run / "samples")) == ["step_0000003.png", "step_0000006.png"]
    assert Image.open(run / "samples" / "step_0000006.png").mode == "RGB"
    assert (run / "plots" / "eval.png").exists() and glob.glob(str(run / "tensorboard" / "*"))
    assert "6" in os.listdir(run / "checkpoints")
    r = launch(*args, "--mode", "eval")
    assert r.returncode == 0, r.stderr[-3000:]
    result = json.loads((run / "eval.json").read_text())
    assert result["step"] == 6
    # Same checkpoint, same fixed evaluation noise: the numbers logged at step 6.
    for k in ("modes", "kl"):
        assert result[f"modes/{k}"] == pytest.approx(evals[-1][f"eval/modes/{k}"])
    assert "modes/kl" in r.stdout
