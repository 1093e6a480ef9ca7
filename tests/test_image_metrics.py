"""L1 / PSNR / SSIM (jgan.eval.image_metrics) against hand computations, scikit-image and a
direct per-window float64 loop."""
import math

import numpy as np
import pytest

from jgan.eval.image_metrics import gaussian_window, l1, psnr, ssim


def _images(shape, seed=0):
    """Random and structured (smooth gradients, a disc, stripes) image pairs in [-1, 1]."""
    rng = np.random.default_rng(seed)
    n, h, w = shape[:3]
    x = rng.uniform(-1, 1, shape)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    structured = [np.sin(6 * xx) * np.cos(4 * yy), (((yy - .5) ** 2 + (xx - .5) ** 2) < .1) * 1.6 - .8,
                  np.sign(np.sin(20 * xx))]
    for i in range(min(n, len(structured))):
        x[i] = structured[i][..., None] if len(shape) == 4 else structured[i]
    y = np.clip(x + rng.normal(0, 0.2, shape) + 0.1, -1, 1)
    return x, y


def test_l1_and_psnr_by_hand():
    x = np.zeros((2, 4, 4, 3))
    y = x.copy()
    y[0, 0, 0, 0] = 1.0  # one value off by 1 among 48: MAE 1/48, MSE 1/48
    y[1] += 0.5  # everything off by 0.5: MAE 0.5, MSE 0.25
    np.testing.assert_allclose(l1(x, y), [1 / 48, 0.5])
    np.testing.assert_allclose(psnr(x, y, 2.0), [10 * math.log10(4 * 48), 10 * math.log10(4 / 0.25)])
    np.testing.assert_allclose(psnr(x, y, 1.0), [10 * math.log10(48), 10 * math.log10(4)])
    # identical images: L1 0, PSNR +inf (documented), no warning
    with np.errstate(all="raise"):
        p = psnr(x, x, 2.0)
    assert np.all(np.isposinf(p)) and np.all(l1(x, x) == 0)
    # uint8 input, grey [n, H, W]
    a = np.full((1, 3, 3), 10, np.uint8)
    b = np.full((1, 3, 3), 20, np.uint8)
    np.testing.assert_allclose(psnr(a, b, 255), [10 * math.log10(255 ** 2 / 100)])
    np.testing.assert_allclose(l1(a, b), [10.0])


def test_shape_errors():
    with pytest.raises(ValueError, match="shape"):
        l1(np.zeros((1, 4, 4)), np.zeros((1, 4, 5)))
    with pytest.raises(ValueError, match="batch"):
        psnr(np.zeros((4,)), np.zeros((4,)), 1.0)
    with pytest.raises(ValueError, match="11x11"):
        ssim(np.zeros((1, 10, 20)), np.zeros((1, 10, 20)), 1.0)


@pytest.mark.parametrize("shape", [(3, 32, 40), (4, 24, 24, 3)])
def test_ssim_identical_is_one(shape):
    x, _ = _images(shape)
    np.testing.assert_allclose(ssim(x, x, 2.0), 1.0, atol=1e-12)
    # and below one otherwise, symmetric
    _, y = _images(shape)
    s = ssim(x, y, 2.0)
    assert np.all(s < 1) and np.all(s > -1)
    np.testing.assert_allclose(ssim(y, x, 2.0), s, atol=1e-12)


def _ssim_loop(x, y, data_range):
    """A second implementation: for every valid 11x11 window, Gaussian-weighted statistics by
    explicit sums in float64; mean over windows, then over channels. One image [H, W, C]."""
    g = gaussian_window()
    w2 = np.outer(g, g)
    assert w2.shape == (11, 11) and abs(w2.sum() - 1) < 1e-12
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    h, w, c = x.shape
    per_channel = []
    for ch in range(c):
        vals = []
        for i in range(h - 10):
            for j in range(w - 10):
                a = x[i:i + 11, j:j + 11, ch]
                b = y[i:i + 11, j:j + 11, ch]
                ma, mb = (w2 * a).sum(), (w2 * b).sum()
                va = (w2 * (a - ma) ** 2).sum()
                vb = (w2 * (b - mb) ** 2).sum()
                cov = (w2 * (a - ma) * (b - mb)).sum()
                vals.append((2 * ma * mb + c1) * (2 * cov + c2) /
                            ((ma ** 2 + mb ** 2 + c1) * (va + vb + c2)))
        per_channel.append(np.mean(vals))
    return float(np.mean(per_channel))


def test_ssim_matches_per_window_loop():
    x, y = _images((3, 16, 19, 2), seed=1)
    got = ssim(x, y, 2.0)
    want = [_ssim_loop(a, b, 2.0) for a, b in zip(x, y)]
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    # data_range enters through C1, C2 only
    got = ssim(x, y, 1.0)
    want = [_ssim_loop(a, b, 1.0) for a, b in zip(x, y)]
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


@pytest.mark.parametrize("shape", [(4, 37, 41), (4, 48, 33, 3)])
@pytest.mark.parametrize("data_range", [2.0, 255.0])
def test_ssim_matches_scikit_image(shape, data_range):
    metrics = pytest.importorskip("skimage.metrics")
    x, y = _images(shape, seed=2)
    if data_range == 255.0:  # uint8 images
        x, y = (np.round((x + 1) * 127.5).astype(np.uint8), np.round((y + 1) * 127.5).astype(np.uint8))
    got = ssim(x, y, data_range)
    kwargs = dict(data_range=data_range, gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
    if len(shape) == 4:
        kwargs["channel_axis"] = -1
    want = [metrics.structural_similarity(a, b, **kwargs) for a, b in zip(x, y)]
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)


def test_ssim_batch_256_rgb_is_vectorised():
    x, y = _images((8, 256, 256, 3), seed=3)
    s = ssim(x.astype(np.float32), y.astype(np.float32), 2.0)
    assert s.shape == (8,) and s.dtype == np.float64
    singles = [ssim(x[i:i + 1], y[i:i + 1], 2.0)[0] for i in range(2)]
    np.testing.assert_allclose(s[:2], singles, atol=1e-6)
