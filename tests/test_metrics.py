"""Feature-space metrics checked against closed forms and independent code."""

import numpy as np
import pytest

from jgan.eval import metrics as M


def _random_spd(rng, d, cond=10.0):
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    w = np.geomspace(1.0, cond, d) * rng.uniform(0.5, 2.0)
    return (q * w) @ q.T


# ----------------------------------------------------------------------------
# FID
# ----------------------------------------------------------------------------


def test_gaussian_stats_is_mean_and_ddof1_covariance():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((50, 4)).astype(np.float32)
    mu, sigma = M.gaussian_stats(x)
    xd = x.astype(np.float64)
    c = xd - xd.mean(0)
    np.testing.assert_allclose(mu, xd.mean(0), rtol=1e-14)
    np.testing.assert_allclose(sigma, c.T @ c / (50 - 1), rtol=1e-12)
    assert mu.dtype == np.float64 and sigma.shape == (4, 4)


def test_frechet_distance_diagonal_closed_form():
    # Diagonal covariances commute: Tr((S1 S2)^1/2) = sum sqrt(a_i b_i), so
    # FD = |dmu|^2 + sum (sqrt(a_i) - sqrt(b_i))^2.
    rng = np.random.default_rng(1)
    d = 16
    mu1, mu2 = rng.standard_normal(d), rng.standard_normal(d)
    a, b = rng.uniform(0.1, 3.0, d), rng.uniform(0.1, 3.0, d)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    got = M.frechet_distance(mu1, np.diag(a), mu2, np.diag(b))
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    # 1-D: (m1 - m2)^2 + (s1 - s2)^2 with s the standard deviations.
    np.testing.assert_allclose(M.frechet_distance([1.0], [[4.0]], [3.0], [[9.0]]), 4.0 + 1.0, rtol=1e-14)


def test_frechet_distance_noncommuting_2x2_analytic():
    # For 2x2 A with non-negative eigenvalues l1, l2:
    # Tr(A^1/2) = sqrt(l1) + sqrt(l2) = sqrt(Tr A + 2 sqrt(det A)).
    s1 = np.array([[2.0, 0.9], [0.9, 1.0]])
    s2 = np.array([[1.0, -0.3], [-0.3, 0.5]])
    assert not np.allclose(s1 @ s2, s2 @ s1)
    p = s1 @ s2
    tr_sqrt = np.sqrt(np.trace(p) + 2.0 * np.sqrt(np.linalg.det(p)))
    mu1, mu2 = np.array([0.5, -1.0]), np.array([0.0, 2.0])
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2.0 * tr_sqrt
    np.testing.assert_allclose(M.frechet_distance(mu1, s1, mu2, s2), expected, rtol=1e-12)


def test_trace_sqrt_matches_sqrtm_and_eigvals_for_noncommuting_pair():
    rng = np.random.default_rng(2)
    d = 12
    s1, s2 = _random_spd(rng, d), _random_spd(rng, d)
    assert not np.allclose(s1 @ s2, s2 @ s1)
    got = M.trace_sqrt_product(s1, s2)
    # (a) eigenvalues of the non-symmetric product directly
    lam = np.linalg.eigvals(s1 @ s2)
    np.testing.assert_allclose(lam.imag, 0.0, atol=1e-9)
    np.testing.assert_allclose(got, np.sum(np.sqrt(lam.real)), rtol=1e-10)
    # (b) the reference implementation's scipy.linalg.sqrtm (pytorch-fid / TTUR)
    linalg = pytest.importorskip("scipy.linalg")
    covmean = linalg.sqrtm(s1 @ s2)
    np.testing.assert_allclose(got, np.trace(covmean).real, rtol=1e-10)
    # and the square root really squares back to S1 S2
    np.testing.assert_allclose(covmean @ covmean, s1 @ s2, rtol=1e-8, atol=1e-10)


def test_fid_matches_pytorch_fid_formula():
    linalg = pytest.importorskip("scipy.linalg")
    rng = np.random.default_rng(3)
    a = rng.standard_normal((400, 8)) @ rng.standard_normal((8, 8))
    b = 0.7 * rng.standard_normal((300, 8)) @ rng.standard_normal((8, 8)) + 0.3
    # pytorch-fid calculate_activation_statistics + calculate_frechet_distance
    mu1, s1 = np.mean(a, axis=0), np.cov(a, rowvar=False)
    mu2, s2 = np.mean(b, axis=0), np.cov(b, rowvar=False)
    diff = mu1 - mu2
    covmean = linalg.sqrtm(s1.dot(s2))
    covmean = covmean.real if np.iscomplexobj(covmean) else covmean
    ref = diff.dot(diff) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean)
    np.testing.assert_allclose(M.fid(a, b), ref, rtol=1e-10)
    np.testing.assert_allclose(M.fid(b, a), ref, rtol=1e-10)  # symmetric


