"""Mode-collapse metrics on hand-placed points with hand-computed answers."""

import numpy as np
import pytest

from jgan.eval import modes as MD


def test_ring8_and_grid25_geometry():
    ring, s = MD.ring8_modes()
    assert ring.shape == (8, 2) and s == 0.01
    np.testing.assert_allclose(np.linalg.norm(ring, axis=1), 1.0, rtol=1e-15)
    ang = np.mod(np.arctan2(ring[:, 1], ring[:, 0]), 2 * np.pi)
    np.testing.assert_allclose(ang, 2 * np.pi * np.arange(8) / 8, atol=1e-12)
    grid, s = MD.grid25_modes()
    assert grid.shape == (25, 2) and s == 0.05
    expected = {(x, y) for x in (-4, -2, 0, 2, 4) for y in (-4, -2, 0, 2, 4)}
    assert {tuple(p) for p in grid.tolist()} == expected


def test_points_on_five_of_eight_ring_modes_plus_outliers():
    ring, std = MD.ring8_modes()
    counts = {0: 4, 1: 2, 2: 1, 3: 1, 4: 2}  # 10 high-quality points
    pts = [ring[i] for i, c in counts.items() for _ in range(c)]
    pts[0] = ring[0] + [2.9 * std, 0.0]  # still within 3 std
    pts += [np.zeros(2)] * 4  # centre: distance 1 from every mode
    pts += [1.1 * ring[5]]  # near mode 5 but 10 std away
    pts += [ring[6] + [0.0, 3.1 * std]]  # just outside 3 std of mode 6
    out = MD.mixture_mode_metrics(np.array(pts), ring, std)
    assert out["modes"] == 5
    np.testing.assert_allclose(out["high_quality"], 100 * 10 / 16)
    p = np.array([0.4, 0.2, 0.1, 0.1, 0.2])
    by_hand = 0.4 * np.log(3.2) + 2 * 0.2 * np.log(1.6) + 2 * 0.1 * np.log(0.8)
    np.testing.assert_allclose(by_hand, np.sum(p * np.log(8 * p)), rtol=1e-14)
    np.testing.assert_allclose(out["reverse_kl"], by_hand, rtol=1e-12)


def test_balanced_full_coverage_collapse_and_no_quality():
    grid, std = MD.grid25_modes()
    out = MD.mixture_mode_metrics(np.repeat(grid, 3, axis=0), grid, std)
    assert out == {"modes": 25, "high_quality": 100.0, "reverse_kl": 0.0}
    ring, std = MD.ring8_modes()
    out = MD.mixture_mode_metrics(np.repeat(ring[2:3], 7, axis=0), ring, std)
    assert out["modes"] == 1 and out["high_quality"] == 100.0
    np.testing.assert_allclose(out["reverse_kl"], np.log(8), rtol=1e-15)
    # No high-quality sample: documented value log(m).
    out = MD.mixture_mode_metrics(np.full((5, 2), 0.5), ring, std)
    assert out["modes"] == 0 and out["high_quality"] == 0.0
    np.testing.assert_allclose(out["reverse_kl"], np.log(8), rtol=1e-15)


def test_samples_from_the_true_mixture():
    # For an isotropic 2-D Gaussian, P(|x - mu| <= 3 std) = 1 - exp(-9/2).
    ring, std = MD.ring8_modes()
    x = MD.sample_mixture(0, 20000, ring, std)
    out = MD.mixture_mode_metrics(x, ring, std)
    assert out["modes"] == 8
    np.testing.assert_allclose(out["high_quality"], 100 * (1 - np.exp(-4.5)), atol=0.5)
    assert 0 <= out["reverse_kl"] < 2e-3


def test_mixture_metrics_validate_inputs():
    ring, std = MD.ring8_modes()
    with pytest.raises(ValueError):
        MD.mixture_mode_metrics(np.zeros((3, 3)), ring, std)
    with pytest.raises(ValueError):
        MD.mixture_mode_metrics(np.zeros((3, 2)), ring, 0.0)


def test_stacked_mnist_all_modes_once_is_uniform():
    ids = np.arange(1000)
    labels = np.stack([ids // 100, (ids // 10) % 10, ids % 10], axis=1)
    out = MD.stacked_mnist_mode_metrics(labels)
    assert out["modes"] == 1000
    np.testing.assert_allclose(out["kl"], 0.0, atol=1e-12)


def test_stacked_mnist_hand_example():
    labels = np.array([[1, 2, 3], [1, 2, 3], [3, 2, 1], [0, 0, 0]])  # (1,2,3) != (3,2,1)
    out = MD.stacked_mnist_mode_metrics(labels)
    assert out["modes"] == 3
    by_hand = 0.5 * np.log(500) + 2 * 0.25 * np.log(250)
    np.testing.assert_allclose(out["kl"], by_hand, rtol=1e-14)
    collapsed = MD.stacked_mnist_mode_metrics(np.full((10, 3), 7))
    assert collapsed["modes"] == 1
    np.testing.assert_allclose(collapsed["kl"], np.log(1000), rtol=1e-15)


def test_stacked_mnist_validates_labels():
    with pytest.raises(ValueError):
        MD.stacked_mnist_mode_metrics(np.array([[1, 2, 10]]))
    with pytest.raises(ValueError):
        MD.stacked_mnist_mode_metrics(np.array([[1, 2]]))
