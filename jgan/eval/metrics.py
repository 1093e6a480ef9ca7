"""Feature-space GAN metrics: FID, KID, precision/recall, density/coverage, IS.

All functions are pure NumPy, take feature arrays ``[n, d]`` (any extractor;
for the standard numbers use the 2048-d pool3 features of
:mod:`jgan.eval.inception`) and compute in **float64**.  Each docstring names
the paper and the reference implementation it matches, and every convention
that changes the number (ddof, kernel, subset sampling, ``<`` vs ``<=``,
split boundaries, ...).

Summary of conventions
----------------------
* FID (Heusel et al. 2017; TTUR ``fid.py`` / pytorch-fid
  ``calculate_frechet_distance``): Gaussian fit with ``np.cov`` (ddof=1);
  ``||mu1-mu2||^2 + Tr(S1) + Tr(S2) - 2 Tr((S1 S2)^{1/2})`` with the trace of
  the square root computed through a symmetric eigenproblem (no complex
  parts, no eps offset).
* KID (Binkowski et al. 2018; ``compute_scores.py`` of the paper /
  torch-fidelity ``kid``): kernel ``k(x, y) = (x.y / d + 1)^3``, unbiased
  MMD^2 (diagonal of K_xx, K_yy excluded, all of K_xy), averaged over
  ``num_subsets=100`` random subsets of ``subset_size=1000`` drawn without
  replacement independently from each set; returns (mean, std with ddof=0).
* Precision / recall (Kynkaenniemi et al. 2019; NVlabs
  ``precision-recall``), k = 3, closed balls (``<=``).
* Density / coverage (Naeem et al. 2020; clovaai ``generative-evaluation-
  prdc``), k = 5, open balls (``<``) as in that code.
* IS (Salimans et al. 2016; openai/improved-gan ``inception_score.py``):
  ``exp(E_x KL(p(y|x) || p(y)))`` per split, 10 contiguous splits
  ``[i*n//splits, (i+1)*n//splits)``, returns (mean, std with ddof=0).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

__all__ = [
    "gaussian_stats",
    "frechet_distance",
    "trace_sqrt_product",
    "fid",
    "polynomial_kernel",
    "mmd2_unbiased",
    "kid",
    "pairwise_distances",
    "knn_radii",
    "precision_recall",
    "density_coverage",
    "inception_score",
    "class_statistics",
]


def _as_features(x, name: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array [n, d], got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} contains NaN or inf")
    return x


# ----------------------------------------------------------------------------
# FID
# ----------------------------------------------------------------------------


def gaussian_stats(features) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of features [n, d] (n >= 2).

    Returns ``(mu [d], sigma [d, d])`` in float64 with
    ``sigma = np.cov(features, rowvar=False)``, i.e. the unbiased (ddof=1)
    estimate, exactly as TTUR's / pytorch-fid's
    ``calculate_activation_statistics``.
    """
    f = _as_features(features, "features")
    if f.shape[0] < 2:
        raise ValueError("need at least 2 samples to estimate a covariance")
    mu = f.mean(axis=0)
    sigma = np.atleast_2d(np.cov(f, rowvar=False))
    return mu, sigma


def _psd_sqrt(s: np.ndarray) -> np.ndarray:
    """Symmetric PSD square root via eigh; tiny negative eigenvalues -> 0."""
    w, v = np.linalg.eigh(s)
    w = np.clip(w, 0.0, None)
    return (v * np.sqrt(w)) @ v.T


