"""The training state of any family: one pytree holding everything a run needs to continue.

``State`` = the iterations done (``step``), the training key (``rng``), the family's named
networks (``nets``: name -> ``TrainState`` with params, normalisation statistics and optax
state), exponential moving averages of some of them (``ema``: name -> ``{'params',
'batch_stats'}``) and non-differentiated training state (``aux``: e.g. image pools, running
means of regularisers). Batches are never stored in it.

Keys: one root key from ``config.seed``; ``fold_in(root, INIT)`` initialises the networks
(split into one key per network, in the family's declaration order), ``fold_in(root,
TRAIN)`` is the training key the phases fold the iteration number into, ``fold_in(root,
SAMPLES)`` draws the fixed inputs of the sample grids, ``fold_in(root, EVAL)`` evaluation
inputs. The data order is grain's, seeded with ``config.seed``.
"""
from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax import struct
from flax.training import train_state

INIT, TRAIN, SAMPLES, EVAL = 0, 1, 2, 3


class TrainState(train_state.TrainState):
    """flax's TrainState plus the ``batch_stats`` collection (``{}`` without BatchNorm)."""

    batch_stats: Any = struct.field(default_factory=dict)


class State(struct.PyTreeNode):
    step: jax.Array              # int32 [], iterations completed
    rng: jax.Array               # uint32 [2], the training key (fold_in(root, TRAIN))
    nets: dict[str, TrainState]  # the family's networks, by name
    ema: dict[str, dict]         # name -> {'params', 'batch_stats'}: EMA of that network
    aux: dict[str, Any]          # non-differentiated training state (pools, running means)


def root_key(seed: int) -> jax.Array:
    return jax.random.PRNGKey(seed)


def stream_key(seed: int, stream: int) -> jax.Array:
    """The key of one of the run's independent streams (INIT, TRAIN, SAMPLES, EVAL)."""
    return jax.random.fold_in(root_key(seed), stream)


def init_network(model: nn.Module, key, args: tuple, tx: optax.GradientTransformation) -> TrainState:
    """``model.init`` on example inputs ``args`` (params and dropout from ``key``)."""
    variables = model.init({"params": key, "dropout": key}, *args, train=False)
    return TrainState.create(apply_fn=model.apply, params=variables["params"], tx=tx,
                             batch_stats=variables.get("batch_stats", {}))


def ema_of(net: TrainState) -> dict:
    """A new EMA entry: a copy of the network's params and normalisation statistics."""
    return {"params": jax.tree.map(jnp.copy, net.params),
            "batch_stats": jax.tree.map(jnp.copy, net.batch_stats)}


def ema_update(entry: dict, net: TrainState, decay) -> dict:
    """``decay * ema + (1 - decay) * current`` for the params and the normalisation
    statistics (BatchNorm running moments, spectral-norm vectors) alike."""
    mix = lambda e, p: decay * e + (1 - decay) * p  # noqa: E731
    return {"params": jax.tree.map(mix, entry["params"], net.params),
            "batch_stats": jax.tree.map(mix, entry["batch_stats"], net.batch_stats)}


def net_variables(state: State, name: str) -> dict:
    """``{'params', 'batch_stats'}`` of the trained (raw) network ``name``."""
    net = state.nets[name]
    return {"params": net.params, "batch_stats": net.batch_stats}


def ema_variables(state: State, name: str) -> dict:
    """``{'params', 'batch_stats'}`` to sample network ``name`` with: its EMA when the run
    keeps one, the raw network otherwise."""
    return state.ema[name] if name in state.ema else net_variables(state, name)
