"""Attributes measured from digit images themselves (no labels needed).

Images are ``[n, H, W, 1]`` in [-1, 1] (white ink on black, as MNIST); ``w = (x + 1) / 2`` is
the ink at each pixel.

* :func:`ink`: the mean ink per pixel, ``mean(w)``: stroke thickness (a bold digit covers more
  pixels) and size together.
* :func:`slant`: the shear of the ink's second moments, ``-mu11 / mu02`` with
  ``mu11 = sum w (c - c̄)(r - r̄)`` and ``mu02 = sum w (r - r̄)^2`` (r the row, down; c the
  column, right): the horizontal shift per row of the ink's principal direction, positive for
  a digit leaning right (the quantity deskewing removes, e.g. in LeCun et al.'s deslanted
  MNIST). 0 for upright symmetric shapes.
"""
from __future__ import annotations

import numpy as np


def _ink_weights(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float64)
    if x.ndim != 4 or x.shape[-1] != 1:
        raise ValueError(f"attributes need grey images [n, H, W, 1], got shape {x.shape}.")
    return np.clip((x[..., 0] + 1.0) / 2.0, 0.0, 1.0)


def ink(x: np.ndarray) -> np.ndarray:
    """``[n]`` mean ink per pixel in [0, 1]."""
    return _ink_weights(x).mean(axis=(1, 2))


def slant(x: np.ndarray) -> np.ndarray:
    """``[n]`` ``-mu11 / mu02`` of the ink (0 where there is no ink)."""
    w = _ink_weights(x)
    n, h, wd = w.shape
    rows, cols = np.meshgrid(np.arange(h, dtype=np.float64), np.arange(wd, dtype=np.float64), indexing="ij")
    mass = w.sum(axis=(1, 2))
    safe = np.where(mass > 0, mass, 1.0)
    r_bar = (w * rows).sum(axis=(1, 2)) / safe
    c_bar = (w * cols).sum(axis=(1, 2)) / safe
    dr = rows[None] - r_bar[:, None, None]
    dc = cols[None] - c_bar[:, None, None]
    mu11 = (w * dr * dc).sum(axis=(1, 2))
    mu02 = (w * dr * dr).sum(axis=(1, 2))
    return np.where(mu02 > 0, -mu11 / np.where(mu02 > 0, mu02, 1.0), 0.0)


MEASURED = {"ink": ink, "slant": slant}
