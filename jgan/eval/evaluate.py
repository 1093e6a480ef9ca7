"""Evaluating samples: the metrics a config asks for, of samples a family drew.

Evaluation takes samples (the family draws them, e.g. the gan family from its EMA generator
on fixed evaluation latents), never a generator. What is measured depends on the data
(``config.data.source``) and the extractor (``config.eval.extractor``):

* ``ring8`` / ``grid25``: mode metrics (modes covered, % high-quality samples, reverse KL
  to uniform over modes) on ``eval.num_samples`` (2,500) samples.
* ``mnist_subset``: features of jgan's MNIST classifier (``eval.classifier_workdir``,
  trained by ``experiments/classifier_mnist.py``): FID, KID, precision/recall,
  density/coverage against the training digits, and the classifier's IS-style score.
* ``tfds`` RGB data: pool3 features and logits of the FID Inception-v3
  (``eval.inception_weights``): FID, KID, precision/recall, density/coverage, IS.
* ``stacked_mnist``: the mode metrics of Stacked MNIST (Metz et al. 2017; PacGAN): jgan's
  MNIST classifier labels each channel of ``eval.num_samples`` (26,000 in
  ``experiments/stacked_mnist.py``) samples; modes = distinct digit triples (of 1,000), and
  the KL of the triple histogram to uniform. No feature metrics: there is no Stacked-MNIST
  feature extractor (the classifier's features are of single digits).

Real features are computed once and cached in ``<workdir>/eval_cache/`` keyed by
dataset, split, extractor and sample count.

The feature extractor is chosen by the config, never by the image shape:
``eval.extractor='classifier'`` is the jgan-trained classifier in
``eval.classifier_workdir`` (MNIST digits, glyphs), ``'inception'`` the FID Inception-v3,
``'auto'`` the classifier for ``mnist_subset`` / ``stacked_mnist`` data and Inception for
``tfds`` data.
"""
from __future__ import annotations

import os

import jax
import numpy as np

from jgan.config import FEATURE_METRICS
from jgan.data import pipeline, sources
from jgan.eval import metrics as M
from jgan.eval import modes


class EvalError(ValueError):
    """An evaluation cannot run with this config (missing extractor weights, bad metric)."""


def load_mnist_classifier(config):
    """``(model, variables)`` of the classifier in ``eval.classifier_workdir``; its absence is
    an ``EvalError`` that says how to train it."""
    from jgan.eval import classifier
    try:
        return classifier.load_classifier(config.eval.classifier_workdir)
    except classifier.ClassifierError as e:
        raise EvalError(str(e)) from e


def extractor_kind(config) -> str:
    """``'classifier'`` or ``'inception'``: ``eval.extractor``, with 'auto' resolved by
    ``data.source`` (the classifier for the MNIST sources, Inception for TFDS data)."""
    kind = config.eval.extractor
    if kind != "auto":
        return kind
    return "inception" if config.data.source == "tfds" else "classifier"


