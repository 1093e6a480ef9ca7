"""The ``bigan`` family: a generator, an encoder and a discriminator of joint pairs.

BiGAN (Donahue, Kraehenbuehl & Darrell 2017, *Adversarial Feature Learning*; the authors'
Theano code ``jeffdonahue/bigan``, ``train_gan.py`` / ``gan.py`` / ``train_mnist.sh``) and ALI
(Dumoulin et al. 2017, *Adversarially Learned Inference*: the same game with a stochastic
encoder, ``model.encoder.stochastic``).

Networks: ``g`` ``G(z)``, ``e`` ``E(x)`` and ``d`` ``D(x, z) -> logit``, each named by
``model.<net>.name``: ``'bigan_mlp'`` (BiGAN's MNIST MLPs, ``jgan.models.bigan``) or
``'ali_conv'`` (ALI's CIFAR-10 convolutional networks, ``jgan.models.ali``, whose G output bias
starts at the log-odds of the first 500 training images' mean, :meth:`BiGAN.marginal_log_odds`,
as the reference's ``get_log_odds``); an EMA of ``g`` and ``e`` when ``train.ema_decay`` > 0
(not in the papers). ALI's reference losses are the same two BCEs without the 1/2 below; under
Adam a constant factor on a loss changes nothing but the epsilon's relative size.

One phase, ``iteration`` (one real batch ``{'x'}``), as the reference with ``k = 1``
(``update_both``: every network's gradient is taken at the same parameters, then all three
are updated, a simultaneous step, not alternating D then G):

* ``z`` from the prior (``model.prior``: U(-1, 1)^d for BiGAN's ``u-50``, N(0, I) for ALI),
  drawn for the global batch from ``fold_in(it_key, 0)``; ALI's posterior noise ``eps`` from
  ``fold_in(it_key, 1)``, also for the global batch;
* ``L_D = 1/2 [BCE(D(x, E(x)), 1) + BCE(D(G(z), z), 0)]`` (the reference's
  ``add_discrim_cost`` with ``weight / 2``), D's real and fake pairs in separate forward
  passes (its BatchNorm sees each on its own, as the reference without ``--cat_inputs``);
* G and E minimise one objective together (the reference trains E's parameters with G's
  updater, ``encode_gen_weight 1``): ``loss.name='non_saturating'`` (the reference's
  ``opp_loss``: the labels flipped), ``L_GE = 1/2 [BCE(D(x, E(x)), 0) + BCE(D(G(z), z), 1)]``;
  ``'minimax'`` (the paper's Eq. 3), ``L_GE = -L_D``.

Optimiser (``optim.g`` for G and E, ``optim.d`` for D): Adam 2e-4, beta1 0.5, coupled L2 weight
decay 2.5e-5 on every parameter, the rate constant for the first half and decayed
exponentially to 1/100 of it over the second (``train_mnist.sh``: 200 + 200 epochs). The
reference changes the rate once per epoch; here every update (a smooth version of the same
curve, deliberately). The reference's test-mode BatchNorm averages come from 1,000 extra
"deploy" batches; here from running averages (momentum 0.1) during training.

Evaluation: the generator's samples with the gan family's metrics (FID, KID, precision /
recall, ... in the features of ``eval.extractor``); with ``eval.features``, the encoder as a
feature learner (``jgan.eval.probe``): the accuracy of a linear probe and of 1-nearest-
neighbour on ``E(x)`` (the paper's Table 1 measure) for the labels of the held-out split,
fitted on the training split, beside two baselines: the same encoder at initialisation
(``encoder_init/``) and the raw pixels (``pixels/``); and reconstructions ``G(E(x))`` of the
held-out images: their mean absolute error and, with a classifier extractor, the fraction
read as the digit of ``x`` (``recon/label_acc``; ``real/label_acc`` is the classifier on ``x``
itself, the ceiling).
"""
from __future__ import annotations

import functools
import os

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from jgan import edits, optim, sampling, steps, viz
from jgan.config import ConfigError, choice, positive
from jgan.data import pipeline, sources
from jgan.eval import evaluate as E
from jgan.eval import probe
from jgan.families.gan import data_shape
from jgan.family import Family, Net
from jgan.models.ali import RESOLUTION as ALI_RESOLUTION
from jgan.models.ali import ALIDecoder, ALIDiscriminator, ALIEncoder
from jgan.models.bigan import BiGANEncoder, BiGANGenerator, JointDiscriminator
from jgan.state import EVAL, INIT, SAMPLES, State, ema_update, ema_variables, init_network, stream_key

