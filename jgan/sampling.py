"""The gan family's latent-space tools: sample grids from fixed seeds, interpolations.

Latent seed ``s`` means ``z = N(0, I)`` drawn from ``fold_in(fold_in(root, EVAL), s)``, so
seed 7 is the same z in every run and every tool of the same config. Samples use the EMA
generator (its params and normalisation statistics) when the run keeps one, with BatchNorm
in inference mode. ``--mode sample`` / ``--mode interpolate`` call
:func:`write_sample_grid` / :func:`write_interpolations` with the restored state.
"""
from __future__ import annotations

import functools
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from jgan.conditioning import Conditioning, Latents, with_codes
from jgan.models.dcgan import BN_MOMENTUM
from jgan.state import EVAL, stream_key


def parse_seeds(spec: str) -> list[int]:
    """'3,7,9' or '0-15' or '0-3,8' -> list of ints (in order, ranges inclusive), each in
    [0, 2**31); anything else is a ``ValueError`` naming ``--seeds``."""
    seeds: list[int] = []
    usage = "use non-negative integers and ranges, e.g. 0-15 or 3,7"
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        lo, sep, hi = part.partition("-")
        if not lo.isdigit() or (sep and not hi.isdigit()):
            raise ValueError(f"--seeds={spec!r}: {part!r} is not a seed or a range of seeds; {usage}.")
        if sep and int(hi) < int(lo):
            raise ValueError(f"--seeds={spec!r}: the range {part!r} is empty; write it low-high, e.g. {hi}-{lo}.")
        seeds.extend(range(int(lo), int(hi) + 1) if sep else [int(lo)])
    if not seeds:
        raise ValueError(f"--seeds={spec!r} names no seed; {usage}.")
    if max(seeds) >= 2 ** 31:
        raise ValueError(f"--seeds={spec!r}: seeds must be below 2**31.")
    return seeds


def latents(seed: int, latent_seeds, z_dim: int, truncation: float = 0.0) -> jax.Array:
    """``[len(latent_seeds), z_dim]``: one N(0, I) vector per latent seed (truncated by
    resampling when ``truncation`` > 0)."""
    base = stream_key(seed, EVAL)
    return jnp.stack([truncate(jax.random.normal(jax.random.fold_in(base, s), (z_dim,)),
                               jax.random.fold_in(base, s), truncation) for s in latent_seeds])


def truncate(z: jax.Array, key: jax.Array, threshold: float) -> jax.Array:
    """BigGAN's truncation trick (Brock et al. 2019, Sec. 3.1): every entry of ``z`` (drawn from
    N(0, 1)) whose magnitude exceeds ``threshold`` is redrawn until it does not (draw ``i`` from
    ``fold_in(key, 2**31 - 1 - i)``), so the entries are N(0, 1) truncated to
    ``[-threshold, threshold]``; ``threshold`` 0: ``z`` unchanged."""
    if not threshold:
        return z

    def body(carry):
        z, i = carry
        fresh = jax.random.normal(jax.random.fold_in(key, 2 ** 31 - 1 - i), z.shape, z.dtype)
        return jnp.where(jnp.abs(z) > threshold, fresh, z), i + 1

    return jax.lax.while_loop(lambda c: jnp.any(jnp.abs(c[0]) > threshold), body, (z, jnp.int32(0)))[0]


def standing_statistics(model, variables: dict, batches) -> dict:
    """BigGAN's standing statistics (Brock et al. 2019, App. C.1; BigGAN-PyTorch's
    ``accumulate_standing_stats``): the BatchNorm moments (``mean`` / ``var`` leaves of
    ``batch_stats``) replaced by their average over G run in train mode on each of ``batches``
    (tuples of G's inputs); other statistics (spectral norm's ``u`` / ``sigma``) are kept.
    Each batch's moments are read back from a running average started at 0 (flax keeps
    ``momentum * 0 + (1 - momentum) * batch``, ``jgan.models.dcgan.BN_MOMENTUM``); the
    variance is flax's biased batch variance (PyTorch stores the unbiased one)."""
    moments = ("mean", "var")

    def is_moment(path):
        return getattr(path[-1], "key", None) in moments

    zeroed = jax.tree_util.tree_map_with_path(
        lambda p, v: jnp.zeros_like(v) if is_moment(p) else v, variables["batch_stats"])

    @jax.jit
    def one(args):
        _, upd = model.apply({"params": variables["params"], "batch_stats": zeroed}, *args, train=True,
                             mutable=["batch_stats"])
        return upd["batch_stats"]

    total = None
    for args in batches:
        stats = one(args)
        total = stats if total is None else jax.tree.map(jnp.add, total, stats)
    averaged = jax.tree_util.tree_map_with_path(
        lambda p, t, v: t / (len(batches) * (1 - BN_MOMENTUM)) if is_moment(p) else v, total,
        variables["batch_stats"])
    return {"params": variables["params"], "batch_stats": averaged}


def lerp(z0: jax.Array, z1: jax.Array, t: jax.Array) -> jax.Array:
    """Linear interpolation ``(1 - t) z0 + t z1`` for each ``t`` in ``[n]`` -> ``[n, d]``."""
    t = jnp.asarray(t)[:, None]
    return (1 - t) * z0[None] + t * z1[None]


