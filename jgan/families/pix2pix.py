"""The ``pix2pix`` family: paired image-to-image translation (Isola, Zhu, Zhou & Efros 2017,
*Image-to-Image Translation with Conditional Adversarial Networks*; the authors' PyTorch code
``junyanz/pytorch-CycleGAN-and-pix2pix``, ``models/pix2pix_model.py``).

Networks: ``g``, a U-Net ``G(a) -> b`` (``jgan.models.unet``; dropout in the innermost
decoder blocks is its only noise), and ``d``, a PatchGAN on the (input, output) pair
concatenated along channels (``jgan.models.patchgan``); an EMA of ``g`` if
``train.ema_decay`` > 0 (not in the paper).

One phase, ``iteration`` (one real batch ``{'a', 'b'}``), as the reference's
``optimize_parameters``:

1. augmentation (Sec. 6.2 of the paper: resize to ``data.load_size``, random crop back to
   ``data.image_size``, random mirror if ``data.flip``), the **same** crop and flip on input
   and target, drawn for the global batch from ``fold_in(it_key, 0)``: a function of the
   run seed and the step, so a resumed run augments as an uninterrupted one;
2. ``fake = G(a)`` once (train mode, dropout from a per-device ``fold_in(it_key, 1)`` key);
3. D update: ``L_D = 1/2 [BCE(D(a, b), 1) + BCE(D(a, fake), 0)]`` (the reference halves D's
   loss "to slow down the rate at which D learns relative to G"), fake held constant;
4. G update through the **updated** D (as the reference, which steps D first) on the same
   ``fake``: ``L_G = BCE(D(a, G(a)), 1) + lambda_L1 ||b - G(a)||_1`` (lambda 100). D's
   BatchNorm statistics from this pass are discarded (the reference updates them, but D's
   running statistics are never used: D only runs in train mode).

BCE is over every patch logit (mean), as ``nn.BCEWithLogitsLoss`` on the patch map.
``loss.name='lsgan'`` uses the reference's least-squares variant instead (``MSE`` with the
same 1/2 on D). Adam 2e-4, beta (0.5, 0.999); the learning rate stays constant, then decays
linearly to 0 (``optim.*.constant_steps`` / ``decay_steps``: an optax schedule on the
optimiser's update count, so a resumed run continues on it; the reference's
``lambda_rule`` decays per epoch and never quite reaches 0; here the last update has rate
``lr / decay_steps``).

At test time the paper keeps dropout on (``model.generator.test_dropout``; the masks come
from the run's EVAL stream, so evaluations are reproducible) and uses the test batch's
BatchNorm statistics (``model.generator.test_batch_stats``; default off: running statistics).

Data (``data.source``): ``glyphs`` (typeface conversion, ``jgan.data.glyphs``: held-out
characters as the test split) or ``aligned_folder`` (the authors' ``A|B`` layout,
``jgan.data.folders``). Evaluation on ``data.eval_split``: L1, PSNR and SSIM of G(a) against
the true b; FID/KID against the true targets in the features of ``eval.extractor``
(Inception for RGB folders, ``eval.inception_weights``); with ``eval.extractor='classifier'``
(a classifier of the target domain, e.g. ``experiments/classifier_glyphs.py``) also the
accuracy of its reading of the translations (the analogue of the paper's FCN-score). The
copy-the-input baseline
(``copy_input/...``: the input scored as if it were the translation) and the classifier's
accuracy on the true targets (``target/accuracy``, the ceiling) are reported beside them.
"""
from __future__ import annotations

import functools
import os

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from jgan import losses, optim, steps, viz
from jgan.config import ConfigError, choice, positive
from jgan.data import folders, glyphs, pipeline
from jgan.eval import classifier
from jgan.eval import image_metrics as IM
from jgan.eval.evaluate import (EvalError, Extractor, extractor_kind, feature_metrics, num_generated,
                                provenance, quantize_8bit)
from jgan.family import Family, Net
from jgan.models.patchgan import PatchGANDiscriminator
from jgan.models.unet import NORMS, UNetGenerator, unet_depth
from jgan.sampling import parse_seeds
from jgan.state import EVAL, State, ema_update, ema_variables, stream_key