def trace_sqrt_product(sigma1, sigma2) -> float:
    """``Tr((S1 S2)^{1/2})`` for symmetric PSD ``S1``, ``S2`` (float64).

    Computed as ``sum_i sqrt(lambda_i(M))`` with ``M = S1^{1/2} S2 S1^{1/2}``.

    Why this equals the reference ``np.trace(scipy.linalg.sqrtm(S1 @ S2))``:
    ``S1 S2 = S1^{1/2} (S1^{1/2} S2)`` and ``M = (S1^{1/2} S2) S1^{1/2}``; the
    products AB and BA have the same eigenvalues (with multiplicity), so
    ``S1 S2`` has the eigenvalues of ``M``, which is symmetric PSD, hence real
    and >= 0.  When ``S1`` is positive definite, ``S1 S2 = S1^{1/2} M
    S1^{-1/2}`` is similar to the diagonalisable ``M``, so its principal
    square root (what ``sqrtm`` returns) is ``S1^{1/2} M^{1/2} S1^{-1/2}``,
    whose trace is ``Tr(M^{1/2}) = sum sqrt(lambda_i)``.  For singular
    covariances (e.g. fewer samples than dimensions) ``sqrtm`` may be
    ill-conditioned and return complex values that the reference discards
    (``covmean.real``, after an ``eps * I`` retry); the value here is the
    continuous limit of the PD case and needs neither.  Eigenvalues of ``M``
    that are negative only by round-off are clipped to 0 (as are those of
    ``S1`` when forming ``S1^{1/2}``).  Accuracy: ~1e-15 relative for
    well-conditioned covariances; zero eigenvalues of rank-deficient ones
    come out as +-eps-sized values whose square roots (~1e-8 relative) then
    dominate the error -- e.g. FID(X, X) with n < d is ~1e-8 * Tr(S), not 0.
    """
    s1 = np.asarray(sigma1, dtype=np.float64)
    s2 = np.asarray(sigma2, dtype=np.float64)
    s1 = 0.5 * (s1 + s1.T)
    s2 = 0.5 * (s2 + s2.T)
    r = _psd_sqrt(s1)
    m = r @ s2 @ r
    m = 0.5 * (m + m.T)
    lam = np.clip(np.linalg.eigvalsh(m), 0.0, None)
    return float(np.sum(np.sqrt(lam)))


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """Frechet distance between N(mu1, sigma1) and N(mu2, sigma2).

    ``d^2 = ||mu1 - mu2||^2 + Tr(S1) + Tr(S2) - 2 Tr((S1 S2)^{1/2})``
    (Dowson & Landau 1982; Heusel et al. 2017, eq. 6).  Inputs: ``mu`` [d],
    ``sigma`` [d, d] symmetric PSD; computed in float64 with
    :func:`trace_sqrt_product`.  Matches pytorch-fid's
    ``calculate_frechet_distance`` to round-off whenever the reference's
    ``sqrtm`` is well conditioned.  The result is not clipped: for identical
    inputs it is 0 up to round-off (possibly ~ -1e-10).
    """
    mu1 = np.atleast_1d(np.asarray(mu1, dtype=np.float64))
    mu2 = np.atleast_1d(np.asarray(mu2, dtype=np.float64))
    sigma1 = np.atleast_2d(np.asarray(sigma1, dtype=np.float64))
    sigma2 = np.atleast_2d(np.asarray(sigma2, dtype=np.float64))
    d = mu1.shape[0]
    if mu1.shape != (d,) or mu2.shape != (d,):
        raise ValueError(f"mean vectors have shapes {mu1.shape} and {mu2.shape}")
    if sigma1.shape != (d, d) or sigma2.shape != (d, d):
        raise ValueError(f"covariances have shapes {sigma1.shape}, {sigma2.shape}; expected {(d, d)}")
    diff = mu1 - mu2
    tr_covmean = trace_sqrt_product(sigma1, sigma2)
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * tr_covmean)


def fid(feats_a, feats_b) -> float:
    """FID between two feature sets [n_a, d], [n_b, d] (Heusel et al. 2017).

    ``frechet_distance(*gaussian_stats(feats_a), *gaussian_stats(feats_b))``.
    Standard protocol: Inception pool3 features (d = 2048) of 50k generated
    images vs. the training set.
    """
    return frechet_distance(*gaussian_stats(feats_a), *gaussian_stats(feats_b))


# ----------------------------------------------------------------------------
# KID
# ----------------------------------------------------------------------------


