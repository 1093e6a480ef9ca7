"""The GAN training state: one pytree holding everything a run needs to continue.

``GANState`` = generator and discriminator ``TrainState`` s (params, BatchNorm running
statistics, optax state), the number of generator iterations done (``step``), the
training key, and an exponential moving average of the generator parameters (``None``
when ``train.ema_decay`` is 0). Batches are never stored in it.

Keys: one root key from ``config.seed``; ``fold_in(root, INIT)`` initialises the networks,
``fold_in(root, TRAIN)`` is the training key the step folds the iteration number into,
``fold_in(root, SAMPLES)`` draws the fixed latent batch of the sample grids. The data
order is grain's, seeded with ``config.seed``.
"""
from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax import struct
from flax.training import train_state

from jgan.conditioning import Conditioning

INIT, TRAIN, SAMPLES, EVAL = 0, 1, 2, 3


class TrainState(train_state.TrainState):
    """flax's TrainState plus the ``batch_stats`` collection (``{}`` without BatchNorm)."""

    batch_stats: Any = struct.field(default_factory=dict)


class GANState(struct.PyTreeNode):
    step: jax.Array        # int32 [], generator iterations completed
    rng: jax.Array         # uint32 [2], the training key (fold_in(root, TRAIN))
    g: TrainState
    d: TrainState
    ema_params: Any = None  # EMA of g.params, or None


def root_key(seed: int) -> jax.Array:
    return jax.random.PRNGKey(seed)


def stream_key(seed: int, stream: int) -> jax.Array:
    """The key of one of the run's independent streams (INIT, TRAIN, SAMPLES, EVAL)."""
    return jax.random.fold_in(root_key(seed), stream)


def _init_network(model: nn.Module, key, args: tuple, tx: optax.GradientTransformation) -> TrainState:
    variables = model.init({"params": key, "dropout": key}, *args, train=False)
    params = variables["params"]
    return TrainState.create(apply_fn=model.apply, params=params, tx=tx,
                             batch_stats=variables.get("batch_stats", {}))


def create_state(*, seed: int, g_model: nn.Module, d_model: nn.Module, z_dim: int,
                 data_shape, g_tx: optax.GradientTransformation,
                 d_tx: optax.GradientTransformation, ema_decay: float,
                 cond: Conditioning = Conditioning()) -> GANState:
    """Initialise both networks from ``fold_in(root(seed), INIT)``; step 0."""
    kg, kd = jax.random.split(stream_key(seed, INIT))
    z = jnp.zeros((2, z_dim + cond.code_dim), jnp.float32)
    x = jnp.zeros((12, *data_shape), jnp.float32)  # 12: divisible by any PacGAN pack 1-4
    g = _init_network(g_model, kg, (z, jnp.zeros(2, jnp.int32)) if cond.g_takes_labels else (z,), g_tx)
    d = _init_network(d_model, kd, (x, jnp.zeros(12, jnp.int32)) if cond.d_takes_labels else (x,), d_tx)
    ema = jax.tree.map(jnp.copy, g.params) if ema_decay > 0 else None
    return GANState(step=jnp.zeros((), jnp.int32), rng=stream_key(seed, TRAIN), g=g, d=d,
                    ema_params=ema)