def slerp(z0: jax.Array, z1: jax.Array, t: jax.Array) -> jax.Array:
    """Spherical interpolation (Shoemake 1985; White 2016 for GAN latents) -> ``[n, d]``.

    ``sin((1-t) w) / sin w * z0 + sin(t w) / sin w * z1`` with ``w`` the angle between z0 and
    z1; falls back to lerp when they are (anti)parallel within float precision.
    """
    t = jnp.asarray(t)[:, None]
    cos = jnp.dot(z0, z1) / (jnp.linalg.norm(z0) * jnp.linalg.norm(z1))
    omega = jnp.arccos(jnp.clip(cos, -1.0, 1.0))
    so = jnp.sin(omega)
    safe = so > 1e-6
    so_safe = jnp.where(safe, so, 1.0)
    spherical = (jnp.sin((1 - t) * omega) / so_safe) * z0[None] + (jnp.sin(t * omega) / so_safe) * z1[None]
    return jnp.where(safe, spherical, lerp(z0, z1, t[:, 0]))


def interpolation_path(z: jax.Array, steps: int, kind: str) -> jax.Array:
    """Consecutive interpolations through the rows of ``z [k, d]``, ``steps`` frames per
    segment (the last frame of a segment is the next one's first, kept once) -> ``[m, d]``."""
    fn = {"linear": lerp, "spherical": slerp}[kind]
    t = jnp.linspace(0.0, 1.0, steps)
    frames = [fn(z[i], z[i + 1], t if i == 0 else t[1:]) for i in range(len(z) - 1)]
    return jnp.concatenate(frames)


@functools.lru_cache(maxsize=8)
def make_sampler(g_model) -> Callable:
    """Jitted ``(variables, z, labels=None) -> samples`` with G in inference mode (running
    statistics); ``labels`` only for generators that take them. Cached per generator, so
    periodic evaluation does not recompile it."""

    @jax.jit
    def sample(variables, z, labels=None):
        args = (z,) if labels is None else (z, labels)
        return g_model.apply(variables, *args, train=False)

    return sample


def generate(g_model, variables: dict, lat: Latents, cond: Conditioning, batch_size: int = 256) -> np.ndarray:
    """G in inference mode over the latents' rows, in chunks -> numpy ``[n, ...]``."""
    fn = make_sampler(g_model)
    labels = lat.labels if cond.g_takes_labels else None
    out = [np.asarray(fn(variables, lat.z[i:i + batch_size],
                         None if labels is None else labels[i:i + batch_size]))
           for i in range(0, len(lat.z), batch_size)]
    return np.concatenate(out)


TRAVERSAL_VALUES = np.linspace(-2.0, 2.0, 9)  # InfoGAN continuous codes, as in Chen et al. Fig. 2


def seed_by_value_grid(z: jax.Array, labels, continuous, cond: Conditioning) -> Latents:
    """Latents of a grid with one row per noise vector ``z [r, d]`` and one column per entry
    of ``labels [c]`` / ``continuous [c, num_continuous]`` -> ``Latents`` of ``r * c`` rows."""
    r, c = z.shape[0], len(labels)
    zz = jnp.repeat(z, c, axis=0)
    ll = jnp.tile(jnp.asarray(labels, jnp.int32), r)
    uu = jnp.tile(jnp.asarray(continuous, jnp.float32).reshape(c, cond.num_continuous), (r, 1))
    return with_codes(zz, ll, uu, cond)


def conditional_grids(cond: Conditioning, z: jax.Array, latent_seeds, labels=None) -> dict[str, Latents]:
    """The grids ``--mode sample`` writes for a conditional generator, ``{name: latents}``;
    rows are latent seeds (rows of ``z``), columns what the grid varies:

    * label-conditioned G: ``labels`` in the given order (default: every class), e.g. 9,4,3,0,5;
    * InfoGAN: ``categorical``: the code's K values (continuous codes 0); ``continuous<j>``:
      code j over ``TRAVERSAL_VALUES`` (the others 0; the categorical code of row i is
      ``latent_seeds[i] % K``).
    """
    k = cond.num_classes
    if cond.g_takes_labels:
        cols = list(range(k)) if labels is None else list(labels)
        name = "classes" if labels is None else "labels_" + "-".join(map(str, cols))
        return {name: seed_by_value_grid(z, cols, np.zeros((len(cols), 0)), cond)}
    grids = {"traversal_categorical": seed_by_value_grid(z, list(range(k)),
                                                         np.zeros((k, cond.num_continuous)), cond)}
    c = len(TRAVERSAL_VALUES)
    row_cats = jnp.repeat(jnp.asarray([s % k for s in latent_seeds], jnp.int32), c)
    for j in range(cond.num_continuous):
        vals = np.zeros((c, cond.num_continuous), np.float32)
        vals[:, j] = TRAVERSAL_VALUES
        grids[f"traversal_continuous{j}"] = with_codes(jnp.repeat(z, c, axis=0), row_cats,
                                                       jnp.tile(vals, (z.shape[0], 1)), cond)
    return grids