def polynomial_kernel(x, y) -> np.ndarray:
    """KID kernel matrix ``K[i, j] = (x_i . y_j / d + 1)^3`` (float64).

    sklearn's ``polynomial_kernel(degree=3, gamma=None -> 1/d, coef0=1)``, as
    used by Binkowski et al. and torch-fidelity.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    d = x.shape[1]
    return (x @ y.T / d + 1.0) ** 3


def mmd2_unbiased(x, y) -> float:
    """Unbiased MMD^2 with the KID polynomial kernel (Gretton et al. 2012, eq. 3).

    ``x`` [m, d], ``y`` [n, d], m, n >= 2::

        sum_{i != j} k(x_i, x_j) / (m (m - 1))
      + sum_{i != j} k(y_i, y_j) / (n (n - 1))
      - 2 sum_{i, j} k(x_i, y_j) / (m n)

    (``_mmd2_and_variance(..., mmd_est='unbiased')`` of Binkowski et al. for
    m = n).  Can be negative; its expectation is 0 iff the distributions
    match (for a characteristic kernel; the cubic kernel matches the first
    three moments).
    """
    x = _as_features(x, "x")
    y = _as_features(y, "y")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"feature dims differ: {x.shape[1]} vs {y.shape[1]}")
    m, n = x.shape[0], y.shape[0]
    if m < 2 or n < 2:
        raise ValueError("mmd2_unbiased needs at least 2 samples per set")
    kxx = polynomial_kernel(x, x)
    kyy = polynomial_kernel(y, y)
    kxy = polynomial_kernel(x, y)
    sxx = kxx.sum() - np.trace(kxx)
    syy = kyy.sum() - np.trace(kyy)
    return float(sxx / (m * (m - 1)) + syy / (n * (n - 1)) - 2.0 * kxy.sum() / (m * n))


def kid(
    feats_a,
    feats_b,
    num_subsets: int = 100,
    subset_size: int = 1000,
    seed: int | np.random.Generator = 0,
) -> tuple[float, float]:
    """Kernel Inception Distance (Binkowski et al. 2018, "Demystifying MMD GANs").

    For each of ``num_subsets`` rounds, draw ``subset_size`` rows of
    ``feats_a`` and (independently) of ``feats_b`` without replacement and
    compute :func:`mmd2_unbiased`; return the mean and the standard deviation
    (ddof=0) over rounds, as torch-fidelity does.  Defaults (100 subsets of
    1000) are those of the paper's code and torch-fidelity.
    ``subset_size`` is clipped to ``min(n_a, n_b)``; in that case all rounds
    use every row of the smaller set (in a random order), as the reference
    would if it accepted the size.

    Args:
      feats_a, feats_b: [n_a, d], [n_b, d] features.
      seed: int seed or a ``np.random.Generator`` (used as is; advanced).

    Returns:
      (kid_mean, kid_std).  Commonly reported multiplied by 1000.
    """
    a = _as_features(feats_a, "feats_a")
    b = _as_features(feats_b, "feats_b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"feature dims differ: {a.shape[1]} vs {b.shape[1]}")
    if num_subsets < 1:
        raise ValueError("num_subsets must be >= 1")
    size = int(min(subset_size, a.shape[0], b.shape[0]))
    if size < 2:
        raise ValueError("KID needs at least 2 samples per set")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    vals = np.empty(num_subsets, dtype=np.float64)
    for i in range(num_subsets):
        ia = rng.choice(a.shape[0], size, replace=False)
        ib = rng.choice(b.shape[0], size, replace=False)
        vals[i] = mmd2_unbiased(a[ia], b[ib])
    return float(vals.mean()), float(vals.std())


# ----------------------------------------------------------------------------
# k-NN manifold metrics
# ----------------------------------------------------------------------------


def _sq_norms(x: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", x, x)


def _distance_blocks(
    x: np.ndarray, y: np.ndarray, batch_size: int
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (row start, Euclidean distances [b, n_y]) of row blocks of x vs y."""
    yy = _sq_norms(y)
    for s in range(0, x.shape[0], batch_size):
        xb = x[s : s + batch_size]
        d2 = _sq_norms(xb)[:, None] + yy[None, :] - 2.0 * (xb @ y.T)
        np.maximum(d2, 0.0, out=d2)
        yield s, np.sqrt(d2, out=d2)


def pairwise_distances(x, y, batch_size: int = 1000) -> np.ndarray:
    """Euclidean distances [n_x, n_y] (float64), computed in row blocks."""
    x = _as_features(x, "x")
    y = _as_features(y, "y")
    out = np.empty((x.shape[0], y.shape[0]))
    for s, d in _distance_blocks(x, y, batch_size):
        out[s : s + d.shape[0]] = d
    return out