def test_fid_of_a_set_with_itself_is_zero_even_if_singular():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((300, 32)) * rng.uniform(0.1, 10, 32)
    assert abs(M.fid(x, x)) < 1e-9 * np.trace(np.cov(x, rowvar=False))
    # n < d: rank-deficient covariance, where sqrtm is ill-conditioned.  The
    # 31 zero eigenvalues come out as +-1e-16 and their square roots as ~1e-8,
    # so the error is ~sqrt(eps) relative here, not eps.
    y = rng.standard_normal((20, 50))
    v = M.fid(y, y)
    assert np.isfinite(v) and abs(v) < 1e-6 * np.trace(np.cov(y, rowvar=False))


def test_fid_scales_quadratically_and_is_translation_invariant():
    rng = np.random.default_rng(5)
    a, b = rng.standard_normal((200, 6)), rng.standard_normal((200, 6)) + 0.5
    base = M.fid(a, b)
    np.testing.assert_allclose(M.fid(3 * a, 3 * b), 9 * base, rtol=1e-10)
    np.testing.assert_allclose(M.fid(a + 7, b + 7), base, rtol=1e-10)


def test_fid_rejects_bad_shapes():
    with pytest.raises(ValueError):
        M.frechet_distance(np.zeros(3), np.eye(3), np.zeros(2), np.eye(2))
    with pytest.raises(ValueError):
        M.gaussian_stats(np.zeros((1, 3)))


# ----------------------------------------------------------------------------
# KID
# ----------------------------------------------------------------------------


def _mmd2_double_loop(x, y):
    d = x.shape[1]
    k = lambda u, v: (np.dot(u, v) / d + 1.0) ** 3  # noqa: E731
    m, n = len(x), len(y)
    sxx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j)
    syy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j)
    sxy = sum(k(x[i], y[j]) for i in range(m) for j in range(n))
    return sxx / (m * (m - 1)) + syy / (n * (n - 1)) - 2 * sxy / (m * n)


def test_mmd2_unbiased_equals_double_loop():
    rng = np.random.default_rng(6)
    x, y = rng.standard_normal((7, 4)), rng.standard_normal((9, 4)) + 0.3
    np.testing.assert_allclose(M.mmd2_unbiased(x, y), _mmd2_double_loop(x, y), rtol=1e-12)


def test_mmd2_is_unbiased_and_biased_version_is_not():
    # E[MMD^2_u] = 0 for two samples of one distribution.  The V-statistic
    # (diagonals included) has a positive bias; the test must be able to see it.
    rng = np.random.default_rng(7)
    reps, m, d = 300, 15, 5
    u, v = np.empty(reps), np.empty(reps)
    for r in range(reps):
        x, y = rng.standard_normal((m, d)), rng.standard_normal((m, d))
        u[r] = M.mmd2_unbiased(x, y)
        kxx, kyy, kxy = M.polynomial_kernel(x, x), M.polynomial_kernel(y, y), M.polynomial_kernel(x, y)
        v[r] = kxx.mean() + kyy.mean() - 2 * kxy.mean()
    se_u = u.std() / np.sqrt(reps)
    assert abs(u.mean()) < 3 * se_u
    assert v.mean() > 10 * v.std() / np.sqrt(reps)


def test_kid_subsets_reproduce_manual_draws():
    rng = np.random.default_rng(8)
    a, b = rng.standard_normal((30, 3)), rng.standard_normal((25, 3)) + 0.2
    mean, std = M.kid(a, b, num_subsets=4, subset_size=10, seed=11)
    draw = np.random.default_rng(11)
    vals = []
    for _ in range(4):  # documented order: rows of a, then rows of b
        ia = draw.choice(30, 10, replace=False)
        ib = draw.choice(25, 10, replace=False)
        vals.append(_mmd2_double_loop(a[ia], b[ib]))
    np.testing.assert_allclose([mean, std], [np.mean(vals), np.std(vals)], rtol=1e-10)
    # determinism and Generator input
    assert M.kid(a, b, num_subsets=4, subset_size=10, seed=11) == (mean, std)
    g = np.random.default_rng(11)
    assert M.kid(a, b, num_subsets=4, subset_size=10, seed=g) == (mean, std)
    assert M.kid(a, b, num_subsets=4, subset_size=10, seed=12) != (mean, std)


