"""Typeface conversion: paired glyph images rendered on the fly from the fonts in matplotlib's
wheel, so a pix2pix experiment (Isola et al. 2017) needs no download.

A pair is one character rendered in a source font (``'a'``) and in a target font (``'b'``),
with the same random scale and shift on both sides. Evaluation measures generalisation to
*unseen characters*: the 'train' split uses ``chars`` minus ``test_chars``, the 'test' split
only ``test_chars`` (``TEST_CHARS`` by default).

Images: ``uint8 [S, S, 1]``, a white glyph (255) on a black background (0), so the
background is -1 after the usual ``x / 127.5 - 1``.

Geometry of one example (character ``c``, example ``k``): one draw from
``numpy.random.default_rng(SeedSequence([seed, split]))`` gives a size fraction ``f`` in
``SIZE_RANGE`` and a shift ``(u, v)`` in ``[-1, 1]^2``. Each side renders its own glyph so
that the larger side of the glyph's ink bounding box is ``f * S`` pixels (normally its
height), centres that box in the image, and moves it by ``(u, v)`` times the margin
``(S - round(f * S)) // 2`` (so any glyph stays whole inside the image). The shift in pixels
depends only on the draws, which are the same for every font, so ``glyph_images(font, split,
...)`` is exactly the ``'b'`` side of ``glyph_pairs(..., font, split, ...)`` with the same
arguments.

Characters (``DEFAULT_CHARS``, 50): digits and Latin letters minus those that are the same
shape as another once every glyph is scaled to the same box (``AMBIGUOUS_CHARS``): ``0 o``
(= ``O``), ``l I`` (= ``1`` in sans-serif faces, and each other), and the lowercase of case
pairs drawn alike (``c s v w x z``; also ``p`` and ``u``, which scaled up are ``P`` and ``U``
in several faces). A shape shared by two labels would make the classifier that scores
translations guess, and the translation of such a glyph ill-posed.

Held-out characters (``TEST_CHARS``, 10): ``4 7 E G R W a e h y``: two digits, four capitals
and four lowercase, each built of strokes that training characters show (``E``~``F L``,
``G``~``C O``, ``R``~``P K``, ``W``~``V M``, ``h``~``n b``, ``y``~``V Y``...), so translating
them is generalisation, not invention.

A character counts as present in a font only if the font's Unicode cmap maps it to a glyph
whose PostScript name is that character's standard (AGL) name, and the glyph's render is
non-empty and differs from the font's missing-glyph (``.notdef``) render. This catches fonts
whose cmap maps ASCII code points to other symbols (matplotlib's TeX fonts ``cmmi10`` map
digits to old-style figures, ``cmsy10`` maps letters to math symbols). A requested character
a font lacks is a ``DataError`` naming the font and the characters.
"""
from __future__ import annotations

import functools
import os
import string
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from jgan.data.sources import ArraySource, DataError

#: font name -> file in ``matplotlib.get_data_path()/fonts/ttf`` (only those that exist).
_FONT_FILES = {
    "dejavu_sans": "DejaVuSans.ttf",
    "dejavu_sans_bold": "DejaVuSans-Bold.ttf",
    "dejavu_sans_oblique": "DejaVuSans-Oblique.ttf",
    "dejavu_sans_bold_oblique": "DejaVuSans-BoldOblique.ttf",
    "dejavu_sans_mono": "DejaVuSansMono.ttf",
    "dejavu_sans_mono_bold": "DejaVuSansMono-Bold.ttf",
    "dejavu_sans_mono_oblique": "DejaVuSansMono-Oblique.ttf",
    "dejavu_sans_mono_bold_oblique": "DejaVuSansMono-BoldOblique.ttf",
    "dejavu_serif": "DejaVuSerif.ttf",
    "dejavu_serif_bold": "DejaVuSerif-Bold.ttf",
    "dejavu_serif_italic": "DejaVuSerif-Italic.ttf",
    "dejavu_serif_bold_italic": "DejaVuSerif-BoldItalic.ttf",
    "stix": "STIXGeneral.ttf",
    "stix_bold": "STIXGeneralBol.ttf",
    "stix_italic": "STIXGeneralItalic.ttf",
    "stix_bold_italic": "STIXGeneralBolIta.ttf",
    "cm_roman": "cmr10.ttf",
    "cm_bold": "cmb10.ttf",
    "cm_italic": "cmti10.ttf",
    "cm_sans": "cmss10.ttf",
    "cm_typewriter": "cmtt10.ttf",
}


