"""The glyph classifier jgan evaluates typeface conversion with (pix2pix, Isola et al. 2017,
on ``jgan.data.glyphs``): the analogue of the paper's FCN-score, it reads which character a
translated image shows in the target font (label accuracy on the held-out characters, and
penultimate features for FID-style scores).

A small translation-invariant convnet (``jgan.eval.classifier.GlyphClassifier``: 4 conv
stages, global max-pool) with one class per character of ``data.chars`` (50 by default) in the
target font and one per character in each of ``data.other_fonts`` (the pix2pix source font):
a glyph counts as correct only if it shows the right character *in the target typeface*, so
copying the input scores near 0 rather than near 1 (a classifier of the target font alone reads
DejaVu Sans glyphs as their characters 98% of the time: it cannot tell a translation from a
copy). Trained on renders of EVERY character (held-out ones included) in each font at
``data.image_size`` px, 200 renders each with random scale and shift (render seed
``data.seed``, not the pix2pix data's), random extra shifts of 1 pixel, AdamW with cosine
decay, 1,000 steps of 64 (about a minute on 2 CPU cores). Its accuracy on 50 more renders of
each character (``data.test_seed``) is written to ``eval.json`` (``test_chars_accuracy``: the held-out
characters alone). Train it for the target font of the pix2pix experiment:

    python launch.py --config experiments/classifier_glyphs.py       # -> runs/classifier_glyphs
    python launch.py --config experiments/classifier_glyphs.py --config.data.target_font=stix
    python launch.py --config experiments/classifier_glyphs.py:quick
"""
import ml_collections

from jgan.data import glyphs


def get_config(variant: str | None = None):
    c = ml_collections.ConfigDict()
    c.kind = "classifier"          # launch.py: train a classifier, not a GAN
    c.name, c.variant = "classifier_glyphs", variant or ""
    c.seed = 0
    c.data = ml_collections.ConfigDict()
    c.data.source = "glyphs"
    c.data.target_font = "dejavu_serif"  # the pix2pix target font (see jgan.data.glyphs.FONTS)
    c.data.other_fonts = ("dejavu_sans",)  # fonts that are NOT the target: their own classes (the source font)
    c.data.image_size = 32
    c.data.chars = glyphs.DEFAULT_CHARS  # label i is chars[i]
    c.data.test_chars = glyphs.TEST_CHARS
    c.data.per_char = 200          # training renders of each character
    c.data.test_per_char = 50      # held-out renders of each character
    c.data.seed = 1001             # render seeds: streams the pix2pix data (seed 0..) does not use
    c.data.test_seed = 1002
    c.model = ml_collections.ConfigDict()
    c.model.widths = (16, 32, 64, 128)  # GlyphClassifier: one conv per stage, global max-pool
    c.train = ml_collections.ConfigDict()
    c.train.steps = 1000
    c.train.batch_size = 64
    c.train.lr = 2e-3
    c.train.weight_decay = 1e-4
    c.train.max_shift = 1          # augmentation: random translation in pixels
    if variant == "quick":
        c.data.per_char = 10
        c.data.test_per_char = 4
        c.train.steps = 30
    elif variant:
        raise ValueError(f"unknown variant {variant!r} of experiments/classifier_glyphs.py: use quick")
    return c