def knn_radii(features, k: int, batch_size: int = 1000) -> np.ndarray:
    """Distance from each point to its k-th nearest *other* point in the set.

    ``features`` [n, d] -> radii [n].  The self-distance is set to exactly 0
    and the (k+1)-th smallest distance of each row (self included) is taken,
    so a duplicate point counts as a neighbour at distance 0 (as in both
    reference implementations, which partition the full distance row).
    Memory: O(batch_size * n).
    """
    x = _as_features(features, "features")
    n = x.shape[0]
    if not 1 <= k < n:
        raise ValueError(f"k must be in [1, n-1] = [1, {n - 1}], got {k}")
    radii = np.empty(n)
    for s, d in _distance_blocks(x, x, batch_size):
        rows = np.arange(d.shape[0])
        d[rows, s + rows] = 0.0
        radii[s : s + d.shape[0]] = np.partition(d, k, axis=1)[:, k]
    return radii


def precision_recall(real, fake, k: int = 3, batch_size: int = 1000) -> tuple[float, float]:
    """Improved precision and recall (Kynkaenniemi et al. 2019), k = 3.

    Each set's manifold is the union of closed balls ``B(phi, r_k(phi))``
    around its points, with ``r_k`` the distance to the k-th nearest
    neighbour within the same set (:func:`knn_radii`).

    * precision = fraction of ``fake`` points inside the real manifold:
      ``exists i: ||f - r_i|| <= r_k(r_i)``;
    * recall    = fraction of ``real`` points inside the fake manifold.

    Reference: NVlabs ``precision-recall`` (``ManifoldEstimator``; ``<=``).
    The paper uses VGG-16 fc2 features; any features work.  Distances are
    float64 in row blocks (memory O(batch_size * max(n_real, n_fake)), so
    10k x 10k is fine).

    Args:
      real: [n_r, d];  fake: [n_f, d] (n_r, n_f > k).

    Returns:
      (precision, recall) in [0, 1].
    """
    r = _as_features(real, "real")
    f = _as_features(fake, "fake")
    if r.shape[1] != f.shape[1]:
        raise ValueError(f"feature dims differ: {r.shape[1]} vs {f.shape[1]}")
    rad_r = knn_radii(r, k, batch_size)
    rad_f = knn_radii(f, k, batch_size)
    fake_in_real = np.zeros(f.shape[0], dtype=bool)
    real_in_fake = np.zeros(r.shape[0], dtype=bool)
    for s, d in _distance_blocks(r, f, batch_size):  # d[i, j] = ||r_i - f_j||
        b = d.shape[0]
        fake_in_real |= np.any(d <= rad_r[s : s + b, None], axis=0)
        real_in_fake[s : s + b] = np.any(d <= rad_f[None, :], axis=1)
    return float(fake_in_real.mean()), float(real_in_fake.mean())


def density_coverage(real, fake, k: int = 5, batch_size: int = 1000) -> tuple[float, float]:
    """Density and coverage (Naeem et al. 2020, "Reliable Fidelity and Diversity
    Metrics for Generative Models"), k = 5.

    With ``X`` the N real points, ``Y`` the M fake ones and
    ``B_i = B(X_i, NND_k(X_i))`` (``NND_k``: :func:`knn_radii` of the real set)::

        density  = 1/(k M) * sum_j sum_i 1[Y_j in B_i]
        coverage = 1/N * sum_i 1[exists j: Y_j in B_i]

    Balls are open (``dist < radius``) as in the authors' code
    (clovaai/generative-evaluation-prdc, ``compute_prdc``).  Density is
    unbounded above (1 is the value expected when fake ~ real); coverage is in
    [0, 1].  Only the real set's k-NN radii are used.

    Returns:
      (density, coverage).
    """
    r = _as_features(real, "real")
    f = _as_features(fake, "fake")
    if r.shape[1] != f.shape[1]:
        raise ValueError(f"feature dims differ: {r.shape[1]} vs {f.shape[1]}")
    rad_r = knn_radii(r, k, batch_size)
    count = 0
    covered = np.zeros(r.shape[0], dtype=bool)
    for s, d in _distance_blocks(r, f, batch_size):
        b = d.shape[0]
        inside = d < rad_r[s : s + b, None]
        count += int(inside.sum())
        covered[s : s + b] = inside.any(axis=1)
    density = count / (k * f.shape[0])
    return float(density), float(covered.mean())


