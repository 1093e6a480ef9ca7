"""The config schema every experiment starts from, and the core's validation.

``base_config()`` holds every field with its default and a one-line comment; experiments in
``experiments/`` start from it and change what their paper says (a family may add its own
fields there). ``validate`` checks the fields the core reads (data loading, train loop,
evaluation schedule) and turns a bad value into one ``ConfigError`` sentence naming the
field and the fix; each family validates its own fields (``jgan.families``). This module
imports no training code.
"""
from __future__ import annotations

import ml_collections

FEATURE_METRICS = ("fid", "kid", "precision_recall", "density_coverage", "is", "classes")
MODE_METRICS = ("modes",)


class ConfigError(ValueError):
    """A config field has an invalid value."""


def load_experiment_config(path: str, variant: str | None = None) -> ml_collections.ConfigDict:
    """``get_config(variant)`` of the experiment file at ``path`` (e.g. ``experiments/wgan.py``)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("_jgan_experiment", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_config(variant)


# Fields a resumed run may change: none of them alters the trajectory (the parameters after
# any step), so a run resumed with them changed still ends with the bits of an uninterrupted run.
# Everything else is compared with the checkpoint's config and a change is refused
# (``trajectory_changes``). A name ending in '.' covers the whole section.
RESUMABLE_FIELDS = (
    "train.steps",                     # where the run stops; each step computes the same
    "train.log_every",                 # metric records (means over the interval): outputs only
    "train.sample_every",              # sample grids: G in inference mode, no state change
    "train.num_samples",               # size of those grids
    "train.checkpoint_every",          # when the state is saved, not what it is
    "train.checkpoint_every_minutes",
    "train.keep_checkpoints",
    "train.host_memory",               # the host allocator's policy
    "eval.",                           # evaluation samples from its own key stream, reads the state only
    "distributed.",                    # the process layout (global batches are device-count independent)
)

# Tuple fields of positive integers (layer sizes), where present in a config.
INT_TUPLE_FIELDS = ("model.generator.hidden", "model.discriminator.hidden", "model.encoder.hidden",
                    "model.generator.cond_input_units", "model.discriminator.cond_input_units")


def base_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.name = "gan"                   # experiment name (workdir default: runs/<name>[-<variant>])
    c.family = "gan"                 # one of jgan.families.FAMILIES: what is trained
    c.seed = 0                       # root of every key and of the data order
    c.distributed = ml_collections.ConfigDict()
    c.distributed.enabled = False    # call jax.distributed.initialize() (multi-host runs)
    c.distributed.coordinator = ""   # 'host:port' of process 0 ('' = detect from the cluster)
    c.distributed.num_processes = 0  # 0 = detect from the cluster environment
    c.distributed.process_id = -1    # -1 = detect from the cluster environment

    c.data = ml_collections.ConfigDict()
    c.data.source = "mnist_subset"   # 'mnist_subset' | 'tfds' | 'stacked_mnist' | 'ring8' | 'grid25'
    c.data.name = ""                 # TFDS dataset name (source 'tfds'), e.g. 'celeb_a'
    c.data.split = "train"           # split to train on
    c.data.data_dir = ""             # TFDS data_dir holding the prepared dataset ('' = TFDS default)
    c.data.holdout = 500             # mnist_subset: last N digits held out as the 'test' split
    c.data.num_examples = 100_000    # ring8/grid25: size of the drawn training set
    c.data.draw_in_step = False      # ring8/grid25: fresh points drawn inside the step instead (jgan.data.drawn)
    c.data.image_size = 28           # images are centre-cropped and resized to this (0 = native)
    c.data.channels = 1              # image channels after conversion (0 = native)
    c.data.prefetch = 8              # batches read ahead by a background thread (0 = none)

    c.model = ml_collections.ConfigDict()
    c.model.z_dim = 100              # latent size, z ~ N(0, I)
    c.model.pack = 1                 # PacGAN: D judges packs of this many samples (1 = plain GAN)
    c.model.conditioning = "none"    # 'none' | 'concat' (cGAN) | 'projection' | 'acgan' | 'infogan'
    c.model.num_classes = 10         # classes of the data labels; infogan: size of the categorical code
    c.model.info_continuous = 2      # infogan: continuous codes ~ U(-1, 1)
    c.model.generator = ml_collections.ConfigDict()
    c.model.generator.name = "dcgan28"   # one of jgan.models.GENERATORS
    c.model.generator.width = 64         # conv nets: base channel count
    c.model.generator.norm = "batch"     # 'batch' | 'layer' | 'none'
    c.model.generator.hidden = (1200, 1200)  # mlp: hidden layer sizes
    c.model.generator.cond_input_units = ()  # concat cGAN: (a, b) = ReLU layers for z and y first
    c.model.generator.dropout = 0.0          # mlp: dropout rate on G's hidden layers (and the z, y layers)
    c.model.generator.init_range = 0.0       # mlp: > 0: kernels ~ U(-r, r) (pylearn2 irange); 0: LeCun normal
    c.model.generator.output = "tanh"        # mlp images: 'tanh' | 'sigmoid' (2 sigmoid - 1, pylearn2's unit)
    c.model.generator.fc = 0                 # dcgan28: > 0: a Dense(fc)-norm-ReLU layer first (InfoGAN: 1024)
    c.model.generator.attention_resolution = 0  # sngan_cnn/resnet/biggan: SAGAN block at this size (0 = none)
    c.model.generator.shared_dim = 128       # biggan: width of the shared class embedding
    c.model.generator.hierarchical = True    # biggan: z split into chunks, one per block (hierarchical z)
    c.model.discriminator = ml_collections.ConfigDict()
    c.model.discriminator.name = "dcgan28"   # one of jgan.models.DISCRIMINATORS
    c.model.discriminator.width = 64
    c.model.discriminator.norm = "batch"
    c.model.discriminator.hidden = (240, 240)  # mlp: hidden layer sizes
    c.model.discriminator.cond_input_units = ()  # concat cGAN: (a, b) = maxout layers for x and y first
    c.model.discriminator.pieces = 5           # mlp: maxout pieces (1 = LeakyReLU)
    c.model.discriminator.dropout = 0.0        # mlp: dropout rate on hidden layers (and input, see next)
    c.model.discriminator.input_dropout = -1.0  # mlp: dropout rate on the input (< 0: the same as dropout)
    c.model.discriminator.init_range = 0.0     # mlp: > 0: kernels ~ U(-r, r) (pylearn2 irange); 0: LeCun normal
    c.model.discriminator.unit_input = False   # mlp: read images in [0, 1], (x + 1) / 2 (pylearn2's MNIST)
    c.model.discriminator.fc = 0               # dcgan28: > 0: a Dense(fc)-norm-LReLU layer before the head (InfoGAN: 1024)
    c.model.discriminator.spectral_norm = True  # sngan_cnn/resnet: spectral normalisation
    c.model.discriminator.attention_resolution = 0  # sngan_cnn/resnet: SAGAN block at this size

    c.loss = ml_collections.ConfigDict()
    c.loss.name = "non_saturating"   # one of jgan.losses.OBJECTIVES
    c.loss.penalty = "none"          # gradient penalty on D: 'none' | 'wgan_gp' | 'r1' | 'r2' | 'dragan'
    c.loss.penalty_weight = 10.0     # lambda (wgan_gp, dragan) or gamma (r1, r2)
    c.loss.aux_weight = 1.0          # acgan: weight of the class loss; infogan: lambda of the MI bound

    c.optim = ml_collections.ConfigDict()
    for net in ("g", "d"):
        o = ml_collections.ConfigDict()
        o.name = "adam"              # 'adam' | 'rmsprop' | 'sgd'
        o.lr = 2e-4
        o.b1 = 0.5                   # adam
        o.b2 = 0.999                 # adam
        o.eps = 1e-8                 # adam, rmsprop
        o.decay = 0.99               # rmsprop: squared-gradient average decay (PyTorch 'alpha')
        o.momentum = 0.0             # sgd (the initial momentum when final_momentum >= 0)
        o.final_momentum = -1.0      # sgd: >= 0: momentum ramped linearly to this (pylearn2 MomentumAdjustor)
        o.momentum_start = 0         # ... from this update
        o.momentum_saturate = 0      # ... reaching final_momentum at this update
        o.lr_decay_factor = 1.0      # sgd: lr divided by this after every update (pylearn2 ExponentialDecay)
        o.min_lr = 0.0               # ... never below this
        o.clip = 0.0                 # > 0: clip parameters to [-clip, clip] after each update
        o.max_col_norm = 0.0         # > 0: Dense kernel columns' L2 norm kept <= this (pylearn2 max_col_norm)
        o.constant_steps = 0         # > 0 with decay_steps: lr constant for this many updates, then
        o.decay_steps = 0            # ... linearly to 0 over decay_steps updates (0 = constant lr)
        o.decay_schedule = "linear"  # 'linear' (to 0) | 'exponential' (to lr * final_lr_mult; BiGAN)
        o.final_lr_mult = 0.01       # exponential decay: the last rate as a fraction of lr
        o.weight_decay = 0.0         # > 0: coupled L2, weight_decay * p added to each gradient (BiGAN 2.5e-5)
        o.ortho_reg = 0.0            # > 0: BigGAN's orthogonal regularisation (beta; 1e-4) on the kernels
        c.optim[net] = o

    c.train = ml_collections.ConfigDict()
    c.train.steps = 5000             # generator iterations
    c.train.batch_size = 64          # global batch (split over devices and processes)
    c.train.d_steps = 1              # D updates per G update (k, n_critic)
    c.train.d_steps_long = 0         # > 0: D updates of the 'long' iterations (WGAN: 100)
    c.train.long_first = 0           # ... for the first N generator iterations (WGAN: 25)
    c.train.long_every = 0           # ... and every N-th one (WGAN: 500; 0 = never)
    c.train.reuse_fake = False       # G update reuses the last D update's fake batch (DCGAN example)
    c.train.unroll_d = True          # unroll the D updates in the compiled step (fast on CPU)
    c.train.iterations_per_call = 1  # K whole iterations per compiled call (lax.scan); same bits as 1
    c.train.host_memory = "keep"     # 'keep': freed host memory is reused, not returned (jgan.hostmem) | 'release'
    c.train.ema_decay = 0.0          # EMA of G's parameters (0 = off)
    c.train.ema_start = 0            # BigGAN: the EMA copies G (decay 0) before this iteration
    c.train.log_every = 50           # iterations between metric records
    c.train.sample_every = 500       # iterations between sample grids
    c.train.checkpoint_every = 1000  # iterations between checkpoints
    c.train.checkpoint_every_minutes = 0.0  # > 0: also a checkpoint when this long has passed since the last
    c.train.keep_checkpoints = 3     # checkpoints kept
    c.train.num_samples = 64         # size of the fixed latent batch of the sample grids

    c.study = ml_collections.ConfigDict()
    c.study.vmap = True              # --seeds N: train the seeds as one jax.vmap-ed program (False: in turn)

    c.eval = ml_collections.ConfigDict()
    c.eval.every = 0                 # iterations between evaluations while training (0 = off)
    c.eval.metrics = ("fid", "kid", "precision_recall", "density_coverage", "is", "classes")  # toy data: modes
    c.eval.num_samples = 5000        # generated samples per evaluation (fixed evaluation noise)
    c.eval.num_real = 4500           # real examples for the reference features (cached)
    c.eval.extractor = "auto"        # 'auto' (by data.source) | 'classifier' (eval.classifier_workdir) | 'inception'
    c.eval.classifier_workdir = ""   # jgan-trained classifier ('' = MNIST's, trained once into ~/.cache/jgan or $JGAN_CACHE_DIR)
    c.eval.inception_weights = ""    # pt_inception-2015-12-05-6726825d.pth for RGB data
    # -- evaluation protocol (jgan.eval.evaluate)
    c.eval.protocol = "quick"        # 'quick' (num_samples vs num_real) | 'paper' (50k, 8-bit, whole train split)
    c.eval.heldout_split = "test"    # --mode eval: real data of this split against the reference (the floor)
    c.eval.truncation = 0.0          # > 0: BigGAN's truncation, z entries above this resampled (grids, eval, sample)
    c.eval.standing_stats = 0        # > 0: BigGAN's standing statistics, G's BatchNorm moments averaged over this many batches
    return c


def choice(field: str, value, options) -> None:
    if value not in options:
        raise ConfigError(f"config.{field}={value!r} is not one of {', '.join(map(repr, options))}.")


def positive(field: str, value, allow_zero: bool = False) -> None:
    if value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ConfigError(f"config.{field}={value!r} must be {bound}.")


def positive_ints(field: str, value) -> None:
    """A tuple of positive integers (layer sizes), e.g. ``(1200, 1200)``."""
    if not isinstance(value, (tuple, list)) or not all(
            isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value):
        raise ConfigError(f"config.{field}={value!r} must be a tuple of positive integers, "
                          f"e.g. --config.{field}='(64, 64)'.")


def _get(c: ml_collections.ConfigDict, field: str):
    node = c
    for part in field.split("."):
        if not hasattr(node, "keys") or part not in node:
            return None
        node = node[part]
    return node


def flatten(d: dict, prefix: str = "") -> dict:
    """A nested dict (a config as JSON) -> ``{'a.b.c': value}``."""
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _check_sgd_schedules(name: str, o) -> None:
    """pylearn2's SGD schedules (``jgan.optim.sgd_schedules``): in range, and only for SGD."""
    if not (o.final_momentum < 0 or 0 <= o.final_momentum < 1):
        raise ConfigError(f"config.{name}.final_momentum={o.final_momentum!r} must be in [0, 1) "
                          f"(or < 0: constant momentum).")
    if o.lr_decay_factor < 1:
        raise ConfigError(f"config.{name}.lr_decay_factor={o.lr_decay_factor!r} must be >= 1 (1 = constant lr).")
    positive(f"{name}.min_lr", o.min_lr, allow_zero=True)
    positive(f"{name}.momentum_start", o.momentum_start, allow_zero=True)
    if o.final_momentum >= 0 and o.momentum_saturate <= o.momentum_start:
        raise ConfigError(f"config.{name}.momentum_saturate={o.momentum_saturate!r} must be greater than "
                          f"momentum_start={o.momentum_start!r} for the momentum ramp.")
    if (o.final_momentum >= 0 or o.lr_decay_factor != 1) and o.name != "sgd":
        raise ConfigError(f"config.{name}.final_momentum / lr_decay_factor are SGD schedules; "
                          f"set config.{name}.name='sgd' or leave them at -1 / 1.")
    if o.lr_decay_factor != 1 and o.decay_steps:
        raise ConfigError(f"config.{name}.lr_decay_factor and decay_steps are two lr schedules; use one.")


