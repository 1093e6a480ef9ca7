"""The ``stargan`` family: multi-domain image-to-image translation with one generator (Choi,
Choi, Kim, Ha, Kim & Choo 2018, *StarGAN: Unified Generative Adversarial Networks for
Multi-Domain Image-to-Image Translation*; the authors' PyTorch code ``yunjey/stargan``:
``solver.py``, ``model.py``, ``data_loader.py``).

Networks: ``g``, ``G(x, c)``: CycleGAN's ResNet translator (``jgan.models.resnet_translator``)
on the image with the target label ``c [K]`` tiled over it and concatenated on the channels
(``jgan.models.stargan.condition``); ``d``, ``D(x) = (src, cls)``
(``jgan.models.stargan.StarGANDiscriminator``): a PatchGAN real/fake map and one logit per
domain (attribute).

Labels ``c``: digits (``data.source='digits'``): one domain per example, ``c`` its one-hot
over ``data.domains`` (the reference's RaFD setting); TFDS attributes (``'tfds'``, CelebA):
``c`` the 0/1 vector of ``data.attributes`` (its CelebA setting).

One phase, ``iteration``, on ``k = train.d_steps`` (n_critic, 5) real batches: the
reference's ``k`` iterations, each a D update, the last followed by the G update on the same
batch and target labels. In D update ``j`` (key ``kj = fold_in(fold_in(rng, step), j)``):

1. target labels ``c'`` drawn for the *global* batch and sliced per device, so they do not
   depend on the device count (``fold_in(kj, 0)``): digits, one domain per example uniformly
   from all K (the reference permutes the batch's labels for RaFD as for CelebA: a deliberate
   deviation, so that every target is as likely whatever the batch holds); attributes, the
   batch's own label vectors permuted (the reference's ``randperm``) over the global batch;
2. augmentation (``data.flip``: random mirror, CelebA's ``RandomHorizontalFlip``) drawn for
   the global batch (``fold_in(kj, 2)``);
3. ``L_D = -mean D_src(x) + mean D_src(G(x, c')) + lambda_cls L_cls(D_cls(x), c)
   + lambda_gp mean_i (||grad D_src(x^_i)||_2 - 1)^2``, ``x^ = e x + (1 - e) G(x, c')``,
   ``e ~ U[0, 1)`` per example (global draw, ``fold_in(kj, 1)``); the mean of ``D_src`` is
   over the patches, and the penalty differentiates the *sum* of a sample's patches, as the
   reference's ``gradient_penalty(out_src, x_hat)`` (``grad_outputs`` of ones). ``L_cls``:
   softmax cross-entropy for one domain per example (the reference's ``F.cross_entropy``),
   for attributes the binary cross-entropies summed over attributes and averaged over the
   batch (its ``binary_cross_entropy_with_logits(..., size_average=False) / N``).

   D's depth is part of the recipe: the reference's real/fake head (6 layers at 128 px)
   sees the whole image (a 318 px receptive field). At 28 px, 2 layers give it 18 px
   patches, and the run never translated (FID ~1,000, digits lost; G only learnt to fool D's
   domain head, which sees the whole map); 3 layers (38 px) translate
   (``results/stargan_digits.md``). The penalty's sum/mean pairing above (which makes the
   patch-mean critic 1/P-Lipschitz) was not the cause: 2 layers with the penalty on the
   patch mean failed the same way. ``StarGANDiscriminator`` takes any side of at least
   ``2^n_layers`` (the map side is ``floor(S / 2^n)``, the reference's ``int(S / 2^n)``).

After the last D update, the G update (the updated D held fixed):
``L_G = -mean D_src(G(x, c')) + lambda_cls L_cls(D_cls(G(x, c')), c') + lambda_rec
mean |x - G(G(x, c'), c)|``. Weights: ``loss.cls_weight`` (1), ``loss.rec_weight`` (10),
``loss.gp_weight`` (10). Adam 1e-4, beta (0.5, 0.999) for both.

Learning rate (``jgan.optim.learning_rate``): constant, then linearly to 0, per *update* of
each network (D counts 5 updates per iteration, G one); the reference lowers both rates by
``lr / num_iters_decay`` every ``lr_update_step`` (1,000) iterations during the last
``num_iters_decay`` (100k), a staircase of the same line: here the line itself (deviation).

The generator pads with zeros, as the reference: with CycleGAN's reflection padding the
instance norm after the stem removes the tiled label entirely (``jgan.models.
resnet_translator``); with zeros the label survives in the border band of the stem's 7x7
kernel, the only way the reference's G (instance norm right after its first conv) sees it.

Other deviations from the reference: the generator is otherwise CycleGAN's ResNet (3x3 stride-2
down/up-samplings, instance norm without affine parameters, biases), where StarGAN's has 4x4
kernels, affine instance norm with running statistics and no biases; D's init is flax's
default (see ``jgan.models.stargan``). Test-time translation uses
``train=False`` (with instance norm the same function).

Data: ``digits``: the ``jgan.data.digits`` domains ``data.domains`` (handwritten MNIST and
digits typeset in single fonts, ``'typeset:<font>'``), all in one shuffled stream
(``jgan.data.domains.digit_domains``); ``tfds``: ``celeb_a`` (``data.name``), the attributes
``data.attributes``, images centre-cropped to 178 and resized to ``data.image_size`` (the
reference's ``CenterCrop(178)``, ``Resize``), split ``train`` / ``test``.

Evaluation (digits; ``eval.every``): for each target domain ``t``, the held-out digits
(``data.eval_split``, ``eval.num_samples`` per domain) of every *other* domain translated to
``t`` (``to_<t>/``): ``domain_accuracy``, how often a classifier of the domains
(``eval.domain_classifier``, ``experiments/classifier_stargan.py``) says ``t``;
``digit_accuracy``, how often a *joint* digit classifier trained on all the domains' training
digits (``eval.digit_classifier``, ``experiments/classifier_stargan.py:digit``) reads the
input's digit (one classifier for every target, so the numbers compare across targets);
FID/KID of the translations against the held-out digits of ``t`` in the joint digit
classifier's features. Beside each, the floor ``copy_input/`` (the untranslated inputs) and the
ceiling ``target/`` (real held-out digits of ``t``); ``mean/`` averages over the targets.
CelebA is not evaluated here (it needs an attribute classifier; set ``eval.every=0``).

Sample grid: one row per input (``train.num_samples`` held-out examples of each domain), the
input then one column per target domain; for attributes the reference's ``create_labels``:
column ``j`` sets attribute ``j`` alone within the exclusive group ``data.exclusive`` (hair
colours), flips it otherwise (gender, age).
"""
from __future__ import annotations

