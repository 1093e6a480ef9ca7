"""The ``progan`` family: progressive growing (Karras, Aila, Laine & Lehtinen 2018,
*Progressive Growing of GANs for Improved Quality, Stability, and Variation*; the authors'
code ``tkarras/progressive_growing_of_gans``: ``train.py``, ``loss.py``, ``networks.py``,
``config.py``).

Networks (``jgan.models.progan``): ``g`` and ``d`` with every stage's parameters from step 0,
so the state's structure never changes as they grow; an EMA of ``g`` (``train.ema_decay``,
the reference's ``G_smoothing`` 0.999), which the grids and the evaluation use.

Growth (:class:`Growth`, a pure function of the iteration): stage 0 (4x4) for
``train.stable_steps`` iterations, then for each later stage ``train.fade_steps`` iterations
fading its block in (``alpha = (step - start) / fade_steps``) and ``train.stable_steps`` at
``alpha = 1``; the last stage runs to ``train.steps``. The reference's schedule in images
(``lod_training_kimg``, ``lod_transition_kimg``, 600k each) is this one at ``steps = kimg *
1000 / batch``. One phase per stage (``stage<s>``, compiled once each); the schedule names
the stage's phase, which runs one D update then one G update (the reference's ``D_repeats
= 1``).

With ``train.reset_optimizer`` (the reference's ``reset_opt_for_new_lod``) both Adam states
are reset to their initial value at the first iteration of every fade and at the first
iteration after it (where the reference's level of detail changes its floor or its ceiling),
inside the phase, from the step: a resumed run resets where an uninterrupted one does.

The objective (``loss.py``: ``D_wgangp_acgan`` / ``G_wgan_acgan`` without labels):

* ``L_D = E D(G(z)) - E D(x) + lambda / t^2 E (||grad D(x_hat)|| - t)^2 + eps_drift E D(x)^2``
  with ``x_hat = x + u (G(z) - x)``, ``u ~ U(0, 1)`` per example, lambda 10, t 1, eps 1e-3;
* ``L_G = -E D(G(z'))`` with fresh latents ``z'``.

Real images (``process_reals``): padded (centred, background -1) to ``model.resolution``
when the data are smaller (MNIST's 28 px to 32, as the reference's ``dataset_tool.py
create_mnist``), box-filtered down to the stage's resolution and, during a fade, blended
with their own 2x blur: ``alpha x_r + (1 - alpha) up2(down2(x_r))``.

Randomness: the iteration key is ``fold_in(state.rng, state.step)``; D's latents from
``fold_in(key, 0)``, the interpolation weights from ``fold_in(key, 1)``, G's latents from
``fold_in(key, 2)``, each drawn for the global batch.

Deliberate departures: one fixed batch size and learning rate for every resolution (the
reference's presets change both per resolution); ``alpha`` moves every iteration (the
reference updates its schedule every 4 minibatches); the EMA is updated after G's step (the
reference updates it beside D's step); minibatch-stddev groups are consecutive examples
(``jgan.models.progan``).

Evaluation: the EMA generator at the current stage, its output up-sampled (nearest) to the
full resolution as the reference's networks do and cropped back to the data's size, with
the gan family's metrics (FID, KID, ... in ``eval.extractor``'s features). Grids: one per
resolution as it grows (``res<r>_step_<n>.png``, the stage's native size).
"""
from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from jgan import optim, penalties, sampling, steps, viz
from jgan.config import ConfigError, choice, positive
from jgan.data import sources
from jgan.eval import evaluate as E
from jgan.families.gan import data_shape
from jgan.family import Family, Net
from jgan.models.layers import upsample_nearest
from jgan.models.progan import (ProGANDiscriminator, ProGANGenerator, downscale2d, feature_maps, num_stages,
                                stage_resolution)
from jgan.padding import crop_to, pad_to
from jgan.state import EVAL, SAMPLES, State, ema_update, ema_variables, stream_key

Metrics = dict[str, jax.Array]


