"""The ``stylegan2`` family (Karras, Laine, Aittala, Hellsten, Lehtinen & Aila 2020, *Analyzing
and Improving the Image Quality of StyleGAN*), following the reference PyTorch code
``NVlabs/stylegan2-ada-pytorch`` without its augmentation: ``training/loss.py``
(``StyleGAN2Loss``), ``training/training_loop.py`` (phases, lazy regularisation, EMA) and
``train.py`` (the configurations). Networks: ``jgan.models.stylegan2``.

One iteration, in the reference's phase order, each phase with fresh latents:

* ``Gmain``: ``L_G = E softplus(-D(G(z)))`` (non-saturating), one Adam step of G;
* ``Greg`` at iterations ``0, pl_interval, 2 pl_interval, ...`` (``loss.pl_weight`` > 0):
  path-length regularisation on ``batch / pl_batch_shrink`` examples, ``y ~ N(0, I) /
  sqrt(H W)``, ``J^T y = grad_ws sum(G(ws) y)``, ``a = sqrt(mean_layers sum_w (J^T y)^2)``,
  ``m <- m + pl_decay (mean a - m)`` (the running mean, in ``state.aux['pl_mean']``; the
  gradient flows through the new mean as in the reference), loss ``pl_interval * pl_weight
  * E (a - m)^2``, its own Adam step;
* ``Dmain``: ``L_D = E softplus(D(G(z))) + E softplus(-D(x))``, one Adam step of D;
* ``Dreg`` at iterations ``0, r1_interval, ...`` (``loss.r1_gamma`` > 0): lazy R1 on the
  same reals, ``r1_interval * gamma / 2 * E ||grad_x D(x)||^2``, its own Adam step.

With lazy regularisation the reference corrects each network's Adam for the extra steps:
``lr * c`` and ``beta ** c`` with ``c = interval / (interval + 1)`` (:func:`lazy_optimizer`);
the main and the regularisation steps share one Adam state.

``run_G`` (every phase that generates): ``w = mapping(z)``; with probability
``style_mixing`` one cutoff ``k ~ U{1, ..., num_ws - 1}`` for the whole batch (as the
reference) and ``ws[:, k:]`` from a second latent; per-layer noise ``N(0, 1)``; ``w_avg <-
mean(w) + beta (w_avg - mean(w))`` (beta ``model.w_avg_beta``) at each call but the mixing
one, as the reference's training-mode mapping network does.

EMA of G (``training_loop.py``): ``beta = 0.5 ** (batch / max(n_ema, 1e-8))`` with ``n_ema =
ema_kimg * 1000`` images, ``min(n_ema, images seen * ema_rampup)`` when the ramp-up is on;
G's ``batch_stats`` (``w_avg``) are copied to the EMA, as the reference copies buffers. It
is updated at the end of each iteration.

Randomness: the iteration key is ``fold_in(state.rng, state.step)``; each phase folds in its
own constant, then ``run_G`` folds in 0 (z), 1 (the mixing z), 2 (the cutoff), 3 (noise),
each drawn for the global batch (the path-length batch is the global batch's first
``1 / pl_batch_shrink``, each device holding its share).

Deliberate departures, all so that results do not depend on the device count: the
minibatch-stddev groups are consecutive examples (``jgan.models.progan``); ``w_avg`` and the
path-length mean are updated with means over the global batch (the reference's GPUs each
track their own). Real images smaller than ``model.resolution`` are padded (centred, -1), as
the progan family does for MNIST's 28 px.

Evaluation: the EMA generator at ``psi = 1`` with random noise (as the reference's metrics),
cropped to the data's size, with the gan family's metrics. Grids: ``[ema_]step_<n>.png``
(fixed latents and noise), ``ema_mixing_step_<n>.png`` (the reference's
``style_mixing.py``: rows take the coarse styles of their left image, columns the fine
styles of their top image) and ``ema_truncation_step_<n>.png`` (one column per
``eval.truncation_psis``).
"""
from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from jgan import edits, optim, penalties, sampling, steps, viz
from jgan.config import ConfigError, choice, positive
from jgan.data import sources
from jgan.eval import evaluate as E
from jgan.families.gan import data_shape
from jgan.families.progan import check_padding
from jgan.family import Family, Net
from jgan.models.stylegan2 import (StyleGAN2Discriminator, StyleGAN2Generator, block_resolutions,
                                   noise_resolutions)
