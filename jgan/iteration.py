"""One training iteration on the host side, shared by ``train.run`` and seed studies.

The data iterator (grain, checkpointable), stacking a schedule's host batches, running the
phases of one iteration in order, and the divergence check.
"""
from __future__ import annotations

import math

import grain
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from jgan.data import pipeline
from jgan.steps import Phases


class DivergenceError(RuntimeError):
    """Training produced a non-finite loss."""


def check_finite(step: int, metrics: dict[str, float], last_ckpt: int | None, ckpt_dir: str,
                 who: str = "training") -> None:
    """Raise ``DivergenceError`` naming ``who`` (e.g. 'seed 3'), the step and the bad metrics
    if any metric is not finite."""
    bad = {k: v for k, v in metrics.items() if not math.isfinite(v)}
    if bad:
        where = (f"the last good checkpoint (step {last_ckpt}) in {ckpt_dir} is intact and finite"
                 if last_ckpt is not None else "no checkpoint had been written yet")
        raise DivergenceError(
            f"{who} diverged at step {step}: {', '.join(f'{k}={v}' for k, v in bad.items())}; "
            f"{where}; lower the learning rates or change the loss and resume or restart.")


@jax.jit
def _all_finite(state) -> jax.Array:
    """Whether every floating-point leaf of ``state`` is finite: one fused reduction."""
    leaves = [x for x in jax.tree.leaves(state) if jnp.issubdtype(x.dtype, jnp.inexact)]
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves])) if leaves else jnp.bool_(True)


def check_state_finite(state, step: int, last_ckpt: int | None, ckpt_dir: str, who: str = "training") -> None:
    """Raise ``DivergenceError`` if ``state`` (on device; only a bool is fetched) holds a
    NaN or inf, before it is checkpointed: every checkpoint written is finite."""
    if not bool(_all_finite(state)):
        where = (f"the last good checkpoint (step {last_ckpt}) in {ckpt_dir} is intact and finite"
                 if last_ckpt is not None else "no checkpoint had been written yet")
        raise DivergenceError(
            f"{who} diverged: the state at step {step} holds NaN or inf parameters (not checkpointed); "
            f"{where}; lower the learning rates or change the loss and resume or restart.")


def interval_means(host: list[tuple[int, dict]]) -> dict[str, np.ndarray]:
    """Each metric's mean over the iterations ``host`` (``[(step, metrics)]`` on the host), for
    scalars or per-seed ``[S]`` vectors alike (the logged value of a ``log_every`` interval)."""
    return {k: np.mean([np.asarray(m[k]) for _, m in host if k in m], axis=0) for k in host[-1][1]}


def data_iterator(config: ml_collections.ConfigDict, source, seed: int):
    """This process's grain iterator over ``source``, shuffled with ``seed`` (checkpointable)."""
    dataset = pipeline.make_dataset(
        source, seed=seed, global_batch_size=config.train.batch_size,
        image_size=config.data.image_size, channels=config.data.channels,
        process_index=jax.process_index(), process_count=jax.process_count())
    read = grain.ReadOptions(num_threads=1 if config.data.prefetch else 0,
                             prefetch_buffer_size=config.data.prefetch)
    return iter(dataset.to_iter_dataset(read))


def stack_batches(batches: list[dict], keys) -> dict:
    """Host batches -> ``{key: [n, B, ...]}`` for the ``keys`` the family consumes."""
    return {name: np.stack([b[name] for b in batches]) for name in keys}


def iteration_batches(plan: list[tuple[str, int]]) -> int:
    """Real batches an iteration of ``plan`` (the family's schedule) consumes."""
    return sum(n for _, n in plan)


def run_iteration(phases: Phases, plan: list[tuple[str, int]], state, reals: dict, axis: int = 0):
    """One iteration: the phases of ``plan`` in order, phase ``i`` on the next ``n_i`` of the
    host batches ``reals`` (stacked along ``axis``: 1 with a leading seed axis), with the
    offset of the batches consumed before it. Returns ``(state, metrics)``: the union of
    the phases' metrics, later phases overriding earlier ones."""
    metrics, offset = {}, 0
    for name, n in plan:
        index = (slice(None),) * axis + (slice(offset, offset + n),)
        part = phases.shard_batch({k: v[index] for k, v in reals.items()})
        state, m = phases[name](state, part, jnp.int32(offset))
        metrics.update(m)
        offset += n
    return state, metrics