def _font_dir() -> str:
    import matplotlib

    return os.path.join(matplotlib.get_data_path(), "fonts", "ttf")


FONTS: dict[str, str] = {name: f for name, f in _FONT_FILES.items()
                         if os.path.exists(os.path.join(_font_dir(), f))}

AMBIGUOUS_CHARS = "0oIlcsvwxzpu"
DEFAULT_CHARS = "".join(c for c in string.digits + string.ascii_uppercase + string.ascii_lowercase
                        if c not in AMBIGUOUS_CHARS)
TEST_CHARS = "47EGRWaehy"

SIZE_RANGE = (0.55, 0.85)   # the glyph's larger side, as a fraction of the image side
SPLITS = {"train": 1, "test": 2, "all": 3}
_RENDER_PX = 96             # glyphs are drawn once at this em size, then resized (antialiased)


# ----------------------------------------------------------------------------- sources


class PairedArraySource:
    """A random-access source over in-memory arrays of the same length.

    ``arrays``: name -> ``[n, ...]`` (e.g. ``{'a', 'b', 'label'}``). ``source[i]`` is
    ``{name: arrays[name][i]}``; ``get_batch(indices)`` is ``{name: arrays[name][indices]}``.
    """

    def __init__(self, arrays: dict[str, np.ndarray]):
        if not arrays:
            raise ValueError("PairedArraySource needs at least one array")
        lengths = {k: len(v) for k, v in arrays.items()}
        if len(set(lengths.values())) != 1:
            raise ValueError(f"arrays of different lengths: {lengths}")
        self.arrays = dict(arrays)
        self._n = next(iter(lengths.values()))

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {k: v[i] for k, v in self.arrays.items()}

    def get_batch(self, indices: np.ndarray) -> dict[str, np.ndarray]:
        indices = np.asarray(indices)
        return {k: v[indices] for k, v in self.arrays.items()}


# ----------------------------------------------------------------------------- fonts


def font_path(font: str) -> str:
    """The file of ``font``: a name in ``FONTS`` or a path to a TrueType/OpenType file."""
    if font in FONTS:
        return os.path.join(_font_dir(), FONTS[font])
    if os.path.isfile(font):
        return font
    raise DataError(f"font {font!r} is not one of {', '.join(sorted(FONTS))} (or a path to a .ttf file).")


@functools.lru_cache(maxsize=None)
def _pil_font(path: str) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, _RENDER_PX)


@functools.lru_cache(maxsize=None)
def _cmap_names(path: str) -> dict[int, str]:
    from fontTools.ttLib import TTFont

    with TTFont(path, lazy=True) as f:
        return dict(f.getBestCmap() or {})


def _draw(path: str, text: str) -> np.ndarray:
    """``text`` drawn white on black at ``_RENDER_PX``, uint8 [h, w] (with margins)."""
    font = _pil_font(path)
    left, top, right, bottom = font.getbbox(text)
    pad = 4
    img = Image.new("L", (max(right - left, 1) + 2 * pad, max(bottom - top, 1) + 2 * pad), 0)
    ImageDraw.Draw(img).text((pad - left, pad - top), text, font=font, fill=255)
    return np.asarray(img)


def _crop(bitmap: np.ndarray) -> np.ndarray:
    """The ink bounding box of ``bitmap`` (empty [0, 0] when there is no ink)."""
    rows, cols = np.flatnonzero(bitmap.any(1)), np.flatnonzero(bitmap.any(0))
    if len(rows) == 0:
        return bitmap[:0, :0]
    return bitmap[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]


@functools.lru_cache(maxsize=None)
def _notdef(path: str) -> np.ndarray:
    """The render of a code point the font does not map (its .notdef glyph), cropped."""
    cmap = _cmap_names(path)
    cp = next(c for c in range(0xE000, 0xF900) if c not in cmap)  # private use area
    return _crop(_draw(path, chr(cp)))


def _agl_names(c: str) -> set[str]:
    from fontTools import agl

    cp = ord(c)
    names = {f"uni{cp:04X}", f"u{cp:04X}"}
    if cp in agl.UV2AGL:
        names.add(agl.UV2AGL[cp])
    return names