from jgan.padding import crop_to, pad_to
from jgan.state import EVAL, SAMPLES, State, ema_variables, net_variables, stream_key

Metrics = dict[str, jax.Array]

# phase constants folded into the iteration key
G_MAIN, G_REG, D_MAIN = 10, 11, 12


@dataclasses.dataclass(frozen=True)
class Lazy:
    """The lazy-regularisation schedule: G's path-length step every ``pl_interval`` iterations
    and D's R1 step every ``r1_interval`` (0 = never), at iterations 0, interval, 2 interval, ..."""

    pl_interval: int
    r1_interval: int

    def g_reg(self, step: int) -> bool:
        return self.pl_interval > 0 and step % self.pl_interval == 0

    def d_reg(self, step: int) -> bool:
        return self.r1_interval > 0 and step % self.r1_interval == 0


def lazy_optimizer(cfg: ml_collections.ConfigDict, interval: int) -> ml_collections.ConfigDict:
    """The optimiser config corrected for lazy regularisation every ``interval`` steps (the
    reference's ``mb_ratio = interval / (interval + 1)``: ``lr * mb_ratio``, ``beta **
    mb_ratio``); unchanged for ``interval`` 0."""
    cfg = ml_collections.ConfigDict(cfg.to_dict())
    if interval > 0:
        ratio = interval / (interval + 1)
        cfg.lr, cfg.b1, cfg.b2 = cfg.lr * ratio, cfg.b1 ** ratio, cfg.b2 ** ratio
    return cfg


def ema_beta(step, batch: int, ema_kimg: float, rampup: float):
    """The EMA decay for the update after iteration ``step`` (``step * batch`` images seen
    before it): ``0.5 ** (batch / max(n, 1e-8))``, ``n = ema_kimg * 1000`` or with ``rampup``
    > 0 ``min(n, images seen * rampup)``."""
    n = jnp.float32(ema_kimg * 1000.0)
    if rampup > 0:
        n = jnp.minimum(n, jnp.asarray(step, jnp.float32) * batch * rampup)
    return jnp.power(jnp.float32(0.5), batch / jnp.maximum(n, 1e-8))


def mix_styles(w: jax.Array, w_mix: jax.Array, cutoff, num_ws: int) -> jax.Array:
    """``ws [N, num_ws, w_dim]``: ``w`` for layers ``< cutoff``, ``w_mix`` from ``cutoff`` on."""
    later = (jnp.arange(num_ws) >= cutoff)[None, :, None]
    return jnp.where(later, w_mix[:, None], w[:, None])


def path_lengths(synthesize, ws: jax.Array, y: jax.Array) -> jax.Array:
    """``[N]``: ``sqrt(mean over layers of sum over w of (J^T y)^2)`` with ``J^T y = grad_ws
    sum(synthesize(ws) * y)`` (the reference's ``pl_lengths``; ``y`` already scaled)."""
    grads = jax.grad(lambda v: jnp.sum(synthesize(v) * y))(ws)
    return jnp.sqrt(jnp.mean(jnp.sum(jnp.square(grads), axis=2), axis=1))


