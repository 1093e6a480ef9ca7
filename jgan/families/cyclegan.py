"""The ``cyclegan`` family: unpaired image-to-image translation (Zhu, Park, Isola & Efros
2017, *Unpaired Image-to-Image Translation using Cycle-Consistent Adversarial Networks*; the
authors' PyTorch code ``junyanz/pytorch-CycleGAN-and-pix2pix``: ``models/cycle_gan_model.py``,
``models/networks.py``, ``util/image_pool.py``).

Networks: ``g_ab`` (the reference's ``G_A``: A -> B) and ``g_ba`` (``G_B``), ResNet-k
translators (``jgan.models.resnet_translator``); ``d_a`` judges domain A (the reference's
``D_B``) and ``d_b`` domain B (its ``D_A``), PatchGANs (``jgan.models.patchgan``) with
instance norm, as the reference's CycleGAN default. Init N(0, 0.02), biases 0.

One phase, ``iteration`` (one real batch ``{'a', 'b'}``, the two domains drawn from
independent permutations: ``jgan.data.unpaired``), as the reference's
``optimize_parameters``:

1. augmentation (``data.load_size`` > ``data.image_size``: resize, random crop; ``data.flip``:
   random mirror), drawn for the global batch, independently for A (``fold_in(it_key, 0)``)
   and B (``fold_in(it_key, 1)``), with ``jgan.families.pix2pix.augment``;
2. the generators' step (both D's held fixed): with ``lambda = loss.cycle_weight`` (10) and
   ``w = loss.identity_weight`` (0.5),
   ``L_G = GAN(D_b(G_ab(a)), 1) + GAN(D_a(G_ba(b)), 1)
   + lambda (|G_ba(G_ab(a)) - a|_1 + |G_ab(G_ba(b)) - b|_1)
   + w lambda (|G_ab(b) - b|_1 + |G_ba(a) - a|_1)``,
   each L1 a mean over pixels, GAN the least-squares loss ``mean((D(x) - t)^2)`` over every
   patch (``loss.name='lsgan'``, the paper's Sec. 4; ``'non_saturating'`` is the reference's
   ``vanilla`` BCE); one gradient for both G's (their Adams are separate but identical to the
   reference's one Adam over both parameter sets: Adam is elementwise and both count the
   same steps);
3. the discriminators' step on the fakes of step 2 (made by the G's *before* their update, as
   the reference) passed through the **image pools** (Shrivastava et al. 2017; paper Sec. 4):
   ``L_D = 1/2 [GAN(D(real), 1) + GAN(D(pool(fake)), 0)]`` for ``d_b`` (real b, pooled
   ``G_ab(a)``) and ``d_a`` (real a, pooled ``G_ba(b)``); the 1/2 is the paper's "divide the
   objective by 2 while optimizing D".

Image pools (``util/image_pool.py``), one per direction in ``state.aux`` (``pool_a`` holds
fakes of domain A), ``loss.pool_size`` (50) images: each fake of the *global* batch, in
order, is stored and returned while the pool is not full; once full, with probability 1/2
(``u > 0.5``, ``u ~ U[0, 1)``) a uniformly chosen stored image is returned and replaced by
the fake, else the fake itself is returned. The reference walks its batch image by image;
here a ``lax.scan`` walks the global batch (the fakes of all devices, gathered over the data
axis), image ``i``'s draws from ``fold_in(pool key, i)`` (``pool key = fold_in(it_key, 2)``
for A, ``3`` for B), and each device takes back its own rows: the pools and draws do not
depend on the device count, and the pools are in every checkpoint (a resumed run is bit-exact).

Learning rate (``optim.*.constant_steps`` / ``decay_steps``, ``jgan.optim.learning_rate``):
constant, then linear to 0, per *update*. The reference's ``lambda_rule`` steps per epoch,
``1 - max(0, epoch + epoch_count - n_epochs) / (n_epochs_decay + 1)``, so with its
scheduler step at the start of each epoch its last epoch runs at rate ~0; here update
``constant_steps + j`` has rate ``lr (1 - j / decay_steps)``: the last update has
``lr / decay_steps`` and no update is wasted at rate 0 (a deliberate deviation; the
experiments express the paper's 100 + 100 epochs in updates).

Deviations from the reference, besides the two above: the unaligned dataset draws B at random
for each A; here both domains run through whole shuffled epochs (``jgan.data.unpaired``). The
resize of the augmentation is a float bicubic on [-1, 1] images (clipped), the reference's
PIL bicubic on uint8 files. Test-time translation uses ``train=False`` (the reference's
``eval()``: with instance norm the same function).

Data (``data.source``): ``digits`` (``jgan.data.digits``: handwritten MNIST, typeset digits
rendered from matplotlib's fonts, scikit-learn's 8x8 digits; ``data.domain_a`` /
``domain_b``), ``tfds`` (``cycle_gan/<name>``, splits ``trainA/trainB/testA/testB``, prepared
beforehand) or ``folders`` (the reference's ``trainA/``, ``trainB/``, ``testA/``, ``testB/``).

Evaluation on the held-out split of each domain, per direction ``a2b`` and ``b2a``:
``cycle_l1`` (``|G_back(G(x)) - x|``, mean over pixels), FID/KID of the translations against
the held-out target images in the features of the target domain's classifier (digits:
``eval.domain_classifiers``) or Inception (``eval.extractor='inception'``, RGB data); for
digits also label preservation: ``accuracy`` (the target-domain classifier reads the input's
label in the translation), per class ``class_k/accuracy``, with the classifier's accuracy on
the real held-out target digits (``target/accuracy``, the ceiling) and on the untranslated
inputs (``copy_input/accuracy``, the floor) beside it, and the copy-the-input FID/KID.
"""
from __future__ import annotations

