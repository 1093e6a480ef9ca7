"""Latent arithmetic and attribute directions: the measured attributes against closed forms,
the fitted directions and edits on a synthetic generator whose latent axes are known, the
modes on a real (quick) generator."""
import json
import types

import jax
import numpy as np
import pytest
from conftest import load_experiment

from jgan import edits
from jgan.eval import attributes

H = 28


def _stroke(slant: float, width: float, mark: float = -1.0) -> np.ndarray:
    """A soft vertical stroke through the centre, sheared by ``slant`` (columns per row, leaning
    right when positive), of Gaussian profile ``width``; pixel (0, 0) = ``mark``."""
    r, c = np.meshgrid(np.arange(H, dtype=np.float64), np.arange(H, dtype=np.float64), indexing="ij")
    centre = 13.5 - slant * (r - 13.5)
    ink = np.exp(-0.5 * ((c - centre) / width) ** 2) * ((r > 3) & (r < 24))
    img = 2 * ink - 1
    img[0, 0] = mark
    return img[..., None]


def test_ink_and_slant_by_hand():
    x = -np.ones((2, H, H, 1))
    x[0, 4:24, 10, 0] = 1.0                 # a vertical line: upright
    for r in range(4, 24, 2):               # a line leaning right: col = 14 - 0.5 (r - 14)
        x[1, r, int(14 - 0.5 * (r - 14)), 0] = 1.0
    np.testing.assert_allclose(attributes.ink(x), [20 / H ** 2, 10 / H ** 2])
    np.testing.assert_allclose(attributes.slant(x), [0.0, 0.5], atol=1e-12)
    np.testing.assert_allclose(attributes.slant(x[:, :, ::-1]), [0.0, -0.5], atol=1e-12)  # mirrored
    bold = np.stack([_stroke(0.0, 1.0), _stroke(0.0, 2.0)])
    assert attributes.ink(bold)[1] > 1.9 * attributes.ink(bold)[0]


class _Space:
    """z[0] -> stroke width, z[1] -> slant, sign of z[2] -> the 'digit' (7 or 1, written into
    pixel (0, 0)); other axes unused."""

    z_dim = 6

    @staticmethod
    def draw(key, n):
        return jax.random.normal(key, (n, 6))

    @staticmethod
    def decode(z):
        z = np.asarray(z, np.float64)
        return np.stack([_stroke(0.15 * v[1], 1.2 * np.exp(0.25 * v[0]), 1.0 if v[2] > 0 else -1.0)
                         for v in z]).astype(np.float32)


def _extractor(images):
    """Reads the mark: digit 7 where pixel (0, 0) is lit, else 1, with probability ~1."""
    logits = np.zeros((len(images), 10))
    logits[np.arange(len(images)), np.where(images[:, 0, 0, 0] > 0, 7, 1)] = 20.0
    return None, logits


def _space():
    return edits.LatentSpace(z_dim=6, draw=_Space.draw, decode=_Space.decode)


def test_directions_recover_the_generators_axes_and_condition_out_the_other(tmp_path, monkeypatch):
    monkeypatch.setattr(edits, "POOL", 600)
    monkeypatch.setattr(edits, "REPORT", 100)
    (tmp_path / "samples").mkdir()
    grids = []
    paths, report = edits.write_directions(_space(), _extractor, jax.random.key(0), str(tmp_path), 5, [0, 1],
                                           lambda im, path, ncols, marked=(): grids.append((im.shape, ncols)))
    assert report["boundary_accuracy"]["ink"] > 0.95 and report["boundary_accuracy"]["slant"] > 0.95
    d = report["directions"]
    ink, slant = np.array(d["ink"]["ink"]), np.array(d["slant"]["slant"])
    assert np.all(np.diff(ink) > 0) and np.all(np.diff(slant) > 0)  # each edit moves its attribute up
    # the conditioned directions hold the other attribute better than the plain ones
    spread = lambda v: max(v) - min(v)  # noqa: E731
    assert spread(d["slant|ink"]["ink"]) < 0.5 * spread(d["ink"]["ink"])
    assert spread(d["ink|slant"]["slant"]) < 0.5 * spread(d["slant"]["slant"])
    assert d["ink"]["digit_kept"][3] == 1.0  # alpha 0
    assert grids == [((14, H, H, 1), 7)] * 4  # 2 latents x 7 alphas per direction
    saved = json.loads(open(paths[-1]).read())
    assert saved["directions"]["ink"]["alpha"] == list(edits.ALPHAS)


def test_fit_direction_finds_a_known_normal_and_conditioning_is_orthogonal():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(2000, 8))
    u = rng.normal(size=8)
    u /= np.linalg.norm(u)
    n, acc = edits.fit_direction(z, z @ u + 0.05 * rng.normal(size=2000))
    assert n @ u > 0.97 and acc > 0.97
    v = rng.normal(size=8)
    v /= np.linalg.norm(v)
    c = edits.conditioned(u, v)
    np.testing.assert_allclose([np.linalg.norm(c), c @ v], [1.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(c, (u - (u @ v) * v) / np.linalg.norm(u - (u @ v) * v))


def test_arithmetic_bold_a_minus_thin_a_plus_thin_b_is_a_bold_b(tmp_path, monkeypatch):
    monkeypatch.setattr(edits, "POOL", 600)
    (tmp_path / "samples").mkdir()
    paths, r = edits.write_arithmetic(_space(), _extractor, jax.random.key(1), str(tmp_path), 5, 7, 1,
                                      lambda im, path, ncols, marked=(): None)
    assert r["read_as_b"] >= 0.8 and r["read_as_a"] <= 0.2
    assert r["thin_b_ink"] < r["result_ink"] and r["result_ink"] > 0.5 * (r["thin_b_ink"] + r["bold_b_ink"])


def test_modes_on_a_quick_generator(tmp_path, mnist_classifier_dir, monkeypatch):
    """The CLI modes on gan:quick's initial state (its samples are noise: the numbers are only
    checked for shape and range) and their refusal on a conditional generator."""
    from jgan.experiment import make_family

    monkeypatch.setattr(edits, "POOL", 200)
    monkeypatch.setattr(edits, "REPORT", 50)
    cfg = load_experiment("experiments/gan.py", "quick")
    cfg.eval.classifier_workdir = mnist_classifier_dir
    family = make_family(cfg)
    (tmp_path / "samples").mkdir()
    args = types.SimpleNamespace(seeds="0-1", labels=None, frames=8)
    paths = family.modes()["directions"](family.init_state(), str(tmp_path), args)
    assert len(paths) == 5 and all(p.startswith(str(tmp_path)) for p in paths)
    report = json.loads(open(paths[-1]).read())
    for eff in report["directions"].values():
        assert all(0 <= k <= 1 for k in eff["digit_kept"])
    cgan = load_experiment("experiments/cgan.py", "quick")
    assert "directions" not in make_family(cgan).modes()
    with pytest.raises(ValueError, match="--labels a,b"):
        family.modes()["arithmetic"](family.init_state(), str(tmp_path),
                                     types.SimpleNamespace(seeds="", labels=[1, 2, 3], frames=8))
