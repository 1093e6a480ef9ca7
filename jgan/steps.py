"""Helpers every family's phases share, and the data-parallel wrapper that compiles them.

A *phase* is a pure per-device function ``(state, batch, offset) -> (state, metrics)``:
``batch`` is a pytree of this device's rows of ``k`` real batches (``[k, B_local, ...]`` per
data key), ``offset`` (int32 []) the number of real batches the iteration's earlier phases
consumed, so update ``j`` of the phase is update ``offset + j`` of the iteration and draws
the same numbers however the iteration is split into compiled calls.

Data parallelism: phases run under ``jax.shard_map`` over the 1D mesh axis ``data``
(``jgan.axes.DATA``). The state is replicated; batches are split along B. Parameters are
cast to device-varying before differentiation (:func:`varying`), so each device gets its
local gradient, and :func:`pmean` averages them: the gradient of the mean loss over the
global batch. BatchNorm layers average their batch moments over ``data``; the updated
statistics are ``pmean``-ed again (:func:`apply_train`), which keeps spectral norm's
power-iteration vectors replicated.

Randomness: draws that shape the algorithm (latents, target domains, crops) are made for
the global batch and sliced per device (:func:`global_draw`), so they do not depend on the
device count; only dropout masks fold in the device index (:func:`device_key`).

Seed studies ``jax.vmap`` the per-device phases over a leading seed axis of the state and
the batches (``compile_phases(seed_axis=True)``). On a ``(seed, data)`` mesh (``jgan.mesh``)
that axis is split over ``seed``: each device holds its ``S / seed-axis size`` seeds' states and
its rows of their batches and vmaps over them; collectives stay over ``data``, so each seed
computes exactly what a run of its own computes on a ``data``-axis-sized mesh. On a 1D mesh
the stacked state is replicated and every device runs every seed.

Silent recompiles: with the environment variable ``JGAN_MAX_TRACES=n`` (the tests set 1)
every phase is wrapped in ``chex.assert_max_traces(n)``, so a phase traced more than ``n``
times in one compiled set fails loudly.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Any, Callable

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import NamedSharding, PartitionSpec as P

from jgan.axes import DATA, SEED

AXIS = DATA
Metrics = dict[str, jax.Array]
Phase = Callable[[Any, Any, jax.Array], tuple[Any, Metrics]]


# ----------------------------------------------------------------------------- per-device helpers


def device_key(key: jax.Array) -> jax.Array:
    """``fold_in(key, device index)``: for draws that are per device by nature (dropout)."""
    return jax.random.fold_in(key, jax.lax.axis_index(AXIS))


def local_batch_slice(tree, local_batch: int):
    """This device's rows ``[i * local_batch, (i + 1) * local_batch)`` of global arrays."""
    start = jax.lax.axis_index(AXIS) * local_batch
    return jax.tree.map(lambda v: jax.lax.dynamic_slice_in_dim(v, start, local_batch), tree)


def global_draw(draw: Callable[[int], Any], local_batch: int):
    """``draw(global_batch)`` (a pytree of ``[global_batch, ...]`` arrays) sliced to this
    device's rows: 1 and 8 devices see the same numbers."""
    return local_batch_slice(draw(local_batch * jax.lax.axis_size(AXIS)), local_batch)


def varying(tree):
    """Cast replicated values to device-varying (so their gradients are per device)."""
    return jax.tree.map(lambda x: jax.lax.pcast(x, AXIS, to="varying"), tree)


def pmean(tree):
    return jax.tree.map(lambda x: jax.lax.pmean(x, AXIS), tree)


def apply_train(module, params, batch_stats, *args, rngs=None):
    """``module.apply`` in train mode -> ``(output, updated batch_stats)``, the statistics
    averaged over the data axis (see the module doc)."""
    out, upd = module.apply({"params": params, "batch_stats": batch_stats}, *args, train=True,
                            mutable=["batch_stats"], rngs=rngs)
    return out, pmean(upd.get("batch_stats", {}))


def apply_gradients(net, grads, batch_stats=None):
    """``pmean`` the local gradients, apply them -> ``(net, global gradient norm)``."""
    grads = pmean(grads)
    kw = {} if batch_stats is None else {"batch_stats": batch_stats}
    return net.apply_gradients(grads=grads, **kw), optax.tree.norm(grads)


def batch_at(batch, j: int):
    """Real batch ``j`` of a phase's ``[k, B_local, ...]`` batches."""
    return jax.tree.map(lambda v: v[j], batch)


# ----------------------------------------------------------------------------- compiled phases