import functools
import os

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from jgan import optim, steps, viz
from jgan.config import ConfigError, choice, positive
from jgan.data import digits, folders, pipeline, sources
from jgan.data.unpaired import UnpairedSource
from jgan.eval import classifier
from jgan.eval.evaluate import EvalError, Extractor, extractor_kind, feature_metrics
from jgan.families.pix2pix import augment, d_loss_fn, g_gan_loss_fn
from jgan.family import Family, Net
from jgan.models.patchgan import PatchGANDiscriminator
from jgan.models.resnet_translator import ResnetGenerator
from jgan.models.unet import NORMS
from jgan.sampling import parse_seeds
from jgan.state import State, ema_update, ema_variables, net_variables

Metrics = dict[str, jax.Array]
SOURCES = ("digits", "tfds", "folders")
# direction -> (input domain, target domain, forward G, backward G)
DIRECTIONS = {"a2b": ("a", "b", "g_ab", "g_ba"), "b2a": ("b", "a", "g_ba", "g_ab")}
CLASSIFIER_SOURCES = {"mnist": "mnist_subset", "typeset": "typeset_digits", "sklearn": "sklearn_digits"}
CLASSIFIER_COMMANDS = {"mnist": "experiments/classifier_mnist.py",
                       "typeset": "experiments/classifier_typeset.py",
                       "sklearn": "experiments/classifier_typeset.py:sklearn"}