Metrics = dict[str, jax.Array]
SOURCES = ("glyphs", "aligned_folder")


def validate(c: ml_collections.ConfigDict) -> None:
    """Raise ``ConfigError`` (one sentence naming the field) for an invalid pix2pix value."""
    d, g, dd = c.data, c.model.generator, c.model.discriminator
    choice("data.source", d.source, SOURCES)
    positive("data.image_size", d.image_size)
    positive("data.channels", d.channels)
    if d.load_size < d.image_size:
        raise ConfigError(f"config.data.load_size={d.load_size} must be >= data.image_size="
                          f"{d.image_size} (resize up, then crop back).")
    try:
        unet_depth((d.image_size, d.image_size), g.num_downs)
    except ValueError as e:
        raise ConfigError(f"config.data.image_size={d.image_size} does not suit the U-Net "
                          f"(model.generator.num_downs={g.num_downs}): {e}") from e
    if d.source == "aligned_folder" and not d.path:
        raise ConfigError("config.data.path is empty; set it to the folder holding train/, val/, test/ "
                          "(each image A|B side by side), e.g. --config.data.path=~/data/facades.")
    choice("data.direction", d.direction, ("AtoB", "BtoA"))
    choice("model.generator.name", g.name, ("unet",))
    choice("model.discriminator.name", dd.name, ("patchgan",))
    for net in ("generator", "discriminator"):
        choice(f"model.{net}.norm", c.model[net].norm, NORMS)
        positive(f"model.{net}.width", c.model[net].width)
    if not 0 <= g.dropout < 1:
        raise ConfigError(f"config.model.generator.dropout={g.dropout!r} must be in [0, 1).")
    positive("model.discriminator.n_layers", dd.n_layers)
    if d.image_size // 2 ** dd.n_layers - 2 < 1:
        raise ConfigError(f"config.model.discriminator.n_layers={dd.n_layers} leaves no patch of a "
                          f"{d.image_size}px image; use at most {int(np.log2(d.image_size / 3))}.")
    choice("loss.name", c.loss.name, ("non_saturating", "lsgan"))
    positive("loss.l1_weight", c.loss.l1_weight, allow_zero=True)
    if c.train.d_steps != 1:
        raise ConfigError(f"config.train.d_steps={c.train.d_steps}: pix2pix alternates one D and one "
                          f"G update per iteration; set train.d_steps=1.")


def d_loss_fn(name: str):
    """D's loss on patch logits, halved as in the reference (``loss_D = (fake + real) * 0.5``)."""
    if name == "lsgan":
        return lambda real, fake: 0.5 * (jnp.mean(jnp.square(real - 1.0)) + jnp.mean(jnp.square(fake)))
    return lambda real, fake: 0.5 * losses.d_minimax(real_logits=real, fake_logits=fake)


def g_gan_loss_fn(name: str):
    """G's adversarial loss on patch logits (target 'real')."""
    if name == "lsgan":
        return lambda fake: jnp.mean(jnp.square(fake - 1.0))
    return lambda fake: losses.g_non_saturating(fake_logits=fake)


def augment(key, a, b, *, load_size: int, flip: bool):
    """The same random resize-crop (and mirror) of this device's ``a`` and ``b`` ``[n, S, S, C]``,
    drawn for the global batch from ``key`` (offsets uniform in ``[0, load_size - S]``)."""
    n, s = a.shape[0], a.shape[1]

    def draw(total):
        k_crop, k_flip = jax.random.split(key)
        offsets = jax.random.randint(k_crop, (total, 2), 0, load_size - s + 1)
        flips = jax.random.bernoulli(k_flip, 0.5, (total,)) if flip else jnp.zeros((total,), bool)
        return offsets, flips

    offsets, flips = steps.global_draw(draw, n)
    both = jnp.concatenate([a, b], axis=-1)
    if load_size != s:  # the reference resizes with PIL's bicubic filter (values clipped to range)
        both = jnp.clip(jax.image.resize(both, (n, load_size, load_size, both.shape[-1]), "cubic"), -1, 1)
        both = jax.vmap(lambda img, o: jax.lax.dynamic_slice(img, (o[0], o[1], 0), (s, s, img.shape[-1])))(
            both, offsets)
    both = jnp.where(flips[:, None, None, None], both[:, :, ::-1], both)
    c = a.shape[-1]
    return both[..., :c], both[..., c:]


