"""Editing in the latent space: vector arithmetic and attribute directions.

For any generator with a latent (the gan family's unconditional z, BiGAN's z), on digit data,
with attributes measured from the generated images (``jgan.eval.attributes``: ink and
slant) and the digit read by jgan's MNIST classifier (``eval.extractor='classifier'``).

``--mode arithmetic`` (Radford, Metz & Chintala 2016, Sec. 6.3.2 and Fig. 7): draw
``POOL`` latents, decode and measure them; for ``--labels a,b`` take the three exemplars per
concept, "bold a" (the three a's with the most ink), "thin a" (the least) and "thin b", average
each concept's latents and decode ``mean(bold a) - mean(thin a) + mean(thin b)``, the
expected "bold b", and eight neighbours with uniform noise of +-0.25 added to it (as the paper's
figure). Reported: how often the result is read as ``b``, and its ink against the thin and
the bold b exemplars. Exemplars are samples the classifier reads with probability >= 0.9.

``--mode directions`` (Shen et al. 2020, InterFaceGAN, Sec. 2 and 3): per attribute, label
the top and bottom ``TAIL`` of ``POOL`` samples by the measured score, fit a linear boundary
in latent space (softmax regression here, a linear SVM in the paper: both a separating
hyperplane) and move latents along its unit normal ``n``: ``z + alpha n``, alpha in
``ALPHAS``. Conditional manipulation (the paper's Eq. 4): ``n1 - (n1 . n2) n2``, normalised,
moves attribute 1 while holding attribute 2 (to first order). Reported on ``REPORT`` fresh
latents: the edited attribute's mean at each alpha, the other attribute's change, and the
fraction whose digit is unchanged.
"""
from __future__ import annotations

import dataclasses
import json
import os
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from jgan.eval import attributes, probe

POOL = 2000          # latents drawn and measured to find exemplars / fit boundaries
TAIL = 0.2           # the fraction at each end of a score that labels a boundary's classes
REPORT = 500         # fresh latents the edits are measured on
ALPHAS = (-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0)
NOISE = 0.25         # Radford et al.: uniform noise +-0.25 around the arithmetic's result
CONFIDENT = 0.9      # an exemplar is read as its digit with at least this probability


@dataclasses.dataclass(frozen=True)
class LatentSpace:
    """A generator's latent: ``draw(key, n) -> [n, z_dim]`` from its prior and
    ``decode(z [n, z_dim]) -> images [n, H, W, 1]`` in [-1, 1] (inference mode)."""

    z_dim: int
    draw: Callable[[jax.Array, int], jax.Array]
    decode: Callable[[np.ndarray], np.ndarray]


def measure(images: np.ndarray, extractor) -> dict[str, np.ndarray]:
    """``{'digit', 'digit_prob', 'ink', 'slant'}`` per image (``extractor``: jgan's classifier
    as ``jgan.eval.evaluate.Extractor``)."""
    logits = np.asarray(extractor(images)[1], np.float64)
    prob = np.exp(logits - logits.max(1, keepdims=True))
    prob /= prob.sum(1, keepdims=True)
    return {"digit": prob.argmax(1), "digit_prob": prob.max(1),
            **{name: fn(images) for name, fn in attributes.MEASURED.items()}}


def fit_direction(z: np.ndarray, score: np.ndarray, tail: float = TAIL) -> tuple[np.ndarray, float]:
    """``(unit normal [z_dim] pointing to higher scores, its boundary's accuracy on the two
    tails)``: softmax regression between the bottom and the top ``tail`` of ``score``."""
    k = max(2, int(len(score) * tail))
    order = np.argsort(score, kind="stable")
    idx = np.concatenate([order[:k], order[-k:]])
    x, y = np.asarray(z, np.float32)[idx], np.repeat(np.array([0, 1], np.int32), k)
    params = probe.fit_softmax_regression(jnp.asarray(x), jnp.asarray(y), 2, 1e-3)
    w, b = np.asarray(params["w"], np.float64), np.asarray(params["b"], np.float64)
    normal = w[:, 1] - w[:, 0]
    accuracy = float(np.mean(((x @ normal + b[1] - b[0]) > 0) == y))
    return normal / np.linalg.norm(normal), accuracy


def conditioned(n1: np.ndarray, n2: np.ndarray) -> np.ndarray:
    """InterFaceGAN's conditional direction: ``n1`` with its component along ``n2`` removed,
    normalised (``n1``, ``n2`` unit vectors)."""
    n = n1 - (n1 @ n2) * n2
    return n / np.linalg.norm(n)