def validate(c: ml_collections.ConfigDict) -> None:
    """Raise ``ConfigError`` (one sentence naming the field) for an invalid stylegan2 value."""
    choice("data.source", c.data.source, ("mnist_subset", "tfds"))
    try:
        block_resolutions(c.model.resolution)
    except ValueError:
        raise ConfigError(f"config.model.resolution={c.model.resolution} must be a power of 2 >= 8.") from None
    if c.model.resolution < 8:
        raise ConfigError(f"config.model.resolution={c.model.resolution} must be a power of 2 >= 8.")
    for f in ("z_dim", "w_dim", "mapping_layers", "channel_base", "channel_max"):
        positive(f"model.{f}", c.model[f])
    positive("model.mapping_lr_mul", c.model.mapping_lr_mul)
    positive("model.conv_clamp", c.model.conv_clamp, allow_zero=True)
    positive("model.mbstd_group", c.model.mbstd_group, allow_zero=True)
    choice("model.d_architecture", c.model.d_architecture, ("resnet", "orig"))
    if not 0 <= c.model.w_avg_beta < 1:
        raise ConfigError(f"config.model.w_avg_beta={c.model.w_avg_beta} must be in [0, 1).")
    if not 0 <= c.loss.style_mixing <= 1:
        raise ConfigError(f"config.loss.style_mixing={c.loss.style_mixing} must be a probability in [0, 1].")
    for f in ("r1_gamma", "pl_weight", "pl_decay", "r1_interval", "pl_interval"):
        positive(f"loss.{f}", c.loss[f], allow_zero=True)
    positive("loss.pl_batch_shrink", c.loss.pl_batch_shrink)
    positive("train.ema_kimg", c.train.ema_kimg, allow_zero=True)
    positive("train.ema_rampup", c.train.ema_rampup, allow_zero=True)
    if c.train.d_steps != 1:
        raise ConfigError(f"config.train.d_steps={c.train.d_steps} must be 1: StyleGAN2 alternates one G and one "
                          f"D step per minibatch.")