# ----------------------------------------------------------------------------
# Inception Score
# ----------------------------------------------------------------------------


def _log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def inception_score(predictions, *, from_logits: bool, splits: int = 10) -> tuple[float, float]:
    """Inception Score (Salimans et al. 2016): ``exp(E_x KL(p(y|x) || p(y)))``.

    Args:
      predictions: [n, classes]; class probabilities (``from_logits=False``,
        rows must sum to 1) or logits (``from_logits=True``; for the standard
        IS the 1008 logits of :class:`jgan.eval.inception.FIDInceptionV3`).
      from_logits: required, to make the input convention explicit.
      splits: the n samples are cut, in order, into ``splits`` contiguous
        parts ``[i*n//splits, (i+1)*n//splits)`` (reference: 10 splits of
        50k samples); ``p(y)`` is the mean of ``p(y|x)`` within each part.

    Returns:
      (mean, std) over the splits, std with ddof=0 (``np.std``), as
      openai/improved-gan ``inception_score.py``.  Range [1, classes].

    Logs: from logits, ``log p(y|x)`` is a log-softmax (no underflow); from
    probabilities, ``np.log`` as in the reference.  No eps is added (the
    reference adds none); terms with ``p(y|x) = 0`` contribute 0 (the limit
    ``0 log 0 = 0``) where the reference would produce NaN.  ``p(y) > 0``
    wherever ``p(y|x) > 0``, so ``log p(y)`` is only taken where finite.
    """
    z = np.asarray(predictions, dtype=np.float64)
    if z.ndim != 2:
        raise ValueError(f"predictions must be [n, classes], got shape {z.shape}")
    n = z.shape[0]
    if not 1 <= splits <= n:
        raise ValueError(f"need 1 <= splits <= n, got splits={splits}, n={n}")
    if from_logits:
        logp = _log_softmax(z)
        p = np.exp(logp)
    else:
        if np.any(z < 0) or not np.allclose(z.sum(axis=1), 1.0, atol=1e-3):
            raise ValueError("probabilities must be >= 0 with rows summing to 1 (or pass from_logits=True)")
        p = z
        with np.errstate(divide="ignore"):
            logp = np.log(p)
    scores = []
    for i in range(splits):
        lo, hi = i * n // splits, (i + 1) * n // splits
        pc, lpc = p[lo:hi], logp[lo:hi]
        py = np.broadcast_to(pc.mean(axis=0, keepdims=True), pc.shape)
        mask = pc > 0  # implies py > 0
        terms = np.zeros_like(pc)
        terms[mask] = pc[mask] * (lpc[mask] - np.log(py[mask]))
        scores.append(np.exp(np.mean(np.sum(terms, axis=1))))
    scores = np.asarray(scores)
    return float(scores.mean()), float(scores.std())


def class_statistics(logits, *, threshold: float = 0.9) -> dict[str, float]:
    """How a classifier reads generated samples: are they confidently *some* class, and are
    the classes as frequent as in the (class-balanced) data?

    Args:
      logits: [n, classes] classifier logits of n samples.
      threshold: a sample is ``confident`` when its top softmax probability is >= this.

    Returns ``{'confident': share of confident samples, 'class_kl': KL(h || uniform) in nats
    of the histogram h of predicted (argmax) classes (0 for a uniform histogram, log(classes)
    when every sample gets one class), 'class_min' / 'class_max': the frequency of the rarest
    and the commonest predicted class}`` (uniform: both 1/classes).
    """
    z = np.asarray(logits, dtype=np.float64)
    if z.ndim != 2:
        raise ValueError(f"logits must be [n, classes], got shape {z.shape}")
    p_top = np.exp(np.max(_log_softmax(z), axis=1))
    h = np.bincount(np.argmax(z, axis=1), minlength=z.shape[1]) / len(z)
    nz = h > 0
    return {"confident": float(np.mean(p_top >= threshold)),
            "class_kl": float(np.sum(h[nz] * np.log(h[nz] * z.shape[1]))),
            "class_min": float(h.min()), "class_max": float(h.max())}
