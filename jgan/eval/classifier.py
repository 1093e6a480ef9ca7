"""A digit classifier trained by jgan itself: the feature extractor for MNIST-like data.

Inception-v3 features are meaningless on 28x28 digits, so MNIST GANs are evaluated with a
small convnet trained on the embedded MNIST subset (``experiments/classifier_mnist.py``):
its penultimate layer (``[n, 128]``, after ReLU) gives FID / KID / precision-recall
features; its softmax gives the IS-style score and the digit labels for mode counting
(Stacked MNIST labels each channel with it).

Input convention: images ``[n, 28, 28, 1]`` float in [-1, 1] (the GAN output range).

The classifier's workdir holds ``checkpoints/`` (orbax, params + batch stats),
``config.json`` and ``eval.json`` (held-out accuracy).
"""
from __future__ import annotations

import functools
import json
import os

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import orbax.checkpoint as ocp

from jgan.data import sources

FEATURE_DIM = 128


class ClassifierError(ValueError):
    """The classifier named by the config is missing or unusable."""


class MnistClassifier(nn.Module):
    """Conv(32)x2-pool-Conv(64)x2-pool-Dense(128)-Dense(10), BatchNorm after each conv.

    ``__call__(x [n, 28, 28, 1], train) -> (logits [n, 10], features [n, 128])``.
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


def train_classifier(config, workdir: str) -> dict:
    """Train on ``config.data`` split 'train' of the MNIST subset; report held-out accuracy.

    Returns ``{'test_accuracy', 'train_accuracy', 'num_test'}`` (also written to
    ``workdir/eval.json``). Deterministic given ``config.seed``.
    """
    c = config.train
    train_src = sources.mnist_subset_split("train", config.data.holdout)
    test_src = sources.mnist_subset_split("test", config.data.holdout)
    to_float = lambda u8: u8.astype(np.float32) / 127.5 - 1.0  # noqa: E731
    x_train, y_train = to_float(train_src.x), train_src.labels
    x_test, y_test = to_float(test_src.x), test_src.labels

    model = MnistClassifier()
    key = jax.random.PRNGKey(config.seed)
    variables = model.init(jax.random.fold_in(key, 0), jnp.zeros((2, 28, 28, 1)))
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
    for i in range(c.steps):
        if pos + c.batch_size > n:
            order, pos = rng.permutation(n), 0
        idx = order[pos:pos + c.batch_size]
        pos += c.batch_size
        params, batch_stats, opt_state, loss = step(params, batch_stats, opt_state, x_train[idx],
                                                    y_train[idx], jax.random.fold_in(key, i + 1))
    variables = {"params": params, "batch_stats": batch_stats}
    result = {"test_accuracy": accuracy(model, variables, x_test, y_test),
              "train_accuracy": accuracy(model, variables, x_train, y_train),
              "num_test": int(len(y_test)), "final_loss": float(loss)}
    os.makedirs(workdir, exist_ok=True)
    save_classifier(workdir, variables)
    with open(os.path.join(workdir, "config.json"), "w") as f:
        f.write(config.to_json(indent=2))
    with open(os.path.join(workdir, "eval.json"), "w") as f:
        json.dump(result, f, indent=2)
    return result


@functools.lru_cache(maxsize=4)
def _forward(model: MnistClassifier):
    """The jitted inference forward of ``model``, compiled once per model (and batch shape)."""
    return jax.jit(lambda v, x: model.apply(v, x, train=False))


def classifier_outputs(model: MnistClassifier, variables, images, batch_size: int = 500):
    """``images [n, 28, 28, 1]`` in [-1, 1] -> ``(logits [n, 10], features [n, 128])`` (numpy)."""
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


def load_classifier(workdir: str):
    """``(model, variables)`` of a classifier trained by ``train_classifier`` in ``workdir``."""
    path = os.path.join(os.path.abspath(workdir), "checkpoints", "classifier")
    if not os.path.isdir(path):
        raise ClassifierError(
            f"no MNIST classifier in {workdir!r}; train it first with `python launch.py "
            f"--config experiments/classifier_mnist.py --workdir {workdir}`.")
    model = MnistClassifier()
    template = model.init(jax.random.PRNGKey(0), jnp.zeros((2, 28, 28, 1)))
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, template)
    with ocp.StandardCheckpointer() as ckpt:
        variables = ckpt.restore(path, abstract)
    return model, variables