class Extractor:
    """``(images [n, H, W, C] in [-1, 1]) -> (features [n, d], logits [n, k])`` plus a cache key."""

    def __init__(self, config):
        if extractor_kind(config) == "classifier":
            from jgan.eval import classifier
            self.model, self.variables = load_mnist_classifier(config)
            self.name = "mnist_classifier" if config.data.source in ("mnist_subset", "stacked_mnist") \
                else "classifier"
            self._fn = lambda x: classifier.classifier_outputs(self.model, self.variables, x)[::-1]
        else:
            from jgan.eval import inception
            try:
                variables = inception.load_fid_inception_weights(config.eval.inception_weights or None)
            except (FileNotFoundError, inception.FIDWeightsError) as e:
                raise EvalError(f"eval.inception_weights: {str(e).splitlines()[0]}") from e
            self.name = "fid_inception_pool3"
            self._fn = lambda x: inception.inception_outputs(variables, x, value_range=(-1.0, 1.0))

    def __call__(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self._fn(images)


def real_features(config, extractor: Extractor, workdir: str) -> tuple[np.ndarray, np.ndarray]:
    """Features and logits of ``eval.num_real`` training examples, cached in the workdir."""
    d = config.data
    n = config.eval.num_real
    dataset = d.name if d.source == "tfds" else d.source
    key = f"{dataset.replace('/', '_')}_{d.split}_{d.image_size}x{d.channels}_{extractor.name}_{n}"
    path = os.path.join(workdir, "eval_cache", key + ".npz")
    if os.path.exists(path):
        with np.load(path) as f:
            return f["features"], f["logits"]
    source = sources.make_source(d, config.seed)
    idx = np.random.default_rng(config.seed).permutation(len(source))[:n]
    feats, logits = [], []
    for i in range(0, len(idx), 500):
        batch = pipeline.load_batch(source, idx[i:i + 500], image_size=d.image_size, channels=d.channels)
        f, lg = extractor(batch["x"])
        feats.append(f)
        logits.append(lg)
    feats, logits = np.concatenate(feats), np.concatenate(logits)
    if jax.process_index() == 0:  # every process computes them; one writes the cache
        os.makedirs(os.path.dirname(path), exist_ok=True)
        np.savez(path, features=feats, logits=logits)
    return feats, logits


def stacked_mnist_metrics(config, samples) -> dict[str, float]:
    """Stacked-MNIST mode metrics of ``samples [n, 28, 28, 3]`` in [-1, 1].

    Each channel is labelled with jgan's MNIST classifier (``eval.classifier_workdir``); the
    triples (R, G, B) give ``{'modes/modes': distinct triples, 'modes/kl': KL(p || uniform
    over 1,000)}`` (``jgan.eval.modes.stacked_mnist_mode_metrics``).
    """
    from jgan.eval import classifier
    x = np.asarray(samples)
    if x.ndim != 4 or x.shape[1:] != (28, 28, 3):
        raise EvalError(f"Stacked-MNIST metrics need samples [n, 28, 28, 3], got shape {x.shape}; "
                        f"set data.image_size=28 and data.channels=3.")
    model, variables = load_mnist_classifier(config)
    digits = np.moveaxis(x, -1, 0).reshape(3 * len(x), 28, 28, 1)  # all R, then all G, then all B
    logits, _ = classifier.classifier_outputs(model, variables, digits)
    labels = np.argmax(logits, axis=1).reshape(3, len(x)).T  # [n, 3]
    return {f"modes/{k}": float(v) for k, v in modes.stacked_mnist_mode_metrics(labels).items()}


def conditional_metrics(predicted: np.ndarray, labels: np.ndarray, kind: str) -> dict[str, float]:
    """How well a conditional MNIST generator follows its labels, from the MNIST
    classifier's predictions ``[n]`` of samples drawn with ``labels [n]``:

    * ``kind='label'``, a label-conditioned G (cGAN, projection, AC-GAN): ``label_accuracy``, the fraction of
      samples classified as the label they were drawn with;
    * ``kind='code'``, InfoGAN: ``code_purity``, the fraction of samples whose predicted digit is the most
      frequent digit among samples with the same categorical code (unsupervised: the code's
      values are not digits, so each value is matched to its majority digit), and
      ``code_digits``, the number of distinct digits those majorities cover (10 = every
      digit has its own code value).
    """
    if kind == "label":
        return {"label_accuracy": float(np.mean(predicted == labels))}
    majority = {c: np.bincount(predicted[labels == c], minlength=10).argmax()
                for c in np.unique(labels)}
    hits = sum(int(np.sum(predicted[labels == c] == m)) for c, m in majority.items())
    return {"code_purity": hits / len(labels), "code_digits": float(len(set(majority.values())))}


def _feature_work(config, conditional: bool) -> tuple[list[str], bool]:
    """``(feature metrics wanted, whether conditional digit metrics apply)`` for image data."""
    wanted = [m for m in config.eval.metrics if m in FEATURE_METRICS]
    digit_labels = conditional and config.data.source == "mnist_subset"
    return wanted, digit_labels


def check_evaluator(config, conditional: bool = False) -> None:
    """Raise ``EvalError`` now if evaluating this config would fail later for want of its
    feature extractor (the classifier or the Inception weights), so a run with
    ``eval.every`` stops before training rather than at its first evaluation."""
    if config.data.source in sources.TOY_MIXTURES:
        return
    if config.data.source == "stacked_mnist":
        load_mnist_classifier(config)
        return
    wanted, digit_labels = _feature_work(config, conditional)
    if wanted or digit_labels:
        Extractor(config)


def feature_metrics(wanted, real_f, fake_f, fake_logits, seed: int) -> dict[str, float]:
    """The feature metrics of ``wanted`` for real and generated features (and logits)."""
    out: dict[str, float] = {}
    if "fid" in wanted:
        out["fid"] = M.fid(real_f, fake_f)
    if "kid" in wanted:
        mean, std = M.kid(real_f, fake_f, subset_size=min(1000, len(fake_f), len(real_f)), seed=seed)
        out["kid"], out["kid_std"] = mean, std
    if "precision_recall" in wanted:
        out["precision"], out["recall"] = M.precision_recall(real_f, fake_f, k=3)
    if "density_coverage" in wanted:
        out["density"], out["coverage"] = M.density_coverage(real_f, fake_f, k=5)
    if "is" in wanted:
        out["is"], out["is_std"] = M.inception_score(fake_logits, from_logits=True, splits=10)
    return out


def evaluate_samples(config, samples: np.ndarray, workdir: str, labels: np.ndarray | None = None,
                     label_kind: str | None = None) -> dict[str, float]:
    """The metrics of ``config.eval.metrics`` for ``samples [n, ...]`` (images in [-1, 1] or
    2D points) -> ``{name: value}``. ``labels [n]``: the labels (``label_kind='label'``) or
    InfoGAN categorical codes (``'code'``) the samples were drawn with."""
    out: dict[str, float] = {}
    if config.data.source == "stacked_mnist":
        out.update(stacked_mnist_metrics(config, samples))
        return out
    if config.data.source in sources.TOY_MIXTURES:
        modes_fn, std = sources.TOY_MIXTURES[config.data.source]
        out.update({f"modes/{k}": float(v) for k, v in
                    modes.mixture_mode_metrics(samples, modes_fn(), std).items()})
        return out
    wanted, digit_labels = _feature_work(config, label_kind is not None)
    if not wanted and not digit_labels:
        return out
    extractor = Extractor(config)
    fake_f, fake_logits = extractor(samples)
    if digit_labels:  # conditional MNIST models: do the samples show their class / code?
        out.update(conditional_metrics(np.argmax(fake_logits, -1), np.asarray(labels), label_kind))
    if not wanted:
        return out
    real_f, _ = real_features(config, extractor, workdir)
    out.update(feature_metrics(wanted, real_f, fake_f, fake_logits, config.seed))
    return out


def print_table(title: str, result: dict[str, float]) -> None:
    print(title)
    width = max([len(k) for k in result] + [6])
    for k, v in result.items():
        print(f"  {k:<{width}}  {v:.6g}")