def test_kid_clips_subset_size_to_smaller_set():
    rng = np.random.default_rng(9)
    a, b = rng.standard_normal((12, 3)), rng.standard_normal((40, 3))
    # subset size becomes 12: every subset of `a` is all of `a`
    mean, std = M.kid(a, b, num_subsets=3, subset_size=1000, seed=0)
    assert np.isfinite(mean) and std >= 0
    m1, s1 = M.kid(a, b[:12], num_subsets=2, subset_size=1000, seed=0)
    np.testing.assert_allclose(m1, M.mmd2_unbiased(a, b[:12]), rtol=1e-12)
    np.testing.assert_allclose(s1, 0.0, atol=1e-15)


def test_kid_detects_a_shift_and_is_near_zero_without_one():
    rng = np.random.default_rng(10)
    a, b = rng.standard_normal((400, 8)), rng.standard_normal((400, 8))
    m_same, s_same = M.kid(a, b, num_subsets=20, subset_size=100, seed=0)
    m_diff, s_diff = M.kid(a, b + 1.0, num_subsets=20, subset_size=100, seed=0)
    assert abs(m_same) < 3 * s_same
    assert m_diff > 5 * s_diff and m_diff > 20 * abs(m_same)


# ----------------------------------------------------------------------------
# precision / recall, density / coverage
# ----------------------------------------------------------------------------


def _brute(real, fake, k_pr, k_dc):
    """Independent O(n^2) implementation straight from the papers' formulas."""
    dist = lambda a, b: np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))  # noqa: E731

    def radii(x, k):
        d = dist(x, x)
        return np.array([np.sort(np.delete(d[i], i))[k - 1] for i in range(len(x))])

    rr, rf = radii(real, k_pr), radii(fake, k_pr)
    drf = dist(real, fake)
    precision = np.mean([np.any(drf[:, j] <= rr) for j in range(len(fake))])
    recall = np.mean([np.any(drf[i, :] <= rf) for i in range(len(real))])
    r5 = radii(real, k_dc)
    inside = drf < r5[:, None]
    density = inside.sum() / (k_dc * len(fake))
    coverage = np.mean(inside.any(axis=1))
    return precision, recall, density, coverage


def test_manifold_metrics_match_brute_force_and_are_batch_independent():
    rng = np.random.default_rng(12)
    real = rng.standard_normal((70, 5))
    fake = 1.3 * rng.standard_normal((55, 5)) + 0.4
    p, r, dn, cv = _brute(real, fake, 3, 5)
    for bs in (7, 1000):
        np.testing.assert_allclose(M.precision_recall(real, fake, k=3, batch_size=bs), (p, r), rtol=0, atol=0)
        np.testing.assert_allclose(
            M.density_coverage(real, fake, k=5, batch_size=bs), (dn, cv), rtol=1e-12, atol=0
        )
    assert 0 < p < 1 and 0 < r < 1


def test_identical_sets():
    rng = np.random.default_rng(13)
    x = rng.standard_normal((200, 10))
    assert M.precision_recall(x, x.copy()) == (1.0, 1.0)
    # In general position each open k-NN ball holds its centre and k-1
    # neighbours, so density = k N / (k N) = 1 exactly; coverage = 1.
    assert M.density_coverage(x, x.copy()) == (1.0, 1.0)


def test_disjoint_far_apart_sets():
    rng = np.random.default_rng(14)
    x = rng.standard_normal((100, 4))
    y = rng.standard_normal((80, 4)) + 1000.0
    assert M.precision_recall(x, y) == (0.0, 0.0)
    assert M.density_coverage(x, y) == (0.0, 0.0)


def test_partially_overlapping_clusters():
    # real = A (near 0) + B (near +100); fake = exact copies of A + C (near -100).
    # Radii are intra-cluster, so: precision = |A|/|fake|, recall = |A|/|real|,
    # coverage = |A|/|real|, density = k|A| / (k |fake|) = |A| / |fake|.
    rng = np.random.default_rng(15)
    A = rng.standard_normal((30, 3))
    B = rng.standard_normal((50, 3)) + 100.0
    C = rng.standard_normal((20, 3)) - 100.0
    real, fake = np.concatenate([A, B]), np.concatenate([A, C])
    np.testing.assert_allclose(M.precision_recall(real, fake), (30 / 50, 30 / 80), rtol=1e-15)
    np.testing.assert_allclose(M.density_coverage(real, fake), (30 / 50, 30 / 80), rtol=1e-15)