def edit_effect(space: LatentSpace, extractor, z: np.ndarray, direction: np.ndarray,
                alphas=ALPHAS) -> dict[str, list[float]]:
    """For each alpha: the mean of every measured attribute of ``decode(z + alpha n)`` and the
    fraction of latents whose digit is the one at alpha 0."""
    out: dict[str, list[float]] = {"alpha": [float(a) for a in alphas], "digit_kept": []}
    base = measure(space.decode(np.asarray(z)), extractor)
    for a in alphas:
        m = measure(space.decode(np.asarray(z + a * direction, np.float32)), extractor)
        out["digit_kept"].append(float(np.mean(m["digit"] == base["digit"])))
        for name in attributes.MEASURED:
            out.setdefault(name, []).append(float(np.mean(m[name])))
    return out


def _pool(space: LatentSpace, key, extractor, n: int = POOL):
    z = np.asarray(space.draw(key, n))
    return z, measure(space.decode(z), extractor)


def write_directions(space: LatentSpace, extractor, key, workdir: str, step: int, shown: list[int],
                     save_grid) -> tuple[list[str], dict]:
    """The directions of ``ink`` and ``slant`` and each conditioned on the other: a grid per
    direction (rows: the latents of ``shown`` seeds, columns: ``ALPHAS``) and
    ``directions_step_<step>.json`` with :func:`edit_effect` on ``REPORT`` fresh latents."""
    z, m = _pool(space, jax.random.fold_in(key, 0), extractor)
    normals, accuracy = {}, {}
    for name in attributes.MEASURED:
        normals[name], accuracy[name] = fit_direction(z, m[name])
    names = list(attributes.MEASURED)
    for a in names:
        for b in names:
            if a != b:
                normals[f"{a}|{b}"] = conditioned(normals[a], normals[b])
    fresh = np.asarray(space.draw(jax.random.fold_in(key, 1), REPORT))
    shown_z = np.stack([np.asarray(space.draw(jax.random.fold_in(key, 2 + s), 1))[0] for s in shown])
    report = {"pool": POOL, "tail": TAIL, "report_latents": REPORT, "boundary_accuracy": accuracy,
              "cosine_ink_slant": float(normals["ink"] @ normals["slant"]), "directions": {}}
    paths = []
    for name, n in normals.items():
        report["directions"][name] = edit_effect(space, extractor, fresh, n)
        strip = np.concatenate([space.decode(np.asarray(shown_z + a * n, np.float32)) for a in ALPHAS])
        order = np.arange(len(strip)).reshape(len(ALPHAS), len(shown)).T.reshape(-1)  # rows = latents
        path = os.path.join(workdir, "samples", f"direction_{name.replace('|', '_given_')}_step_{step:07d}.png")
        save_grid(strip[order], path, len(ALPHAS))
        paths.append(path)
    path = os.path.join(workdir, "samples", f"directions_step_{step:07d}.json")
    with open(path, "w") as f:
        json.dump(report, f, indent=2)
    return paths + [path], report


def write_arithmetic(space: LatentSpace, extractor, key, workdir: str, step: int, a: int, b: int,
                     save_grid) -> tuple[list[str], dict]:
    """``bold a - thin a + thin b`` (see the module doc): a strip of the nine exemplars, the
    result and its eight noisy neighbours, and ``arithmetic_<a>_<b>_step_<step>.json``."""
    z, m = _pool(space, jax.random.fold_in(key, 0), extractor)

    def exemplars(digit: int, bold: bool) -> np.ndarray:
        idx = np.flatnonzero((m["digit"] == digit) & (m["digit_prob"] >= CONFIDENT))
        if len(idx) < 3:
            raise ValueError(f"fewer than 3 of {POOL} samples are read as a {digit} with probability "
                             f">= {CONFIDENT}; choose other --labels or train the generator longer.")
        idx = idx[np.argsort(m["ink"][idx], kind="stable")]
        return idx[-3:] if bold else idx[:3]

    bold_a, thin_a, thin_b, bold_b = (exemplars(a, True), exemplars(a, False), exemplars(b, False),
                                      exemplars(b, True))
    result = z[bold_a].mean(0) - z[thin_a].mean(0) + z[thin_b].mean(0)
    noise = np.asarray(jax.random.uniform(jax.random.fold_in(key, 1), (8, space.z_dim),
                                          minval=-NOISE, maxval=NOISE))
    outputs = np.concatenate([result[None], result[None] + noise]).astype(np.float32)
    images = space.decode(outputs)
    got = measure(images, extractor)
    report = {"a": a, "b": b, "pool": POOL, "noise": NOISE,
              "read_as_b": float(np.mean(got["digit"] == b)),
              "read_as_a": float(np.mean(got["digit"] == a)),
              "result_ink": float(np.mean(got["ink"])),
              "thin_b_ink": float(np.mean(m["ink"][thin_b])), "bold_b_ink": float(np.mean(m["ink"][bold_b])),
              "thin_a_ink": float(np.mean(m["ink"][thin_a])), "bold_a_ink": float(np.mean(m["ink"][bold_a]))}
    strip = np.concatenate([space.decode(z[idx]) for idx in (bold_a, thin_a, thin_b)] + [images])
    stem = os.path.join(workdir, "samples", f"arithmetic_{a}_{b}_step_{step:07d}")
    save_grid(strip, stem + ".png", len(strip), marked=[9])
    with open(stem + ".json", "w") as f:
        json.dump(report, f, indent=2)
    return [stem + ".png", stem + ".json"], report