import functools
import os

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from jgan import optim, steps, viz
from jgan.config import ConfigError, choice, positive
from jgan.data import digits, pipeline
from jgan.data.domains import AttributeSource, digit_domains
from jgan.eval import classifier
from jgan.eval.evaluate import EvalError, feature_metrics
from jgan.families.cyclegan import gather_global
from jgan.families.pix2pix import augment
from jgan.family import Family, Net
from jgan.models.resnet_translator import ResnetGenerator
from jgan.models.stargan import StarGANDiscriminator, condition
from jgan.penalties import wgan_gp_at
from jgan.sampling import parse_seeds
from jgan.state import State, ema_update, ema_variables

Metrics = dict[str, jax.Array]
SOURCES = ("digits", "tfds")
CLASSIFIERS = {"domain": "experiments/classifier_stargan.py", "digit": "experiments/classifier_stargan.py:digit"}


def slug(domain: str) -> str:
    """A domain's name in metric keys: ``'typeset:dejavu_serif'`` -> ``'dejavu_serif'``."""
    return domain.replace("typeset:", "")


def validate(c: ml_collections.ConfigDict) -> None:
    """Raise ``ConfigError`` (one sentence naming the field) for an invalid StarGAN value."""
    d, g, dd = c.data, c.model.generator, c.model.discriminator
    choice("data.source", d.source, SOURCES)
    if d.source == "digits":
        if len(d.domains) < 2:
            raise ConfigError(f"config.data.domains={tuple(d.domains)!r}: StarGAN needs at least two domains.")
        for name in d.domains:
            if not digits.is_domain(name):
                raise ConfigError(f"config.data.domains: {name!r} is not a digit domain; use "
                                  f"{', '.join(digits.DOMAINS)} or typeset:<font> "
                                  f"(fonts: {', '.join(digits.typeset_fonts())}).")
        if len(set(d.domains)) != len(d.domains):
            raise ConfigError(f"config.data.domains={tuple(d.domains)!r} names a domain twice.")
        if d.image_size != digits.SIZE or d.channels != 1:
            raise ConfigError(f"config.data.image_size={d.image_size} / data.channels={d.channels}: digit "
                              f"domains are {digits.SIZE}x{digits.SIZE} grey; set data.image_size=28, data.channels=1.")
        if d.flip:
            raise ConfigError("config.data.flip=True would mirror digits into other shapes; set data.flip=False.")
    else:
        if not d.attributes:
            raise ConfigError("config.data.attributes is empty; name the TFDS attributes to translate, "
                              "e.g. ('Black_Hair', 'Blond_Hair', 'Brown_Hair', 'Male', 'Young').")
        if not set(d.exclusive) <= set(d.attributes):
            raise ConfigError(f"config.data.exclusive={tuple(d.exclusive)!r} must be a subset of data.attributes.")
    positive("data.image_size", d.image_size)
    choice("model.generator.name", g.name, ("resnet",))
    choice("model.generator.norm", g.norm, ("instance", "none"))
    positive("model.generator.width", g.width)
    positive("model.generator.num_blocks", g.num_blocks, allow_zero=True)
    if d.image_size % 4:
        raise ConfigError(f"config.data.image_size={d.image_size} must be a multiple of 4 (the generator "
                          f"downsamples twice).")
    choice("model.discriminator.name", dd.name, ("stargan",))
    positive("model.discriminator.width", dd.width)
    positive("model.discriminator.n_layers", dd.n_layers)
    if d.image_size < 2 ** dd.n_layers:
        raise ConfigError(f"config.model.discriminator.n_layers={dd.n_layers}: data.image_size={d.image_size} "
                          f"must be at least 2^n_layers={2 ** dd.n_layers}.")
    for f in ("cls_weight", "rec_weight", "gp_weight"):
        positive(f"loss.{f}", c.loss[f], allow_zero=True)
    positive("train.d_steps", c.train.d_steps)


