"""Mode-collapse metrics for the synthetic 2-D mixtures and Stacked MNIST.

2-D mixtures (Metz et al. 2017 "Unrolled GANs"; Srivastava et al. 2017
"VEEGAN"; Lin et al. 2018 "PacGAN"): each generated point is assigned to its
nearest mode and called *high quality* when it lies within 3 standard
deviations of that mode.  Stacked MNIST (Metz et al. 2017; PacGAN): three
MNIST digits stacked as RGB channels give 1000 modes; a pretrained classifier
labels each channel of a generated image.

All functions are NumPy and deterministic.
"""

from __future__ import annotations

import numpy as np

from jgan.data import sources

__all__ = [
    "RING8_STD",
    "GRID25_STD",
    "ring8_modes",
    "grid25_modes",
    "sample_mixture",
    "mixture_mode_metrics",
    "stacked_mnist_mode_metrics",
]

RING8_STD = sources.TOY_MIXTURES["ring8"][1]
GRID25_STD = sources.TOY_MIXTURES["grid25"][1]


def ring8_modes() -> tuple[np.ndarray, float]:
    """8 modes on the unit circle at angles ``2 pi i / 8``, i = 0..7; std 0.01.

    Returns ``(modes [8, 2] float64, std)``; mode 0 is (1, 0), counter-clockwise.
    The training data (``jgan.data.sources``) uses the same definition.
    """
    return sources.ring8_modes(), RING8_STD


def grid25_modes() -> tuple[np.ndarray, float]:
    """25 modes at ``{-4, -2, 0, 2, 4}^2``; std 0.05.

    Returns ``(modes [25, 2] float64, std)``, row-major in (x, y): mode
    ``5 * i + j`` is at ``(-4 + 2 i, -4 + 2 j)``.
    """
    return sources.grid25_modes(), GRID25_STD


def sample_mixture(rng: np.random.Generator | int, n: int, modes, std: float) -> np.ndarray:
    """``n`` samples [n, 2] from the equal-weight isotropic Gaussian mixture."""
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    modes = np.asarray(modes, dtype=np.float64)
    idx = rng.integers(0, modes.shape[0], size=n)
    return modes[idx] + std * rng.standard_normal((n, modes.shape[1]))


def mixture_mode_metrics(samples, modes, std: float) -> dict[str, float]:
    """Mode coverage and quality of 2-D samples w.r.t. a Gaussian mixture.

    Each sample is assigned to its nearest mode (Euclidean; ties go to the
    lower mode index) and is *high quality* iff its distance to that mode is
    ``<= 3 * std``.

    Args:
      samples: [n, 2] generated points (n >= 1).
      modes: [m, 2] mode centres (e.g. :func:`ring8_modes`).
      std: the mixture's per-coordinate standard deviation.

    Returns:
      dict with
        ``modes``: number of modes with at least one high-quality sample (int);
        ``high_quality``: percentage (0-100) of samples that are high quality;
        ``reverse_kl``: ``KL(p_gen || uniform) = sum_i p_i log(p_i m)`` where
          ``p`` is the histogram over modes of the *high-quality* samples
          (normalised by their number), with ``0 log 0 = 0``.  Natural log;
          0 for a perfectly balanced generator, ``log m`` for one collapsed
          onto a single mode.  If no sample is high quality, ``p`` is
          undefined and the value is defined as ``log m`` (the maximum, as
          bad as total collapse, finite so it can be averaged and plotted;
          ``modes == 0`` distinguishes the two cases).
    """
    x = np.asarray(samples, dtype=np.float64)
    mu = np.asarray(modes, dtype=np.float64)
    if x.ndim != 2 or mu.ndim != 2 or x.shape[1] != mu.shape[1]:
        raise ValueError(f"samples [n, d] and modes [m, d] expected, got {x.shape}, {mu.shape}")
    if x.shape[0] == 0 or mu.shape[0] == 0:
        raise ValueError("need at least one sample and one mode")
    if not std > 0:
        raise ValueError(f"std must be positive, got {std}")
    m = mu.shape[0]
    dist = np.sqrt(((x[:, None, :] - mu[None, :, :]) ** 2).sum(-1))  # [n, m]
    nearest = np.argmin(dist, axis=1)
    hq = dist[np.arange(x.shape[0]), nearest] <= 3.0 * std
    counts = np.bincount(nearest[hq], minlength=m)
    n_hq = int(hq.sum())
    if n_hq == 0:
        rkl = float(np.log(m))
    else:
        p = counts / n_hq
        nz = p > 0
        rkl = float(np.sum(p[nz] * np.log(p[nz] * m)))
    return {
        "modes": int(np.count_nonzero(counts)),
        "high_quality": 100.0 * n_hq / x.shape[0],
        "reverse_kl": rkl,
    }


def stacked_mnist_mode_metrics(labels) -> dict[str, float]:
    """Stacked-MNIST mode count and KL to the uniform 1000-mode distribution.

    Args:
      labels: [n, 3] integer digit labels (0..9) predicted for the three
        channels of each generated image (channel order R, G, B).

    Returns:
      dict with ``modes``: number of distinct triples (mode id
      ``100 a + 10 b + c``) among the n samples (int, <= min(n, 1000)); and
      ``kl``: ``KL(p_gen || uniform) = sum_k p_k log(1000 p_k)`` over the
      1000 mode ids, natural log, ``0 log 0 = 0`` (Unrolled GAN / VEEGAN /
      PacGAN report this KL; 0 means perfectly uniform, ``log 1000 ~ 6.91``
      total collapse).
    """
    y = np.asarray(labels)
    if y.ndim != 2 or y.shape[1] != 3 or y.shape[0] == 0:
        raise ValueError(f"labels must be [n, 3] with n >= 1, got shape {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        if not np.all(np.equal(np.mod(y, 1), 0)):
            raise ValueError("labels must be integers")
        y = y.astype(np.int64)
    if y.min() < 0 or y.max() > 9:
        raise ValueError("labels must be digits in 0..9")
    ids = 100 * y[:, 0].astype(np.int64) + 10 * y[:, 1] + y[:, 2]
    counts = np.bincount(ids, minlength=1000)
    p = counts / counts.sum()
    nz = p > 0
    return {
        "modes": int(np.count_nonzero(counts)),
        "kl": float(np.sum(p[nz] * np.log(p[nz] * 1000.0))),
    }
