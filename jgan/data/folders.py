"""The pix2pix authors' aligned-folder layout (Isola et al. 2017; the published ``facades``,
``cityscapes``, ``maps``, ``edges2shoes``... sets), and the CycleGAN authors' unaligned one
(``image_folder``: ``<path>/trainA/``, ``trainB/``, ``testA/``, ``testB/``, one domain each).

``<path>/<split>/`` holds images (``.jpg``, ``.jpeg``, ``.png``, ``.bmp``, ``.webp``), each the
two domains side by side, ``A | B``: the left half is A, the right half B (the published sets
are 2x as wide as high; any even width is accepted and split at ``width / 2``).

``aligned_folder(...)`` is a lazy random-access source: it lists the files (sorted by name,
so the order is fixed) and checks every file's header at construction; pixels are read with
PIL when an example or batch is asked for. Each half is converted to ``channels`` (1: 'L',
3: 'RGB') and resized to ``image_size x image_size`` with PIL's antialiased bilinear filter
(halves that are not square are stretched). Examples are ``{'a': the direction's input,
'b': its target, 'label': int32 0}``, ``uint8 [image_size, image_size, channels]``.
"""
from __future__ import annotations

import os
from typing import Any

import numpy as np
from PIL import Image

from jgan.data.sources import DataError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
DIRECTIONS = ("AtoB", "BtoA")
_LAYOUT = ("<path>/<split>/*.jpg, each image the A and B halves side by side (A | B), as the "
           "pix2pix datasets are published")