def trajectory_changes(saved: dict, new: dict) -> list[str]:
    """The fields (dotted names) whose values differ between two configs as JSON dicts, except
    those in ``RESUMABLE_FIELDS`` and fields one of the two does not have (a field added
    since the checkpoint was written)."""
    a, b = flatten(saved), flatten(new)

    def resumable(name: str) -> bool:
        return any(name == f or (f.endswith(".") and name.startswith(f)) for f in RESUMABLE_FIELDS)

    return sorted(k for k in a.keys() & b.keys() if a[k] != b[k] and not resumable(k))


def check_resume(saved: dict, new: dict, where: str) -> None:
    """Raise ``ConfigError`` if the config ``new`` would resume the checkpoint written with
    ``saved`` (in ``where``) on another trajectory."""
    changed = trajectory_changes(saved, new)
    if changed:
        a, b = flatten(saved), flatten(new)
        diff = ", ".join(f"{k} {a[k]!r} -> {b[k]!r}" for k in changed[:6])
        more = f" and {len(changed) - 6} more" if len(changed) > 6 else ""
        raise ConfigError(f"{where} was written with another config ({diff}{more}); resuming would "
                          f"train on another trajectory: use the same values or another --workdir.")


def variant_options(variant: str, default: str, path: str) -> tuple[str, dict[str, str]]:
    """A variant string 'head,key=value,...' (``get_config``'s argument) -> ``(head, options)``."""
    parts = [p for p in (variant or default).split(",") if p]
    bad = [p for p in parts[1:] if "=" not in p]
    if not parts or bad:
        raise ConfigError(f"variant {variant!r} of {path}: option {bad[0] if bad else ''!r} is not of "
                          f"the form key=value; write e.g. {default},pack=4.")
    return parts[0], dict(p.split("=", 1) for p in parts[1:])