def test_hand_computed_1d_example_and_ball_conventions():
    real = np.array([[0.0], [1.0], [2.0], [3.0]])  # k = 1: every radius is 1
    np.testing.assert_array_equal(M.knn_radii(real, 1), [1.0, 1.0, 1.0, 1.0])
    fake = np.array([[0.5], [5.0], [3.9]])
    # 0.5 within 1 of 0; 5 is 2 from 3; 3.9 within 1 of 3 -> precision 2/3.
    # fake radii (k=1): 3.4, 1.1, 1.1 -> every real point is covered -> recall 1.
    p, r = M.precision_recall(real, fake, k=1)
    np.testing.assert_allclose((p, r), (2 / 3, 1.0))
    # density: 0.5 lies in the balls of 0 and 1, 3.9 in the ball of 3 -> 3/(1*3);
    # coverage: balls of 0, 1, 3 hold a fake point, the ball of 2 does not.
    np.testing.assert_allclose(M.density_coverage(real, fake, k=1), (1.0, 0.75))
    # A fake point exactly on a ball's boundary (|4 - 3| = 1 = radius): inside
    # for precision (closed balls, NVlabs) but not for density/coverage (open
    # balls, clovaai prdc).
    on_edge = np.array([[4.0], [4.0]])
    assert M.precision_recall(real, on_edge, k=1)[0] == 1.0
    assert M.density_coverage(real, on_edge, k=1) == (0.0, 0.0)


def test_knn_radius_counts_duplicates_and_validates_k():
    x = np.array([[0.0], [0.0], [5.0]])
    np.testing.assert_array_equal(M.knn_radii(x, 1), [0.0, 0.0, 5.0])
    with pytest.raises(ValueError):
        M.knn_radii(x, 3)


# ----------------------------------------------------------------------------
# Inception Score
# ----------------------------------------------------------------------------


def _salimans_is(preds, splits):
    """openai/improved-gan inception_score.py, verbatim apart from names."""
    scores = []
    for i in range(splits):
        part = preds[(i * preds.shape[0] // splits) : ((i + 1) * preds.shape[0] // splits), :]
        kl = part * (np.log(part) - np.log(np.expand_dims(np.mean(part, 0), 0)))
        kl = np.mean(np.sum(kl, 1))
        scores.append(np.exp(kl))
    return np.mean(scores), np.std(scores)


def test_is_confident_balanced_predictions_equal_number_of_classes():
    c = 10
    labels = np.tile(np.arange(c), 10)  # every split of 10 holds each class once
    onehot = np.eye(c)[labels]
    mean, std = M.inception_score(onehot, from_logits=False, splits=10)
    np.testing.assert_allclose((mean, std), (c, 0.0), atol=1e-12)
    mean, std = M.inception_score(60.0 * onehot, from_logits=True, splits=10)
    np.testing.assert_allclose((mean, std), (c, 0.0), rtol=1e-12, atol=1e-12)


def test_is_constant_prediction_is_one():
    rng = np.random.default_rng(16)
    row = rng.standard_normal(1008)
    logits = np.tile(row, (50, 1))
    np.testing.assert_allclose(M.inception_score(logits, from_logits=True, splits=5), (1.0, 0.0), atol=1e-12)


def test_is_matches_reference_code():
    rng = np.random.default_rng(17)
    logits = 3.0 * rng.standard_normal((103, 20))  # 103: uneven splits
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    ref = _salimans_is(p, 10)
    np.testing.assert_allclose(M.inception_score(p, from_logits=False), ref, rtol=1e-12)
    np.testing.assert_allclose(M.inception_score(logits, from_logits=True), ref, rtol=1e-10)


def test_is_rejects_logits_passed_as_probabilities():
    with pytest.raises(ValueError):
        M.inception_score(np.random.default_rng(0).standard_normal((20, 5)), from_logits=False)


def test_class_statistics_match_a_hand_computation():
    # top probabilities: ~1.0, e/(e+2) = 0.576, ~0.987, e^0.5/(e^0.5+2) = 0.452; classes 0, 0, 1, 2
    logits = np.array([[10.0, 0, 0], [1.0, 0, 0], [0, 5.0, 0], [0, 0, 0.5]])
    got = M.class_statistics(logits, threshold=0.9)
    h = np.array([0.5, 0.25, 0.25])
    assert got["confident"] == 0.5
    np.testing.assert_allclose(got["class_kl"], np.sum(h * np.log(h / (1 / 3))), rtol=1e-12)
    assert (got["class_min"], got["class_max"]) == (0.25, 0.5)
    assert M.class_statistics(logits, threshold=0.5)["confident"] == 0.75
    # the bounds: a balanced histogram has KL 0; one class for every sample has KL log(classes)
    assert M.class_statistics(np.eye(4) * 9)["class_kl"] == 0.0
    one = M.class_statistics(np.tile([0.0, 3.0, 0.0, 0.0], (5, 1)))
    np.testing.assert_allclose(one["class_kl"], np.log(4), rtol=1e-12)
    assert (one["class_min"], one["class_max"], one["confident"]) == (0.0, 1.0, 0.0)
