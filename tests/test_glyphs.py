"""Typeface-conversion pairs rendered from matplotlib's fonts (jgan.data.glyphs)."""
import numpy as np
import pytest

from jgan.data import glyphs
from jgan.data.sources import DataError


def _box(img):
    """(centre y, centre x, height, width) of the ink of ``img [S, S]``."""
    rows, cols = np.flatnonzero(img.any(1)), np.flatnonzero(img.any(0))
    return ((rows[0] + rows[-1]) / 2, (cols[0] + cols[-1]) / 2,
            rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1)


def test_shapes_dtypes_and_labels():
    src = glyphs.glyph_pairs("dejavu_sans", "dejavu_serif", "train", per_char=3, image_size=24)
    n_chars = len(glyphs.DEFAULT_CHARS) - len(glyphs.TEST_CHARS)
    assert len(src) == 3 * n_chars
    ex = src[4]
    assert ex["a"].shape == ex["b"].shape == (24, 24, 1) and ex["a"].dtype == np.uint8
    assert ex["label"].dtype == np.int32
    batch = src.get_batch(np.array([0, 5, 7]))
    assert batch["a"].shape == batch["b"].shape == (3, 24, 24, 1) and batch["b"].dtype == np.uint8
    assert batch["label"].dtype == np.int32 and batch["label"].shape == (3,)
    train_chars = [c for c in glyphs.DEFAULT_CHARS if c not in glyphs.TEST_CHARS]
    assert glyphs.DEFAULT_CHARS[src[4]["label"]] == train_chars[4 // 3]
    assert src[0]["a"][0, 0, 0] == 0 and src[0]["a"].max() == 255  # white glyph on black

    single = glyphs.glyph_images("dejavu_serif", "train", per_char=3, image_size=24)
    x, labels = single.get_batch(np.arange(len(single)))
    np.testing.assert_array_equal(x, src.get_batch(np.arange(len(src)))["b"])
    np.testing.assert_array_equal(labels, src.get_batch(np.arange(len(src)))["label"])
    assert single[0]["x"].shape == (24, 24, 1)


def test_deterministic_and_seeded():
    kw = dict(per_char=4, chars="ABCDEFGH", test_chars="GH")
    one = glyphs.glyph_pairs("stix", "cm_sans", "train", seed=3, **kw).arrays
    glyphs._pairs.cache_clear()
    two = glyphs.glyph_pairs("stix", "cm_sans", "train", seed=3, **kw).arrays
    other = glyphs.glyph_pairs("stix", "cm_sans", "train", seed=4, **kw).arrays
    for k in ("a", "b", "label"):
        assert one[k].tobytes() == two[k].tobytes()
    assert one["a"].tobytes() != other["a"].tobytes()
    np.testing.assert_array_equal(one["label"], other["label"])


def test_same_transform_on_both_sides():
    src = glyphs.glyph_pairs("dejavu_sans_mono", "cm_roman", "all", per_char=6, image_size=32,
                             chars="ABEHKT", test_chars="")
    boxes_a = []
    for i in range(len(src)):
        ex = src[i]
        ya, xa, ha, wa = _box(ex["a"][..., 0])
        yb, xb, hb, wb = _box(ex["b"][..., 0])
        assert abs(ya - yb) <= 1.5 and abs(xa - xb) <= 1.5, i
        assert abs(ha - hb) <= 2, i  # capitals: the height is the larger side in both fonts
        boxes_a.append((ya, xa, ha))
    # the transforms do vary across examples
    assert len({b[2] for b in boxes_a}) > 3 and len({b[1] for b in boxes_a}) > 3
    assert min(b[2] for b in boxes_a) >= 0.55 * 32 - 1 and max(b[2] for b in boxes_a) <= 0.85 * 32 + 1


def test_splits_are_disjoint_and_test_is_the_held_out_set():
    kw = dict(per_char=1)
    train = glyphs.glyph_pairs("dejavu_sans", "dejavu_serif", "train", **kw)
    test = glyphs.glyph_pairs("dejavu_sans", "dejavu_serif", "test", **kw)
    every = glyphs.glyph_pairs("dejavu_sans", "dejavu_serif", "all", **kw)
    train_chars = {glyphs.DEFAULT_CHARS[y] for y in train.arrays["label"]}
    test_chars = {glyphs.DEFAULT_CHARS[y] for y in test.arrays["label"]}
    assert test_chars == set(glyphs.TEST_CHARS) and not train_chars & test_chars
    every_chars = {glyphs.DEFAULT_CHARS[y] for y in every.arrays["label"]}
    assert train_chars | test_chars == set(glyphs.DEFAULT_CHARS) == every_chars
    assert not set(glyphs.DEFAULT_CHARS) & set(glyphs.AMBIGUOUS_CHARS)
    with pytest.raises(DataError, match="split"):
        glyphs.glyph_pairs("dejavu_sans", "dejavu_serif", "validation", **kw)


def test_every_font_draws_every_default_char_as_itself():
    expected = {"dejavu_sans", "dejavu_serif", "stix", "cm_roman", "cm_sans", "cm_typewriter"}
    assert expected <= set(glyphs.FONTS)
    for font in glyphs.FONTS:
        notdef = glyphs._notdef(glyphs.font_path(font))
        for c in glyphs.DEFAULT_CHARS:
            ink = glyphs.glyph_bitmap(font, c)
            assert ink is not None and ink.max() > 0, (font, c)
            assert ink.shape != notdef.shape or not np.array_equal(ink, notdef), (font, c)
        assert glyphs.missing_chars(font, glyphs.DEFAULT_CHARS) == ""


def test_missing_or_remapped_characters_are_errors(tmp_path):
    # Greek is not in Computer Modern's cmr10
    with pytest.raises(DataError, match=r"cm_roman.*'αβ'"):
        glyphs.glyph_pairs("dejavu_sans", "cm_roman", "all", per_char=1, chars="ABαβ", test_chars="")
    # matplotlib's TeX math fonts map ASCII code points to other symbols: not "present"
    cmsy = glyphs.font_path("cm_roman").replace("cmr10", "cmsy10")
    cmmi = glyphs.font_path("cm_roman").replace("cmr10", "cmmi10")
    assert glyphs.missing_chars(cmsy, "abc") == "abc"
    assert glyphs.missing_chars(cmmi, "0123456789Ab") == "0123456789"
    with pytest.raises(DataError, match="cmmi10.*'12'"):
        glyphs.glyph_images(cmmi, "all", per_char=1, chars="A12", test_chars="")
    with pytest.raises(DataError, match="not one of"):
        glyphs.glyph_images("comic_sans", "all", per_char=1)
    with pytest.raises(DataError, match="not in data.chars"):
        glyphs.glyph_images("stix", "test", per_char=1, chars="ABC", test_chars="Z")


def test_paired_array_source():
    src = glyphs.PairedArraySource({"a": np.arange(6).reshape(3, 2), "label": np.arange(3, dtype=np.int32)})
    assert len(src) == 3 and src[1]["a"].tolist() == [2, 3]
    assert src.get_batch(np.array([2, 0]))["label"].tolist() == [2, 0]
    with pytest.raises(ValueError):
        glyphs.PairedArraySource({"a": np.zeros(3), "b": np.zeros(4)})


def test_render_speed():
    import time

    glyphs._pairs.cache_clear()
    t = time.perf_counter()
    src = glyphs.glyph_pairs("dejavu_sans_bold", "stix_italic", "all", per_char=100)
    assert len(src) == 100 * len(glyphs.DEFAULT_CHARS)
    assert time.perf_counter() - t < 10  # ~1 s here