def validate(c: ml_collections.ConfigDict) -> None:
    """Raise ``ConfigError`` (one sentence naming the field) for an invalid CycleGAN value."""
    d, g, dd = c.data, c.model.generator, c.model.discriminator
    choice("data.source", d.source, SOURCES)
    if d.source == "digits":
        for f in ("domain_a", "domain_b"):
            choice(f"data.{f}", d[f], digits.DOMAINS)
        if d.image_size != digits.SIZE or d.channels != 1:
            raise ConfigError(f"config.data.image_size={d.image_size} / data.channels={d.channels}: digit "
                              f"domains are {digits.SIZE}x{digits.SIZE} grey; set data.image_size=28, data.channels=1.")
    if d.source == "folders" and not d.path:
        raise ConfigError("config.data.path is empty; set it to the folder holding trainA/, trainB/, testA/, "
                          "testB/ (the CycleGAN layout), e.g. --config.data.path=~/data/horse2zebra.")
    if d.source == "tfds" and not d.name.startswith("cycle_gan/"):
        raise ConfigError(f"config.data.name={d.name!r}: the unpaired TFDS sets are cycle_gan/<name>, "
                          f"e.g. cycle_gan/horse2zebra.")
    positive("data.image_size", d.image_size)
    if d.image_size % 4:
        raise ConfigError(f"config.data.image_size={d.image_size} must be a multiple of 4 (the ResNet "
                          f"generator downsamples twice).")
    if d.load_size < d.image_size:
        raise ConfigError(f"config.data.load_size={d.load_size} must be >= data.image_size={d.image_size} "
                          f"(resize up, then crop back).")
    choice("model.generator.name", g.name, ("resnet",))
    choice("model.discriminator.name", dd.name, ("patchgan",))
    for net in ("generator", "discriminator"):
        choice(f"model.{net}.norm", c.model[net].norm, NORMS)
        positive(f"model.{net}.width", c.model[net].width)
    positive("model.generator.num_blocks", g.num_blocks, allow_zero=True)
    positive("model.discriminator.n_layers", dd.n_layers)
    if d.image_size // 2 ** dd.n_layers - 2 < 1:
        raise ConfigError(f"config.model.discriminator.n_layers={dd.n_layers} leaves no patch of a "
                          f"{d.image_size}px image; use at most {int(np.log2(d.image_size / 3))}.")
    choice("loss.name", c.loss.name, ("lsgan", "non_saturating"))
    positive("loss.cycle_weight", c.loss.cycle_weight, allow_zero=True)
    positive("loss.identity_weight", c.loss.identity_weight, allow_zero=True)
    positive("loss.pool_size", c.loss.pool_size, allow_zero=True)
    if c.train.d_steps != 1:
        raise ConfigError(f"config.train.d_steps={c.train.d_steps}: CycleGAN alternates one G and one D "
                          f"update per iteration; set train.d_steps=1.")


# ----------------------------------------------------------------------------- image pool


def pool_init(size: int, shape: tuple[int, ...]) -> dict:
    """An empty pool: ``{'images': zeros [size, *shape], 'count': int32 0}`` (images stored)."""
    return {"images": jnp.zeros((size, *shape), jnp.float32), "count": jnp.zeros((), jnp.int32)}


def pool_query(pool: dict, images: jax.Array, key: jax.Array) -> tuple[dict, jax.Array]:
    """The reference's ``ImagePool.query`` on ``images [n, ...]``, image by image in order ->
    ``(pool, returned images [n, ...])`` (see the module docstring). Image ``i`` uses
    ``k_u, k_slot = split(fold_in(key, i))``: ``u = uniform(k_u)`` and ``slot =
    randint(k_slot, 0, size)``, drawn whether or not they are used. A pool of size 0 returns
    ``images``."""
    size = pool["images"].shape[0]
    if size == 0:
        return pool, images

    def one(carry, xs):
        stored, count = carry
        img, i = xs
        k_u, k_slot = jax.random.split(jax.random.fold_in(key, i))
        u = jax.random.uniform(k_u)
        filling = count < size
        swap = jnp.logical_and(jnp.logical_not(filling), u > 0.5)
        slot = jnp.where(filling, count, jax.random.randint(k_slot, (), 0, size))
        old = stored[slot]
        stored = stored.at[slot].set(jnp.where(jnp.logical_or(filling, swap), img, old))
        return (stored, count + filling.astype(jnp.int32)), jnp.where(swap, old, img)

    (stored, count), out = jax.lax.scan(one, (pool["images"], pool["count"]),
                                        (images, jnp.arange(images.shape[0])))
    return {"images": stored, "count": count}, out