class Pix2Pix(Family):
    name = "pix2pix"
    data_keys = ("a", "b")

    def __init__(self, config: ml_collections.ConfigDict):
        super().__init__(config)
        d, g, dd = config.data, config.model.generator, config.model.discriminator
        self.shape = (d.image_size, d.image_size, d.channels)
        self.g_model = UNetGenerator(out_channels=d.channels, width=g.width, norm=g.norm,
                                     num_downs=g.num_downs, dropout_rate=g.dropout,
                                     dropout_blocks=g.dropout_blocks)
        self.d_model = PatchGANDiscriminator(n_layers=dd.n_layers, width=dd.width, norm=dd.norm)
        self.d_loss = d_loss_fn(config.loss.name)
        self.g_gan_loss = g_gan_loss_fn(config.loss.name)

    # --- training
    def nets(self) -> dict[str, Net]:
        c = self.config
        a = jnp.zeros((2, *self.shape), jnp.float32)
        pair = jnp.zeros((2, self.shape[0], self.shape[1], 2 * self.shape[2]), jnp.float32)
        return {"g": Net(self.g_model, (a,), optim.make_optimizer(c.optim.g), c.train.ema_decay),
                "d": Net(self.d_model, (pair,), optim.make_optimizer(c.optim.d))}

    def phases(self):
        return {"iteration": self.iteration}

    def schedule(self, step: int) -> list[tuple[str, int]]:
        return [("iteration", 1)]

    def iteration(self, state: State, batch, offset) -> tuple[State, Metrics]:
        c = self.config
        it_key = jax.random.fold_in(state.rng, state.step)
        real = steps.batch_at(batch, 0)
        a, b = augment(jax.random.fold_in(it_key, 0), real["a"], real["b"], load_size=c.data.load_size,
                       flip=c.data.flip)
        g, d = state.nets["g"], state.nets["d"]
        k_drop = steps.device_key(jax.random.fold_in(it_key, 1))
        fake, g_vjp, g_bs = jax.vjp(
            lambda p: steps.apply_train(self.g_model, p, g.batch_stats, a, rngs={"dropout": k_drop}),
            steps.varying(g.params), has_aux=True)
        fake_const = jax.lax.stop_gradient(fake)

        def d_objective(params):
            real_logits, bs = steps.apply_train(self.d_model, params, d.batch_stats,
                                                jnp.concatenate([a, b], -1))
            fake_logits, bs = steps.apply_train(self.d_model, params, bs,
                                                jnp.concatenate([a, fake_const], -1))
            loss = self.d_loss(real_logits, fake_logits)
            return loss, (bs, {"d_loss": loss, **losses.d_output_metrics(
                "probability", real_logits=real_logits, fake_logits=fake_logits)})

        (_, (d_bs, d_metrics)), grads = jax.value_and_grad(d_objective, has_aux=True)(steps.varying(d.params))
        d, d_norm = steps.apply_gradients(d, grads, d_bs)

        def g_objective(fake):  # through the updated D; its statistics updates are discarded
            logits, _ = steps.apply_train(self.d_model, d.params, d.batch_stats, jnp.concatenate([a, fake], -1))
            gan, l1 = self.g_gan_loss(logits), jnp.mean(jnp.abs(fake - b))
            return gan + c.loss.l1_weight * l1, (gan, l1)

        (g_loss, (gan, l1)), dfake = jax.value_and_grad(g_objective, has_aux=True)(fake)
        (grads,) = g_vjp(dfake)
        g, g_norm = steps.apply_gradients(g, grads, g_bs)
        ema = dict(state.ema)
        if "g" in ema:
            ema["g"] = ema_update(ema["g"], g, c.train.ema_decay)
        metrics = {**steps.pmean(d_metrics), "d_grad_norm": d_norm,
                   **steps.pmean({"g_loss": g_loss, "g_gan": gan, "g_l1": l1}), "g_grad_norm": g_norm}
        return state.replace(step=state.step + 1, nets={**state.nets, "g": g, "d": d}, ema=ema), metrics

    # --- data
    def source(self, split: str | None = None):
        d = self.config.data
        split = split or d.split
        if d.source == "glyphs":
            return glyphs.glyph_pairs(d.source_font, d.target_font, split, image_size=d.image_size,
                                      per_char=d.per_char, seed=d.render_seed)
        return folders.aligned_folder(d.path, split, image_size=d.image_size, channels=d.channels,
                                      direction=d.direction)

    def plot_panels(self):
        return [("d_loss", "g_gan"), ("g_l1",), ("d_real_prob", "d_fake_prob"), ("d_real_logit", "d_fake_logit"),
                ("d_grad_norm", "g_grad_norm")]

    def progress_keys(self) -> tuple[str, ...]:
        return ("d_loss", "g_gan", "g_l1", "d_real_prob", "d_fake_prob")

    # --- translation (host side)
    @functools.cached_property
    def _translate(self):
        g = self.config.model.generator

        @jax.jit
        def translate(variables, a, key):
            if g.test_batch_stats:
                out, _ = self.g_model.apply(variables, a, train=True, dropout=g.test_dropout,
                                            rngs={"dropout": key}, mutable=["batch_stats"])
                return out
            return self.g_model.apply(variables, a, train=False, dropout=g.test_dropout, rngs={"dropout": key})

        return translate

    def translate(self, state: State, a: np.ndarray, batch_size: int = 64) -> np.ndarray:
        """G(a) in test mode (see the module doc) for ``a [n, S, S, C]``, in chunks; the dropout
        masks of chunk i come from ``fold_in(EVAL stream, i)``."""
        variables = ema_variables(state, "g")
        base = stream_key(self.config.seed, EVAL)
        out = [np.asarray(self._translate(variables, a[i:i + batch_size], jax.random.fold_in(base, i)))
               for i in range(0, len(a), batch_size)]
        return np.concatenate(out)

    def held_out(self, n: int | None = None, indices=None) -> dict[str, np.ndarray]:
        """Examples of ``data.eval_split`` as a float batch: ``indices`` (checked), else ``n``
        evenly spaced ones for grids (every held-out character appears), else all of them."""
        d = self.config.data
        src = self.source(d.eval_split)
        if indices is not None:
            if not all(0 <= i < len(src) for i in indices):
                raise ValueError(f"--seeds: held-out examples are 0-{len(src) - 1} for pix2pix, "
                                 f"got {list(indices)}.")
            idx = np.asarray(indices)
        elif n is not None:
            idx = np.linspace(0, len(src) - 1, min(n, len(src))).astype(int)
        else:
            idx = np.arange(len(src))
        return pipeline.load_batch(src, idx, image_size=d.image_size, channels=d.channels)

    def _grid(self, state: State, batch: dict):
        """``write(path)`` of rows of (input, G(input), target), two examples per row. G runs
        now, on every process (the state spans the mesh); only the writing is deferred."""
        fake = self.translate(state, batch["a"])
        rows = np.stack([batch["a"], fake, batch["b"]], axis=1).reshape(-1, *self.shape)
        return lambda path: viz.save_image_grid(rows, path, ncols=6)

    def write_grids(self, state: State, step: int, out) -> None:
        batch = self.held_out(self.config.train.num_samples)
        out.save_grid(f"step_{step:07d}.png", self._grid(state, batch), step)

    def modes(self):
        return {"sample": self.write_sample_grid}

    def write_sample_grid(self, state: State, workdir: str, args) -> list[str]:
        """``--mode sample``: translations of held-out examples ``args.seeds`` (indices into
        ``data.eval_split``, e.g. 0-15; default: the grids' evenly spaced examples)."""
        if args.seeds:
            idx = parse_seeds(args.seeds)
            batch, name = self.held_out(indices=idx), f"heldout_{idx[0]}-{idx[-1]}"
        else:
            batch, name = self.held_out(self.config.train.num_samples), "heldout"
        path = os.path.join(workdir, "samples", f"{name}_step_{int(state.step):07d}.png")
        self._grid(state, batch)(path)
        return [path]

    # --- evaluation
    def check_evaluator(self) -> None:
        """The feature extractor loads; a classifier reads this task's target domain with this
        task's labels."""
        c = self.config
        kind = extractor_kind(c)
        try:
            Extractor(c)  # exists and loads (classifier or Inception weights)
        except EvalError as e:
            if kind != "classifier" or c.data.source != "glyphs":
                raise
            raise EvalError(
                f"eval.classifier_workdir={c.eval.classifier_workdir!r} holds no glyph classifier; train it "
                f"first (about a minute) with `python launch.py --config experiments/classifier_glyphs.py "
                f"--workdir {c.eval.classifier_workdir}`, or set --config.eval.every=0.") from e
        if kind == "classifier":
            self._check_classifier_labels()

    def _check_classifier_labels(self) -> None:
        c = self.config
        info = classifier.classifier_info(c.eval.classifier_workdir)
        if c.data.source == "glyphs":
            want = {"source": "glyphs", "font": c.data.target_font, "chars": glyphs.DEFAULT_CHARS,
                    "image_size": c.data.image_size}
            wrong = {k: info.get(k) for k, v in want.items() if info.get(k) != v}
            if c.data.source_font not in info.get("other_fonts", []):
                wrong["other_fonts"] = info.get("other_fonts", [])
            if wrong:
                raise EvalError(
                    f"eval.classifier_workdir={c.eval.classifier_workdir!r} holds a classifier of {wrong}, "
                    f"not of {c.data.target_font!r} glyphs (against {c.data.source_font!r}) at "
                    f"{c.data.image_size}px with jgan.data.glyphs' characters; train one with `python launch.py "
                    f"--config experiments/classifier_glyphs.py --config.data.target_font={c.data.target_font} "
                    f"--config.data.other_fonts={c.data.source_font}`.")

    def evaluate(self, state: State, workdir: str) -> dict[str, float]:
        c = self.config
        kind = extractor_kind(c)
        if kind == "classifier":
            self._check_classifier_labels()
        batch = self.held_out()
        n = min(len(batch["a"]), num_generated(c))
        a, b, labels = batch["a"][:n], batch["b"][:n], batch["label"][:n]
        fake = self.translate(state, a)
        if c.eval.get("protocol", "quick") == "paper":  # as the translations would be saved
            fake = quantize_8bit(fake)
        out: dict[str, float] = {"num_examples": float(n)}
        for name, x in (("", fake), ("copy_input/", a)):
            out[f"{name}l1"] = float(np.mean(IM.l1(x, b)))
            out[f"{name}psnr"] = float(np.mean(IM.psnr(x, b, data_range=2.0)))
            out[f"{name}ssim"] = float(np.mean(IM.ssim(x, b, data_range=2.0)))
        extractor = Extractor(c)
        (f_fake, lg_fake), (f_b, lg_b), (f_a, lg_a) = extractor(fake), extractor(b), extractor(a)
        if kind == "classifier":  # the analogue of the FCN-score: is the right class read?
            out["accuracy"] = float(np.mean(np.argmax(lg_fake, -1) == labels))
            out["copy_input/accuracy"] = float(np.mean(np.argmax(lg_a, -1) == labels))
            out["target/accuracy"] = float(np.mean(np.argmax(lg_b, -1) == labels))
        wanted = [m for m in c.eval.metrics if m in ("fid", "kid")]
        out.update(feature_metrics(wanted, f_b, f_fake, lg_fake, c.seed))
        out.update({f"copy_input/{k}": v for k, v in feature_metrics(wanted, f_b, f_a, lg_a, c.seed).items()})
        out["provenance"] = provenance(c, extractor, n, n, reference_split=f"{c.data.eval_split} targets")
        return out


def make(config: ml_collections.ConfigDict) -> Pix2Pix:
    validate(config)
    return Pix2Pix(config)