@functools.lru_cache(maxsize=None)
def glyph_bitmap(font: str, c: str) -> np.ndarray | None:
    """The ink of ``c`` in ``font`` at ``_RENDER_PX`` (uint8 [h, w], tightly cropped), or None
    when the font does not draw ``c`` as itself (see the module docstring)."""
    path = font_path(font)
    name = _cmap_names(path).get(ord(c))
    if name is None:
        return None
    if name not in _agl_names(c) and name.split(".")[0] not in _agl_names(c):
        return None  # the code point is mapped to another symbol (TeX encodings)
    ink = _crop(_draw(path, c))
    if ink.size == 0:
        return None
    notdef = _notdef(path)
    if ink.shape == notdef.shape and np.array_equal(ink, notdef):
        return None
    ink.setflags(write=False)
    return ink


def missing_chars(font: str, chars: str) -> str:
    """The characters of ``chars`` that ``font`` does not draw as themselves."""
    return "".join(c for c in chars if glyph_bitmap(font, c) is None)


def _check_font(font: str, chars: str) -> None:
    missing = missing_chars(font, chars)
    if missing:
        raise DataError(f"font {font!r} ({os.path.basename(font_path(font))}) has no glyph for "
                        f"{len(missing)} requested character(s): {missing!r}; drop them from "
                        f"data.chars or choose another font.")


# ----------------------------------------------------------------------------- rendering


def _split_chars(split: str, chars: str, test_chars: str) -> str:
    if len(set(chars)) != len(chars):
        raise DataError(f"data.chars={chars!r} repeats characters.")
    if split not in SPLITS:
        raise DataError(f"data.split={split!r} is not one of {', '.join(map(repr, SPLITS))} for glyphs.")
    outside = "".join(c for c in test_chars if c not in chars)
    if outside:
        raise DataError(f"test characters {outside!r} are not in data.chars={chars!r}.")
    if split == "train":
        out = "".join(c for c in chars if c not in test_chars)
    elif split == "test":
        out = "".join(c for c in chars if c in test_chars)
    else:
        out = chars
    if not out:
        raise DataError(f"split {split!r} of data.chars={chars!r} (test characters {test_chars!r}) is empty.")
    return out


def _draws(split: str, seed: int, n_chars: int, per_char: int) -> np.ndarray:
    """``[n_chars, per_char, 3]``: (size fraction, horizontal, vertical shift in [-1, 1])."""
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), SPLITS[split]]))
    u = rng.random((n_chars, per_char, 3))
    lo, hi = SIZE_RANGE
    return np.stack([lo + (hi - lo) * u[..., 0], 2 * u[..., 1] - 1, 2 * u[..., 2] - 1], axis=-1)


def _resized(ink: np.ndarray, frac: float, size: int) -> np.ndarray:
    """``ink`` scaled so its larger side is ``frac * size`` pixels (antialiased)."""
    h, w = ink.shape
    k = frac * size / max(h, w)
    hw = (max(1, round(w * k)), max(1, round(h * k)))
    return np.asarray(Image.fromarray(ink).resize(hw, Image.Resampling.LANCZOS))


def _render(fonts: tuple[str, ...], split_chars: str, draws: np.ndarray, size: int) -> list[np.ndarray]:
    """Each font's images ``uint8 [n_chars * per_char, size, size, 1]`` with shared geometry."""
    n_chars, per_char, _ = draws.shape
    out = [np.zeros((n_chars, per_char, size, size), np.uint8) for _ in fonts]
    for ci, c in enumerate(split_chars):
        inks = [glyph_bitmap(f, c) for f in fonts]
        for k in range(per_char):
            frac, u, v = draws[ci, k]
            glyphs = [_resized(ink, frac, size) for ink in inks]
            # every glyph's sides are <= round(frac * size): this margin keeps any of them inside
            slack = (size - round(frac * size)) // 2
            dy, dx = round(v * slack), round(u * slack)
            for arr, g in zip(out, glyphs):
                y0 = (size - g.shape[0]) // 2 + dy
                x0 = (size - g.shape[1]) // 2 + dx
                arr[ci, k, y0:y0 + g.shape[0], x0:x0 + g.shape[1]] = g
    return [a.reshape(n_chars * per_char, size, size, 1) for a in out]


def _labels(split_chars: str, chars: str, per_char: int) -> np.ndarray:
    return np.repeat(np.array([chars.index(c) for c in split_chars], np.int32), per_char)