def max_traces() -> int | None:
    value = os.environ.get("JGAN_MAX_TRACES", "")
    return int(value) if value else None


Plan = tuple[tuple[str, int], ...]  # a schedule's [(phase, real batches)] as a hashable tuple


@dataclasses.dataclass(frozen=True)
class Phases:
    """Jitted, data-parallel phases ``name -> (state, batch [k, B, ...], offset) -> (state, metrics)``,
    and blocks of whole iterations (:meth:`block`)."""

    fns: dict[str, Callable]
    mesh: jax.sharding.Mesh
    seed_axis: bool = False  # state and batches have a leading seed axis (seed studies)
    per_device: dict[str, Phase] = dataclasses.field(default_factory=dict)  # the unwrapped phases
    donate: bool = True
    _blocks: dict = dataclasses.field(default_factory=dict, compare=False, repr=False)

    def __getitem__(self, name: str) -> Callable:
        return self.fns[name]

    @property
    def seed_sharded(self) -> bool:
        """The seed axis is split over the mesh axis ``seed`` (a study's ``(seed, data)`` mesh)."""
        return self.seed_axis and SEED in self.mesh.axis_names

    def state_spec(self) -> P:
        """The state's partition: split on its leading seed axis over ``seed``, else replicated."""
        return P(SEED) if self.seed_sharded else P()

    def _spec(self, leading: int) -> P:
        """The seed axis if any (over ``seed`` on a seed mesh), then ``leading`` unsharded
        axes, then the batch split over data."""
        seed = ((SEED if self.seed_sharded else None),) if self.seed_axis else ()
        return P(*seed, *([None] * leading), AXIS)

    def _place(self, tree, spec: P):
        sharding = NamedSharding(self.mesh, spec)
        if self.seed_sharded:  # the global arrays, on every process: each takes its devices' parts
            return jax.tree.map(lambda v: jax.make_array_from_callback(v.shape, sharding, lambda i: v[i]), tree)
        return jax.tree.map(lambda v: jax.make_array_from_process_local_data(sharding, v), tree)

    def shard_batch(self, batch):
        """Place host arrays ``[k, B, ...]`` (``[S, k, B, ...]`` with a seed axis; a pytree) on
        the mesh: this process's part of B, or on a seed mesh every seed's whole global
        batch (each process places the parts its devices hold)."""
        return self._place(batch, self._spec(1))

    def shard_block(self, reals):
        """Place a block's host arrays ``[K, n, B, ...]`` (``[K, S, n, B, ...]`` with a seed
        axis; as :meth:`shard_batch` says) on the mesh."""
        return self._place(reals, P(None, *self._spec(1)))

    def replicate(self, tree):
        """Place a pytree replicated on every device of the mesh."""
        return jax.device_put(tree, NamedSharding(self.mesh, P()))

    def place_state(self, tree):
        """Place a state (the same host values on every process) as :meth:`state_spec` says."""
        if not self.seed_sharded:
            return self.replicate(tree)
        sharding = NamedSharding(self.mesh, self.state_spec())
        return jax.tree.map(lambda v: jax.make_array_from_callback(
            np.shape(v), sharding, lambda i, v=np.asarray(v): v[i]), tree)

    def block(self, plan: Plan, k: int) -> Callable:
        """One compiled program for ``k`` whole iterations of ``plan``:
        ``(state, reals {key: [k, n, B, ...]}) -> (state, metrics {name: [k]})`` (``[k, S, n,
        B, ...]`` and ``[k, S]`` with a seed axis), ``n`` the plan's real batches.

        A ``lax.scan`` over the iterations; each runs the plan's phases in order on its ``n``
        batches with the same offsets and keys as :func:`jgan.iteration.run_iteration`. For
        fully connected networks the state after the block is bit for bit the state after
        ``k`` single iterations (``tests/test_golden.py``). Convolutional networks end within
        float rounding of it, not bitwise: XLA:CPU compiles convolutions inside a larger
        program differently (measured on the dcgan, sngan, infogan and wgan quick runs, with
        the scan rolled or unrolled), so for them ``train.iterations_per_call`` is part of
        the trajectory. Compiled once per ``(plan, k)`` and cached."""
        key = (tuple(plan), k)
        if key not in self._blocks:
            self._blocks[key] = self._compile_block(tuple(plan), k)
        return self._blocks[key]

    def _compile_block(self, plan: Plan, k: int) -> Callable:
        seed_axis = self.seed_axis
        fns = {name: over_seeds(self.per_device[name]) if seed_axis else self.per_device[name] for name, _ in plan}

        def one_iteration(state, reals):
            metrics, offset = {}, 0
            for name, n in plan:
                part = jax.tree.map(lambda v: v[:, offset:offset + n] if seed_axis else v[offset:offset + n], reals)
                state, m = fns[name](state, part, jnp.int32(offset))
                metrics.update(m)
                offset += n
            return state, metrics

        def block(state, reals):
            return jax.lax.scan(one_iteration, state, reals, length=k)

        block.__name__ = f"block of {k} x {plan}"  # its own trace count per (plan, k)
        limit = max_traces()
        if limit is not None:
            block = chex.assert_max_traces(block, n=limit)
        state = self.state_spec()
        metrics = P(None, SEED) if self.seed_sharded else P()  # [k, S]
        sm = jax.shard_map(block, mesh=self.mesh, in_specs=(state, P(None, *self._spec(1))),
                           out_specs=(state, metrics))
        return _jit(sm, self.mesh, state, self.seed_sharded, self.donate)