def gather_global(x: jax.Array) -> jax.Array:
    """This device's rows ``[n, ...]`` -> the global batch ``[n * devices, ...]`` in device
    order, the same value on every device (a ``psum`` of zero-padded rows: exact)."""
    n = x.shape[0]
    buf = jnp.zeros((n * jax.lax.axis_size(steps.AXIS), *x.shape[1:]), x.dtype)
    buf = jax.lax.dynamic_update_slice_in_dim(buf, x, jax.lax.axis_index(steps.AXIS) * n, 0)
    return jax.lax.psum(buf, steps.AXIS)


def pool_query_global(pool: dict, local: jax.Array, key: jax.Array) -> tuple[dict, jax.Array]:
    """:func:`pool_query` over the global batch of this device's fakes ``local [n, ...]``
    (inside ``shard_map``) -> ``(pool, this device's rows of the returned images)``."""
    pool, out = pool_query(pool, gather_global(local), key)
    return pool, steps.local_batch_slice(out, local.shape[0])


# ----------------------------------------------------------------------------- the family


class CycleGAN(Family):
    name = "cyclegan"
    data_keys = ("a", "b")

    def __init__(self, config: ml_collections.ConfigDict):
        super().__init__(config)
        d, g, dd = config.data, config.model.generator, config.model.discriminator
        self.shape = (d.image_size, d.image_size, d.channels)
        self.g_model = ResnetGenerator(out_channels=d.channels, width=g.width, num_blocks=g.num_blocks,
                                       norm=g.norm)
        self.d_model = PatchGANDiscriminator(n_layers=dd.n_layers, width=dd.width, norm=dd.norm)
        self.d_loss = d_loss_fn(config.loss.name)
        self.g_gan_loss = g_gan_loss_fn(config.loss.name)

    # --- training
    def nets(self) -> dict[str, Net]:
        c = self.config
        x = jnp.zeros((2, *self.shape), jnp.float32)
        return {"g_ab": Net(self.g_model, (x,), optim.make_optimizer(c.optim.g), c.train.ema_decay),
                "g_ba": Net(self.g_model, (x,), optim.make_optimizer(c.optim.g), c.train.ema_decay),
                "d_a": Net(self.d_model, (x,), optim.make_optimizer(c.optim.d)),
                "d_b": Net(self.d_model, (x,), optim.make_optimizer(c.optim.d))}

    def init_aux(self, key: jax.Array) -> dict:
        size = self.config.loss.pool_size
        return {"pool_a": pool_init(size, self.shape), "pool_b": pool_init(size, self.shape)}

    def phases(self):
        return {"iteration": self.iteration}

    def schedule(self, step: int) -> list[tuple[str, int]]:
        return [("iteration", 1)]

    def generator_loss(self, g_params: dict, g_stats: dict, d_vars: dict, a, b):
        """``L_G`` of the module docstring for this device's ``a``, ``b`` (inside
        ``shard_map``) -> ``(loss, (terms, fakes {'a': G_ba(b), 'b': G_ab(a)}, G statistics))``.
        ``g_params`` / ``g_stats``: ``{'g_ab', 'g_ba'}``; ``d_vars``: ``{'d_a', 'd_b'}`` of
        ``{'params', 'batch_stats'}`` (their statistics updates are discarded)."""
        lc = self.config.loss
        stats = dict(g_stats)

        def G(name, x):
            out, stats[name] = steps.apply_train(self.g_model, g_params[name], stats[name], x)
            return out

        def D(name, x):
            logits, _ = steps.apply_train(self.d_model, d_vars[name]["params"], d_vars[name]["batch_stats"], x)
            return logits

        l1 = lambda x, y: jnp.mean(jnp.abs(x - y))  # noqa: E731
        fake_b = G("g_ab", a)
        rec_a = G("g_ba", fake_b)
        fake_a = G("g_ba", b)
        rec_b = G("g_ab", fake_a)
        terms = {"gan_ab": self.g_gan_loss(D("d_b", fake_b)), "gan_ba": self.g_gan_loss(D("d_a", fake_a)),
                 "cycle_a": l1(rec_a, a), "cycle_b": l1(rec_b, b)}
        loss = terms["gan_ab"] + terms["gan_ba"] + lc.cycle_weight * (terms["cycle_a"] + terms["cycle_b"])
        if lc.identity_weight > 0:
            terms["idt_a"], terms["idt_b"] = l1(G("g_ba", a), a), l1(G("g_ab", b), b)
            loss = loss + lc.identity_weight * lc.cycle_weight * (terms["idt_a"] + terms["idt_b"])
        return loss, (terms, {"a": fake_a, "b": fake_b}, stats)

    def iteration(self, state: State, batch, offset) -> tuple[State, Metrics]:
        c = self.config
        it_key = jax.random.fold_in(state.rng, state.step)
        real = steps.batch_at(batch, 0)
        x = {}
        for i, k in enumerate("ab"):
            if c.data.load_size != c.data.image_size or c.data.flip:
                v = real[k]
                x[k] = augment(jax.random.fold_in(it_key, i), v, v[..., :0], load_size=c.data.load_size,
                               flip=c.data.flip)[0]
            else:
                x[k] = real[k]
        nets = dict(state.nets)
        g_names, d_names = ("g_ab", "g_ba"), ("d_a", "d_b")
        d_vars = {n: net_variables(state, n) for n in d_names}

        # 1. both generators, D fixed
        (g_loss, (terms, fakes, g_stats)), grads = jax.value_and_grad(
            lambda p: self.generator_loss(p, {n: nets[n].batch_stats for n in g_names}, d_vars, x["a"], x["b"]),
            has_aux=True)(steps.varying({n: nets[n].params for n in g_names}))
        metrics = steps.pmean({"g_loss": g_loss, **{f"g_{k}": v for k, v in terms.items()}})
        for n in g_names:
            nets[n], metrics[f"{n}_grad_norm"] = steps.apply_gradients(nets[n], grads[n], g_stats[n])

        # 2. both discriminators on pooled fakes (made before the G update)
        aux = dict(state.aux)
        d_total = 0.0
        for i, dom in enumerate("ab"):
            name = f"d_{dom}"
            aux[f"pool_{dom}"], fake = pool_query_global(aux[f"pool_{dom}"], jax.lax.stop_gradient(fakes[dom]),
                                                         jax.random.fold_in(it_key, 2 + i))

            def d_objective(params, name=name, real_x=x[dom], fake=fake):
                real_logits, bs = steps.apply_train(self.d_model, params, nets[name].batch_stats, real_x)
                fake_logits, bs = steps.apply_train(self.d_model, params, bs, fake)
                loss = self.d_loss(real_logits, fake_logits)
                return loss, (bs, {f"{name}_loss": loss, f"{name}_real": jnp.mean(real_logits),
                                   f"{name}_fake": jnp.mean(fake_logits)})

            (_, (bs, m)), grads = jax.value_and_grad(d_objective, has_aux=True)(steps.varying(nets[name].params))
            nets[name], metrics[f"{name}_grad_norm"] = steps.apply_gradients(nets[name], grads, bs)
            m = steps.pmean(m)
            metrics.update(m)
            d_total = d_total + m[f"{name}_loss"]
        metrics["d_loss"] = d_total
        ema = dict(state.ema)
        for n in g_names:
            if n in ema:
                ema[n] = ema_update(ema[n], nets[n], c.train.ema_decay)
        return state.replace(step=state.step + 1, nets=nets, ema=ema, aux=aux), metrics

    # --- data
    def domain_source(self, domain: str, split: str):
        """Domain ``domain``'s ('a' or 'b') source of split ``split`` ('train' / 'test')."""
        d = self.config.data
        if d.source == "digits":
            return digits.digit_domain(d[f"domain_{domain}"], split, mnist_holdout=d.holdout,
                                       typeset_train=d.typeset_train, typeset_test=d.typeset_test,
                                       sklearn_holdout=d.sklearn_holdout, seed=d.render_seed)
        if d.source == "tfds":
            return sources.tfds_source(d.name, split + domain.upper(), d.data_dir or None)
        return folders.image_folder(d.path, split + domain.upper(), channels=d.channels)

    def source(self, split: str | None = None) -> UnpairedSource:
        split = split or self.config.data.split
        return UnpairedSource(self.domain_source("a", split), self.domain_source("b", split))

    def plot_panels(self):
        return [("d_a_loss", "d_b_loss", "g_gan_ab", "g_gan_ba"), ("g_cycle_a", "g_cycle_b", "g_idt_a", "g_idt_b"),
                ("d_a_real", "d_a_fake", "d_b_real", "d_b_fake"),
                ("g_ab_grad_norm", "g_ba_grad_norm", "d_a_grad_norm", "d_b_grad_norm")]

    def held_out(self, domain: str, n: int | None = None, indices=None) -> dict[str, np.ndarray]:
        """Held-out examples of ``domain`` (``data.eval_split``) ``{'x', 'label'}``: ``indices``
        (checked), else the first ``n`` (digits' test splits are ordered 0, 1, ..., 9, 0, ...),
        else all."""
        d = self.config.data
        src = self.domain_source(domain, d.eval_split)
        if indices is not None:
            if not all(0 <= i < len(src) for i in indices):
                raise ValueError(f"--seeds: held-out examples of domain {domain.upper()} are 0-{len(src) - 1}, "
                                 f"got {list(indices)}.")
            idx = np.asarray(indices)
        else:
            idx = np.arange(len(src) if n is None else min(n, len(src)))
        return pipeline.load_batch(src, idx, image_size=d.image_size, channels=d.channels)

    # --- translation (host side)
    @functools.cached_property
    def _apply_g(self):
        return jax.jit(lambda variables, x: self.g_model.apply(variables, x, train=False))

    def translate(self, state: State, name: str, x: np.ndarray, batch_size: int = 100) -> np.ndarray:
        """Generator ``name`` ('g_ab' / 'g_ba', its EMA if kept) in test mode on ``x [n, ...]``."""
        variables = ema_variables(state, name)
        return np.concatenate([np.asarray(self._apply_g(variables, x[i:i + batch_size]))
                               for i in range(0, len(x), batch_size)])

    def _grid(self, state: State, inputs: dict[str, np.ndarray]):
        """``write(path)``: for each direction (A -> B first), rows of (input, translation,
        reconstruction), two examples per row."""
        rows = []
        for direction, (src, _, fwd, back) in DIRECTIONS.items():
            x = inputs[src]
            fake = self.translate(state, fwd, x)
            rows.append(np.stack([x, fake, self.translate(state, back, fake)], axis=1).reshape(-1, *self.shape))
        rows = np.concatenate(rows)
        return lambda path: viz.save_image_grid(rows, path, ncols=6)

    def write_grids(self, state: State, step: int, out) -> None:
        n = self.config.train.num_samples
        inputs = {k: self.held_out(k, n)["x"] for k in "ab"}
        out.save_grid(f"step_{step:07d}.png", self._grid(state, inputs), step)

    def modes(self):
        return {"sample": self.write_sample_grid}

    def write_sample_grid(self, state: State, workdir: str, args) -> list[str]:
        """``--mode sample``: both directions on held-out examples ``args.seeds`` (indices into
        each domain's ``data.eval_split``; default: the grids' first ``train.num_samples``)."""
        if args.seeds:
            idx = parse_seeds(args.seeds)
            inputs, name = {k: self.held_out(k, indices=idx)["x"] for k in "ab"}, f"heldout_{idx[0]}-{idx[-1]}"
        else:
            inputs = {k: self.held_out(k, self.config.train.num_samples)["x"] for k in "ab"}
            name = "heldout"
        path = os.path.join(workdir, "samples", f"{name}_step_{int(state.step):07d}.png")
        self._grid(state, inputs)(path)
        return [path]

    # --- evaluation
    def _domain_classifier(self, domain: str):
        """``(model, variables)`` of the classifier of digit domain ``domain`` ('a' / 'b'),
        checked to be of that domain; missing or wrong: an ``EvalError`` naming the command."""
        c = self.config
        name = c.data[f"domain_{domain}"]
        workdir = c.eval.domain_classifiers[name]
        command = (f"`python launch.py --config {CLASSIFIER_COMMANDS[name]} --workdir {workdir}`")
        try:
            if not workdir and name == "mnist":  # the project cache's, trained on first use
                workdir = classifier.cached_mnist_classifier_dir()
            model, variables = classifier.load_classifier(workdir)
        except classifier.ClassifierError as e:
            raise EvalError(f"eval.domain_classifiers.{name}={workdir!r} holds no classifier of the {name} "
                            f"digits; train it first with {command}, or set --config.eval.every=0.") from e
        got = classifier.classifier_info(workdir).get("source")
        if got != CLASSIFIER_SOURCES[name]:
            raise EvalError(f"eval.domain_classifiers.{name}={workdir!r} holds a classifier of {got!r}, not of "
                            f"the {name} digits; train one with {command}.")
        return model, variables

    def _extractors(self) -> dict[str, callable]:
        """Per target domain: ``images -> (features, logits)``."""
        if extractor_kind(self.config) == "inception":
            ext = Extractor(self.config)
            return {"a": ext, "b": ext}
        if self.config.data.source != "digits":
            raise EvalError("eval.extractor='classifier' is for the digit domains; set "
                            "--config.eval.extractor=inception (and eval.inception_weights) for RGB data.")
        out = {}
        for dom in "ab":
            model, variables = self._domain_classifier(dom)
            out[dom] = (lambda m, v: lambda x: classifier.classifier_outputs(m, v, x)[::-1])(model, variables)
        return out

    def check_evaluator(self) -> None:
        self._extractors()

    def evaluate(self, state: State, workdir: str) -> dict[str, float]:
        c = self.config
        extract = self._extractors()
        labelled = c.data.source == "digits"
        test = {k: self.held_out(k) for k in "ab"}
        wanted = [m for m in c.eval.metrics if m in ("fid", "kid")]
        out: dict[str, float] = {}
        for direction, (src, tgt, fwd, back) in DIRECTIONS.items():
            n = min(len(test[src]["x"]), c.eval.num_samples)
            x, labels = test[src]["x"][:n], test[src]["label"][:n]
            fake = self.translate(state, fwd, x)
            rec = self.translate(state, back, fake)
            p = f"{direction}/"
            out[p + "num_examples"] = float(n)
            out[p + "target/num_examples"] = float(len(test[tgt]["x"]))
            out[p + "cycle_l1"] = float(np.mean(np.abs(rec - x)))
            (f_fake, lg_fake), (f_x, lg_x) = extract[tgt](fake), extract[tgt](x)
            f_real, lg_real = extract[tgt](test[tgt]["x"])
            if labelled:
                pred = np.argmax(lg_fake, -1)
                out[p + "accuracy"] = float(np.mean(pred == labels))
                for k in np.unique(labels):
                    out[p + f"class_{k}/accuracy"] = float(np.mean(pred[labels == k] == k))
                out[p + "copy_input/accuracy"] = float(np.mean(np.argmax(lg_x, -1) == labels))
                out[p + "target/accuracy"] = float(np.mean(np.argmax(lg_real, -1) == test[tgt]["label"]))
            out.update({p + k: v for k, v in feature_metrics(wanted, f_real, f_fake, lg_fake, c.seed).items()})
            out.update({p + "copy_input/" + k: v
                        for k, v in feature_metrics(wanted, f_real, f_x, lg_x, c.seed).items()})
        return out


def make(config: ml_collections.ConfigDict) -> CycleGAN:
    validate(config)
    return CycleGAN(config)