class StarGAN(Family):
    name = "stargan"
    data_keys = ("x", "label")

    def __init__(self, config: ml_collections.ConfigDict):
        super().__init__(config)
        d, g, dd = config.data, config.model.generator, config.model.discriminator
        self.multi_label = d.source == "tfds"
        self.domains = tuple(d.attributes) if self.multi_label else tuple(d.domains)
        self.k = len(self.domains)
        self.shape = (d.image_size, d.image_size, d.channels)
        self.g_model = ResnetGenerator(out_channels=d.channels, width=g.width, num_blocks=g.num_blocks,
                                       norm=g.norm, padding="zero")
        self.d_model = StarGANDiscriminator(num_domains=self.k, n_layers=dd.n_layers, width=dd.width)

    # --- training
    def nets(self) -> dict[str, Net]:
        c = self.config
        x = jnp.zeros((2, *self.shape), jnp.float32)
        return {"g": Net(self.g_model, (condition(x, jnp.zeros((2, self.k))),), optim.make_optimizer(c.optim.g),
                         c.train.ema_decay),
                "d": Net(self.d_model, (x,), optim.make_optimizer(c.optim.d))}

    def phases(self):
        return {"iteration": self.iteration}

    def schedule(self, step: int) -> list[tuple[str, int]]:
        return [("iteration", self.config.train.d_steps)]

    def label_vectors(self, label: jax.Array) -> jax.Array:
        """A batch's labels (int32 ``[n]`` domain indices or ``[n, K]`` 0/1) -> float ``[n, K]``."""
        return label.astype(jnp.float32) if self.multi_label else jax.nn.one_hot(label, self.k)

    def draw_targets(self, key: jax.Array, c_org: jax.Array) -> jax.Array:
        """Target labels ``[n, K]`` for this device's ``c_org [n, K]`` (inside ``shard_map``),
        drawn for the global batch (module docstring, step 1)."""
        n = c_org.shape[0]
        if self.multi_label:
            everyone = gather_global(c_org)
            return steps.local_batch_slice(everyone[jax.random.permutation(key, everyone.shape[0])], n)
        idx = steps.global_draw(lambda total: jax.random.randint(key, (total,), 0, self.k), n)
        return jax.nn.one_hot(idx, self.k)

    def cls_loss(self, logits: jax.Array, target: jax.Array) -> jax.Array:
        """``L_cls`` (module docstring) of logits and target labels ``[n, K]``."""
        if self.multi_label:
            return jnp.mean(jnp.sum(optax.sigmoid_binary_cross_entropy(logits, target), axis=-1))
        return jnp.mean(optax.softmax_cross_entropy(logits, target))

    def G(self, params, x, c):
        return steps.apply_train(self.g_model, params, {}, condition(x, c))[0]

    def D(self, params, x):
        return self.d_model.apply({"params": params}, x, train=True)

    def d_update(self, state: State, batch, key):
        """One D update on this device's ``batch`` -> ``(state, metrics, (x, c_org, c_trg))``."""
        lc = self.config.loss
        x = batch["x"]
        n = x.shape[0]
        if self.config.data.flip:
            x = augment(jax.random.fold_in(key, 2), x, x[..., :0], load_size=x.shape[1], flip=True)[0]
        c_org = self.label_vectors(batch["label"])
        c_trg = self.draw_targets(jax.random.fold_in(key, 0), c_org)
        fake = jax.lax.stop_gradient(self.G(state.nets["g"].params, x, c_trg))
        eps = steps.global_draw(lambda t: jax.random.uniform(jax.random.fold_in(key, 1), (t, 1, 1, 1)), n)
        x_hat = eps * x + (1.0 - eps) * fake
        d = state.nets["d"]

        def objective(params):
            src_real, cls_real = self.D(params, x)
            src_fake, _ = self.D(params, fake)
            gp, norms = wgan_gp_at(lambda z: self.D(params, z)[0], x_hat, weight=1.0)
            terms = {"d_real": jnp.mean(src_real), "d_fake": jnp.mean(src_fake),
                     "d_cls": self.cls_loss(cls_real, c_org), "d_gp": gp}
            loss = -terms["d_real"] + terms["d_fake"] + lc.cls_weight * terms["d_cls"] + lc.gp_weight * gp
            return loss, {"d_loss": loss, **terms, "d_input_grad_norm": jnp.mean(norms)}

        (_, m), grads = jax.value_and_grad(objective, has_aux=True)(steps.varying(d.params))
        d, grad_norm = steps.apply_gradients(d, grads)
        metrics = {**steps.pmean(m), "d_grad_norm": grad_norm}
        return state.replace(nets={**state.nets, "d": d}), metrics, (x, c_org, c_trg)

    def generator_loss(self, g_params, d_params, x, c_org, c_trg):
        """``L_G`` (module docstring) on this device's rows -> ``(loss, terms)``."""
        lc = self.config.loss
        fake = self.G(g_params, x, c_trg)
        src, cls = self.D(d_params, fake)
        rec = self.G(g_params, fake, c_org)
        terms = {"g_fake": -jnp.mean(src), "g_cls": self.cls_loss(cls, c_trg), "g_rec": jnp.mean(jnp.abs(x - rec))}
        return terms["g_fake"] + lc.cls_weight * terms["g_cls"] + lc.rec_weight * terms["g_rec"], terms

    def iteration(self, state: State, batch, offset) -> tuple[State, Metrics]:
        it_key = jax.random.fold_in(state.rng, state.step)
        k = batch["x"].shape[0]
        for j in range(k):  # unrolled: see DESIGN's performance facts
            state, metrics, kept = self.d_update(state, steps.batch_at(batch, j),
                                                 jax.random.fold_in(it_key, offset + j))
        x, c_org, c_trg = kept
        g = state.nets["g"]
        (loss, terms), grads = jax.value_and_grad(
            lambda p: self.generator_loss(p, state.nets["d"].params, x, c_org, c_trg), has_aux=True)(
            steps.varying(g.params))
        g, metrics["g_grad_norm"] = steps.apply_gradients(g, grads)
        metrics.update(steps.pmean({"g_loss": loss, **terms}))
        ema = dict(state.ema)
        if "g" in ema:
            ema["g"] = ema_update(ema["g"], g, self.config.train.ema_decay)
        return state.replace(step=state.step + 1, nets={**state.nets, "g": g}, ema=ema), metrics

    def plot_panels(self):
        return [("d_loss", "g_loss"), ("d_real", "d_fake", "g_fake"), ("d_cls", "g_cls", "g_rec", "d_gp"),
                ("d_grad_norm", "g_grad_norm", "d_input_grad_norm")]

    # --- data
    def _digit_kw(self) -> dict:
        d = self.config.data
        return dict(mnist_holdout=d.holdout, typeset_train=d.typeset_train, typeset_test=d.typeset_test,
                    sklearn_holdout=d.sklearn_holdout, seed=d.render_seed)

    def source(self, split: str | None = None):
        d = self.config.data
        split = split or d.split
        if self.multi_label:
            return AttributeSource(d.name, split, d.data_dir or None, d.attributes)
        return digit_domains(self.domains, split, **self._digit_kw())

    def held_out(self, n: int | None = None, indices=None) -> list[dict[str, np.ndarray]]:
        """Held-out examples (``data.eval_split``) ``{'x', 'label'}``: for digits one dict per
        domain (``label``: the digit), for attributes one (``label``: the attributes); the
        examples ``indices`` (checked), else the first ``n``, else all."""
        d = self.config.data
        if self.multi_label:
            srcs = [self.source(d.eval_split)]
        else:
            srcs = [digits.digit_domain(name, d.eval_split, **self._digit_kw()) for name in self.domains]
        out = []
        for src in srcs:
            if indices is not None:
                if not all(0 <= i < len(src) for i in indices):
                    raise ValueError(f"--seeds: held-out examples are 0-{len(src) - 1}, got {list(indices)}.")
                idx = np.asarray(indices)
            else:
                idx = np.arange(len(src) if n is None else min(n, len(src)))
            out.append(pipeline.load_batch(src, idx, image_size=d.image_size, channels=d.channels))
        return out

    # --- translation (host side)
    @functools.cached_property
    def _apply_g(self):
        return jax.jit(lambda variables, x, c: self.g_model.apply(variables, condition(x, c), train=False))

    def translate(self, state: State, x: np.ndarray, c: np.ndarray, batch_size: int = 100) -> np.ndarray:
        """``G(x, c)`` (its EMA if kept) in test mode, ``x [n, ...]``, ``c [n, K]`` or ``[K]``."""
        c = np.broadcast_to(np.asarray(c, np.float32), (len(x), self.k))
        variables = ema_variables(state, "g")
        return np.concatenate([np.asarray(self._apply_g(variables, x[i:i + batch_size], c[i:i + batch_size]))
                               for i in range(0, len(x), batch_size)])

    def grid_targets(self, c_org: np.ndarray) -> list[np.ndarray]:
        """One target label array ``[n, K]`` per grid column (module docstring)."""
        if not self.multi_label:
            return [np.broadcast_to(np.eye(self.k, dtype=np.float32)[j], c_org.shape) for j in range(self.k)]
        group = [i for i, a in enumerate(self.domains) if a in self.config.data.exclusive]
        out = []
        for j in range(self.k):
            t = c_org.astype(np.float32).copy()
            if j in group:
                t[:, group] = 0.0
                t[:, j] = 1.0
            else:
                t[:, j] = 1.0 - t[:, j]
            out.append(t)
        return out

    def _grid(self, state: State, parts: list[dict[str, np.ndarray]]):
        x = np.concatenate([p["x"] for p in parts])
        if self.multi_label:
            c_org = parts[0]["label"].astype(np.float32)
        else:
            c_org = np.concatenate([np.tile(np.eye(self.k, dtype=np.float32)[i], (len(p["x"]), 1))
                                    for i, p in enumerate(parts)])
        columns = [x] + [self.translate(state, x, t) for t in self.grid_targets(c_org)]
        images = np.stack(columns, axis=1).reshape(-1, *self.shape)
        return lambda path: viz.save_image_grid(images, path, ncols=len(columns))

    def write_grids(self, state: State, step: int, out) -> None:
        out.save_grid(f"step_{step:07d}.png", self._grid(state, self.held_out(self.config.train.num_samples)), step)

    def modes(self):
        return {"sample": self.write_sample_grid}

    def write_sample_grid(self, state: State, workdir: str, args) -> list[str]:
        """``--mode sample``: held-out examples ``args.seeds`` (indices into each domain's
        ``data.eval_split``; default: the grids' first ``train.num_samples``) to every target."""
        if args.seeds:
            idx = parse_seeds(args.seeds)
            parts, name = self.held_out(indices=idx), f"heldout_{idx[0]}-{idx[-1]}"
        else:
            parts, name = self.held_out(self.config.train.num_samples), "heldout"
        path = os.path.join(workdir, "samples", f"{name}_step_{int(state.step):07d}.png")
        self._grid(state, parts)(path)
        return [path]

    # --- evaluation
    def _classifier(self, kind: str):
        """``(model, variables)`` of the ``kind`` ('domain' / 'digit') classifier, checked to
        be over this run's domains; missing or wrong: an ``EvalError`` naming the command."""
        workdir = self.config.eval[f"{kind}_classifier"]
        command = f"`python launch.py --config {CLASSIFIERS[kind]} --workdir {workdir}`"
        try:
            model, variables = classifier.load_classifier(workdir)
        except classifier.ClassifierError as e:
            raise EvalError(f"eval.{kind}_classifier={workdir!r} holds no classifier; train it first with "
                            f"{command}, or set --config.eval.every=0.") from e
        info = classifier.classifier_info(workdir)
        if info.get("target") != kind or tuple(info.get("domains", ())) != self.domains:
            raise EvalError(f"eval.{kind}_classifier={workdir!r} holds no {kind} classifier over the domains "
                            f"{list(self.domains)}; train one with {command} and the same data.domains.")
        return model, variables

    def check_evaluator(self) -> None:
        if self.multi_label:
            raise EvalError("StarGAN's evaluation is for the digit domains (CelebA would need an attribute "
                            "classifier); set --config.eval.every=0.")
        self._classifier("domain")
        self._classifier("digit")

    def evaluate(self, state: State, workdir: str) -> dict[str, float]:
        self.check_evaluator()
        c = self.config
        dom_model, dom_vars = self._classifier("domain")
        dig_model, dig_vars = self._classifier("digit")
        wanted = [m for m in c.eval.metrics if m in ("fid", "kid")]
        test = [{k: v[:c.eval.num_samples] for k, v in part.items()} for part in self.held_out()]

        def read(images):
            dom_logits, _ = classifier.classifier_outputs(dom_model, dom_vars, images)
            dig_logits, feats = classifier.classifier_outputs(dig_model, dig_vars, images)
            return np.argmax(dom_logits, -1), np.argmax(dig_logits, -1), feats, dig_logits

        out: dict[str, float] = {}
        for t, name in enumerate(self.domains):
            x = np.concatenate([p["x"] for s, p in enumerate(test) if s != t])
            labels = np.concatenate([p["label"] for s, p in enumerate(test) if s != t])
            fake = self.translate(state, x, np.eye(self.k, dtype=np.float32)[t])
            p = f"to_{slug(name)}/"
            out[p + "num_examples"] = float(len(x))
            real_dom, real_dig, real_f, _ = read(test[t]["x"])
            for prefix, images in (("", fake), ("copy_input/", x)):
                dom, dig, f, logits = read(images)
                out[p + prefix + "domain_accuracy"] = float(np.mean(dom == t))
                out[p + prefix + "digit_accuracy"] = float(np.mean(dig == labels))
                out.update({p + prefix + m: v for m, v in feature_metrics(wanted, real_f, f, logits, c.seed).items()})
            out[p + "target/domain_accuracy"] = float(np.mean(real_dom == t))
            out[p + "target/digit_accuracy"] = float(np.mean(real_dig == test[t]["label"]))
        first = f"to_{slug(self.domains[0])}/"
        for metric in [k[len(first):] for k in out if k.startswith(first) and not k.endswith("num_examples")]:
            out["mean/" + metric] = float(np.mean([out[f"to_{slug(n)}/{metric}"] for n in self.domains]))
        return out


def make(config: ml_collections.ConfigDict) -> StarGAN:
    validate(config)
    return StarGAN(config)