def make_mesh(devices=None) -> jax.sharding.Mesh:
    """A 1D mesh with axis ``data`` over ``devices`` (default: all devices of all processes)."""
    devices = jax.devices() if devices is None else list(devices)
    return jax.make_mesh((len(devices),), (AXIS,), axis_types=(jax.sharding.AxisType.Auto,),
                         devices=devices)


def over_seeds(phase: Phase) -> Phase:
    """``phase`` over a leading seed axis of the state and the batch (this device's seeds):
    ``jax.vmap``, or, when the device holds one seed, the phase itself on the squeezed
    arrays. The single seed then runs the very program a run of its own runs, bit for bit;
    vmapped seeds run batched matrix products, which round differently in the last bits
    (measured on CPU: ~1e-7 relative after 6 pacgan quick iterations)."""
    vmapped = jax.vmap(phase, in_axes=(0, 0, None))

    def run(state, batch, offset):
        if jax.tree.leaves(state)[0].shape[0] != 1:  # a trace-time shape: no recompile
            return vmapped(state, batch, offset)
        squeeze = lambda tree: jax.tree.map(lambda v: v[0], tree)  # noqa: E731
        state, metrics = phase(squeeze(state), squeeze(batch), offset)
        return jax.tree.map(lambda v: v[None], (state, metrics))

    return run


def _jit(sm: Callable, mesh, state_spec: P, seed_sharded: bool, donate: bool) -> Callable:
    """``jit`` a shard-mapped phase or block (state donated). On a seed mesh the metrics,
    split over ``seed`` inside, come back replicated (``out_shardings``; XLA gathers them),
    so every process can read every seed's metrics."""
    shardings = {}
    if seed_sharded:
        shardings["out_shardings"] = (NamedSharding(mesh, state_spec), NamedSharding(mesh, P()))
    return jax.jit(sm, donate_argnums=(0,) if donate else (), **shardings)


def compile_phases(phases: dict[str, Phase], mesh: jax.sharding.Mesh, *, donate: bool = True,
                   seed_axis: bool = False) -> Phases:
    """Wrap each per-device phase in ``shard_map`` over ``mesh`` and ``jit`` it (state donated).

    ``seed_axis``: each phase is ``jax.vmap``-ed over a leading axis of the state and of the
    batches (``[S, k, B, ...]``): S independent runs (seeds) advance in one compiled program,
    each exactly as it would alone (collectives stay per seed). On a ``(seed, data)`` mesh
    (``jgan.mesh.make_seed_mesh``) the state is split over ``seed`` (``P('seed')``), the
    batches ``P('seed', None, 'data')``, and the metrics ``[S]`` come back replicated.
    """
    limit = max_traces()
    if limit is not None:
        chex.clear_trace_counter()  # count the traces of this compiled set only
    layout = Phases(fns={}, mesh=mesh, seed_axis=seed_axis)
    state_spec, batch_spec = layout.state_spec(), layout._spec(1)

    def wrap(fn):
        if limit is not None:
            fn = chex.assert_max_traces(fn, n=limit)
        if seed_axis:
            fn = over_seeds(fn)
        sm = jax.shard_map(fn, mesh=mesh, in_specs=(state_spec, batch_spec, P()), out_specs=(state_spec, state_spec))
        return _jit(sm, mesh, state_spec, layout.seed_sharded, donate)

    return Phases(fns={name: wrap(fn) for name, fn in phases.items()}, mesh=mesh, seed_axis=seed_axis,
                  per_device=dict(phases), donate=donate)
