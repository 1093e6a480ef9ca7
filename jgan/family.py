"""What a GAN family declares, and the core's view of it.

A family (one module in ``jgan/families/``, registered in ``jgan.families.FAMILIES``) is a
subclass of :class:`Family` built from a config, without touching data. It declares:

* ``nets()``: name -> :class:`Net` (flax module, example inputs for ``init``, optax
  transformation, EMA decay or 0). Networks are initialised from one key per network,
  split from ``fold_in(root, INIT)`` in declaration order.
* ``phases()``: name -> per-device pure function ``(state, batch, offset) -> (state,
  metrics)`` (see ``jgan.steps``); only the last phase of an iteration advances
  ``state.step``; keys come from ``fold_in(state.rng, state.step)``.
* ``schedule(step)``: a pure function of the iteration number -> ``[(phase, number of real
  batches), ...]`` run in order (WGAN's n_critic and warm-up, lazy regularisers, ...).
* ``data_keys``: the keys of a real batch (``('x',)``, ``('x', 'label')``, ``('a', 'b')``).
* ``source(split)``: the data source (``jgan.data``) the family trains / evaluates on.
* ``init_aux(key)``: the initial non-differentiated state (``state.aux``).
* host side: ``write_grids(state, step, out)`` (the sample grids), ``evaluate(state,
  workdir)`` (its metrics on samples it draws), ``modes`` (extra CLI modes).

The core (state, steps, train loop, checkpoints, outputs, seed studies, CLI modes) knows
nothing else of a family.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import optax

from jgan.state import INIT, TRAIN, State, ema_of, init_network, stream_key


@dataclasses.dataclass(frozen=True)
class Net:
    module: nn.Module
    example_args: tuple                 # positional inputs of ``module.init`` (batch of any size)
    tx: optax.GradientTransformation
    ema_decay: float = 0.0              # > 0: keep an EMA of this network


class Family:
    """Base class: override what the module doc lists. ``config`` is the run's config."""

    name = "family"
    data_keys: tuple[str, ...] = ("x",)

    def __init__(self, config: ml_collections.ConfigDict):
        self.config = config

    # --- training
    def nets(self) -> dict[str, Net]:
        raise NotImplementedError

    def phases(self) -> dict[str, Callable]:
        raise NotImplementedError

    def schedule(self, step: int) -> list[tuple[str, int]]:
        raise NotImplementedError

    def init_aux(self, key: jax.Array) -> dict[str, Any]:
        return {}

    def source(self, split: str):
        raise NotImplementedError

    def train_source(self):
        """The training data the loop reads: ``source()``, or None when the phases draw
        their real batches themselves (the loop then feeds placeholders, ``jgan.data.drawn``)."""
        return self.source()

    def batch_multiple(self) -> int:
        """Each device's batch must be a multiple of this (PacGAN's pack)."""
        return 1

    def batch_multiple_reason(self) -> str:
        return ""

    def plot_panels(self) -> list[tuple[str, ...]]:
        """Groups of metric names drawn together in ``plots/losses.png``."""
        return []

    def progress_keys(self) -> tuple[str, ...]:
        """The logged means the progress bar shows (those present in the metrics)."""
        return ("d_loss", "g_loss")

    # --- host side
    def write_grids(self, state: State, step: int, out) -> None:
        """Write the sample grids of ``state`` at ``step`` with ``out.save_grid`` (every
        process calls it: sampling runs on the whole mesh; only process 0 writes)."""

    def evaluate(self, state: State, workdir: str) -> dict[str, float]:
        return {}

    def evaluate_floor(self, workdir: str) -> dict:
        """``--mode eval``: the same metrics of real held-out data (what a perfect model would
        reach), with ``heldout_count`` and ``heldout_split``; ``{}`` when not applicable."""
        return {}

    def check_evaluator(self) -> None:
        """Raise now if ``evaluate`` would fail for want of its extractor or data."""

    def modes(self) -> dict[str, Callable]:
        """Extra CLI modes: name -> ``fn(state, workdir, args) -> list of written paths``."""
        return {}

    # --- state
    def init_state(self) -> State:
        """The initial state (step 0) from ``config.seed``."""
        nets = self.nets()
        keys = jax.random.split(stream_key(self.config.seed, INIT), len(nets))
        trained = {name: init_network(n.module, k, n.example_args, n.tx)
                   for (name, n), k in zip(nets.items(), keys)}
        ema = {name: ema_of(trained[name]) for name, n in nets.items() if n.ema_decay > 0}
        aux_key = jax.random.fold_in(stream_key(self.config.seed, INIT), 2 ** 31 - 1)
        return State(step=jnp.zeros((), jnp.int32), rng=stream_key(self.config.seed, TRAIN),
                     nets=trained, ema=ema, aux=self.init_aux(aux_key))