def write_sample_grid(family, state, workdir: str, args) -> list[str]:
    """``--mode sample``: grids of G for the latent seeds ``args.seeds`` (default 0-63, or
    0-7 for conditional grids); returns the paths written under ``workdir/samples/``.

    Unconditional G: one grid of G(z_seed), row-major (``seeds_<first>-<last>_step_<step>.png``).
    Conditional G: rows = seeds, columns = ``args.labels`` (``labels_9-4-3-0-5_...png``, the
    digits in that order) or every class (``classes_...png``, the class x seed grid). InfoGAN:
    the traversal grids of :func:`conditional_grids`.
    """
    import os

    from jgan import viz
    from jgan.families.gan import generate

    config, cond = family.config, family.cond
    labels = args.labels
    if labels is not None and not cond.g_takes_labels:
        raise ValueError(f"--labels needs a label-conditioned generator; {config.name} has "
                         f"model.conditioning={config.model.conditioning!r}.")
    if labels is not None and not all(0 <= y < cond.num_classes for y in labels):
        raise ValueError(f"--labels must be in [0, {cond.num_classes}), got {list(labels)}.")
    latent_seeds = parse_seeds(args.seeds or ("0-63" if cond.kind == "none" else "0-7"))
    variables, step = family.sample_variables(state), int(state.step)
    z = latents(config.seed, latent_seeds, config.model.z_dim, config.eval.get("truncation", 0.0))
    seeds = f"seeds_{latent_seeds[0]}-{latent_seeds[-1]}_step_{step:07d}.png"
    if cond.kind == "none":
        images = generate(family.g_model, variables, with_codes(z, jnp.zeros(len(z), jnp.int32),
                                                                jnp.zeros((len(z), 0)), cond), cond)
        path = os.path.join(workdir, "samples", seeds)
        if images.ndim == 2:
            viz.save_scatter(images, path, title=f"{config.name} step {step}")
        else:
            viz.save_image_grid(images, path)
        return [path]
    paths = []
    for name, lat in conditional_grids(cond, z, latent_seeds, labels).items():
        images = generate(family.g_model, variables, lat, cond)
        path = os.path.join(workdir, "samples", f"{name}_{seeds}")
        viz.save_image_grid(images, path, ncols=len(images) // len(latent_seeds))
        paths.append(path)
    return paths


def write_seed_grid(config, state, workdir: str, args, draw_one: Callable, decode: Callable,
                    tag: str = "") -> list[str]:
    """``--mode sample`` for a family with one latent prior (bigan, progan): ``decode(z)`` for
    ``z_s = draw_one(fold_in(EVAL stream, s))``, ``s`` in ``args.seeds`` (default 0-63), one
    row-major grid ``samples/seeds_<first>-<last><tag>_step_<step>.png``."""
    import os

    from jgan import viz

    seeds = parse_seeds(args.seeds or "0-63")
    base = stream_key(config.seed, EVAL)
    z = jnp.stack([draw_one(jax.random.fold_in(base, s)) for s in seeds])
    path = os.path.join(workdir, "samples", f"seeds_{seeds[0]}-{seeds[-1]}{tag}_step_{int(state.step):07d}.png")
    viz.save_image_grid(decode(z), path)
    return [path]


def write_interpolations(family, state, workdir: str, args) -> list[str]:
    """``--mode interpolate``: image strips through the latents of ``args.seeds`` (default
    0-3), ``args.frames`` per segment, one linear and one spherical, to
    ``workdir/samples/interp_{linear,spherical}_<seeds>.png``; the seeds' own frames are
    framed in red (``jgan.viz.MARK_COLOUR``)."""
    import os

    from jgan import viz
    from jgan.families.gan import generate

    config, cond = family.config, family.cond
    latent_seeds = parse_seeds(args.seeds or "0-3")
    if len(latent_seeds) < 2:
        raise ValueError("--mode interpolate needs at least two --seeds, e.g. --seeds 3,7.")
    variables, step = family.sample_variables(state), int(state.step)
    z = latents(config.seed, latent_seeds, config.model.z_dim)
    name = "-".join(map(str, latent_seeds))
    paths = []
    for kind in ("linear", "spherical"):
        path_z = interpolation_path(z, args.frames, kind)
        # conditional G: class / categorical code 0 and continuous codes 0 along the path
        lat = with_codes(path_z, jnp.zeros(len(path_z), jnp.int32),
                         jnp.zeros((len(path_z), cond.num_continuous)), cond)
        images = generate(family.g_model, variables, lat, cond)
        if images.ndim != 4:
            raise ValueError(f"{config.name} generates {images.shape[1:]} points, not images: "
                             f"interpolation strips need an image generator.")
        path = os.path.join(workdir, "samples", f"interp_{kind}_{name}_step_{step:07d}.png")
        seed_frames = [i * (args.frames - 1) for i in range(len(latent_seeds))]  # framed in red
        viz.save_image_grid(images, path, ncols=len(images), marked=seed_frames)
        paths.append(path)
    return paths
