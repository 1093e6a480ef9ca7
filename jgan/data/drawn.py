"""Toy 2D mixtures drawn inside the compiled step, from the run's keys (no host data).

The authors' setting (PacGAN's code, after VEEGAN) trains on a *fixed* set of 100,000 points
drawn once (``jgan.data.sources.toy_mixture``, read through grain like any dataset). With
``data.draw_in_step=True`` every real batch is instead a fresh draw from the mixture itself,
made inside the phase: an infinite training set, and no host work per batch. The two differ
in what the discriminator can memorise (a finite sample vs the distribution) and in the
numbers drawn, so they are different runs; the fixed set is the default.

Keys: real batch ``j`` of iteration ``step`` (``j`` counts every real batch of the
iteration across its phases) uses ``fold_in(fold_in(fold_in(state.rng, step), DATA_TAG),
j)``, drawn for the global batch and sliced per device, so the points do not depend on the
device count, on how an iteration is split into phases or calls, or on a resume.

The host still hands each phase a placeholder batch (``{'x': float32 [n, B_local, 0]}``,
from :func:`placeholder_iterator`) whose shape carries the number of batches and the local
batch size; its iterator state (a position) goes into checkpoints like any data iterator's.
"""
from __future__ import annotations

import grain
import jax
import jax.numpy as jnp
import numpy as np

from jgan import steps
from jgan.data.sources import TOY_MIXTURES

DATA_TAG = 2  # the iteration key's tags: 0 D updates, 1 G update, 2 in-step data


def draw_mixture(name: str, key: jax.Array, n: int) -> tuple[jax.Array, jax.Array]:
    """``n`` points of mixture ``name`` -> ``(x float32 [n, 2], mode index int32 [n])``:
    a mode uniform over the modes plus isotropic Gaussian noise of the mixture's std (the
    law of ``sources.toy_mixture``)."""
    modes_fn, std = TOY_MIXTURES[name]
    modes = jnp.asarray(modes_fn(), jnp.float32)
    k_mode, k_noise = jax.random.split(key)
    idx = jax.random.randint(k_mode, (n,), 0, len(modes), dtype=jnp.int32)
    return modes[idx] + std * jax.random.normal(k_noise, (n, 2), jnp.float32), idx


def fill_batches(name: str, state, batch: dict, offset) -> dict:
    """Replace the placeholder ``batch`` (``x [k, B_local, 0]``) of a phase by real batches
    ``offset .. offset + k - 1`` of this iteration: ``{'x': [k, B_local, 2], 'label': [k, B_local]}``."""
    k, local = batch["x"].shape[:2]
    data_key = jax.random.fold_in(jax.random.fold_in(state.rng, state.step), DATA_TAG)
    xs, labels = [], []
    for j in range(k):
        x, label = steps.global_draw(lambda g, j=j: draw_mixture(name, jax.random.fold_in(data_key, offset + j), g),
                                     local)
        xs.append(x)
        labels.append(label)
    return {"x": jnp.stack(xs), "label": jnp.stack(labels)}


def in_step_phase(name: str, phase, keys: tuple[str, ...]):
    """``phase`` with its real batches drawn inside it (keeping the data keys it consumes)."""
    def fn(state, batch, offset):
        filled = fill_batches(name, state, batch, offset)
        return phase(state, {k: filled[k] for k in keys}, offset)
    return fn


def placeholder_iterator(local_batch: int):
    """A checkpointable grain iterator of placeholder batches ``{'x': float32 [B_local, 0]}``."""
    empty = np.zeros((local_batch, 0), np.float32)
    return iter(grain.MapDataset.range(2 ** 62).map(lambda _: {"x": empty}).to_iter_dataset())
