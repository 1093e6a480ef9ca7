"""The training iteration as one pure function, and its data-parallel wrapper.

One iteration (``train_step``) = ``d_steps`` discriminator updates, each on its own real
batch and fresh z, then one generator update; ``state.step`` counts iterations. The D
updates run inside the compiled function, unrolled by default (a rolled ``lax.scan`` is
an option for accelerators: on XLA:CPU it was ~23x slower for convolutions). A D-only
phase (``d_phase``) serves schedules with extra critic updates (WGAN's 100 critic
iterations early on): those updates are chunks of ``d_steps`` run before the full step.

Randomness: the iteration key is ``fold_in(state.rng, state.step)``; D update ``j`` of the
iteration draws from ``fold_in(fold_in(it_key, 0), j)`` and the G update from
``fold_in(it_key, 1)``. So the numbers drawn do not depend on how the D updates are split
into compiled calls, and a resumed run draws what an uninterrupted run draws. z is drawn
for the global batch and sliced per device, so it does not depend on the device count
either; only dropout masks fold in the device index.

Data parallelism: the per-device functions run under ``jax.shard_map`` over a 1D mesh
axis ``data``. The state is replicated; real batches ``[k, B, ...]`` are split along B.
Parameters are cast to device-varying before differentiation, so each device gets its
local gradient, and ``pmean`` averages them: the result is the gradient of the mean loss
over the global batch. BatchNorm layers average their batch moments over ``data``.

Conditioning (``StepConfig.cond``, see ``jgan.conditioning``): real batches are
``{'x', 'label'}`` pytrees when D or G need the data's labels; fake labels and InfoGAN
codes are drawn with z; AC-GAN's class loss and InfoGAN's mutual-information bound are
added to both losses. Seed studies ``jax.vmap`` the per-device step over a leading seed
axis of the state and batches (``make_step_functions(seed_axis=True)``).
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from jax.sharding import NamedSharding, PartitionSpec as P

from jgan import penalties
from jgan.conditioning import (Conditioning, Latents, d_args, d_aux_loss, draw_latents, g_args, g_aux_loss,
                               split_output)
from jgan.losses import Objective
from jgan.state import GANState

AXIS = "data"
Metrics = dict[str, jax.Array]


@dataclasses.dataclass(frozen=True)
class StepConfig:
    z_dim: int
    reuse_fake: bool        # G update reuses the last D update's z and G forward (DCGAN example)
    unroll: bool = True     # unroll the D updates (fast on CPU) or lax.scan them
    ema_decay: float = 0.0  # EMA of G's params; 0 = off
    penalty: str = "none"   # gradient penalty on D: 'none', 'wgan_gp', 'r1', 'r2', 'dragan'
    penalty_weight: float = 10.0  # lambda (WGAN-GP, DRAGAN) or gamma (R1, R2)
    cond: Conditioning = Conditioning()  # labels / codes given to G and D (jgan.conditioning)


def _device_key(key: jax.Array) -> jax.Array:
    return jax.random.fold_in(key, jax.lax.axis_index(AXIS))


def _local_latents(key: jax.Array, local_batch: int, z_dim: int, cond: Conditioning) -> Latents:
    """This device's rows of one global draw of ``local_batch * devices`` latents.

    Drawing the global batch and slicing it (instead of folding the device index into the
    key) makes z independent of the device count: 1 and 8 devices train on the same z.
    """
    n = jax.lax.axis_size(AXIS)
    lat = draw_latents(key, local_batch * n, z_dim, cond)
    start = jax.lax.axis_index(AXIS) * local_batch
    return jax.tree.map(lambda v: jax.lax.dynamic_slice_in_dim(v, start, local_batch), lat)


def _as_batch(reals) -> dict:
    """A real batch as ``{'x': ..., 'label': ...}`` ('label' optional); a bare array is 'x'."""
    return reals if isinstance(reals, dict) else {"x": reals}


def _varying(tree):
    return jax.tree.map(lambda x: jax.lax.pcast(x, AXIS, to="varying"), tree)


def _pmean(tree):
    return jax.tree.map(lambda x: jax.lax.pmean(x, AXIS), tree)


class _Step:
    """Builds the per-device functions for one (G, D, objective, StepConfig)."""

    def __init__(self, g_model: nn.Module, d_model: nn.Module, objective: Objective, cfg: StepConfig):
        self.g_model, self.d_model, self.objective, self.cfg = g_model, d_model, objective, cfg

    # --- network applications (train mode: batch statistics, running averages updated)
    # The updated 'batch_stats' are averaged over the data axis: BatchNorm's running
    # moments are already global, but spectral norm's power-iteration vectors are computed
    # from the device-varying parameter copies, so they must be made replicated again (their
    # values are equal on every device: the parameters are).
    def g_forward(self, params, batch_stats, lat: Latents):
        out, upd = self.g_model.apply({"params": params, "batch_stats": batch_stats},
                                      *g_args(lat, self.cfg.cond), train=True, mutable=["batch_stats"])
        return out, _pmean(upd.get("batch_stats", {}))

    def d_forward(self, params, batch_stats, x, labels, key):
        """``((logits [N], aux or None), updated batch_stats)``."""
        out, upd = self.d_model.apply({"params": params, "batch_stats": batch_stats},
                                      *d_args(x, labels, self.cfg.cond), train=True,
                                      mutable=["batch_stats"], rngs={"dropout": key})
        return split_output(out, self.cfg.cond), _pmean(upd.get("batch_stats", {}))

    # --- one discriminator update
    def d_update(self, state: GANState, batch, it_key, d_index, keep_vjp: bool = False):
        cond = self.cfg.cond
        real, real_labels = batch["x"], batch.get("label")
        kz, kr, kf = jax.random.split(jax.random.fold_in(jax.random.fold_in(it_key, 0), d_index), 3)
        lat = _local_latents(kz, real.shape[0], self.cfg.z_dim, cond)
        kr, kf = _device_key(kr), _device_key(kf)  # dropout masks: per device
        g = state.g
        if keep_vjp:  # this G forward is reused by the G update
            fake, g_vjp, g_bs = jax.vjp(lambda p: self.g_forward(p, g.batch_stats, lat),
                                        _varying(g.params), has_aux=True)
        else:
            fake, g_bs = self.g_forward(g.params, g.batch_stats, lat)
            g_vjp = None
        fake = jax.lax.stop_gradient(fake)
        d = state.d

        kp = _device_key(jax.random.fold_in(kz, 1))

        def loss_fn(params):
            (real_logits, aux_real), bs = self.d_forward(params, d.batch_stats, real, real_labels, kr)
            (fake_logits, aux_fake), bs = self.d_forward(params, bs, fake, lat.labels, kf)
            loss = self.objective.d_loss(real_logits=real_logits, fake_logits=fake_logits)
            aux = {"d_loss": loss, "d_real": jnp.mean(real_logits), "d_fake": jnp.mean(fake_logits)}
            if cond.d_has_aux:
                extra, extra_metrics = d_aux_loss(aux_real, aux_fake, real_labels, lat, cond)
                loss = loss + extra
                aux.update(extra_metrics)
            if self.cfg.penalty != "none":
                penalty, norms = self.penalty(params, d.batch_stats, real, fake, real_labels,
                                              lat.labels, kp)
                loss = loss + penalty
                aux.update(d_penalty=penalty, d_input_grad_norm=jnp.mean(norms))
            return loss, (bs, aux)

        (_, (bs, aux)), grads = jax.value_and_grad(loss_fn, has_aux=True)(_varying(d.params))
        grads = _pmean(grads)
        d = d.apply_gradients(grads=grads, batch_stats=bs)
        metrics = _pmean(aux)
        metrics["d_grad_norm"] = optax.tree.norm(grads)
        state = state.replace(g=g.replace(batch_stats=g_bs), d=d)
        return state, metrics, (fake, g_vjp, g_bs, lat)

    def penalty(self, params, batch_stats, real, fake, real_labels, fake_labels, key):
        """``(weighted penalty, per-example ||grad_x D|| [N])`` of ``cfg.penalty`` (see
        ``jgan.penalties``); D in train mode, its state updates discarded. Interpolation
        draws use a per-device key. A label-conditioned D is evaluated with the real labels
        (R1, DRAGAN, and WGAN-GP's interpolates) or the fake ones (R2)."""
        def d_fn(labels):
            return lambda x: self.d_forward(params, batch_stats, x, labels, key)[0][0]
        w = self.cfg.penalty_weight
        name = self.cfg.penalty
        if name == "wgan_gp":
            return penalties.wgan_gp(d_fn(real_labels), real, fake, key, weight=w)
        if name == "r1":
            return penalties.r1(d_fn(real_labels), real, gamma=w)
        if name == "r2":
            return penalties.r2(d_fn(fake_labels), fake, gamma=w)
        if name == "dragan":
            return penalties.dragan(d_fn(real_labels), real, key, weight=w)
        raise ValueError(f"unknown penalty {name!r}")

    # --- the D phase: updates d_offset .. d_offset + k - 1
    def d_phase(self, state: GANState, reals, d_offset, keep_last_vjp: bool = False):
        """k = ``reals.shape[0]`` D updates; metrics are those of the last one."""
        it_key = jax.random.fold_in(state.rng, state.step)
        k = reals["x"].shape[0]
        at = lambda j: jax.tree.map(lambda v: v[j], reals)  # noqa: E731
        n_plain = k - 1 if keep_last_vjp else k
        metrics, kept = None, None
        if self.cfg.unroll:
            for j in range(n_plain):
                state, metrics, _ = self.d_update(state, at(j), it_key, d_offset + j)
        elif n_plain:
            def body(st, inp):
                st, m, _ = self.d_update(st, inp[0], it_key, d_offset + inp[1])
                return st, m
            head = jax.tree.map(lambda v: v[:n_plain], reals)
            state, ms = jax.lax.scan(body, state, (head, jnp.arange(n_plain)))
            metrics = jax.tree.map(lambda v: v[-1], ms)
        if keep_last_vjp:
            state, metrics, kept = self.d_update(state, at(k - 1), it_key, d_offset + k - 1,
                                                 keep_vjp=True)
        return state, metrics, kept

    # --- the G update
    def g_update(self, state: GANState, kept, batch):
        cond = self.cfg.cond
        real = batch["x"]
        it_key = jax.random.fold_in(state.rng, state.step)
        g, d = state.g, state.d
        if kept is not None:
            fake, g_vjp, g_bs, lat = kept
        else:
            lat = _local_latents(jax.random.fold_in(it_key, 1), real.shape[0], self.cfg.z_dim, cond)
            fake, g_vjp, g_bs = jax.vjp(lambda p: self.g_forward(p, g.batch_stats, lat),
                                        _varying(g.params), has_aux=True)
        kd = _device_key(jax.random.fold_in(jax.random.fold_in(it_key, 1), 1))
        real_logits = None
        if self.objective.g_needs_real:  # relativistic losses compare with D on real data
            kr = _device_key(jax.random.fold_in(jax.random.fold_in(it_key, 1), 2))
            (real_logits, _), _ = self.d_forward(d.params, d.batch_stats, real, batch.get("label"), kr)

        def objective(fake):  # D in train mode; its running statistics are not updated here
            (logits, aux), _ = self.d_forward(d.params, d.batch_stats, fake, lat.labels, kd)
            loss = self.objective.g_loss(fake_logits=logits, real_logits=real_logits)
            if not cond.d_has_aux:
                return loss, (loss, {})
            extra, extra_metrics = g_aux_loss(aux, lat, cond)
            return loss + extra, (loss, extra_metrics)

        (_, (loss, extra_metrics)), dfake = jax.value_and_grad(objective, has_aux=True)(fake)
        (grads,) = g_vjp(dfake)
        grads = _pmean(grads)
        g = g.apply_gradients(grads=grads, batch_stats=g_bs)
        ema = state.ema_params
        if ema is not None:
            decay = self.cfg.ema_decay
            ema = jax.tree.map(lambda e, p: decay * e + (1 - decay) * p, ema, g.params)
        metrics = {"g_loss": jax.lax.pmean(loss, AXIS), "g_grad_norm": optax.tree.norm(grads),
                   **_pmean(extra_metrics)}
        return state.replace(g=g, ema_params=ema, step=state.step + 1), metrics

    # --- public per-device functions
    def train_step(self, state: GANState, reals, d_offset) -> tuple[GANState, Metrics]:
        """``reals``: ``{'x': [k, B_local, ...], 'label': [k, B_local]}`` (labels only for
        label-conditioned models; a bare array is 'x'): k D updates (indices d_offset..) then
        one G update."""
        reals = _as_batch(reals)
        state, d_metrics, kept = self.d_phase(state, reals, d_offset, keep_last_vjp=self.cfg.reuse_fake)
        state, g_metrics = self.g_update(state, kept, jax.tree.map(lambda v: v[-1], reals))
        return state, {**d_metrics, **g_metrics}

    def d_only_step(self, state: GANState, reals, d_offset) -> tuple[GANState, Metrics]:
        """As ``train_step`` without the G update."""
        reals = _as_batch(reals)
        state, metrics, _ = self.d_phase(state, reals, d_offset)
        return state, metrics


@dataclasses.dataclass(frozen=True)
class StepFunctions:
    """Jitted, data-parallel ``(state, reals [k, B, ...], d_offset) -> (state, metrics)``."""

    train_step: Callable[[GANState, jax.Array, jax.Array], tuple[GANState, Metrics]]
    d_only_step: Callable[[GANState, jax.Array, jax.Array], tuple[GANState, Metrics]]
    mesh: jax.sharding.Mesh
    seed_axis: bool = False  # state and batches have a leading seed axis (seed studies)

    def shard_reals(self, reals):
        """Place host arrays ``[k, B, ...]`` (``[S, k, B, ...]`` with a seed axis; a pytree;
        this process's part of B) on the mesh."""
        sharding = NamedSharding(self.mesh, P(None, None, AXIS) if self.seed_axis else P(None, AXIS))
        return jax.tree.map(lambda v: jax.make_array_from_process_local_data(sharding, v), reals)

    def replicate(self, tree):
        """Place a pytree replicated on every device of the mesh."""
        return jax.device_put(tree, NamedSharding(self.mesh, P()))


def make_mesh(devices=None) -> jax.sharding.Mesh:
    """A 1D mesh with axis ``data`` over ``devices`` (default: all devices of all processes)."""
    devices = jax.devices() if devices is None else list(devices)
    return jax.make_mesh((len(devices),), (AXIS,), axis_types=(jax.sharding.AxisType.Auto,),
                         devices=devices)


def make_step_functions(g_model: nn.Module, d_model: nn.Module, objective: Objective,
                        cfg: StepConfig, mesh: jax.sharding.Mesh, donate: bool = True,
                        seed_axis: bool = False) -> StepFunctions:
    """Wrap the per-device step in ``shard_map`` over ``mesh`` and ``jit`` it (state donated).

    ``seed_axis``: the step is ``jax.vmap``-ed over a leading axis of the state and of the
    batches (``[S, k, B, ...]``): S independent runs (seeds) advance in one compiled program,
    each exactly as it would alone (collectives stay per seed).
    """
    step = _Step(g_model, d_model, objective, cfg)

    def wrap(fn):
        if seed_axis:
            fn = jax.vmap(fn, in_axes=(0, 0, None))
        reals_spec = P(None, None, AXIS) if seed_axis else P(None, AXIS)
        sm = jax.shard_map(fn, mesh=mesh, in_specs=(P(), reals_spec, P()), out_specs=(P(), P()))
        return jax.jit(sm, donate_argnums=(0,) if donate else ())

    return StepFunctions(train_step=wrap(step.train_step), d_only_step=wrap(step.d_only_step), mesh=mesh,
                         seed_axis=seed_axis)