class AlignedFolderSource:
    """Paired examples from the side-by-side images in one folder (see the module docstring)."""

    def __init__(self, folder: str, files: list[str], *, image_size: int, channels: int,
                 direction: str):
        self.folder, self.files = folder, files
        self.image_size, self.channels, self.direction = image_size, channels, direction

    def __len__(self) -> int:
        return len(self.files)

    def _load(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        path = os.path.join(self.folder, self.files[int(i)])
        try:
            with Image.open(path) as img:
                img = img.convert("L" if self.channels == 1 else "RGB")
        except (OSError, ValueError, Image.DecompressionBombError) as e:
            raise DataError(f"cannot read image {path} ({type(e).__name__}: {e}).") from e
        w, h = img.size
        if w % 2:
            raise DataError(f"image {path} is {w} pixels wide, an odd width: expected A | B side by side.")
        size = (self.image_size, self.image_size)
        halves = [img.crop(box).resize(size, Image.Resampling.BILINEAR)
                  for box in ((0, 0, w // 2, h), (w // 2, 0, w, h))]
        a, b = (np.asarray(x, np.uint8).reshape(self.image_size, self.image_size, self.channels)
                for x in halves)
        return (a, b) if self.direction == "AtoB" else (b, a)

    def __getitem__(self, i: int) -> dict[str, Any]:
        a, b = self._load(i)
        return {"a": a, "b": b, "label": np.int32(0)}

    def get_batch(self, indices: np.ndarray) -> dict[str, np.ndarray]:
        indices = np.asarray(indices).reshape(-1)
        s, c = self.image_size, self.channels
        a = np.empty((len(indices), s, s, c), np.uint8)
        b = np.empty_like(a)
        for j, i in enumerate(indices):
            a[j], b[j] = self._load(i)
        return {"a": a, "b": b, "label": np.zeros(len(indices), np.int32)}


def aligned_folder(path: str, split: str, *, image_size: int, channels: int,
                   direction: str = "AtoB") -> AlignedFolderSource:
    """The pix2pix aligned images in ``path/split/`` as a source of ``{'a', 'b', 'label'}``.

    ``direction`` 'AtoB' (input = left half) or 'BtoA' (input = right half). Raises a
    ``DataError`` for a missing or empty folder, an odd-width or unreadable image.
    """
    if direction not in DIRECTIONS:
        raise DataError(f"data.direction={direction!r} is not one of 'AtoB', 'BtoA'.")
    if channels not in (1, 3):
        raise DataError(f"data.channels={channels} must be 1 or 3 for aligned image folders.")
    if int(image_size) < 1:
        raise DataError(f"data.image_size={image_size} must be positive.")
    folder = os.path.join(os.path.expanduser(path), split)
    if not os.path.isdir(folder):
        raise DataError(f"no folder {folder}: an aligned dataset is laid out as {_LAYOUT}.")
    files = sorted(f for f in os.listdir(folder)
                   if f.lower().endswith(IMAGE_EXTENSIONS) and os.path.isfile(os.path.join(folder, f)))
    if not files:
        raise DataError(f"folder {folder} holds no images ({', '.join(IMAGE_EXTENSIONS)}); "
                        f"expected {_LAYOUT}.")
    for f in files:  # headers only: cheap, and a bad file fails now rather than mid-training
        p = os.path.join(folder, f)
        try:
            with Image.open(p) as img:
                w = img.size[0]
        except (OSError, ValueError, Image.DecompressionBombError) as e:
            raise DataError(f"cannot read image {p} ({type(e).__name__}: {e}).") from e
        if w % 2:
            raise DataError(f"image {p} is {w} pixels wide, an odd width: expected A | B side by side.")
    return AlignedFolderSource(folder, files, image_size=int(image_size), channels=int(channels),
                               direction=direction)


# ----------------------------------------------------------------------------- unaligned (CycleGAN)

_UNALIGNED = ("<path>/trainA/, <path>/trainB/ (and testA/, testB/) of images, one folder per domain, "
              "as the CycleGAN datasets are published")


class ImageFolderSource:
    """The images of one folder (one domain of the CycleGAN layout), sorted by name:
    ``{'x': uint8 [h, w, channels] at the file's own size, 'label': int32 0}``; the pipeline
    centre-crops and resizes them (``jgan.data.pipeline.preprocess_image``)."""

    def __init__(self, folder: str, files: list[str], channels: int):
        self.folder, self.files, self.channels = folder, files, channels

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> dict[str, Any]:
        path = os.path.join(self.folder, self.files[int(i)])
        try:
            with Image.open(path) as img:
                x = np.asarray(img.convert("L" if self.channels == 1 else "RGB"), np.uint8)
        except (OSError, ValueError, Image.DecompressionBombError) as e:
            raise DataError(f"cannot read image {path} ({type(e).__name__}: {e}).") from e
        return {"x": x.reshape(x.shape[0], x.shape[1], self.channels), "label": np.int32(0)}


def image_folder(path: str, split: str, *, channels: int) -> ImageFolderSource:
    """The images in ``path/split/`` (``split`` e.g. 'trainA', 'testB': the CycleGAN authors'
    unaligned layout) as a source of ``{'x', 'label'}``. A missing or empty folder or an
    unreadable image header is a ``DataError``."""
    if channels not in (1, 3):
        raise DataError(f"data.channels={channels} must be 1 or 3 for image folders.")
    folder = os.path.join(os.path.expanduser(path), split)
    if not os.path.isdir(folder):
        raise DataError(f"no folder {folder}: an unpaired dataset is laid out as {_UNALIGNED}.")
    files = sorted(f for f in os.listdir(folder)
                   if f.lower().endswith(IMAGE_EXTENSIONS) and os.path.isfile(os.path.join(folder, f)))
    if not files:
        raise DataError(f"folder {folder} holds no images ({', '.join(IMAGE_EXTENSIONS)}); expected {_UNALIGNED}.")
    for f in files:
        p = os.path.join(folder, f)
        try:
            with Image.open(p):
                pass
        except (OSError, ValueError, Image.DecompressionBombError) as e:
            raise DataError(f"cannot read image {p} ({type(e).__name__}: {e}).") from e
    return ImageFolderSource(folder, files, int(channels))