@dataclasses.dataclass(frozen=True)
class Growth:
    """The growing schedule: ``stages`` stages, ``stable`` iterations at each resolution
    after ``fade`` iterations of fading it in (none for stage 0)."""

    stages: int
    stable: int
    fade: int

    def start(self, stage: int) -> int:
        """The first iteration of ``stage`` (of its fade for stage >= 1)."""
        return 0 if stage == 0 else self.stable + (stage - 1) * (self.fade + self.stable)

    def stage_at(self, step: int) -> int:
        if step < self.stable:
            return 0
        return min(1 + (step - self.stable) // (self.fade + self.stable), self.stages - 1)

    def alpha(self, step, stage: int):
        """The fade-in weight of ``stage``'s newest block at ``step`` (a traced int works)."""
        if stage == 0 or self.fade == 0:
            return jnp.float32(1.0)
        return jnp.clip((step - self.start(stage)) / self.fade, 0.0, 1.0).astype(jnp.float32)

    def resets(self, stage: int) -> tuple[int, ...]:
        """The iterations of ``stage`` that start with fresh optimiser states: its fade's
        first and the first after the fade (the reference's lod floor / ceil changes)."""
        return () if stage == 0 else tuple(sorted({self.start(stage), self.start(stage) + self.fade}))


def validate(c: ml_collections.ConfigDict) -> None:
    """Raise ``ConfigError`` (one sentence naming the field) for an invalid progan value."""
    choice("data.source", c.data.source, ("mnist_subset", "tfds"))
    try:
        num_stages(c.model.resolution)
    except ValueError:
        raise ConfigError(f"config.model.resolution={c.model.resolution} must be a power of 2 >= 8 "
                          f"(ProGAN grows from 4x4 to it).") from None
    if c.model.resolution < 8:
        raise ConfigError(f"config.model.resolution={c.model.resolution} must be >= 8: there is nothing to grow.")
    for f in ("fmap_base", "fmap_max"):
        positive(f"model.{f}", c.model[f])
    positive("model.z_dim", c.model.z_dim, allow_zero=True)
    positive("model.mbstd_group", c.model.mbstd_group, allow_zero=True)
    for f in ("gp_weight", "gp_target", "drift"):
        positive(f"loss.{f}", c.loss[f], allow_zero=f != "gp_target")
    positive("train.stable_steps", c.train.stable_steps)
    positive("train.fade_steps", c.train.fade_steps, allow_zero=True)
    if c.train.d_steps != 1:
        raise ConfigError(f"config.train.d_steps={c.train.d_steps} must be 1: ProGAN alternates one D and one G "
                          f"update per minibatch (the reference's D_repeats = 1).")
    if not 0 <= c.train.ema_decay < 1:
        raise ConfigError(f"config.train.ema_decay={c.train.ema_decay} must be in [0, 1).")


def check_padding(size: int, resolution: int) -> None:
    """Raise ``ConfigError`` unless data of ``size`` pixels can be padded (centred) to ``resolution``."""
    if size > resolution or (resolution - size) % 2:
        raise ConfigError(f"config.model.resolution={resolution} must be at least the data's size "
                          f"{size} (data.image_size) and differ from it by an even number of pixels "
                          f"(the data are padded to it, centred).")


def reals_at(x: jax.Array, resolution: int, alpha) -> jax.Array:
    """The reference's ``process_reals``: full-resolution reals box-filtered to ``resolution``,
    blended with their 2x blur by ``1 - alpha`` (during a fade)."""
    x = downscale2d(x, x.shape[1] // resolution)
    if resolution == 4:
        return x
    return alpha * x + (1.0 - alpha) * upsample_nearest(downscale2d(x))


def progan_d_loss(real_scores, fake_scores, grad_norms, *, gp_weight: float, gp_target: float, drift: float):
    """``E D(G(z)) - E D(x) + gp_weight / t^2 E (||grad|| - t)^2 + drift E D(x)^2`` and its terms."""
    gp = penalties.two_sided(grad_norms, weight=gp_weight / gp_target ** 2, target=gp_target)
    eps = drift * jnp.mean(jnp.square(real_scores))
    return jnp.mean(fake_scores) - jnp.mean(real_scores) + gp + eps, gp, eps


class ProGAN(E.UnconditionalImageEvaluation, Family):
    name = "progan"
    data_keys = ("x",)

    def __init__(self, config: ml_collections.ConfigDict):
        super().__init__(config)
        m = config.model
        self.data_shape = data_shape(config)
        self.resolution = m.resolution
        self.stages = num_stages(m.resolution)
        self.z_dim = m.z_dim or feature_maps(0, m.fmap_base, m.fmap_max)
        self.growth = Growth(self.stages, config.train.stable_steps, config.train.fade_steps)
        self.g_model = ProGANGenerator(resolution=m.resolution, channels=self.data_shape[-1], fmap_base=m.fmap_base,
                                       fmap_max=m.fmap_max, normalize_latents=m.normalize_latents)
        self.d_model = ProGANDiscriminator(resolution=m.resolution, fmap_base=m.fmap_base, fmap_max=m.fmap_max,
                                           mbstd_group=m.mbstd_group)

    def check_data(self) -> None:
        check_padding(self.data_shape[0], self.resolution)

    def nets(self) -> dict[str, Net]:
        c = self.config
        z = jnp.zeros((2, self.z_dim), jnp.float32)
        x = jnp.zeros((max(2, c.model.mbstd_group), self.resolution, self.resolution, self.data_shape[-1]))
        return {"g": Net(self.g_model, (z,), optim.make_optimizer(c.optim.g), c.train.ema_decay),
                "d": Net(self.d_model, (x,), optim.make_optimizer(c.optim.d))}

    def batch_multiple(self) -> int:
        return max(1, self.config.model.mbstd_group)

    def batch_multiple_reason(self) -> str:
        return f"model.mbstd_group={self.config.model.mbstd_group} (minibatch-stddev groups stay on one device)"

    def schedule(self, step: int) -> list[tuple[str, int]]:
        return [(f"stage{self.growth.stage_at(step)}", 1)]

    def phases(self):
        return {f"stage{s}": self._phase(s) for s in range(self.stages)}

    def source(self, split: str | None = None):
        return sources.split_source(self.config, split)

    def plot_panels(self):
        return [("d_loss", "g_loss"), ("d_real", "d_fake"), ("d_penalty", "d_drift"),
                ("d_grad_norm", "g_grad_norm", "d_input_grad_norm"), ("alpha", "stage")]

    def progress_keys(self) -> tuple[str, ...]:
        return ("d_loss", "g_loss", "stage", "alpha")

    # --- the phases
    def _phase(self, stage: int):
        growth, cfg = self.growth, self.config
        res = stage_resolution(stage)
        resets = growth.resets(stage) if cfg.train.reset_optimizer else ()
        loss_cfg = cfg.loss

        def d_scores(params, x, alpha):
            return self.d_model.apply({"params": params}, x, alpha)

        def phase(state: State, batch, offset) -> tuple[State, Metrics]:
            del offset
            step = state.step
            alpha = growth.alpha(step, stage)
            nets = dict(state.nets)
            if resets:
                fresh = jnp.any(jnp.stack([step == r for r in resets]))
                for name in ("g", "d"):
                    net = nets[name]
                    opt_state = jax.tree.map(lambda new, old: jnp.where(fresh, new, old),
                                             net.tx.init(net.params), net.opt_state)
                    nets[name] = net.replace(opt_state=opt_state)
            g, d = nets["g"], nets["d"]
            it_key = jax.random.fold_in(state.rng, step)
            real = reals_at(pad_to(batch["x"][0], self.resolution), res, alpha)
            n = real.shape[0]
            z = steps.global_draw(lambda m: jax.random.normal(jax.random.fold_in(it_key, 0), (m, self.z_dim)), n)
            u = steps.global_draw(lambda m: jax.random.uniform(jax.random.fold_in(it_key, 1), (m, 1, 1, 1)), n)
            z_g = steps.global_draw(lambda m: jax.random.normal(jax.random.fold_in(it_key, 2), (m, self.z_dim)), n)

            fake = jax.lax.stop_gradient(self.g_model.apply({"params": g.params}, z, stage, alpha))

            def d_loss_fn(params):
                real_scores, fake_scores = d_scores(params, real, alpha), d_scores(params, fake, alpha)
                mixed = real + (fake - real) * u
                norms = penalties.gradient_norms(lambda x: d_scores(params, x, alpha), mixed)
                loss, gp, drift = progan_d_loss(real_scores, fake_scores, norms, gp_weight=loss_cfg.gp_weight,
                                                gp_target=loss_cfg.gp_target, drift=loss_cfg.drift)
                return loss, {"d_loss": loss, "d_real": jnp.mean(real_scores), "d_fake": jnp.mean(fake_scores),
                              "d_penalty": gp, "d_drift": drift, "d_input_grad_norm": jnp.mean(norms)}

            (_, d_metrics), grads = jax.value_and_grad(d_loss_fn, has_aux=True)(steps.varying(d.params))
            d, d_norm = steps.apply_gradients(d, grads)

            def g_loss_fn(params):
                return -jnp.mean(d_scores(d.params, self.g_model.apply({"params": params}, z_g, stage, alpha), alpha))

            g_loss, grads = jax.value_and_grad(g_loss_fn)(steps.varying(g.params))
            g, g_norm = steps.apply_gradients(g, grads)
            ema = dict(state.ema)
            if "g" in ema:
                ema["g"] = ema_update(ema["g"], g, cfg.train.ema_decay)
            metrics = {**steps.pmean({**d_metrics, "g_loss": g_loss}), "d_grad_norm": d_norm, "g_grad_norm": g_norm,
                       "alpha": alpha, "stage": jnp.float32(stage)}
            return state.replace(nets={"g": g, "d": d}, ema=ema, step=step + 1), metrics

        phase.__name__ = f"stage{stage}"  # its own trace count (chex keys on the name and source)
        return phase

    # --- host side
    def stage_of(self, state: State) -> tuple[int, float]:
        """``(stage, alpha)`` of the last iteration ``state`` has trained (stage 0 before any):
        what its grids and evaluation show."""
        step = int(state.step)
        stage = self.growth.stage_at(max(step - 1, 0))
        return stage, float(self.growth.alpha(max(step - 1, 0), stage))

    def generate(self, variables, z, stage: int, alpha: float, batch_size: int = 500) -> np.ndarray:
        """G in inference mode at ``stage`` -> numpy ``[n, r, r, C]`` (the stage's resolution)."""
        fn = self._generate_fns.setdefault(stage, jax.jit(lambda v, z, a: self.g_model.apply(v, z, stage, a)))
        return np.concatenate([np.asarray(fn(variables, jnp.asarray(z[i:i + batch_size]), jnp.float32(alpha)))
                               for i in range(0, len(z), batch_size)])

    @functools.cached_property
    def _generate_fns(self) -> dict:
        """Stage -> jitted G (built on first use per stage)."""
        return {}

    def full_size(self, x: np.ndarray) -> np.ndarray:
        """Stage outputs up-sampled (nearest) to the full resolution, cropped to the data's size."""
        x = np.asarray(upsample_nearest(jnp.asarray(x), self.resolution // x.shape[1]))
        return crop_to(x, self.data_shape[0])

    def write_grids(self, state: State, step: int, out) -> None:
        c = self.config
        stage, alpha = self.stage_of(state)
        z = jax.random.normal(stream_key(c.seed, SAMPLES), (c.train.num_samples, self.z_dim))
        res = stage_resolution(stage)
        variants = [("", {"params": state.nets["g"].params})] + ([("ema_", ema_variables(state, "g"))]
                                                                  if "g" in state.ema else [])
        for prefix, variables in variants:
            x = self.generate(variables, z, stage, alpha)
            out.save_grid(f"{prefix}res{res:03d}_step_{step:07d}.png",
                          lambda path, x=x: viz.save_image_grid(x, path), step)

    def eval_samples(self, state: State) -> np.ndarray:
        stage, alpha = self.stage_of(state)
        key = jax.random.fold_in(stream_key(self.config.seed, EVAL), 2 ** 31 - 1)
        z = jax.random.normal(key, (E.num_generated(self.config), self.z_dim))
        return self.full_size(self.generate(ema_variables(state, "g"), z, stage, alpha))

    def evaluate(self, state: State, workdir: str) -> dict:
        out = E.evaluate_samples(self.config, self.eval_samples(state), workdir)
        stage, alpha = self.stage_of(state)
        out["stage/resolution"], out["stage/alpha"] = stage_resolution(stage), alpha  # what was measured
        return out

    def modes(self):
        return {"sample": self.write_sample_grid}

    def write_sample_grid(self, state: State, workdir: str, args) -> list[str]:
        """``--mode sample``: the EMA G at its current stage (its own resolution) for the
        latent seeds ``args.seeds`` (default 0-63), each z drawn with ``fold_in(EVAL stream, seed)``."""
        stage, alpha = self.stage_of(state)
        return sampling.write_seed_grid(
            self.config, state, workdir, args, lambda key: jax.random.normal(key, (self.z_dim,)),
            lambda z: self.generate(ema_variables(state, "g"), z, stage, alpha),
            tag=f"_res{stage_resolution(stage):03d}")


def make(config: ml_collections.ConfigDict) -> ProGAN:
    validate(config)
    family = ProGAN(config)
    family.check_data()
    return family
