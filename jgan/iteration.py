"""Training iterations on the host side, shared by ``train.run`` and seed studies.

The data iterator (grain, checkpointable), stacking a schedule's host batches, running the
phases of one iteration in order or a block of whole iterations in one compiled call
(``train.iterations_per_call``), and the divergence check.
"""
from __future__ import annotations

import math

import grain
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from jgan.data import drawn, pipeline
from jgan.steps import Phases, Plan


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
    """Each metric's mean over the iterations of ``host`` (``[(step, metrics)]`` on the host)
    that report it, for scalars or per-seed ``[S]`` vectors alike (the logged value of a
    ``log_every`` interval). A metric of a phase that runs only some iterations (a lazy
    regulariser's) is the mean over those."""
    names = list(dict.fromkeys(k for _, m in host for k in m))
    return {k: np.mean([np.asarray(m[k]) for _, m in host if k in m], axis=0) for k in names}


def data_iterator(config: ml_collections.ConfigDict, source, seed: int, whole_batch: bool = False):
    """This process's grain iterator over ``source``, shuffled with ``seed`` (checkpointable):
    of this process's rows of each global batch, or with ``whole_batch`` of all of them.
    ``source`` None: placeholders for data the phases draw themselves (``jgan.data.drawn``)."""
    index, count = (0, 1) if whole_batch else (jax.process_index(), jax.process_count())
    if source is None:
        return drawn.placeholder_iterator(config.train.batch_size // count)
    dataset = pipeline.make_dataset(
        source, seed=seed, global_batch_size=config.train.batch_size,
        image_size=config.data.image_size, channels=config.data.channels,
        process_index=index, process_count=count)
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


def event_intervals(config: ml_collections.ConfigDict) -> tuple[int, ...]:
    """The iteration counts at whose multiples the loop does something besides training
    (log, sample grids, checkpoint, evaluate): a block of iterations never crosses one."""
    t = config.train
    return tuple(e for e in (t.log_every, t.sample_every, t.checkpoint_every, config.eval.every) if e)


# A block unrolls k_max * (real batches of its plan) updates into one program; past this many
# the compile time (minutes for WGAN's 100-update warm-up iterations in blocks of 10) outweighs
# the per-call time a block saves, so such plans run one iteration per call.
MAX_BLOCK_BATCHES = 256


def next_block(schedule, step: int, k_max: int, intervals: tuple[int, ...], steps: int) -> tuple[Plan, int]:
    """``(plan, k)``: the plan of iteration ``step`` and how many iterations from ``step`` run
    as one compiled call: ``k_max`` when the next ``k_max`` iterations all have that plan and
    end at or before the next event (a multiple of ``intervals``, or ``steps``), else 1.
    Only blocks of exactly ``k_max`` are run, so a plan compiles at most two programs (its
    phases and its block); a schedule that changes inside a block splits it, and a plan whose
    block would hold more than ``MAX_BLOCK_BATCHES`` real batches never forms one."""
    plan = tuple((name, n) for name, n in schedule(step))
    if k_max == 1 or k_max * sum(n for _, n in plan) > MAX_BLOCK_BATCHES:
        return plan, 1
    boundary = min([steps] + [(step // e + 1) * e for e in intervals])
    if boundary - step < k_max:
        return plan, 1
    for i in range(1, k_max):
        if tuple((name, n) for name, n in schedule(step + i)) != plan:
            return plan, 1
    return plan, k_max


def block_batches(batches: list[dict], keys, k: int) -> dict:
    """``k * n`` host batches -> ``{key: [k, n, B, ...]}`` (iteration-major)."""
    n = len(batches) // k
    return {name: v.reshape(k, n, *v.shape[1:]) for name, v in stack_batches(batches, keys).items()}


def run_block(phases: Phases, plan: Plan, k: int, state, reals: dict, seed_axis: bool = False):
    """``k`` iterations of ``plan`` -> ``(state, metrics)``; ``reals`` ``{key: [k, n, B, ...]}``
    (``[k, S, n, B, ...]`` with a seed axis). ``k == 1`` runs the phases as single calls
    (:func:`run_iteration`) and returns unstacked metrics; ``k > 1`` one block program,
    metrics ``[k, ...]`` (see :func:`expand_pending`)."""
    if k == 1:
        return run_iteration(phases, list(plan), state, jax.tree.map(lambda v: v[0], reals),
                             axis=1 if seed_axis else 0)
    return phases.block(plan, k)(state, phases.shard_block(reals))


def expand_pending(host: list[tuple[int, int, dict]]) -> list[tuple[int, dict]]:
    """Fetched ``[(last step, k, metrics)]`` (metrics ``[k, ...]`` when ``k > 1``) ->
    ``[(step, metrics)]`` per iteration."""
    out = []
    for done, k, m in host:
        if k == 1:
            out.append((done, m))
        else:
            out.extend((done - k + 1 + i, {name: v[i] for name, v in m.items()}) for i in range(k))
    return out