Metrics = dict[str, jax.Array]
PRIORS = ("uniform", "normal")
NETWORKS = ("bigan_mlp", "ali_conv")
MARGINAL_IMAGES = 500  # the reference's log-odds come from one batch of 500 training images


def validate(c: ml_collections.ConfigDict) -> None:
    """Raise ``ConfigError`` (one sentence naming the field) for an invalid bigan value."""
    choice("data.source", c.data.source, ("mnist_subset", "tfds"))
    positive("model.z_dim", c.model.z_dim)
    choice("model.prior", c.model.prior, PRIORS)
    for net in ("generator", "encoder", "discriminator"):
        choice(f"model.{net}.name", c.model[net].name, NETWORKS)
        choice(f"model.{net}.norm", c.model[net].norm, ("batch", "none"))
        if c.model[net].name == "ali_conv":
            positive(f"model.{net}.width", c.model[net].width)
            size = c.data.image_size
            if size > ALI_RESOLUTION or (ALI_RESOLUTION - size) % 2:
                raise ConfigError(f"config.model.{net}.name='ali_conv' works on 32 px images (smaller ones are "
                                  f"padded, centred): data.image_size={size} must be at most 32 and even.")
    if c.model.encoder.stochastic and c.model.prior != "normal":
        raise ConfigError("config.model.encoder.stochastic=True is ALI's Gaussian posterior; it needs "
                          "model.prior='normal' (set it, or encoder.stochastic=False).")
    dd = c.model.discriminator
    for f in ("dropout", "input_dropout"):
        if not 0 <= dd[f] < 1:
            raise ConfigError(f"config.model.discriminator.{f}={dd[f]!r} must be in [0, 1).")
    if dd.name == "bigan_mlp" and dd.input_dropout:
        raise ConfigError("config.model.discriminator.input_dropout is for the 'ali_conv' discriminator; "
                          "set it to 0 or use model.discriminator.name='ali_conv'.")
    if dd.name == "ali_conv" and (dd.maxout_pieces < 1 or dd.width % dd.maxout_pieces):
        raise ConfigError(f"config.model.discriminator.maxout_pieces={dd.maxout_pieces} must be >= 1 and "
                          f"divide model.discriminator.width={dd.width} (every conv's width is a multiple of it).")
    choice("loss.name", c.loss.name, ("non_saturating", "minimax"))
    if c.train.d_steps != 1:
        raise ConfigError(f"config.train.d_steps={c.train.d_steps} must be 1: BiGAN updates D, G and E "
                          f"together (the reference's k = 1).")


def draw_prior(key, n: int, z_dim: int, prior: str) -> jax.Array:
    """``[n, z_dim]`` latents from the prior."""
    if prior == "uniform":
        return jax.random.uniform(key, (n, z_dim), minval=-1.0, maxval=1.0)
    return jax.random.normal(key, (n, z_dim))


def bce_with_logits(logits, target: float):
    """Mean ``BCE(sigmoid(logits), target)`` for a constant target in {0, 1}."""
    return jnp.mean(jax.nn.softplus(-logits) if target == 1 else jax.nn.softplus(logits))


def d_loss(real_logits, fake_logits):
    """``1/2 [BCE(D(x, E(x)), 1) + BCE(D(G(z), z), 0)]``."""
    return 0.5 * (bce_with_logits(real_logits, 1) + bce_with_logits(fake_logits, 0))


def ge_loss(real_logits, fake_logits, name: str):
    """G and E's loss: the flipped labels ('non_saturating') or ``-L_D`` ('minimax')."""
    if name == "minimax":
        return -d_loss(real_logits, fake_logits)
    return 0.5 * (bce_with_logits(real_logits, 0) + bce_with_logits(fake_logits, 1))