class StyleGAN2(E.UnconditionalImageEvaluation, Family):
    name = "stylegan2"
    data_keys = ("x",)

    def __init__(self, config: ml_collections.ConfigDict):
        super().__init__(config)
        m, loss = config.model, config.loss
        self.data_shape = data_shape(config)
        self.resolution = m.resolution
        clamp = m.conv_clamp or None
        self.g_model = StyleGAN2Generator(
            resolution=m.resolution, channels=self.data_shape[-1], z_dim=m.z_dim, w_dim=m.w_dim,
            mapping_layers=m.mapping_layers, lr_mul=m.mapping_lr_mul, channel_base=m.channel_base,
            channel_max=m.channel_max, conv_clamp=clamp)
        self.d_model = StyleGAN2Discriminator(
            resolution=m.resolution, channel_base=m.channel_base, channel_max=m.channel_max,
            architecture=m.d_architecture, mbstd_group=m.mbstd_group, conv_clamp=clamp)
        self.num_ws = self.g_model.num_ws
        self.noise_res = noise_resolutions(m.resolution)
        self.lazy = Lazy(loss.pl_interval if loss.pl_weight > 0 else 0,
                         loss.r1_interval if loss.r1_gamma > 0 else 0)

    def check_data(self) -> None:
        check_padding(self.data_shape[0], self.resolution)

    # --- declarations
    def nets(self) -> dict[str, Net]:
        c = self.config
        z = jnp.zeros((2, c.model.z_dim), jnp.float32)
        x = jnp.zeros((max(2, c.model.mbstd_group), self.resolution, self.resolution, self.data_shape[-1]))
        g_tx = optim.make_optimizer(lazy_optimizer(c.optim.g, c.loss.pl_interval))
        d_tx = optim.make_optimizer(lazy_optimizer(c.optim.d, c.loss.r1_interval))
        # ema_decay only switches the EMA on: its decay is ema_beta's, updated in the D phase
        return {"g": Net(self.g_model, (z,), g_tx, 0.5), "d": Net(self.d_model, (x,), d_tx)}

    def init_aux(self, key: jax.Array) -> dict:
        del key
        return {"pl_mean": jnp.zeros((), jnp.float32)}

    def batch_multiple(self) -> int:
        return int(np.lcm(max(1, self.config.model.mbstd_group), self.config.loss.pl_batch_shrink))

    def batch_multiple_reason(self) -> str:
        return (f"model.mbstd_group={self.config.model.mbstd_group} (minibatch-stddev groups stay on one device) "
                f"and loss.pl_batch_shrink={self.config.loss.pl_batch_shrink}")

    def schedule(self, step: int) -> list[tuple[str, int]]:
        return [("g_reg" if self.lazy.g_reg(step) else "g", 0), ("d_reg" if self.lazy.d_reg(step) else "d", 1)]

    def phases(self):
        return {"g": self._g_phase(False), "g_reg": self._g_phase(True),
                "d": self._d_phase(False), "d_reg": self._d_phase(True)}

    def source(self, split: str | None = None):
        return sources.split_source(self.config, split)

    def plot_panels(self):
        return [("d_loss", "g_loss"), ("d_real", "d_fake"), ("r1_penalty", "pl_penalty"), ("pl_mean",),
                ("d_grad_norm", "g_grad_norm"), ("ema_beta",)]

    def progress_keys(self) -> tuple[str, ...]:
        return ("d_loss", "g_loss", "pl_mean")

    # --- the generator as the loss sees it
    def run_g(self, params, batch_stats, key, n: int):
        """The reference's ``run_G`` for ``n`` local examples (drawn for the global batch,
        :func:`steps.global_draw`) -> ``(images, ws, w, synthesize)``:
        ``w [n, w_dim]`` the unmixed mapping output (for ``w_avg``), ``synthesize(ws)`` the
        synthesis network with this call's noise (for the path-length gradient)."""
        draw = steps.global_draw
        c = self.config
        v = {"params": params, "batch_stats": batch_stats}
        z_dim = c.model.z_dim
        z = draw(lambda m: jax.random.normal(jax.random.fold_in(key, 0), (m, z_dim)), n)
        w = self.g_model.apply(v, z, method="map")
        if c.loss.style_mixing > 0:
            z_mix = draw(lambda m: jax.random.normal(jax.random.fold_in(key, 1), (m, z_dim)), n)
            w_mix = self.g_model.apply(v, z_mix, method="map")
            k = jax.random.fold_in(key, 2)
            cutoff = jax.random.randint(jax.random.fold_in(k, 0), (), 1, self.num_ws)
            cutoff = jnp.where(jax.random.uniform(jax.random.fold_in(k, 1)) < c.loss.style_mixing, cutoff, self.num_ws)
            ws = mix_styles(w, w_mix, cutoff, self.num_ws)
        else:
            ws = self.g_model.apply(v, w, method="broadcast")
        nk = jax.random.fold_in(key, 3)
        noise = [draw(lambda m, i=i, r=r: jax.random.normal(jax.random.fold_in(nk, i), (m, r, r, 1)), n)
                 for i, r in enumerate(self.noise_res)]

        def synthesize(ws_):
            return self.g_model.apply(v, ws_, noise, method="synthesize")

        return synthesize(ws), ws, w, synthesize

    def _update_w_avg(self, batch_stats, w):
        """``w_avg <- mean(w) + beta (w_avg - mean(w))``, the mean over the global batch."""
        mean = steps.pmean(jnp.mean(w, axis=0))
        beta = self.config.model.w_avg_beta
        return {**batch_stats, "w_avg": mean + beta * (batch_stats["w_avg"] - mean)}

    def _d_logits(self, params, x):
        return self.d_model.apply({"params": params}, x)

    # --- the phases
    def _g_phase(self, reg: bool):
        loss_cfg = self.config.loss

        def phase(state: State, batch, offset) -> tuple[State, Metrics]:
            del offset
            n = batch["x"].shape[1]
            key = jax.random.fold_in(state.rng, state.step)
            g, d = state.nets["g"], state.nets["d"]
            stats = g.batch_stats

            def main_loss(params):
                img, _, w, _ = self.run_g(params, stats, jax.random.fold_in(key, G_MAIN), n)
                return jnp.mean(jax.nn.softplus(-self._d_logits(d.params, img))), w

            (g_loss, w), grads = jax.value_and_grad(main_loss, has_aux=True)(steps.varying(g.params))
            g, g_norm = steps.apply_gradients(g, grads)
            stats = self._update_w_avg(stats, w)
            metrics = {"g_loss": steps.pmean(g_loss), "g_grad_norm": g_norm}
            aux = dict(state.aux)
            if reg:
                n_pl = n // loss_cfg.pl_batch_shrink
                pl_key = jax.random.fold_in(key, G_REG)

                def pl_loss(params):
                    img, ws, w, synthesize = self.run_g(params, stats, pl_key, n_pl)
                    y = steps.global_draw(lambda m: jax.random.normal(jax.random.fold_in(pl_key, 4),
                                                                      (m, *img.shape[1:])), n_pl)
                    y = y / np.sqrt(img.shape[1] * img.shape[2])
                    lengths = path_lengths(synthesize, ws, y)
                    pl_mean = state.aux["pl_mean"] + loss_cfg.pl_decay * (steps.pmean(jnp.mean(lengths))
                                                                          - state.aux["pl_mean"])
                    penalty = jnp.mean(jnp.square(lengths - pl_mean)) * loss_cfg.pl_weight
                    return penalty * loss_cfg.pl_interval, (penalty, pl_mean, lengths, w)

                (_, (penalty, pl_mean, lengths, w)), grads = jax.value_and_grad(pl_loss, has_aux=True)(
                    steps.varying(g.params))
                g, pl_norm = steps.apply_gradients(g, grads)
                stats = self._update_w_avg(stats, w)
                aux["pl_mean"] = jax.lax.stop_gradient(pl_mean)
                metrics.update(steps.pmean({"pl_penalty": penalty, "pl_length": jnp.mean(lengths)}))
                metrics["pl_grad_norm"] = pl_norm
            metrics["pl_mean"] = aux["pl_mean"]
            nets = {**state.nets, "g": g.replace(batch_stats=stats)}
            return state.replace(nets=nets, aux=aux), metrics

        phase.__name__ = "g_reg" if reg else "g"
        return phase

    def _d_phase(self, reg: bool):
        c = self.config
        loss_cfg = c.loss

        def phase(state: State, batch, offset) -> tuple[State, Metrics]:
            del offset
            step = state.step
            key = jax.random.fold_in(state.rng, step)
            g, d = state.nets["g"], state.nets["d"]
            real = pad_to(batch["x"][0], self.resolution)
            n = real.shape[0]
            fake, _, w, _ = self.run_g(g.params, g.batch_stats, jax.random.fold_in(key, D_MAIN), n)
            fake = jax.lax.stop_gradient(fake)
            g = g.replace(batch_stats=self._update_w_avg(g.batch_stats, w))

            def main_loss(params):
                fake_logits, real_logits = self._d_logits(params, fake), self._d_logits(params, real)
                loss = jnp.mean(jax.nn.softplus(fake_logits)) + jnp.mean(jax.nn.softplus(-real_logits))
                return loss, {"d_loss": loss, "d_real": jnp.mean(real_logits), "d_fake": jnp.mean(fake_logits)}

            (_, d_metrics), grads = jax.value_and_grad(main_loss, has_aux=True)(steps.varying(d.params))
            d, d_norm = steps.apply_gradients(d, grads)
            metrics = {**steps.pmean(d_metrics), "d_grad_norm": d_norm}
            if reg:
                def r1_loss(params):
                    penalty, norms = penalties.r1(lambda x: self._d_logits(params, x), real, gamma=loss_cfg.r1_gamma)
                    return penalty * loss_cfg.r1_interval, (penalty, norms)

                (_, (penalty, norms)), grads = jax.value_and_grad(r1_loss, has_aux=True)(steps.varying(d.params))
                d, r1_norm = steps.apply_gradients(d, grads)
                metrics.update(steps.pmean({"r1_penalty": penalty, "d_real_grad_norm": jnp.mean(norms)}))
                metrics["r1_grad_norm"] = r1_norm
            ema = dict(state.ema)
            if "g" in ema:
                global_batch = n * jax.lax.axis_size(steps.AXIS)
                beta = ema_beta(step, global_batch, c.train.ema_kimg, c.train.ema_rampup)
                ema["g"] = {"params": jax.tree.map(lambda e, p: p + beta * (e - p), ema["g"]["params"], g.params),
                            "batch_stats": jax.tree.map(jnp.copy, g.batch_stats)}
                metrics["ema_beta"] = beta
            return state.replace(nets={"g": g, "d": d}, ema=ema, step=step + 1), metrics

        phase.__name__ = "d_reg" if reg else "d"
        return phase

    # --- host side
    @functools.cached_property
    def _sample_fn(self):
        def sample(variables, z, noise, psi):
            return self.g_model.apply(variables, z, noise, psi)
        return jax.jit(sample, static_argnums=3)

    @functools.cached_property
    def _mix_fn(self):
        def mix(variables, z_rows, z_cols, noise, cutoff):
            w_rows = self.g_model.apply(variables, z_rows, method="map")
            w_cols = self.g_model.apply(variables, z_cols, method="map")
            ws = mix_styles(w_rows, w_cols, cutoff, self.num_ws)
            return self.g_model.apply(variables, ws, noise, method="synthesize")
        return jax.jit(mix, static_argnums=4)

    def noise(self, key: jax.Array, n: int) -> list[jax.Array]:
        """Per-layer noise ``[n, r, r, 1]`` from ``key`` (layer ``i`` from ``fold_in(key, i)``)."""
        return [jax.random.normal(jax.random.fold_in(key, i), (n, r, r, 1)) for i, r in enumerate(self.noise_res)]

    @staticmethod
    def repeat_noise(noise1: list[jax.Array], n: int) -> list[jax.Array]:
        """One example's per-layer noise (``[1, r, r, 1]`` each) for ``n`` examples."""
        return [jnp.broadcast_to(x, (n, *x.shape[1:])) for x in noise1]

    def generate(self, variables, z, key, psi: float = 1.0, batch_size: int = 500) -> np.ndarray:
        """G at truncation ``psi`` with noise from ``key`` (chunk ``i`` folds in ``i``) ->
        numpy ``[n, r, r, C]``."""
        out = []
        for i in range(0, len(z), batch_size):
            zi = jnp.asarray(z[i:i + batch_size])
            out.append(np.asarray(self._sample_fn(variables, zi, self.noise(jax.random.fold_in(key, i), len(zi)),
                                                  float(psi))))
        return np.concatenate(out)

    def write_grids(self, state: State, step: int, out) -> None:
        c = self.config
        key = stream_key(c.seed, SAMPLES)
        z = jax.random.normal(key, (c.train.num_samples, c.model.z_dim))
        noise_key = jax.random.fold_in(key, 1)
        variants = [("", net_variables(state, "g"))]
        if "g" in state.ema:
            variants.append(("ema_", ema_variables(state, "g")))
        for prefix, variables in variants:
            x = self.generate(variables, z, noise_key)
            out.save_grid(f"{prefix}step_{step:07d}.png", lambda path, x=x: viz.save_image_grid(x, path), step)
        variables = variants[-1][1]
        mixing = self.mixing_grid(variables, jax.random.fold_in(key, 2))
        out.save_grid(f"{variants[-1][0]}mixing_step_{step:07d}.png",
                      lambda path: viz.save_image_grid(mixing, path, ncols=7), step)
        sweep = self.truncation_grid(variables, jax.random.fold_in(key, 3))
        out.save_grid(f"{variants[-1][0]}truncation_step_{step:07d}.png",
                      lambda path: viz.save_image_grid(sweep, path, ncols=len(c.eval.truncation_psis)), step)

    def mixing_grid(self, variables, key, rows: int = 6, cols: int = 6, cutoff: int | None = None) -> np.ndarray:
        """The reference's ``style_mixing.py`` grid, ``(rows + 1) x (cols + 1)`` images
        (row-major, 7 columns by default): a blank corner, the column sources along the top,
        the row sources down the left, and at ``(i, j)`` row i's styles for layers ``<
        cutoff`` (coarse; default half the layers) with column j's from there on. The same
        noise everywhere (one draw, broadcast)."""
        cutoff = self.num_ws // 2 if cutoff is None else cutoff
        z_dim = self.config.model.z_dim
        z_rows = jax.random.normal(jax.random.fold_in(key, 0), (rows, z_dim))
        z_cols = jax.random.normal(jax.random.fold_in(key, 1), (cols, z_dim))
        noise1 = self.noise(jax.random.fold_in(key, 2), 1)
        zr = jnp.repeat(z_rows, cols, axis=0)
        zc = jnp.tile(z_cols, (rows, 1))
        tops = np.asarray(self._mix_fn(variables, z_cols, z_cols, self.repeat_noise(noise1, cols), 0))
        mixed = np.asarray(self._mix_fn(variables, zr, zc, self.repeat_noise(noise1, rows * cols), cutoff))
        mixed = mixed.reshape(rows, cols, *tops.shape[1:])
        lefts = np.asarray(self._mix_fn(variables, z_rows, z_rows, self.repeat_noise(noise1, rows), 0))
        blank = -np.ones_like(tops[:1])
        grid = [np.concatenate([blank, tops])]
        grid += [np.concatenate([lefts[i:i + 1], mixed[i]]) for i in range(rows)]
        return np.concatenate(grid)

    def truncation_grid(self, variables, key, rows: int = 8) -> np.ndarray:
        """``rows`` latents (rows) at each of ``eval.truncation_psis`` (columns), the same noise
        per row, row-major."""
        psis = tuple(self.config.eval.truncation_psis)
        z = jax.random.normal(jax.random.fold_in(key, 0), (rows, self.config.model.z_dim))
        cols = [self.generate(variables, z, jax.random.fold_in(key, 1), psi) for psi in psis]
        return np.stack(cols, axis=1).reshape(rows * len(psis), *cols[0].shape[1:])

    def eval_samples(self, state: State) -> np.ndarray:
        key = jax.random.fold_in(stream_key(self.config.seed, EVAL), 2 ** 31 - 1)
        z = jax.random.normal(key, (E.num_generated(self.config), self.config.model.z_dim))
        x = self.generate(ema_variables(state, "g"), z, jax.random.fold_in(key, 1))
        return crop_to(x, self.data_shape[0])

    def evaluate(self, state: State, workdir: str) -> dict:
        return E.evaluate_samples(self.config, self.eval_samples(state), workdir)

    def modes(self):
        return {"sample": self.write_sample_grid, **edits.modes(self)}

    @functools.cached_property
    def _map_fn(self):
        return jax.jit(lambda variables, z: self.g_model.apply(variables, z, method="map"))

    @functools.cached_property
    def _synth_fn(self):
        def synth(variables, w, noise):
            return self.g_model.apply(variables, self.g_model.apply(variables, w, method="broadcast"), noise,
                                      method="synthesize")
        return jax.jit(synth)

    def latent_space(self, state: State) -> edits.LatentSpace:
        """``--mode arithmetic`` / ``directions`` in W (InterFaceGAN's setting for StyleGAN):
        ``w = mapping(z)``, ``z ~ N(0, I)``; decoded by the EMA synthesis network with the
        same w at every layer and one fixed noise image per layer for every example (the
        reference's ``noise_mode='const'``), cropped to the data's size."""
        variables = ema_variables(state, "g")
        z_dim, size = self.config.model.z_dim, self.data_shape[0]
        const = self.noise(jax.random.fold_in(stream_key(self.config.seed, EVAL), 2 ** 31 - 3), 1)

        def decode(w, batch_size=500):
            out = []
            for i in range(0, len(w), batch_size):
                wi = jnp.asarray(w[i:i + batch_size])
                out.append(np.asarray(self._synth_fn(variables, wi, self.repeat_noise(const, len(wi)))))
            return crop_to(np.concatenate(out), size)

        return edits.LatentSpace(z_dim=self.config.model.w_dim,
                                 draw=lambda key, n: self._map_fn(variables, jax.random.normal(key, (n, z_dim))),
                                 decode=decode)

    def write_sample_grid(self, state: State, workdir: str, args) -> list[str]:
        """``--mode sample``: the EMA G for the latent seeds ``args.seeds`` (default 0-63),
        each z drawn with ``fold_in(EVAL stream, seed)``, at ``eval.psi``, fixed noise."""
        psi = self.config.eval.psi
        noise_key = jax.random.fold_in(stream_key(self.config.seed, EVAL), 2 ** 31 - 2)
        return sampling.write_seed_grid(
            self.config, state, workdir, args, lambda key: jax.random.normal(key, (self.config.model.z_dim,)),
            lambda z: self.generate(ema_variables(state, "g"), z, noise_key, psi),
            tag="" if psi == 1 else f"_psi{psi:g}")


def make(config: ml_collections.ConfigDict) -> StyleGAN2:
    validate(config)
    family = StyleGAN2(config)
    family.check_data()
    return family