def validate(c: ml_collections.ConfigDict) -> None:
    """Raise ``ConfigError`` (one sentence naming the field) for an invalid core value."""
    if not isinstance(c.seed, int) or not 0 <= c.seed < 2 ** 32:
        raise ConfigError(f"config.seed={c.seed!r} must be an integer in [0, 2**32).")
    for field in INT_TUPLE_FIELDS:
        value = _get(c, field)
        if value is not None:
            positive_ints(field, value)
    positive("data.image_size", c.data.image_size, allow_zero=True)
    positive("data.prefetch", c.data.prefetch, allow_zero=True)
    if "optim" in c:
        for net, o in c.optim.items():
            choice(f"optim.{net}.name", o.name, ("adam", "rmsprop", "sgd"))
            positive(f"optim.{net}.lr", o.lr)
            positive(f"optim.{net}.clip", o.clip, allow_zero=True)
            positive(f"optim.{net}.max_col_norm", o.get("max_col_norm", 0.0), allow_zero=True)
            positive(f"optim.{net}.constant_steps", o.constant_steps, allow_zero=True)
            positive(f"optim.{net}.decay_steps", o.decay_steps, allow_zero=True)
            positive(f"optim.{net}.weight_decay", o.get("weight_decay", 0.0), allow_zero=True)
            positive(f"optim.{net}.ortho_reg", o.get("ortho_reg", 0.0), allow_zero=True)
            choice(f"optim.{net}.decay_schedule", o.get("decay_schedule", "linear"), ("linear", "exponential"))
            if not 0 < o.get("final_lr_mult", 0.01) <= 1:
                raise ConfigError(f"config.optim.{net}.final_lr_mult={o.final_lr_mult!r} must be in (0, 1].")
            for f in ("b1", "b2", "decay", "momentum"):
                if not 0 <= o[f] < 1:
                    raise ConfigError(f"config.optim.{net}.{f}={o[f]!r} must be in [0, 1).")
            if "final_momentum" in o:
                _check_sgd_schedules(f"optim.{net}", o)
    g = c.model.generator if "model" in c and "generator" in c.model else {}
    if "dropout" in g and not 0 <= g.dropout < 1:
        raise ConfigError(f"config.model.generator.dropout={g.dropout!r} must be in [0, 1).")
    if "output" in g:
        choice("model.generator.output", g.output, ("tanh", "sigmoid"))
    for net in ("generator", "discriminator"):
        for f in ("init_range", "fc"):
            if "model" in c and net in c.model and f in c.model[net]:
                positive(f"model.{net}.{f}", c.model[net][f], allow_zero=True)
    d = c.model.discriminator if "model" in c and "discriminator" in c.model else {}
    for f in ("dropout", "input_dropout"):
        if f in d and not (0 <= d[f] < 1 or (f == "input_dropout" and d[f] < 0)):
            raise ConfigError(f"config.model.discriminator.{f}={d[f]!r} must be in [0, 1)"
                              f"{' (or < 0: the same as dropout)' if f == 'input_dropout' else ''}.")
    positive("eval.every", c.eval.every, allow_zero=True)
    positive("eval.truncation", c.eval.get("truncation", 0.0), allow_zero=True)
    positive("eval.standing_stats", c.eval.get("standing_stats", 0), allow_zero=True)
    positive("train.ema_start", c.train.get("ema_start", 0), allow_zero=True)
    positive("eval.num_samples", c.eval.num_samples)
    positive("eval.num_real", c.eval.num_real)
    choice("eval.extractor", c.eval.extractor, ("auto", "classifier", "inception"))
    choice("eval.protocol", c.eval.get("protocol", "quick"), ("quick", "paper"))
    unknown = [m for m in c.eval.metrics if m not in FEATURE_METRICS + MODE_METRICS]
    if unknown:
        raise ConfigError(f"config.eval.metrics has unknown {unknown}; choose from "
                          f"{', '.join(FEATURE_METRICS + MODE_METRICS)}.")
    t = c.train
    choice("train.host_memory", t.host_memory, ("keep", "release"))
    for f in ("steps", "batch_size", "log_every", "sample_every", "checkpoint_every",
              "keep_checkpoints", "num_samples", "iterations_per_call"):
        positive(f"train.{f}", t[f])
    positive("train.checkpoint_every_minutes", t.checkpoint_every_minutes, allow_zero=True)
    if not 0 <= t.ema_decay < 1:
        raise ConfigError(f"config.train.ema_decay={t.ema_decay!r} must be in [0, 1) (0 = off).")
