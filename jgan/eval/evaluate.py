"""Evaluating samples: the metrics a config asks for, of samples a family drew.

Evaluation takes samples (the family draws them, e.g. the gan family from its EMA generator
on fixed evaluation latents), never a generator. What is measured depends on the data
(``config.data.source``) and the extractor (``config.eval.extractor``):

* ``ring8`` / ``grid25``: mode metrics (modes covered, % high-quality samples, reverse KL
  to uniform over modes) on ``eval.num_samples`` (2,500) samples.
* ``mnist_subset``: features of jgan's MNIST classifier (``eval.classifier_workdir``; by
  default the one of the project cache, trained there automatically on first use): FID,
  KID, precision/recall, density/coverage against the training digits, the
  classifier's IS-style score, and how it reads the samples (``classes``: the share it
  classifies with confidence >= 0.9, the predicted-class histogram's KL to uniform and its
  rarest and commonest class frequencies).
* ``tfds`` RGB data: pool3 features and logits of the FID Inception-v3
  (``eval.inception_weights``): FID, KID, precision/recall, density/coverage, IS.
* ``stacked_mnist``: the mode metrics of Stacked MNIST (Metz et al. 2017; PacGAN): jgan's
  MNIST classifier labels each channel of ``eval.num_samples`` (26,000 in
  ``experiments/stacked_mnist.py``) samples; modes = distinct digit triples (of 1,000), and
  the KL of the triple histogram to uniform. No feature metrics: there is no Stacked-MNIST
  feature extractor (the classifier's features are of single digits).

Protocols (``eval.protocol``):

* ``'quick'`` (default): ``eval.num_samples`` generated samples against ``eval.num_real``
  real training examples (a fixed random subset), generated images fed to the extractor as
  floats.
* ``'paper'``: 50,000 generated samples against the whole training split, generated images
  quantised to 8 bits first (:func:`quantize_8bit`: the values a PNG written by
  ``jgan.viz`` holds, read back), as when published numbers are computed from saved files.
  Mode metrics keep their papers' counts (``eval.num_samples``); Stacked-MNIST samples are
  quantised too (2D points are not images).

Every result carries its ``provenance`` (:func:`provenance`: protocol, extractor and the
SHA-256 of its weights, reference data/split/count, generated count, resizer, quantisation).
A Frechet distance from fewer samples than feature dimensions prints a one-line warning
(the covariance estimate is then singular and the number is biased upwards).

Real features are computed once and cached in ``<workdir>/eval_cache/`` under a name that
carries a digest of everything that determines them: the extractor and its weights, the data
source, split and preprocessing, the count, the selection seed and the resizer; retraining the
classifier or pointing ``eval.inception_weights`` at another file computes them again.

The feature extractor is chosen by the config, never by the image shape:
``eval.extractor='classifier'`` is the jgan-trained classifier in
``eval.classifier_workdir`` (MNIST digits, glyphs), ``'inception'`` the FID Inception-v3,
``'auto'`` the classifier for ``mnist_subset`` / ``stacked_mnist`` data and Inception for
``tfds`` data.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys

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
    an ``EvalError`` that says how to train it. ``''`` (the default): the MNIST classifier of
    the project cache, trained there on first use
    (:func:`jgan.eval.classifier.cached_mnist_classifier_dir`)."""
    from jgan.eval import classifier
    try:
        workdir = config.eval.classifier_workdir or classifier.cached_mnist_classifier_dir()
        return classifier.load_classifier(workdir)
    except classifier.ClassifierError as e:
        raise EvalError(str(e)) from e


def extractor_kind(config) -> str:
    """``'classifier'`` or ``'inception'``: ``eval.extractor``, with 'auto' resolved by
    ``data.source`` (the classifier for the MNIST sources, Inception for TFDS data)."""
    kind = config.eval.extractor
    if kind != "auto":
        return kind
    return "inception" if config.data.source == "tfds" else "classifier"


