"""Paired image metrics for image-to-image translation: L1, PSNR, SSIM, one value per image.

Inputs are batches of images as numpy (or array-like) values, ``[n, H, W]`` (grey) or
``[n, H, W, C]``, any real dtype; both arguments must have the same shape. Everything is
computed in float64 and returned as a float64 array ``[n]``; average it (or not) yourself.
``data_range`` is the width of the value range the images live in: 2 for images in [-1, 1]
(the generators' tanh outputs), 1 for [0, 1], 255 for uint8 images.

- :func:`l1`: mean absolute difference over all pixels and channels of each image.
- :func:`psnr`: ``10 log10(data_range^2 / MSE)`` in dB, MSE over all pixels and channels of
  each image; ``+inf`` for identical images (MSE 0).
- :func:`ssim`: the structural similarity of Wang, Bovik, Sheikh & Simoncelli 2004 ("Image
  quality assessment: from error visibility to structural similarity", IEEE TIP), with the
  conventions of ``skimage.metrics.structural_similarity(im1, im2, data_range=data_range,
  gaussian_weights=True, sigma=1.5, use_sample_covariance=False, channel_axis=-1)``:
  local statistics under an 11x11 Gaussian window with sigma 1.5 (the 1-D kernel
  ``exp(-t^2 / (2 sigma^2))``, ``t = -5 .. 5``, normalised to sum 1; radius
  ``int(3.5 sigma + 0.5) = 5``), population (co)variances, ``C1 = (0.01 R)^2`` and
  ``C2 = (0.03 R)^2`` with ``R = data_range``; the SSIM map
  ``(2 mu_x mu_y + C1)(2 s_xy + C2) / ((mu_x^2 + mu_y^2 + C1)(s_x^2 + s_y^2 + C2))`` is averaged
  over the *valid* region only (windows that fit inside the image: a 5-pixel border is
  dropped, so how the image is padded never matters), each channel separately, and the
  channel means are averaged. Images need ``H, W >= 11``. Note that SSIM depends on
  ``data_range``: pass the range of the images' *domain* (2 for [-1, 1]), not of their
  values.

The window sums are separable: two 11-tap passes per statistic, each one product of a
sliding-window view with the kernel, in chunks of images (about 35 ms per 256x256 RGB pair on
one CPU core).
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__ = ["gaussian_window", "l1", "psnr", "ssim"]

SSIM_SIGMA = 1.5
SSIM_RADIUS = int(3.5 * SSIM_SIGMA + 0.5)  # scipy/skimage truncate=3.5 -> 11x11 window
SSIM_K1, SSIM_K2 = 0.01, 0.03
_CHUNK_VALUES = 2 ** 22  # float64 values per SSIM chunk and statistic (32 MiB)


def _pair(x, y) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    if x.shape != y.shape:
        raise ValueError(f"image batches differ in shape: {x.shape} vs {y.shape}")
    if x.ndim not in (3, 4):
        raise ValueError(f"expected a batch [n, H, W] or [n, H, W, C], got shape {x.shape}")
    return x, y


def _per_image_mean(a: np.ndarray) -> np.ndarray:
    return a.reshape(a.shape[0], -1).mean(axis=1)


def l1(x, y) -> np.ndarray:
    """Mean absolute error per image: ``[n]``."""
    x, y = _pair(x, y)
    return _per_image_mean(np.abs(x - y))


def psnr(x, y, data_range: float) -> np.ndarray:
    """Peak signal-to-noise ratio per image in dB, ``10 log10(data_range^2 / MSE)``: ``[n]``.

    ``data_range``: 2 for images in [-1, 1]. Identical images give ``+inf``.
    """
    x, y = _pair(x, y)
    mse = _per_image_mean((x - y) ** 2)
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(float(data_range) ** 2 / mse)


def gaussian_window(sigma: float = SSIM_SIGMA, radius: int = SSIM_RADIUS) -> np.ndarray:
    """The normalised 1-D Gaussian kernel ``[2 radius + 1]`` (scipy's ``gaussian_filter``)."""
    t = np.arange(-radius, radius + 1, dtype=np.float64)
    w = np.exp(-0.5 * (t / sigma) ** 2)
    return w / w.sum()


def ssim(x, y, data_range: float) -> np.ndarray:
    """Mean SSIM per image (Wang et al. 2004; skimage's Gaussian-window conventions): ``[n]``.

    See the module docstring for the exact conventions. ``x, y``: ``[n, H, W]`` or
    ``[n, H, W, C]`` with ``H, W >= 11``; ``data_range``: 2 for images in [-1, 1].
    """
    x, y = _pair(x, y)
    if x.ndim == 3:
        x, y = x[..., None], y[..., None]
    n, h, w, c = x.shape
    k = 2 * SSIM_RADIUS + 1
    if h < k or w < k:
        raise ValueError(f"SSIM needs images of at least {k}x{k}, got {h}x{w}")
    g = gaussian_window()
    c1 = (SSIM_K1 * float(data_range)) ** 2
    c2 = (SSIM_K2 * float(data_range)) ** 2

    def window_mean(a):  # [m, c, h, w] -> [m, c, h - 2r, w - 2r]: valid Gaussian correlation
        a = sliding_window_view(a, k, axis=-1) @ g
        return sliding_window_view(a, k, axis=-2) @ g

    out = np.empty(n)
    chunk = max(1, _CHUNK_VALUES // (h * w * c))
    for start in range(0, n, chunk):
        a = np.ascontiguousarray(x[start:start + chunk].transpose(0, 3, 1, 2))
        b = np.ascontiguousarray(y[start:start + chunk].transpose(0, 3, 1, 2))
        mu_a, mu_b = window_mean(a), window_mean(b)
        var_a = window_mean(a * a) - mu_a * mu_a
        var_b = window_mean(b * b) - mu_b * mu_b
        cov = window_mean(a * b) - mu_a * mu_b
        s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)
             / ((mu_a * mu_a + mu_b * mu_b + c1) * (var_a + var_b + c2)))
        # mean over each channel's valid map, then over channels (equal sizes: one mean)
        out[start:start + chunk] = s.reshape(s.shape[0], -1).mean(axis=1)
    return out