class BiGAN(E.UnconditionalImageEvaluation, Family):
    name = "bigan"
    data_keys = ("x",)

    def __init__(self, config: ml_collections.ConfigDict):
        super().__init__(config)
        m = config.model
        self.shape = data_shape(config)
        self.z_dim, self.prior = m.z_dim, m.prior
        self.stochastic = bool(m.encoder.stochastic)
        g, e, d = m.generator, m.encoder, m.discriminator
        if g.name == "ali_conv":
            init = self._marginal_init if g.marginal_bias else jax.nn.initializers.zeros
            self.g_model = ALIDecoder(out_shape=self.shape, width=g.width, leak=g.leak, marginal_init=init)
        else:
            self.g_model = BiGANGenerator(out_shape=self.shape, hidden=tuple(g.hidden), norm=g.norm)
        if e.name == "ali_conv":
            self.e_model = ALIEncoder(z_dim=m.z_dim, width=e.width, leak=e.leak, stochastic=self.stochastic)
        else:
            self.e_model = BiGANEncoder(z_dim=m.z_dim, hidden=tuple(e.hidden), norm=e.norm, prior=m.prior,
                                        stochastic=self.stochastic)
        if d.name == "ali_conv":
            self.d_model = ALIDiscriminator(width=d.width, pieces=d.maxout_pieces, dropout_in=d.input_dropout,
                                            dropout=d.dropout)
        else:
            self.d_model = JointDiscriminator(hidden=tuple(d.hidden), norm=d.norm, dropout=d.dropout)

    def marginal_log_odds(self) -> np.ndarray:
        """``[H, W, C]``: the log-odds of the mean of the first 500 training images in [0, 1]
        (the reference's ``get_log_odds``, clipped to [1e-7, 1 - 1e-7]): ALI's initial output bias."""
        src = self.source(self.config.data.split)
        d = self.config.data
        x = pipeline.load_batch(src, np.arange(min(MARGINAL_IMAGES, len(src))), image_size=d.image_size,
                                channels=d.channels)["x"]
        p = np.clip(np.mean((x + 1.0) / 2.0, axis=0), 1e-7, 1 - 1e-7)
        return np.log(p / (1 - p)).astype(np.float32)

    def _marginal_init(self, key, shape, dtype=jnp.float32):
        # a host callback, so that the data are read only when values are made (not when
        # restore() traces the state's shapes)
        del key
        return jax.pure_callback(self.marginal_log_odds, jax.ShapeDtypeStruct(shape, dtype))

    def nets(self) -> dict[str, Net]:
        c = self.config
        z = jnp.zeros((2, self.z_dim), jnp.float32)
        x = jnp.zeros((2, *self.shape), jnp.float32)
        ema = c.train.ema_decay
        return {"g": Net(self.g_model, (z,), optim.make_optimizer(c.optim.g), ema),
                "e": Net(self.e_model, (x,), optim.make_optimizer(c.optim.g), ema),
                "d": Net(self.d_model, (x, z), optim.make_optimizer(c.optim.d))}

    def schedule(self, step: int) -> list[tuple[str, int]]:
        return [("iteration", 1)]

    def phases(self):
        return {"iteration": self.iteration}

    def source(self, split: str | None = None):
        return sources.split_source(self.config, split)

    def plot_panels(self):
        return [("d_loss", "g_loss"), ("d_real_prob", "d_fake_prob"), ("d_real_logit", "d_fake_logit"),
                ("d_grad_norm", "g_grad_norm", "e_grad_norm")]

    def progress_keys(self) -> tuple[str, ...]:
        return ("d_loss", "g_loss", "d_real_prob", "d_fake_prob")

    # --- the phase
    def iteration(self, state: State, batch, offset) -> tuple[State, Metrics]:
        """``batch['x'] [1, B_local, ...]``: one simultaneous update of D, G and E."""
        del offset
        x = batch["x"][0]
        n = x.shape[0]
        it_key = jax.random.fold_in(state.rng, state.step)
        z = steps.global_draw(lambda m: draw_prior(jax.random.fold_in(it_key, 0), m, self.z_dim, self.prior), n)
        eps = steps.global_draw(lambda m: jax.random.normal(jax.random.fold_in(it_key, 1), (m, self.z_dim)), n)
        kr = steps.device_key(jax.random.fold_in(it_key, 2))  # D's dropout masks: per device
        kf = steps.device_key(jax.random.fold_in(it_key, 3))
        g, e, d = state.nets["g"], state.nets["e"], state.nets["d"]
        loss_name = self.config.loss.name

        def forward(gp, ep, dp):
            fake, g_bs = steps.apply_train(self.g_model, gp, g.batch_stats, z)
            ez, e_bs = steps.apply_train(self.e_model, ep, e.batch_stats, x, eps)
            real_logits, d_bs = steps.apply_train(self.d_model, dp, d.batch_stats, x, ez, rngs={"dropout": kr})
            fake_logits, d_bs = steps.apply_train(self.d_model, dp, d_bs, fake, z, rngs={"dropout": kf})
            losses = (d_loss(real_logits, fake_logits), ge_loss(real_logits, fake_logits, loss_name))
            aux = {"d_real_logit": jnp.mean(real_logits), "d_fake_logit": jnp.mean(fake_logits),
                   "d_real_prob": jnp.mean(jax.nn.sigmoid(real_logits)),
                   "d_fake_prob": jnp.mean(jax.nn.sigmoid(fake_logits))}
            return losses, (g_bs, e_bs, d_bs, aux)

        losses, vjp, (g_bs, e_bs, d_bs, aux) = jax.vjp(
            forward, steps.varying(g.params), steps.varying(e.params), steps.varying(d.params), has_aux=True)
        one, zero = jnp.ones_like(losses[0]), jnp.zeros_like(losses[0])
        _, _, d_grads = vjp((one, zero))      # every gradient at the same parameters:
        g_grads, e_grads, _ = vjp((zero, one))  # the reference's simultaneous update
        g, g_norm = steps.apply_gradients(g, g_grads, g_bs)
        e, e_norm = steps.apply_gradients(e, e_grads, e_bs)
        d, d_norm = steps.apply_gradients(d, d_grads, d_bs)
        ema = dict(state.ema)
        for name, net in (("g", g), ("e", e)):
            if name in ema:
                ema[name] = ema_update(ema[name], net, self.config.train.ema_decay)
        metrics = {"d_loss": losses[0], "g_loss": losses[1], **aux}
        metrics = {**steps.pmean(metrics), "d_grad_norm": d_norm, "g_grad_norm": g_norm, "e_grad_norm": e_norm}
        return state.replace(nets={"g": g, "e": e, "d": d}, ema=ema, step=state.step + 1), metrics

    # --- host side
    @functools.cached_property
    def _generate_fn(self):
        return jax.jit(lambda v, z: self.g_model.apply(v, z, train=False))

    @functools.cached_property
    def _encode_fn(self):
        return jax.jit(lambda v, x: self.e_model.apply(v, x, train=False))

    def generate(self, variables, z, batch_size: int = 500) -> np.ndarray:
        """G in inference mode over the rows of ``z`` -> numpy ``[n, ...]``."""
        return np.concatenate([np.asarray(self._generate_fn(variables, z[i:i + batch_size]))
                               for i in range(0, len(z), batch_size)])

    def encode(self, variables, x, batch_size: int = 500) -> np.ndarray:
        """E in inference mode (ALI: the posterior mean) -> numpy ``[n, z_dim]``."""
        return np.concatenate([np.asarray(self._encode_fn(variables, jnp.asarray(x[i:i + batch_size])))
                               for i in range(0, len(x), batch_size)])

    def held_out(self, n: int | None = None) -> dict[str, np.ndarray]:
        """The first ``n`` (default all) examples of ``eval.heldout_split``: ``{'x', 'label'}``."""
        src = self.source(self.config.eval.get("heldout_split", "test"))
        count = len(src) if n is None else min(n, len(src))
        d = self.config.data
        return pipeline.load_batch(src, np.arange(count), image_size=d.image_size, channels=d.channels)

    def write_grids(self, state: State, step: int, out) -> None:
        c = self.config
        z = draw_prior(stream_key(c.seed, SAMPLES), c.train.num_samples, self.z_dim, self.prior)
        x = self.generate(ema_variables(state, "g"), z)
        out.save_grid(f"step_{step:07d}.png", lambda path: viz.save_image_grid(x, path), step)
        pairs = self.reconstruction_pairs(state, c.train.num_samples // 2)
        out.save_grid(f"recon_step_{step:07d}.png", lambda path: viz.save_image_grid(pairs, path, ncols=16), step)

    def reconstruction_pairs(self, state: State, n: int) -> np.ndarray:
        """Rows of 8 held-out images, each row followed by their reconstructions ``G(E(x))``:
        ``[2 n', ...]`` laid out for a grid 16 wide (n' = n rounded down to a multiple of 8)."""
        held = self.held_out(max(8, n - n % 8))
        x = held["x"][: len(held["x"]) - len(held["x"]) % 8]
        recon = self.generate(ema_variables(state, "g"), self.encode(ema_variables(state, "e"), x))
        rows = [np.concatenate([x[i:i + 8], recon[i:i + 8]]) for i in range(0, len(x), 8)]
        return np.concatenate(rows)

    def eval_latents(self) -> jax.Array:
        key = jax.random.fold_in(stream_key(self.config.seed, EVAL), 2 ** 31 - 1)
        return draw_prior(key, E.num_generated(self.config), self.z_dim, self.prior)

    def evaluate(self, state: State, workdir: str) -> dict:
        samples = self.generate(ema_variables(state, "g"), self.eval_latents())
        out = E.evaluate_samples(self.config, samples, workdir)
        if self.config.eval.get("features", True):
            out.update(self.evaluate_encoder(state))
        return out

    def initial_encoder(self) -> dict:
        """The run's encoder at step 0 (the untrained baseline), rebuilt from the INIT stream."""
        nets = self.nets()
        keys = jax.random.split(stream_key(self.config.seed, INIT), len(nets))
        net = init_network(nets["e"].module, keys[list(nets).index("e")], nets["e"].example_args, nets["e"].tx)
        return {"params": net.params, "batch_stats": net.batch_stats}

    def evaluate_encoder(self, state: State) -> dict:
        """Linear-probe and 1NN accuracy of ``E(x)`` (and the baselines), reconstructions."""
        d = self.config.data
        train_src = self.source(d.split)
        train = pipeline.load_batch(train_src, np.arange(len(train_src)), image_size=d.image_size,
                                    channels=d.channels)
        test = self.held_out()
        if "label" not in train or "label" not in test:
            return {}
        out: dict = {}
        features = {"encoder": ema_variables(state, "e"), "encoder_init": self.initial_encoder()}
        for name, variables in features.items():
            tr, te = self.encode(variables, train["x"]), self.encode(variables, test["x"])
            out[f"{name}/linear_acc"] = probe.linear_probe_accuracy(tr, train["label"], te, test["label"])
            out[f"{name}/1nn_acc"] = probe.nearest_neighbour_accuracy(tr, train["label"], te, test["label"])
        out.update(_pixel_baselines(self.config.data.to_json(), train["x"], train["label"], test["x"],
                                    test["label"]))
        recon = self.generate(ema_variables(state, "g"), self.encode(ema_variables(state, "e"), test["x"]))
        out["recon/l1"] = float(np.mean(np.abs(recon - test["x"])))
        if E.extractor_kind(self.config) == "classifier":
            extractor = E.Extractor(self.config)
            out["recon/label_acc"] = float(np.mean(np.argmax(extractor(recon)[1], -1) == test["label"]))
            out["real/label_acc"] = float(np.mean(np.argmax(extractor(test["x"])[1], -1) == test["label"]))
        out["probe/train_count"], out["probe/test_count"] = len(train["x"]), len(test["x"])
        return out

    def modes(self):
        return {"sample": self.write_sample_grid, "reconstruct": self.write_reconstructions,
                **edits.modes(self)}

    def latent_space(self, state: State) -> edits.LatentSpace:
        """z from the prior and G (EMA when kept) in inference mode."""
        variables = ema_variables(state, "g")
        return edits.LatentSpace(z_dim=self.z_dim,
                                 draw=lambda key, n: draw_prior(key, n, self.z_dim, self.prior),
                                 decode=lambda z: self.generate(variables, jnp.asarray(z)))

    def write_sample_grid(self, state: State, workdir: str, args) -> list[str]:
        """``--mode sample``: G(z) for the latent seeds ``args.seeds`` (default 0-63), each z
        drawn from the prior with ``fold_in(EVAL stream, seed)``."""
        return sampling.write_seed_grid(
            self.config, state, workdir, args, lambda key: draw_prior(key, 1, self.z_dim, self.prior)[0],
            lambda z: self.generate(ema_variables(state, "g"), z))

    def write_reconstructions(self, state: State, workdir: str, args) -> list[str]:
        """``--mode reconstruct``: 64 held-out images and their ``G(E(x))``, in alternating rows of 8."""
        path = os.path.join(workdir, "samples", f"reconstructions_step_{int(state.step):07d}.png")
        viz.save_image_grid(self.reconstruction_pairs(state, 64), path, ncols=16)
        return [path]


def _pixel_baselines(data_key: str, train_x, train_y, test_x, test_y) -> dict:
    """The probes on raw pixels (a baseline that does not change during a run: computed once
    per process and data config)."""
    if data_key not in _PIXEL_CACHE:
        tr, te = train_x.reshape(len(train_x), -1), test_x.reshape(len(test_x), -1)
        _PIXEL_CACHE[data_key] = {
            "pixels/linear_acc": probe.linear_probe_accuracy(tr, train_y, te, test_y),
            "pixels/1nn_acc": probe.nearest_neighbour_accuracy(tr, train_y, te, test_y)}
    return dict(_PIXEL_CACHE[data_key])


_PIXEL_CACHE: dict[str, dict] = {}


def make(config: ml_collections.ConfigDict) -> BiGAN:
    validate(config)
    return BiGAN(config)