def weights_digest(variables) -> str:
    """SHA-256 (hex) of a variable tree: every leaf's path, dtype, shape and bytes, in path
    order. Equal digests mean equal weights, whatever file they were read from."""
    h = hashlib.sha256()
    leaves, _ = jax.tree_util.tree_flatten_with_path(variables)
    for path, leaf in sorted(leaves, key=lambda pl: jax.tree_util.keystr(pl[0])):
        a = np.ascontiguousarray(np.asarray(leaf))
        h.update(f"{jax.tree_util.keystr(path)}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()


class Extractor:
    """``(images [n, H, W, C] in [-1, 1]) -> (features [n, d], logits [n, k])``.

    ``name``, ``digest`` (:func:`weights_digest` of its weights) and ``resizer`` (how images
    reach the network) identify what the features mean; the reference-feature cache is keyed
    by them. Inception's logits are the Inception Score's ``pool3 @ W`` (no fc bias:
    :func:`jgan.eval.inception.is_logits`); the classifier's are its own outputs (bias
    included: they are the classifier's prediction, which is what its IS-style score and the
    digit labels use).
    """

    def __init__(self, config):
        if extractor_kind(config) == "classifier":
            from jgan.eval import classifier
            self.model, self.variables = load_mnist_classifier(config)
            self.name = "mnist_classifier" if config.data.source in ("mnist_subset", "stacked_mnist") \
                else "classifier"
            self.resizer = "none (the classifier reads data.image_size images as they are)"
            self._fn = lambda x: classifier.classifier_outputs(self.model, self.variables, x)[::-1]
        else:
            from jgan.eval import inception
            try:
                variables = inception.load_fid_inception_weights(config.eval.inception_weights or None)
            except (FileNotFoundError, inception.FIDWeightsError) as e:
                raise EvalError(f"eval.inception_weights: {str(e).splitlines()[0]}") from e
            self.variables = variables
            self.name = "fid_inception_pool3"
            self.resizer = ("bilinear to 299x299, half-pixel centres, no antialiasing (pytorch-fid's "
                            "F.interpolate(align_corners=False)); grey repeated to RGB")
            self._fn = lambda x: self._inception(inception, x)
        self.digest = weights_digest(self.variables)

    def _inception(self, inception, x):
        pool3, _ = inception.inception_outputs(self.variables, x, value_range=(-1.0, 1.0))
        return pool3, inception.is_logits(self.variables, pool3)

    def __call__(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self._fn(images)


PROTOCOLS = ("quick", "paper")
PAPER_NUM_SAMPLES = 50_000


def num_generated(config) -> int:
    """Generated samples per evaluation: ``eval.num_samples`` ('quick') or 50,000 ('paper').
    Mode metrics (2D mixtures, Stacked MNIST) keep ``eval.num_samples`` under either protocol:
    their papers fix the count (2,500; 26,000) and the experiments set it."""
    paper = config.eval.get("protocol", "quick") == "paper"
    mode_data = config.data.source == "stacked_mnist" or config.data.source in sources.TOY_MIXTURES
    return PAPER_NUM_SAMPLES if paper and not mode_data else config.eval.num_samples


def num_reference(config, available: int) -> int:
    """Real training examples of the reference: ``eval.num_real`` ('quick'; all when fewer
    exist) or the whole training split ('paper')."""
    if config.eval.get("protocol", "quick") == "paper":
        return available
    return min(config.eval.num_real, available)


def quantize_8bit(images) -> np.ndarray:
    """Images in [-1, 1] -> the float32 values in [-1, 1] of their 8-bit version: what a PNG
    written by ``jgan.viz`` (``round((x + 1) * 127.5)``, clipped to [0, 255]) holds when it is
    read back and mapped by ``u / 127.5 - 1`` as real images are."""
    x = np.asarray(images, np.float32)
    u8 = np.clip(np.round((x + 1.0) * 127.5), 0, 255).astype(np.uint8)
    return u8.astype(np.float32) / 127.5 - 1.0


def _reference_name(d) -> str:
    return d.name if d.source == "tfds" else d.source


def provenance(config, extractor: Extractor | None, num_real: int | None, num_fake: int,
               reference_split: str | None = None) -> dict:
    """What a result was computed from (written beside every number): protocol, extractor and
    its weights' SHA-256, the reference data, split (``data.split`` unless given) and count,
    the generated count, the resizer and whether generated images were quantised to 8 bits."""
    d = config.data
    out = {"protocol": config.eval.get("protocol", "quick"), "generated_count": int(num_fake)}
    if extractor is not None:
        out.update(extractor=extractor.name, extractor_sha256=extractor.digest,
                   resizer=extractor.resizer,
                   data_resize=f"PIL bilinear to {d.image_size}x{d.image_size} where the native size differs"
                   if d.image_size else "none (native size)")
    if num_real is not None:
        out.update(reference=_reference_name(d), reference_split=reference_split or d.split,
                   reference_count=int(num_real))
    out["quantized_8bit"] = out["protocol"] == "paper" and d.source not in sources.TOY_MIXTURES
    return out


def real_features(config, extractor: Extractor, workdir: str) -> tuple[np.ndarray, np.ndarray]:
    """Features and logits of the reference (:func:`num_reference` training examples, a
    fixed random subset), cached in ``<workdir>/eval_cache/`` under a digest of everything
    that determines them."""
    d = config.data
    source = sources.make_source(d, config.seed)
    n = num_reference(config, len(source))
    dataset = _reference_name(d)
    what = {"extractor": extractor.name, "weights_sha256": extractor.digest, "resizer": extractor.resizer,
            "source": d.source, "dataset": dataset, "data_dir": d.get("data_dir", ""), "split": d.split,
            "holdout": d.get("holdout"), "image_size": d.image_size, "channels": d.channels, "count": n,
            "selection_seed": config.seed}
    digest = hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:16]
    key = f"{dataset.replace('/', '_')}_{d.split}_{extractor.name}_{n}_{digest}"
    path = os.path.join(workdir, "eval_cache", key + ".npz")
    if os.path.exists(path):
        with np.load(path) as f:
            return f["features"], f["logits"]
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
        extractor = Extractor(config)
        if extractor_kind(config) == "classifier":
            _check_classifier_reads(config, extractor)


def _check_classifier_reads(config, extractor: Extractor) -> None:
    """``EvalError`` unless the classifier takes this config's images (traced, not run)."""
    d = config.data
    shape = (2, d.image_size, d.image_size, d.channels)
    if not (d.image_size and d.channels):
        return  # native sizes: known only from the data
    try:
        jax.eval_shape(lambda x: extractor.model.apply(extractor.variables, x, train=False),
                       jax.ShapeDtypeStruct(shape, np.float32))
    except Exception:  # flax / lax shape errors: the classifier was trained on other images
        raise EvalError(f"eval.extractor='classifier' cannot read data.image_size={d.image_size} x "
                        f"data.channels={d.channels} images (its classifier was trained on other sizes); "
                        f"set eval.metrics=() and eval.every=0, or use data of the classifier's size.") from None


def warn_if_undersampled(num_real: int, num_fake: int, dim: int, what: str = "FID") -> bool:
    """Print one warning line (stderr) when a Frechet distance rests on fewer samples than
    feature dimensions (a singular covariance estimate; the distance is biased upwards)."""
    if min(num_real, num_fake) >= dim:
        return False
    print(f"warning: {what} from {num_fake} generated and {num_real} reference samples, fewer than "
          f"the {dim} feature dimensions: the covariance is singular and the number is biased "
          f"upwards; compare it only with numbers computed from the same counts.",
          file=sys.stderr, flush=True)
    return True


def feature_metrics(wanted, real_f, fake_f, fake_logits, seed: int) -> dict[str, float]:
    """The feature metrics of ``wanted`` for real and generated features (and logits).
    KID is the raw MMD^2 (not scaled by 10^3)."""
    out: dict[str, float] = {}
    if "fid" in wanted:
        warn_if_undersampled(len(real_f), len(fake_f), np.shape(real_f)[1])
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
    if "classes" in wanted:
        out.update(M.class_statistics(fake_logits))
    return out


def evaluate_samples(config, samples: np.ndarray, workdir: str, labels: np.ndarray | None = None,
                     label_kind: str | None = None) -> dict[str, float]:
    """The metrics of ``config.eval.metrics`` for ``samples [n, ...]`` (images in [-1, 1] or
    2D points) -> ``{name: value, 'provenance': {...}}`` (:func:`provenance`). ``labels
    [n]``: the labels (``label_kind='label'``) or InfoGAN categorical codes (``'code'``) the
    samples were drawn with. Protocol 'paper' quantises image samples to 8 bits first."""
    out: dict = {}
    n = len(samples)
    if config.data.source in sources.TOY_MIXTURES:
        modes_fn, std = sources.TOY_MIXTURES[config.data.source]
        out.update({f"modes/{k}": float(v) for k, v in
                    modes.mixture_mode_metrics(samples, modes_fn(), std).items()})
        out["provenance"] = provenance(config, None, None, n)
        return out
    if config.eval.get("protocol", "quick") == "paper":
        samples = quantize_8bit(samples)
    if config.data.source == "stacked_mnist":
        out.update(stacked_mnist_metrics(config, samples))
        _, variables = load_mnist_classifier(config)
        out["provenance"] = {**provenance(config, None, None, n),
                             "extractor": "mnist_classifier (per channel)",
                             "extractor_sha256": weights_digest(variables),
                             "resizer": "none (each 28x28 channel read as a digit)"}
        return out
    wanted, digit_labels = _feature_work(config, label_kind is not None)
    if not wanted and not digit_labels:
        return out
    extractor = Extractor(config)
    fake_f, fake_logits = extractor(samples)
    if digit_labels:  # conditional MNIST models: do the samples show their class / code?
        out.update(conditional_metrics(np.argmax(fake_logits, -1), np.asarray(labels), label_kind))
    real_f = None
    if wanted:
        real_f, _ = real_features(config, extractor, workdir)
        out.update(feature_metrics(wanted, real_f, fake_f, fake_logits, config.seed))
    out["provenance"] = provenance(config, extractor, None if real_f is None else len(real_f), n)
    return out




def heldout_floor(config, workdir: str, num_fake: int, label_kind: str | None = None) -> dict:
    """The same metrics of *real held-out data* (split ``eval.heldout_split``) as
    :func:`evaluate_samples` computes for generated samples: the floor a perfect generator
    would reach with that many samples (e.g. FID of held-out digits against the reference
    features). ``{name: value, 'heldout_count', 'heldout_split'}``; ``{}`` when there is no
    held-out split to compare with. Toy mixtures: fresh draws of the mixture (another seed)."""
    d = config.data
    if d.source in sources.TOY_MIXTURES:
        fresh = sources.toy_mixture(d.source, num_fake, config.seed + 1)
        modes_fn, std = sources.TOY_MIXTURES[d.source]
        metrics = modes.mixture_mode_metrics(fresh.x, modes_fn(), std)
        out = {f"modes/{k}": float(v) for k, v in metrics.items()}
        return {**out, "heldout_count": num_fake, "heldout_split": "fresh draws of the mixture"}
    split = config.eval.get("heldout_split", "test")
    try:
        held = sources.make_source(_with_split(d, split), config.seed + 1)
    except (sources.DataError, ValueError, KeyError):
        return {}
    n = min(num_fake, len(held))
    batch = pipeline.load_batch(held, np.arange(n), image_size=d.image_size, channels=d.channels)
    if d.source == "stacked_mnist":
        out = stacked_mnist_metrics(config, batch["x"])
        return {**out, "heldout_count": n, "heldout_split": split}
    wanted, digit_labels = _feature_work(config, label_kind == "label")
    if not wanted and not digit_labels:
        return {}
    extractor = Extractor(config)
    feats, logits = extractor(batch["x"])
    out: dict = {}
    if digit_labels:
        out.update(conditional_metrics(np.argmax(logits, -1), batch["label"], "label"))
    if wanted:
        real_f, _ = real_features(config, extractor, workdir)
        out.update(feature_metrics(wanted, real_f, feats, logits, config.seed))
    return {**out, "heldout_count": n, "heldout_split": split}


def _with_split(d, split: str):
    d = d.copy_and_resolve_references() if hasattr(d, "copy_and_resolve_references") else d
    with d.unlocked():
        d.split = split
    return d


def describe_provenance(p: dict) -> str:
    """One line: protocol, counts, extractor and weights digest, resizer."""
    parts = [f"protocol {p.get('protocol', 'quick')}: {p.get('generated_count')} generated"]
    if "reference_count" in p:
        parts[0] += f" vs {p['reference_count']} reference ({p['reference']} split '{p['reference_split']}')"
    if "extractor" in p:
        parts.append(f"extractor {p['extractor']} (weights sha256 {p.get('extractor_sha256', '?')[:16]})")
        if "resizer" in p:
            parts.append(f"resize: {p['resizer']}")
    parts.append("generated images quantised to 8 bits" if p.get("quantized_8bit") else "float samples")
    return "; ".join(parts)


def eval_report(title: str, step: int, result: dict, floor: dict, summary: dict) -> dict:
    """Print ``--mode eval``'s table and return its ``eval.json`` record.

    Columns: the checkpoint's value; the same metric of held-out real data against the same
    reference (:func:`heldout_floor`); which way is better; and, from the run's training
    records (:func:`jgan.outputs.eval_summary`), the final and the best value during training
    with their steps. KID is printed and stored raw (the unbiased MMD^2, *not* x10^3).
    """
    prov = result.get("provenance", {})
    metrics = {k: v for k, v in result.items() if k != "provenance"}
    print(f"{title} step {step}")
    if prov:
        print(f"  {describe_provenance(prov)}")
    if any(k.startswith("kid") for k in metrics):
        print("  KID: raw unbiased MMD^2 (not x10^3)")
    if floor:
        print(f"  held-out real: {floor['heldout_count']} examples of {floor['heldout_split']!r} against "
              f"the same reference (the value a perfect generator would reach)")
        if prov.get("generated_count") not in (None, floor["heldout_count"]):
            print(f"  note: the held-out split has fewer examples than the {prov['generated_count']} "
                  f"samples; count-dependent metrics (FID's bias, KID's variance, coverage, IS) are "
                  f"not exactly comparable")
    trained = {e["provenance"].get("protocol") for e in summary.values() if "provenance" in e}
    if prov and trained and trained != {prov.get("protocol")}:
        print(f"  note: the training columns come from protocol {', '.join(sorted(map(str, trained)))}, "
              f"this evaluation from {prov.get('protocol')!r}: compare like with like")
    from jgan.outputs import better
    width = max([len(k) for k in metrics] + [6])
    print(f"  {'metric':<{width}}  {'value':>11}  {'held-out real':>13}  {'better':>6}  "
          f"{'train final (step)':>20}  {'train best (step)':>20}")
    for k, v in metrics.items():
        f = floor.get(k)
        s = summary.get(k, {})
        fin = f"{s['final']:.6g} ({s['final_step']})" if "final" in s else "-"
        best = f"{s['best']:.6g} ({s['best_step']})" if "best" in s else "-"
        print(f"  {k:<{width}}  {v:>11.6g}  {'-' if f is None else format(f, '.6g'):>13}  "
              f"{better(k) or '-':>6}  {fin:>20}  {best:>20}")
    record = {"step": step, **metrics, "provenance": prov, "units": {"kid": "raw MMD^2 (not x10^3)"},
              "heldout_real": floor,
              "training": {k: v for k, v in summary.items() if k in metrics}}
    return record


class UnconditionalImageEvaluation:
    """Mixin of the families whose samples are unconditional images evaluated by
    :func:`evaluate_samples` (ProGAN, StyleGAN2, BiGAN): ``--mode eval``'s held-out floor and
    the up-front evaluator check of :class:`jgan.family.Family`."""

    def evaluate_floor(self, workdir: str) -> dict:
        return heldout_floor(self.config, workdir, num_generated(self.config))

    def check_evaluator(self) -> None:
        check_evaluator(self.config)