def _check_args(image_size: int, per_char: int) -> None:
    if image_size < 8:
        raise DataError(f"data.image_size={image_size} is too small for glyphs (at least 8).")
    if per_char < 1:
        raise DataError(f"data.per_char={per_char} must be at least 1.")


@functools.lru_cache(maxsize=8)
def _pairs(source_font, target_font, split, image_size, per_char, seed, chars, test_chars):
    split_chars = _split_chars(split, chars, test_chars)
    _check_args(image_size, per_char)
    for f in (source_font, target_font):
        _check_font(f, split_chars)
    draws = _draws(split, seed, len(split_chars), per_char)
    a, b = _render((source_font, target_font), split_chars, draws, image_size)
    for x in (a, b):
        x.setflags(write=False)
    labels = _labels(split_chars, chars, per_char)
    labels.setflags(write=False)
    return PairedArraySource({"a": a, "b": b, "label": labels})


def glyph_pairs(source_font: str, target_font: str, split: str, *, image_size: int = 32,
                per_char: int = 100, seed: int = 0, chars: str = DEFAULT_CHARS,
                test_chars: str = TEST_CHARS) -> PairedArraySource:
    """Typeface-conversion pairs ``{'a': source font, 'b': target font, 'label'}``.

    ``split``: 'train' (``chars`` minus ``test_chars``), 'test' (``test_chars``) or 'all'.
    ``per_char`` examples of each character, ordered character-major; ``label`` is the
    character's index in ``chars``. Images ``uint8 [image_size, image_size, 1]``, white on
    black, the same scale and shift on both sides. Rendered once and cached (read-only arrays).
    """
    return _pairs(source_font, target_font, split, int(image_size), int(per_char), int(seed),
                  str(chars), str(test_chars))


@functools.lru_cache(maxsize=8)
def _images(font, split, image_size, per_char, seed, chars, test_chars):
    split_chars = _split_chars(split, chars, test_chars)
    _check_args(image_size, per_char)
    _check_font(font, split_chars)
    draws = _draws(split, seed, len(split_chars), per_char)
    (x,) = _render((font,), split_chars, draws, image_size)
    labels = _labels(split_chars, chars, per_char)
    x.setflags(write=False)
    labels.setflags(write=False)
    return ArraySource(x, labels)


def glyph_images(font: str, split: str, *, image_size: int = 32, per_char: int = 100,
                 seed: int = 0, chars: str = DEFAULT_CHARS,
                 test_chars: str = TEST_CHARS) -> ArraySource:
    """Single-font renders ``{'x': uint8 [S, S, 1], 'label': int32}`` (for the glyph
    classifier); the same geometry as the ``'b'`` side of ``glyph_pairs`` with these arguments."""
    return _images(font, split, int(image_size), int(per_char), int(seed), str(chars), str(test_chars))


def render_glyph(font: str, c: str, *, frac: float, shift: tuple[float, float], angle: float,
                 size: int) -> np.ndarray:
    """One glyph of ``c`` in ``font`` as ``uint8 [size, size]``, white on black: its ink scaled
    so that the larger side is ``frac * size`` pixels (as in :func:`glyph_pairs`), rotated by
    ``angle`` degrees counter-clockwise (bicubic, the canvas grown to hold it), centred and
    moved by ``shift = (u, v)`` in ``[-1, 1]^2`` times the margin left around the rotated ink
    (so it stays whole inside the image). Used for single renders with their own geometry
    (``jgan.data.digits``' typeset digits); a character ``font`` lacks is a ``DataError``."""
    ink = glyph_bitmap(font, c)
    if ink is None:
        _check_font(font, c)
    g = _resized(ink, frac, size)
    if angle:
        g = _crop(np.asarray(Image.fromarray(g).rotate(angle, resample=Image.Resampling.BICUBIC, expand=True)))
        if max(g.shape) > size:  # a wide glyph turned: shrink it back into the frame
            g = _resized(g, 1.0, size)
    out = np.zeros((size, size), np.uint8)
    dy = round(shift[1] * ((size - g.shape[0]) // 2))
    dx = round(shift[0] * ((size - g.shape[1]) // 2))
    y0, x0 = (size - g.shape[0]) // 2 + dy, (size - g.shape[1]) // 2 + dx
    out[y0:y0 + g.shape[0], x0:x0 + g.shape[1]] = g
    return out
