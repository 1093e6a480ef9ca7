"""The ``gan`` family: one generator fed with z and one discriminator.

GAN (Goodfellow et al. 2014), DCGAN, WGAN, WGAN-GP, SNGAN/SAGAN, the conditional GANs
(cGAN, projection, AC-GAN), InfoGAN, PacGAN and Stacked MNIST are all this family with
different networks, objectives, penalties, optimisers and schedules (``experiments/``).

Networks: ``g`` (``G(z)``, ``G(z, y)`` for label-conditioned models) and ``d``; an EMA of
``g`` when ``train.ema_decay`` > 0.

Phases (per device, see ``jgan.steps``):

* ``critic``: ``k`` D updates (WGAN's extra critic iterations);
* ``iteration``: ``k`` D updates, then one G update; advances ``state.step``.

``schedule(step)``: ``n_d = train.d_steps`` D updates per G update, ``train.d_steps_long``
for the first ``train.long_first`` iterations and every ``train.long_every``-th (WGAN's
100-critic warm-up), run as ``n_d / d_steps - 1`` ``critic`` phases of ``d_steps`` batches
and one ``iteration`` phase. The D updates run inside the compiled function, unrolled by
default (a rolled ``lax.scan`` is an option for accelerators: on XLA:CPU it was ~23x slower
for convolutions).

Randomness: the iteration key is ``fold_in(state.rng, state.step)``; D update ``j`` of the
iteration draws from ``fold_in(fold_in(it_key, 0), j)`` and the G update from
``fold_in(it_key, 1)``. So the numbers drawn do not depend on how the D updates are split
into compiled calls, and a resumed run draws what an uninterrupted run draws. z is drawn
for the global batch and sliced per device; only dropout masks fold in the device index.

Conditioning (``jgan.conditioning``): real batches are ``{'x', 'label'}`` when D or G need
the data's labels; fake labels and InfoGAN codes are drawn with z; AC-GAN's class loss and
InfoGAN's mutual-information bound are added to both losses.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from jgan import conditioning, edits, losses, optim, penalties, sampling, steps, viz
from jgan.conditioning import (Latents, d_args, d_aux_loss, draw_latents, g_args, g_aux_loss,
                               split_output)
from jgan.config import ConfigError, choice, positive
from jgan.data import drawn, pipeline, sources
from jgan.eval import evaluate as E
from jgan.family import Family, Net
from jgan.models import CONDITIONAL_BN_GENERATORS, CONDITIONING, DISCRIMINATORS, GENERATORS
from jgan.models import make_discriminator, make_generator
from jgan.sampling import generate
from jgan.state import EVAL, SAMPLES, State, ema_update, ema_variables, net_variables, stream_key

Metrics = dict[str, jax.Array]


# ----------------------------------------------------------------------------- config


def data_shape(config: ml_collections.ConfigDict) -> tuple[int, ...]:
    """The shape of one sample, from the config alone: ``(2,)`` for the 2D mixtures,
    ``(image_size, image_size, channels)`` for images (native sizes are read from the data)."""
    d = config.data
    if d.source in sources.TOY_MIXTURES:
        return (2,)
    if d.image_size and d.channels:
        return (d.image_size, d.image_size, d.channels)
    # data.image_size or channels 0: the data's native shape
    probe = pipeline.load_batch(sources.make_source(d, config.seed), np.array([0]),
                                image_size=d.image_size, channels=d.channels)
    return tuple(probe["x"].shape[1:])


def validate(c: ml_collections.ConfigDict) -> None:
    """Raise ``ConfigError`` (one sentence naming the field) for an invalid gan-family value."""
    choice("data.source", c.data.source, ("mnist_subset", "tfds", "stacked_mnist", "ring8", "grid25"))
    positive("data.num_examples", c.data.num_examples)
    positive("model.z_dim", c.model.z_dim)
    positive("model.pack", c.model.pack)
    choice("model.conditioning", c.model.conditioning, CONDITIONING)
    if c.model.conditioning != "none":
        if c.model.num_classes < 2:
            raise ConfigError(f"config.model.num_classes={c.model.num_classes} must be >= 2 for "
                              f"model.conditioning={c.model.conditioning!r}.")
        if c.model.pack > 1:
            raise ConfigError(f"config.model.pack={c.model.pack} works with unconditional models only; "
                              f"set model.pack=1 or model.conditioning='none'.")
    if c.model.conditioning == "projection" and c.model.generator.name not in CONDITIONAL_BN_GENERATORS:
        raise ConfigError(f"config.model.generator.name={c.model.generator.name!r} has no conditional "
                          f"BatchNorm for model.conditioning='projection'; use one of "
                          f"{', '.join(CONDITIONAL_BN_GENERATORS)}.")
    if c.model.generator.name == "biggan" and c.model.conditioning != "projection":
        raise ConfigError(f"config.model.generator.name='biggan' is class-conditional (conditional BatchNorm "
                          f"on a shared class embedding); set model.conditioning='projection', not "
                          f"{c.model.conditioning!r}.")
    if c.model.conditioning == "projection" and c.model.generator.norm != "batch":
        raise ConfigError("config.model.generator.norm must be 'batch' for model.conditioning='projection' "
                          "(its generator uses class-conditional BatchNorm).")
    positive("model.info_continuous", c.model.info_continuous, allow_zero=True)
    positive("loss.aux_weight", c.loss.aux_weight, allow_zero=True)
    choice("model.generator.name", c.model.generator.name, tuple(GENERATORS))
    choice("model.discriminator.name", c.model.discriminator.name, tuple(DISCRIMINATORS))
    for net in ("generator", "discriminator"):
        choice(f"model.{net}.norm", c.model[net].norm, ("batch", "layer", "none"))
    if not 0 <= c.model.discriminator.dropout < 1:
        raise ConfigError(f"config.model.discriminator.dropout={c.model.discriminator.dropout!r} "
                          f"must be in [0, 1).")
    if c.data.draw_in_step and c.data.source not in sources.TOY_MIXTURES:
        raise ConfigError(f"config.data.draw_in_step=True draws 2D mixtures inside the step; data.source="
                          f"{c.data.source!r} is not one of {sorted(sources.TOY_MIXTURES)}: set it to False.")
    choice("loss.name", c.loss.name, tuple(losses.OBJECTIVES))
    choice("loss.penalty", c.loss.penalty, tuple(penalties.PENALTIES))
    positive("loss.penalty_weight", c.loss.penalty_weight, allow_zero=True)
    if c.loss.penalty != "none" and c.model.discriminator.norm == "batch":
        raise ConfigError(f"config.loss.penalty={c.loss.penalty!r} needs per-example gradients: set "
                          f"model.discriminator.norm to 'layer' or 'none' (BatchNorm couples the batch).")
    t = c.train
    positive("train.d_steps", t.d_steps)
    for f in ("d_steps_long", "long_first", "long_every"):
        positive(f"train.{f}", t[f], allow_zero=True)
    if t.d_steps_long and t.d_steps_long % t.d_steps:
        raise ConfigError(f"config.train.d_steps_long={t.d_steps_long} must be a multiple of "
                          f"train.d_steps={t.d_steps}.")
    if t.batch_size % c.model.pack:
        raise ConfigError(f"config.train.batch_size={t.batch_size} is not divisible by "
                          f"model.pack={c.model.pack}; use a multiple of {c.model.pack}.")


def d_updates_at(step: int, t: ml_collections.ConfigDict) -> int:
    """D updates of generator iteration ``step`` (WGAN's schedule: more for the first
    ``long_first`` iterations and every ``long_every``-th)."""
    if t.d_steps_long and (step < t.long_first or (t.long_every and step % t.long_every == 0)):
        return t.d_steps_long
    return t.d_steps


# ----------------------------------------------------------------------------- the phases


class _Updates:
    """The per-device updates for one (G, D, objective, conditioning, config)."""

    def __init__(self, g_model, d_model, objective: losses.Objective, cond: conditioning.Conditioning,
                 config: ml_collections.ConfigDict):
        self.g_model, self.d_model, self.objective, self.cond = g_model, d_model, objective, cond
        self.z_dim = config.model.z_dim
        self.reuse_fake = config.train.reuse_fake
        self.unroll = config.train.unroll_d
        self.ema_decay = config.train.ema_decay
        self.ema_start = config.train.get("ema_start", 0)
        self.penalty = penalties.get_penalty(config.loss.penalty)
        self.penalty_weight = config.loss.penalty_weight

    def latents(self, key, local_batch: int) -> Latents:
        """This device's rows of one global draw of latents (independent of the device count)."""
        return steps.global_draw(lambda n: draw_latents(key, n, self.z_dim, self.cond), local_batch)

    def g_forward(self, params, batch_stats, lat: Latents, key):
        """G in train mode; ``key`` draws its dropout masks (the cGAN's MLP G; unused otherwise)."""
        return steps.apply_train(self.g_model, params, batch_stats, *g_args(lat, self.cond),
                                 rngs={"dropout": key})

    def d_forward(self, params, batch_stats, x, labels, key):
        """``((logits [N], aux or None), updated batch_stats)``."""
        out, bs = steps.apply_train(self.d_model, params, batch_stats, *d_args(x, labels, self.cond),
                                    rngs={"dropout": key})
        return split_output(out, self.cond), bs

    # --- one discriminator update
    def d_update(self, state: State, batch, it_key, d_index, keep_vjp: bool = False):
        cond = self.cond
        real, real_labels = batch["x"], batch.get("label")
        kz, kr, kf = jax.random.split(jax.random.fold_in(jax.random.fold_in(it_key, 0), d_index), 3)
        lat = self.latents(kz, real.shape[0])
        kr, kf = steps.device_key(kr), steps.device_key(kf)  # dropout masks: per device
        kg = steps.device_key(jax.random.fold_in(kz, 2))
        g = state.nets["g"]
        if keep_vjp:  # this G forward is reused by the G update
            fake, g_vjp, g_bs = jax.vjp(lambda p: self.g_forward(p, g.batch_stats, lat, kg),
                                        steps.varying(g.params), has_aux=True)
        else:
            fake, g_bs = self.g_forward(g.params, g.batch_stats, lat, kg)
            g_vjp = None
        fake = jax.lax.stop_gradient(fake)
        d = state.nets["d"]
        kp = steps.device_key(jax.random.fold_in(kz, 1))

        def loss_fn(params):
            (real_logits, aux_real), bs = self.d_forward(params, d.batch_stats, real, real_labels, kr)
            (fake_logits, aux_fake), bs = self.d_forward(params, bs, fake, lat.labels, kf)
            loss = self.objective.d_loss(real_logits=real_logits, fake_logits=fake_logits)
            aux = {"d_loss": loss, **losses.d_output_metrics(self.objective.d_output, real_logits=real_logits,
                                                             fake_logits=fake_logits)}
            if cond.d_has_aux:
                extra, extra_metrics = d_aux_loss(aux_real, aux_fake, real_labels, lat, cond)
                loss = loss + extra
                aux.update(extra_metrics)
            if self.penalty is not None:
                # D in train mode, its state updates discarded; interpolation draws per device
                def d_fn(labels):
                    return lambda x: self.d_forward(params, d.batch_stats, x, labels, kp)[0][0]
                penalty, norms = self.penalty.apply(d_fn(real_labels), d_fn(lat.labels), real, fake,
                                                    kp, self.penalty_weight)
                loss = loss + penalty
                aux.update(d_penalty=penalty, d_input_grad_norm=jnp.mean(norms))
            return loss, (bs, aux)

        (_, (bs, aux)), grads = jax.value_and_grad(loss_fn, has_aux=True)(steps.varying(d.params))
        d, grad_norm = steps.apply_gradients(d, grads, bs)
        metrics = steps.pmean(aux)
        metrics["d_grad_norm"] = grad_norm
        nets = {**state.nets, "g": g.replace(batch_stats=g_bs), "d": d}
        return state.replace(nets=nets), metrics, (fake, g_vjp, g_bs, lat)

    # --- the D updates offset .. offset + k - 1
    def d_phase(self, state: State, reals, d_offset, keep_last_vjp: bool = False):
        """k = ``reals['x'].shape[0]`` D updates; metrics are those of the last one."""
        it_key = jax.random.fold_in(state.rng, state.step)
        k = reals["x"].shape[0]
        n_plain = k - 1 if keep_last_vjp else k
        metrics, kept = None, None
        if self.unroll:
            for j in range(n_plain):
                state, metrics, _ = self.d_update(state, steps.batch_at(reals, j), it_key, d_offset + j)
        elif n_plain:
            def body(st, inp):
                st, m, _ = self.d_update(st, inp[0], it_key, d_offset + inp[1])
                return st, m
            head = jax.tree.map(lambda v: v[:n_plain], reals)
            state, ms = jax.lax.scan(body, state, (head, jnp.arange(n_plain)))
            metrics = jax.tree.map(lambda v: v[-1], ms)
        if keep_last_vjp:
            state, metrics, kept = self.d_update(state, steps.batch_at(reals, k - 1), it_key,
                                                 d_offset + k - 1, keep_vjp=True)
        return state, metrics, kept

    # --- the G update
    def g_update(self, state: State, kept, batch):
        cond = self.cond
        real = batch["x"]
        it_key = jax.random.fold_in(state.rng, state.step)
        g, d = state.nets["g"], state.nets["d"]
        if kept is not None:
            fake, g_vjp, g_bs, lat = kept
        else:
            lat = self.latents(jax.random.fold_in(it_key, 1), real.shape[0])
            kg = steps.device_key(jax.random.fold_in(jax.random.fold_in(it_key, 1), 3))
            fake, g_vjp, g_bs = jax.vjp(lambda p: self.g_forward(p, g.batch_stats, lat, kg),
                                        steps.varying(g.params), has_aux=True)
        kd = steps.device_key(jax.random.fold_in(jax.random.fold_in(it_key, 1), 1))
        real_logits = None
        if self.objective.g_needs_real:  # relativistic losses compare with D on real data
            kr = steps.device_key(jax.random.fold_in(jax.random.fold_in(it_key, 1), 2))
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
        g, grad_norm = steps.apply_gradients(g, grads, g_bs)
        ema = dict(state.ema)
        if "g" in ema:
            decay = self.ema_decay
            if self.ema_start:  # BigGAN-PyTorch's ema.update(itr): decay 0 while itr (1-based) < start
                decay = jnp.where(state.step + 1 < self.ema_start, 0.0, decay)
            ema["g"] = ema_update(ema["g"], g, decay)
        metrics = {"g_loss": jax.lax.pmean(loss, steps.AXIS), "g_grad_norm": grad_norm,
                   **steps.pmean(extra_metrics)}
        return state.replace(nets={**state.nets, "g": g}, ema=ema, step=state.step + 1), metrics

    # --- the phases
    def iteration(self, state: State, reals, d_offset) -> tuple[State, Metrics]:
        """``reals``: ``{'x': [k, B_local, ...], 'label': [k, B_local]}`` (labels only for
        label-conditioned models): k D updates (indices d_offset..) then one G update."""
        state, d_metrics, kept = self.d_phase(state, reals, d_offset, keep_last_vjp=self.reuse_fake)
        state, g_metrics = self.g_update(state, kept, steps.batch_at(reals, -1))
        return state, {**d_metrics, **g_metrics}

    def critic(self, state: State, reals, d_offset) -> tuple[State, Metrics]:
        """As ``iteration`` without the G update."""
        state, metrics, _ = self.d_phase(state, reals, d_offset)
        return state, metrics