# ----------------------------------------------------------------------------- CLI modes


def _extractor(config):
    from jgan.eval import evaluate as E
    if E.extractor_kind(config) != "classifier" or config.data.get("channels", 1) != 1:
        raise ValueError(f"--mode arithmetic / directions read digits with jgan's MNIST classifier: "
                         f"{config.name} has eval.extractor={config.eval.extractor!r} on "
                         f"data.source={config.data.source!r}; use digit data with eval.extractor='classifier'.")
    return E.Extractor(config)


def _save_grid(images, path, ncols, marked=()):
    from jgan import viz
    viz.save_image_grid(images, path, ncols=ncols, marked=marked)


def _key(config):
    from jgan.state import EVAL, stream_key
    return jax.random.fold_in(stream_key(config.seed, EVAL), 2 ** 31 - 7)  # the edits' own stream


def _directions_mode(family, state, workdir: str, args) -> list[str]:
    from jgan.sampling import parse_seeds
    shown = parse_seeds(args.seeds or "0-7")
    paths, report = write_directions(family.latent_space(state), _extractor(family.config),
                                     _key(family.config), workdir, int(state.step), shown, _save_grid)
    acc = ", ".join(f"{k} {v:.3f}" for k, v in report["boundary_accuracy"].items())
    print(f"boundaries fitted on {POOL} samples (tails {TAIL:.0%}): accuracy {acc}; "
          f"cos(ink, slant) {report['cosine_ink_slant']:.3f}")
    print(f"  {'direction':<11} {'alpha':>6} " + " ".join(f"{k:>8}" for k in attributes.MEASURED) + "  digit_kept")
    for name, eff in report["directions"].items():
        for i in (0, len(ALPHAS) // 2, len(ALPHAS) - 1):
            vals = " ".join(f"{eff[k][i]:8.4f}" for k in attributes.MEASURED)
            print(f"  {name:<11} {eff['alpha'][i]:>6.1f} {vals}  {eff['digit_kept'][i]:10.3f}")
    return paths


def _arithmetic_mode(family, state, workdir: str, args) -> list[str]:
    labels = args.labels if args.labels is not None else [7, 1]
    if len(labels) != 2 or not all(0 <= v < 10 for v in labels):
        raise ValueError(f"--mode arithmetic takes --labels a,b (two digits: bold a - thin a + thin b), "
                         f"got {labels}.")
    a, b = labels
    paths, r = write_arithmetic(family.latent_space(state), _extractor(family.config), _key(family.config),
                                workdir, int(state.step), a, b, _save_grid)
    print(f"bold {a} - thin {a} + thin {b} (and 8 neighbours, noise +-{NOISE}): read as {b} "
          f"{r['read_as_b']:.2f}, as {a} {r['read_as_a']:.2f}; ink {r['result_ink']:.4f} "
          f"(thin {b} {r['thin_b_ink']:.4f}, bold {b} {r['bold_b_ink']:.4f})")
    return paths


def modes(family) -> dict[str, Callable]:
    """The latent-editing CLI modes of a family with ``latent_space(state)``."""
    return {"arithmetic": lambda state, workdir, args: _arithmetic_mode(family, state, workdir, args),
            "directions": lambda state, workdir, args: _directions_mode(family, state, workdir, args)}
