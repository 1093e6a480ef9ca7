"""Classifiers trained by jgan itself: the feature extractors for MNIST-like data and glyphs.

Inception-v3 features are meaningless on 28x28 digits, so MNIST GANs are evaluated with a
small convnet trained on the embedded MNIST subset (``experiments/classifier_mnist.py``):
its penultimate layer (``[n, 128]``, after ReLU) gives FID / KID / precision-recall
features; its softmax gives the IS-style score and the digit labels for mode counting
(Stacked MNIST labels each channel with it).

A translation-invariant variant (``GlyphClassifier``) trained on glyph renders
(``config.data.source == 'glyphs'``, ``experiments/classifier_glyphs.py``) is the evaluation
network of typeface conversion (pix2pix on ``jgan.data.glyphs``; the analogue of the paper's
FCN-score): it reads which character a translated image shows in the target font. It is
trained on every character of ``data.chars`` (the held-out ones too: it must recognise
translations of unseen glyphs), rendered with its own seeds (``data.seed``,
``data.test_seed``), so none of its images are the pix2pix pairs; its accuracy is measured on
a separately seeded render set.

The MNIST classifier is trained automatically the first time digit evaluation needs it
(``eval.classifier_workdir=''``, the default): deterministically (seed 0) with the recipe of
:func:`mnist_classifier_config` into the project cache (:func:`cached_mnist_classifier_dir`,
``<jgan cache>/classifier_mnist-<recipe digest>``), about a minute on 2 CPU cores; every run
on the machine then finds it there. ``experiments/classifier_mnist.py`` trains the same
recipe explicitly into a workdir of one's choice.

The same MNIST network trained on another digit domain of ``jgan.data.digits``
(``data.source`` 'typeset_digits': digits rendered in matplotlib's fonts; 'sklearn_digits':
scikit-learn's 8x8 digits upsampled; ``experiments/classifier_typeset.py``) reads the labels
of CycleGAN's translations into that domain. Over several domains at once (``data.source``
'digit_domains', ``experiments/classifier_stargan.py``) it tells StarGAN's domains apart
(``data.target='domain'``) or reads the digit in any of them (``'digit'``).

Input convention: images ``[n, S, S, 1]`` float in [-1, 1] (the GAN output range), S = 28
for MNIST, ``data.image_size`` for glyphs.

The classifier's workdir holds ``checkpoints/`` (orbax, params + batch stats),
``config.json``, ``classifier.json`` (what the model is: its kind, number of classes, image
size; the characters for glyphs, label i being ``chars[i]``) and ``eval.json`` (held-out accuracy).
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import sys
import tempfile

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import ml_collections
import orbax.checkpoint as ocp

from jgan.cache import cache_dir
from jgan.data import sources
from jgan.outputs import progress_bar

FEATURE_DIM = 128
INFO_FILE = "classifier.json"
MNIST_INFO = {"source": "mnist_subset", "num_classes": 10, "image_size": 28, "channels": 1}
DIGIT_DOMAINS = ("typeset_digits", "sklearn_digits")  # jgan.data.digits' other domains


class ClassifierError(ValueError):
    """The classifier named by the config is missing or unusable."""


class MnistClassifier(nn.Module):
    """Conv(32)x2-pool-Conv(64)x2-pool-Dense(128)-Dense(num_classes), BatchNorm after each conv.

    ``__call__(x [n, S, S, 1], train) -> (logits [n, num_classes], features [n, 128])``
    (S = 28 for MNIST; any S divisible by 4).
    """

    num_classes: int = 10

    @nn.compact
    def __call__(self, x, train: bool = False):
        for width in (32, 64):
            for _ in range(2):
                x = nn.Conv(width, (3, 3), padding="SAME", use_bias=False)(x)
                x = nn.relu(nn.BatchNorm(use_running_average=not train, momentum=0.9)(x))
            x = nn.max_pool(x, (2, 2), (2, 2))
        x = x.reshape(x.shape[0], -1)
        features = nn.relu(nn.Dense(FEATURE_DIM)(x))
        h = nn.Dropout(0.3, deterministic=not train)(features)
        return nn.Dense(self.num_classes)(h), features


class GlyphClassifier(nn.Module):
    """A translation-invariant convnet for glyphs at random scales and positions.

    One 3x3 conv (BatchNorm, ReLU) per stage of ``widths``, each but the last followed by a
    2x2 max-pool, then a global max-pool, Dense(128) (the features) and Dense(num_classes).
    ``__call__(x [n, S, S, 1], train) -> (logits [n, num_classes], features [n, 128])``.
    (The MNIST net flattens its last feature map: fine for centred digits, but it must learn
    every glyph at every position, and learns shifted glyphs slowly.)
    """

    num_classes: int
    widths: tuple[int, ...] = (16, 32, 64, 128)

    @nn.compact
    def __call__(self, x, train: bool = False):
        for i, width in enumerate(self.widths):
            x = nn.Conv(width, (3, 3), padding="SAME", use_bias=False)(x)
            x = nn.relu(nn.BatchNorm(use_running_average=not train, momentum=0.9)(x))
            if i < len(self.widths) - 1:
                x = nn.max_pool(x, (2, 2), (2, 2))
        x = jnp.max(x, axis=(1, 2))
        features = nn.relu(nn.Dense(FEATURE_DIM)(x))
        h = nn.Dropout(0.3, deterministic=not train)(features)
        return nn.Dense(self.num_classes)(h), features


def _make_model(info: dict) -> nn.Module:
    if info.get("model", "mnist") == "glyph":
        return GlyphClassifier(num_classes=info["num_classes"], widths=tuple(info["widths"]))
    return MnistClassifier(num_classes=info["num_classes"])


def mnist_classifier_config(variant: str | None = None) -> ml_collections.ConfigDict:
    """The MNIST classifier's training recipe (``experiments/classifier_mnist.py``).

    Default: 300 AdamW steps of 64 digits (~4 epochs of the 4,500 training digits; random
    shifts of up to 2 pixels; lr 2e-3 with cosine decay), seed 0 -- 96.6% on the 500
    held-out digits, 62 CPU-seconds (93 s wall on 2 shared cores). 'long': the earlier
    recipe, 1,500 steps of 128. 'quick': 30 steps (smoke tests).
    """
    c = ml_collections.ConfigDict()
    c.kind = "classifier"          # launch.py: train a classifier, not a GAN
    c.name, c.variant = "classifier_mnist", variant or ""
    c.seed = 0
    c.data = ml_collections.ConfigDict()
    c.data.holdout = 500           # last N digits of the subset: the held-out test set
    c.train = ml_collections.ConfigDict()
    c.train.steps = 300
    c.train.batch_size = 64
    c.train.lr = 2e-3
    c.train.weight_decay = 1e-4
    c.train.max_shift = 2          # augmentation: random translation in pixels
    if variant == "long":
        c.train.steps, c.train.batch_size = 1500, 128
    elif variant == "quick":
        c.train.steps = 30
    elif variant:
        raise ValueError(f"unknown variant {variant!r} of experiments/classifier_mnist.py: use long or quick")
    return c


def recipe_digest(config) -> str:
    """12 hex digits of SHA-256 of a classifier recipe (its training fields, not its name)."""
    fields = {k: config[k].to_dict() if hasattr(config[k], "to_dict") else config[k]
              for k in ("seed", "data", "train")}
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:12]


def cached_mnist_classifier_dir(recipe=None) -> str:
    """The workdir of the MNIST classifier of ``recipe`` (default :func:`mnist_classifier_config`)
    in the project cache, trained there first if it is not yet (into a temporary directory,
    renamed into place when complete, so an interrupted or concurrent training never leaves a
    half-written classifier behind)."""
    recipe = recipe if recipe is not None else mnist_classifier_config()
    root = cache_dir()
    path = os.path.join(root, f"classifier_mnist-{recipe_digest(recipe)}")
    if os.path.isdir(os.path.join(path, "checkpoints", "classifier")):
        return path
    os.makedirs(root, exist_ok=True)
    print(f"jgan: training the MNIST evaluation classifier once ({recipe.train.steps} steps, about a "
          f"minute on 2 CPU cores) into {path}", file=sys.stderr, flush=True)
    tmp = tempfile.mkdtemp(prefix=".classifier_mnist-", dir=root)
    try:
        train_classifier(recipe, tmp)
        try:
            os.rename(tmp, path)
        except OSError:  # another process finished first: its classifier is the same one
            if not os.path.isdir(path):
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return path


def _augment(key, x, max_shift: int):
    """Random translations by up to ``max_shift`` pixels (zero fill at -1), per image."""
    if max_shift == 0:
        return x
    n = x.shape[0]
    shifts = jax.random.randint(key, (n, 2), -max_shift, max_shift + 1)
    pad = max_shift
    xp = jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)), constant_values=-1.0)

    def crop(img, s):
        return jax.lax.dynamic_slice(img, (pad + s[0], pad + s[1], 0), x.shape[1:])

    return jax.vmap(crop)(xp, shifts)


def _mnist_data(config):
    train_src = sources.mnist_subset_split("train", config.data.holdout)
    test_src = sources.mnist_subset_split("test", config.data.holdout)
    return train_src.x, train_src.labels, test_src.x, test_src.labels, dict(MNIST_INFO)


def _glyph_data(config):
    from jgan.data import glyphs

    d = config.data
    kw = dict(image_size=d.image_size, chars=d.chars, test_chars=d.test_chars)
    fonts = [d.target_font, *d.get("other_fonts", ())]
    # font f's renders of character i have label i + f * len(chars): class i is "character i in
    # the target font"; the other fonts' classes make the classifier judge the typeface too
    parts = [(glyphs.glyph_images(font, "all", per_char=d.per_char, seed=d.seed, **kw),
              glyphs.glyph_images(font, "all", per_char=d.test_per_char, seed=d.test_seed, **kw))
             for font in fonts]
    n = len(d.chars)
    x_train = np.concatenate([tr.x for tr, _ in parts])
    y_train = np.concatenate([tr.labels + f * n for f, (tr, _) in enumerate(parts)]).astype(np.int32)
    x_test = np.concatenate([te.x for _, te in parts])
    y_test = np.concatenate([te.labels + f * n for f, (_, te) in enumerate(parts)]).astype(np.int32)
    info = {"source": "glyphs", "num_classes": n * len(fonts), "image_size": int(d.image_size),
            "channels": 1, "model": "glyph", "widths": [int(w) for w in config.model.widths],
            "font": d.target_font, "other_fonts": list(fonts[1:]), "chars": d.chars,
            "test_chars": d.test_chars}
    return x_train, y_train, x_test, y_test, info


def _digit_domain_data(config):
    from jgan.data import digits

    d = config.data
    domain = {"typeset_digits": "typeset", "sklearn_digits": "sklearn"}[d.source]
    kw = dict(typeset_train=d.get("num_train", 4500), typeset_test=d.get("num_test", 500),
              sklearn_holdout=d.get("holdout", 300), seed=d.get("seed", 0))
    train_src, test_src = (digits.digit_domain(domain, split, **kw) for split in ("train", "test"))
    info = {**MNIST_INFO, "source": d.source}
    return train_src.x, train_src.labels, test_src.x, test_src.labels, info


def _stargan_domains_data(config):
    """``data.source='digit_domains'``: the 'train' / 'test' splits of the digit domains
    ``data.domains`` together, labelled by domain (``data.target='domain'``: StarGAN's domain
    classifier) or by digit (``'digit'``: one digit classifier over all the domains)."""
    from jgan.data import digits

    d = config.data
    kw = dict(mnist_holdout=d.mnist_holdout, typeset_train=d.num_train, typeset_test=d.num_test,
              sklearn_holdout=d.holdout, seed=d.seed)
    if d.target not in ("domain", "digit"):
        raise ClassifierError(f"config.data.target={d.target!r} is not 'domain' or 'digit'.")
    out = []
    for split in ("train", "test"):
        parts = [digits.digit_domain(name, split, **kw) for name in d.domains]
        out.append(np.concatenate([p.x for p in parts]))
        out.append(np.concatenate([np.full(len(p), i, np.int32) if d.target == "domain" else p.labels
                                   for i, p in enumerate(parts)]).astype(np.int32))
    info = {**MNIST_INFO, "source": "digit_domains", "target": d.target, "domains": list(d.domains),
            "num_classes": len(d.domains) if d.target == "domain" else 10}
    return (*out, info)


def train_classifier(config, workdir: str) -> dict:
    """Train on the data of ``config.data``; report held-out accuracy.

    ``data.source`` 'mnist_subset' (the default when absent): split 'train' of the MNIST
    subset, tested on its ``data.holdout`` digits. 'typeset_digits' / 'sklearn_digits': the
    'train' and 'test' splits of that ``jgan.data.digits`` domain. 'glyphs': renders of every character of
    ``data.chars`` in ``data.target_font`` (``data.per_char`` each, seed ``data.seed``), tested
    on ``data.test_per_char`` more (seed ``data.test_seed``).

    Returns ``{'test_accuracy', 'train_accuracy', 'num_test', 'final_loss'}`` (for glyphs also
    ``'test_chars_accuracy'``, on the held-out characters ``data.test_chars``), also written to
    ``workdir/eval.json``. Deterministic given ``config.seed``.
    """
    c = config.train
    source = config.data.get("source", "mnist_subset")
    if source == "mnist_subset":
        x_train, y_train, x_test, y_test, info = _mnist_data(config)
    elif source == "glyphs":
        x_train, y_train, x_test, y_test, info = _glyph_data(config)
    elif source in DIGIT_DOMAINS:
        x_train, y_train, x_test, y_test, info = _digit_domain_data(config)
    elif source == "digit_domains":
        x_train, y_train, x_test, y_test, info = _stargan_domains_data(config)
    else:
        raise ClassifierError(f"config.data.source={source!r}: a classifier trains on "
                              f"'mnist_subset', 'glyphs', {', '.join(map(repr, DIGIT_DOMAINS))}, 'digit_domains'.")
    to_float = lambda u8: u8.astype(np.float32) / 127.5 - 1.0  # noqa: E731
    x_train, x_test = to_float(x_train), to_float(x_test)
    size, channels = info["image_size"], info["channels"]

    model = _make_model(info)
    key = jax.random.PRNGKey(config.seed)
    variables = model.init(jax.random.fold_in(key, 0), jnp.zeros((2, size, size, channels)))
    tx = optax.adamw(optax.cosine_decay_schedule(c.lr, c.steps), weight_decay=c.weight_decay)
    params, batch_stats = variables["params"], variables["batch_stats"]
    opt_state = tx.init(params)

    @jax.jit
    def step(params, batch_stats, opt_state, x, y, k):
        k_aug, k_drop = jax.random.split(k)
        x = _augment(k_aug, x, c.max_shift)

        def loss_fn(p):
            (logits, _), upd = model.apply({"params": p, "batch_stats": batch_stats}, x, train=True,
                                           mutable=["batch_stats"], rngs={"dropout": k_drop})
            return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean(), upd["batch_stats"]

        (loss, bs), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), bs, opt_state, loss

    rng = np.random.default_rng(config.seed)
    n = len(x_train)
    order = rng.permutation(n)
    pos = 0
    bar = progress_bar(c.steps, 0, config.name, jax.process_index() == 0)
    for i in range(c.steps):
        if pos + c.batch_size > n:
            order, pos = rng.permutation(n), 0
        idx = order[pos:pos + c.batch_size]
        pos += c.batch_size
        params, batch_stats, opt_state, loss = step(params, batch_stats, opt_state, x_train[idx],
                                                    y_train[idx], jax.random.fold_in(key, i + 1))
        bar.update(1)
        if (i + 1) % 100 == 0:
            bar.set_postfix(loss=f"{float(loss):.4g}")
    bar.close()
    variables = {"params": params, "batch_stats": batch_stats}
    result = {"test_accuracy": accuracy(model, variables, x_test, y_test),
              "train_accuracy": accuracy(model, variables, x_train, y_train),
              "num_test": int(len(y_test)), "final_loss": float(loss)}
    if source == "glyphs":
        held = np.isin(y_test % len(info["chars"]), [info["chars"].index(ch) for ch in info["test_chars"]])
        if held.any():
            result["test_chars_accuracy"] = accuracy(model, variables, x_test[held], y_test[held])
    os.makedirs(workdir, exist_ok=True)
    save_classifier(workdir, variables)
    with open(os.path.join(workdir, INFO_FILE), "w") as f:
        json.dump(info, f, indent=2)
    with open(os.path.join(workdir, "config.json"), "w") as f:
        f.write(config.to_json(indent=2))
    with open(os.path.join(workdir, "eval.json"), "w") as f:
        json.dump(result, f, indent=2)
    return result


@functools.lru_cache(maxsize=4)
def _forward(model: nn.Module):
    """The jitted inference forward of ``model``, compiled once per model (and batch shape)."""
    return jax.jit(lambda v, x: model.apply(v, x, train=False))


def classifier_outputs(model: nn.Module, variables, images, batch_size: int = 500):
    """``images [n, S, S, 1]`` in [-1, 1] -> ``(logits [n, num_classes], features [n, 128])`` (numpy)."""
    fwd = _forward(model)
    logits, feats = [], []
    for i in range(0, len(images), batch_size):
        lg, ft = fwd(variables, jnp.asarray(images[i:i + batch_size], jnp.float32))
        logits.append(np.asarray(lg))
        feats.append(np.asarray(ft))
    return np.concatenate(logits), np.concatenate(feats)


def accuracy(model, variables, x, y) -> float:
    logits, _ = classifier_outputs(model, variables, x)
    return float(np.mean(np.argmax(logits, axis=1) == y))


def save_classifier(workdir: str, variables) -> None:
    path = os.path.join(os.path.abspath(workdir), "checkpoints", "classifier")
    with ocp.StandardCheckpointer() as ckpt:
        ckpt.save(path, variables, force=True)


def classifier_info(workdir: str) -> dict:
    """What the classifier in ``workdir`` is: ``{'source', 'num_classes', 'image_size',
    'channels'}`` and, for glyphs, ``'model', 'widths', 'font', 'chars', 'test_chars'`` (label
    i is ``chars[i]``).
    Workdirs written before ``classifier.json`` existed hold the MNIST classifier."""
    path = os.path.join(workdir, INFO_FILE)
    if not os.path.exists(path):
        return dict(MNIST_INFO)
    with open(path) as f:
        return json.load(f)


def load_classifier(workdir: str):
    """``(model, variables)`` of a classifier trained by ``train_classifier`` in ``workdir``."""
    path = os.path.join(os.path.abspath(workdir), "checkpoints", "classifier")
    if not os.path.isdir(path):
        raise ClassifierError(
            f"no classifier in {workdir!r}; train it first with `python launch.py "
            f"--config experiments/classifier_mnist.py --workdir {workdir}` (or "
            f"experiments/classifier_glyphs.py for the glyph classifier).")
    info = classifier_info(workdir)
    model = _make_model(info)
    size, channels = info["image_size"], info["channels"]
    template = model.init(jax.random.PRNGKey(0), jnp.zeros((2, size, size, channels)))
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, template)
    with ocp.StandardCheckpointer() as ckpt:
        variables = ckpt.restore(path, abstract)
    return model, variables