# ----------------------------------------------------------------------------- sampling


def fixed_latents(key, n: int, z_dim: int, cond, truncation: float = 0.0) -> Latents:
    """Latents of a fixed sample batch: ``z ~ N(0, I)`` from ``key`` (truncated by resampling
    when ``truncation`` > 0, :func:`jgan.sampling.truncate`), balanced labels / codes
    (:func:`jgan.conditioning.balanced_latents`, continuous codes from ``fold_in(key, 2)``)."""
    z = sampling.truncate(jax.random.normal(key, (n, z_dim)), key, truncation)
    return conditioning.balanced_latents(z, jax.random.fold_in(key, 2), cond)


def eval_noise(seed: int, n: int, z_dim: int, truncation: float = 0.0) -> jax.Array:
    """The fixed evaluation latents ``[n, z_dim]`` of a run (truncated when ``truncation`` > 0)."""
    key = jax.random.fold_in(stream_key(seed, EVAL), 2 ** 31 - 1)
    return sampling.truncate(jax.random.normal(key, (n, z_dim)), key, truncation)


def eval_latents(seed: int, n: int, z_dim: int, cond, truncation: float = 0.0) -> Latents:
    """The fixed evaluation latents of a run: z = :func:`eval_noise`, balanced labels / codes
    (continuous codes from the EVAL stream)."""
    return conditioning.balanced_latents(eval_noise(seed, n, z_dim, truncation),
                                         jax.random.fold_in(stream_key(seed, EVAL), 2 ** 31 - 2), cond)


def save_samples(x: np.ndarray, path: str, config, title: str, ncols: int | None = None) -> None:
    """A sample grid (images) or a scatter plot over the mixture's modes (2D points)."""
    if x.ndim == 2:
        toy = sources.TOY_MIXTURES.get(config.data.source)
        viz.save_scatter(x, path, modes=toy[0]() if toy else None, title=title)
    else:
        viz.save_image_grid(x, path, ncols=ncols)


# ----------------------------------------------------------------------------- the family


class GAN(Family):
    name = "gan"

    def __init__(self, config: ml_collections.ConfigDict):
        super().__init__(config)
        m = config.model
        self.cond = conditioning.from_config(config)
        self.phase_keys = ("x", "label") if self.cond.uses_data_labels else ("x",)
        self.in_step = bool(config.data.draw_in_step)  # real batches drawn in the phases
        self.data_keys = ("x",) if self.in_step else self.phase_keys  # in-step: placeholders
        self.shape = data_shape(config)
        self.g_model = make_generator(m.generator, self.shape, m.conditioning, self.cond.num_classes)
        self.d_model = make_discriminator(m.discriminator, self.shape, m.pack, m.conditioning,
                                          self.cond.num_classes, self.cond.num_continuous)
        self.objective = losses.get_objective(config.loss.name)

    def nets(self) -> dict[str, Net]:
        c, cond = self.config, self.cond
        z = jnp.zeros((2, c.model.z_dim + cond.code_dim), jnp.float32)
        n = 2 * c.model.pack  # any multiple of the pack
        x = jnp.zeros((n, *self.shape), jnp.float32)
        g_args_ = (z, jnp.zeros(2, jnp.int32)) if cond.g_takes_labels else (z,)
        d_args_ = (x, jnp.zeros(n, jnp.int32)) if cond.d_takes_labels else (x,)
        return {"g": Net(self.g_model, g_args_, optim.make_optimizer(c.optim.g), c.train.ema_decay),
                "d": Net(self.d_model, d_args_, optim.make_optimizer(c.optim.d))}

    def phases(self):
        u = _Updates(self.g_model, self.d_model, self.objective, self.cond, self.config)
        phases = {"critic": u.critic, "iteration": u.iteration}
        if self.in_step:
            phases = {name: drawn.in_step_phase(self.config.data.source, fn, self.phase_keys)
                      for name, fn in phases.items()}
        return phases

    def train_source(self):
        return None if self.in_step else self.source()

    def schedule(self, step: int) -> list[tuple[str, int]]:
        t = self.config.train
        n_d, k = d_updates_at(step, t), t.d_steps
        return [("critic", k)] * (n_d // k - 1) + [("iteration", k)]

    def source(self, split: str | None = None):
        """``data.split`` (training) or another split of the configured source."""
        source = sources.split_source(self.config, split)
        if self.cond.uses_data_labels:
            self._check_labels(source)
        return source

    def _check_labels(self, source) -> None:
        """Every label ``source`` can yield is in [0, num_classes): its label array, else the
        dataset's declared classes (TFDS ClassLabel), else every example's label."""
        k, declared = self.cond.num_classes, getattr(source, "num_label_classes", None)
        labels = getattr(source, "labels", None)
        if labels is None and declared:
            bad = np.array([declared - 1] if declared > k else [], np.int64)
        else:
            labels = np.asarray([source[i]["label"] for i in range(len(source))] if labels is None else labels)
            bad = labels[(labels < 0) | (labels >= k)]
        if bad.size:
            raise sources.DataError(
                f"model.conditioning={self.config.model.conditioning!r} needs labels in [0, "
                f"model.num_classes={k}), but the data has label {int(bad.max() if declared else bad[0])}; "
                f"use labelled data or set model.num_classes.")

    def check_shapes(self) -> None:
        """``ConfigError`` (naming the network) if G's samples are not of the data's shape or D
        cannot take them; traced with ``jax.eval_shape``, nothing is computed."""
        c, nets = self.config, self.nets()
        data = (f"the data's shape {self.shape} (data.source={c.data.source!r}"
                + (f", data.image_size={c.data.image_size}" if len(self.shape) == 3 else "") + ")")

        def output(name: str):
            net = nets[name]
            return jax.eval_shape(lambda: net.module.init_with_output(
                {"params": jax.random.key(0), "dropout": jax.random.key(0)}, *net.example_args, train=False)[0])

        for name, field in (("g", "generator"), ("d", "discriminator")):
            try:
                out = output(name)
            except Exception as e:  # flax / lax shape errors: the network cannot take this data
                detail = " ".join(str(e).split())[:160]
                raise ConfigError(f"config.model.{field}.name={c.model[field].name!r} does not fit {data} "
                                  f"({type(e).__name__}: {detail}); choose a {field} for this data.") from None
            if name == "g" and tuple(out.shape[1:]) != self.shape:
                raise ConfigError(f"config.model.generator.name={c.model.generator.name!r} generates "
                                  f"samples of shape {tuple(out.shape[1:])}, not {data}; choose a generator "
                                  f"for this data or change the data's size.")

    def batch_multiple(self) -> int:
        return self.config.model.pack

    def batch_multiple_reason(self) -> str:
        return f"model.pack={self.config.model.pack}"

    def plot_panels(self):
        d_output = losses.d_output_panel(self.objective.d_output)
        return [("d_loss", "g_loss", "d_penalty"), *([d_output] if d_output else []),
                ("d_real_logit", "d_fake_logit"), ("d_grad_norm", "g_grad_norm", "d_input_grad_norm")]

    def progress_keys(self) -> tuple[str, ...]:
        return ("d_loss", "g_loss", *losses.d_output_panel(self.objective.d_output))

    # --- host side
    def sample_variables(self, state: State, use_ema: bool = True) -> dict:
        """G's variables for sampling: the EMA (``use_ema`` and kept) or the raw G; with
        ``eval.standing_stats`` = K > 0, BatchNorm's moments replaced by their average over K
        batches of G in train mode (:func:`jgan.sampling.standing_statistics`)."""
        variables = ema_variables(state, "g") if use_ema else net_variables(state, "g")
        k = self.config.eval.get("standing_stats", 0)
        if not k:
            return variables
        c = self.config
        key = jax.random.fold_in(stream_key(c.seed, EVAL), 2 ** 31 - 3)
        lat = [fixed_latents(jax.random.fold_in(key, i), c.train.batch_size, c.model.z_dim, self.cond,
                             c.eval.get("truncation", 0.0)) for i in range(k)]
        return sampling.standing_statistics(self.g_model, variables,
                                            [g_args(x, self.cond) for x in lat])

    def write_grids(self, state: State, step: int, out) -> None:
        c = self.config
        lat = fixed_latents(stream_key(c.seed, SAMPLES), c.train.num_samples, c.model.z_dim, self.cond,
                            c.eval.get("truncation", 0.0))
        ncols = self.cond.num_classes if self.cond.kind != "none" else None  # a column per class / code
        variants = [("", False)] + ([("ema_", True)] if "g" in state.ema else [])
        for prefix, use_ema in variants:
            x = generate(self.g_model, self.sample_variables(state, use_ema), lat, self.cond)
            out.save_grid(f"{prefix}step_{step:07d}.png",
                          lambda path, x=x: save_samples(x, path, c, f"{c.name} step {step}", ncols), step)

    def eval_samples(self, state: State) -> tuple[np.ndarray, Latents]:
        """The protocol's number of samples (``jgan.eval.evaluate.num_generated``) of the EMA
        (or raw) G on the run's evaluation latents."""
        lat = eval_latents(self.config.seed, E.num_generated(self.config), self.config.model.z_dim, self.cond,
                           self.config.eval.get("truncation", 0.0))
        return generate(self.g_model, self.sample_variables(state), lat, self.cond), lat

    def evaluate(self, state: State, workdir: str) -> dict[str, float]:
        samples, lat = self.eval_samples(state)
        labels = None if self.cond.kind == "none" else np.asarray(lat.labels)
        return E.evaluate_samples(self.config, samples, workdir, labels=labels,
                                  label_kind={"none": None, "infogan": "code"}.get(self.cond.kind, "label"))

    def evaluate_floor(self, workdir: str) -> dict:
        return E.heldout_floor(self.config, workdir, E.num_generated(self.config),
                               label_kind={"none": None, "infogan": "code"}.get(self.cond.kind, "label"))

    def check_evaluator(self) -> None:
        E.check_evaluator(self.config, conditional=self.cond.kind != "none")

    def modes(self):
        modes = {"sample": functools.partial(sampling.write_sample_grid, self),
                 "interpolate": functools.partial(sampling.write_interpolations, self)}
        if self.cond.kind == "none" and len(self.shape) == 3:  # an unconditional image G: edits of z
            modes.update(edits.modes(self))
        return modes

    def latent_space(self, state: State) -> edits.LatentSpace:
        """z ~ N(0, I) and G (EMA when kept) in inference mode (unconditional G only)."""
        variables = self.sample_variables(state)
        return edits.LatentSpace(
            z_dim=self.config.model.z_dim,
            draw=lambda key, n: jax.random.normal(key, (n, self.config.model.z_dim)),
            decode=lambda z: generate(self.g_model, variables, Latents(jnp.asarray(z), None, None), self.cond))


def make(config: ml_collections.ConfigDict) -> GAN:
    validate(config)
    family = GAN(config)
    family.check_shapes()
    return family
