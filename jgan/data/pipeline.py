"""The grain input pipeline: shuffle with the config seed, preprocess, batch, shard per process.

The stream is infinite (reshuffled every epoch) and indexable, so its position is one
integer that grain's iterator state records; that state goes into every checkpoint and a
resumed run reads exactly the batches an uninterrupted run would have read.

Global batch ``g`` is examples ``[g*B, (g+1)*B)`` of the shuffled stream (``B`` = global
batch size); process ``p`` of ``P`` reads its contiguous ``B/P`` slice of it, so the global
batch is the same for any number of processes and devices.
"""
from __future__ import annotations

import functools
from typing import Any, Sequence

import grain
import numpy as np
from PIL import Image

from jgan.data.sources import DataError

_ENDLESS = 2 ** 62  # stream positions of unpaired data (never reached)


def preprocess_image(x: np.ndarray, *, image_size: int, channels: int) -> np.ndarray:
    """uint8 image ``[h, w, c]`` -> uint8 ``[image_size, image_size, channels]``.

    Non-square images are centre-cropped to a square first; a different size is resized
    with PIL's antialiased bilinear filter (as torchvision's ``Resize`` does). A 1-channel
    image is repeated to 3 channels, a 3-channel one turned to luminance, where asked.
    ``image_size`` / ``channels`` 0 keep the native value.
    """
    h, w, c = x.shape
    if h != w:
        s = min(h, w)
        top, left = (h - s) // 2, (w - s) // 2
        x = x[top:top + s, left:left + s]
    if image_size and x.shape[0] != image_size:
        img = Image.fromarray(x[..., 0] if c == 1 else x, mode="L" if c == 1 else "RGB")
        x = np.asarray(img.resize((image_size, image_size), Image.BILINEAR))
        x = x[..., None] if x.ndim == 2 else x
    if channels and x.shape[-1] != channels:
        if x.shape[-1] == 1 and channels == 3:
            x = np.repeat(x, 3, axis=-1)
        elif x.shape[-1] == 3 and channels == 1:
            x = np.round(x.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32))
            x = x.astype(np.uint8)[..., None]
        else:
            raise DataError(f"data.channels={channels} cannot be made from images with "
                            f"{x.shape[-1]} channels.")
    return x


def _to_float(x, *, image_size: int, channels: int) -> np.ndarray:
    """Images (uint8, a list or an array) -> float32 in [-1, 1] by ``x / 127.5 - 1`` after
    :func:`preprocess_image` where the size or channels differ; float data as is."""
    if isinstance(x, np.ndarray) and x.dtype != np.uint8:
        return x.astype(np.float32)
    native = isinstance(x, np.ndarray) and x.shape[1] == x.shape[2] and (
        not image_size or x.shape[1] == image_size) and (not channels or x.shape[-1] == channels)
    if not native:
        x = np.stack([preprocess_image(xi, image_size=image_size, channels=channels) for xi in x])
    return x.astype(np.float32) / 127.5 - 1.0


def load_batch(source, indices: np.ndarray, *, image_size: int, channels: int) -> dict[str, np.ndarray]:
    """Examples ``indices`` of ``source`` as a batch: ``{'x': float32 [n, ...], 'label':
    int32 [n]}``, or, for sources with several images per example (paired or unpaired
    translation data: ``get_batch`` returns a dict such as ``{'a', 'b', 'label'}``), every
    image key converted the same way.

    Images (uint8) are preprocessed and mapped to [-1, 1] by ``x / 127.5 - 1``; float data
    (toy 2D points) is returned as is; 'label' stays int32.
    """
    if hasattr(source, "get_batch"):
        got = source.get_batch(indices)
        if isinstance(got, dict):
            return {k: (np.asarray(v, np.int32) if k == "label" else
                        _to_float(v, image_size=image_size, channels=channels)) for k, v in got.items()}
        x, labels = got
    else:
        examples = [source[int(i)] for i in indices]
        x = [ex["x"] for ex in examples]
        labels = np.array([ex["label"] for ex in examples], np.int32)
    return {"x": _to_float(x, image_size=image_size, channels=channels), "label": labels}


def make_dataset(source: Sequence[dict[str, Any]], *, seed: int, global_batch_size: int,
                 image_size: int = 0, channels: int = 0, process_index: int = 0,
                 process_count: int = 1) -> grain.MapDataset:
    """An infinite MapDataset of this process's batches (``{'x': [B/P, ...], 'label': [B/P]}``
    or the source's keys, see :func:`load_batch`).

    Indices are shuffled and batched first and examples are read a batch at a time, which
    keeps grain's per-element overhead off the training loop. An unpaired source (one with
    ``stream(seed)``, ``jgan.data.unpaired``) shuffles each domain itself: the batches are
    then its stream positions ``[g*B, (g+1)*B)``, read as ``{'a', 'b'}``.
    """
    if global_batch_size % process_count:
        raise DataError(f"train.batch_size={global_batch_size} is not divisible by the "
                        f"{process_count} processes; pick a multiple of {process_count}.")
    if len(source) < global_batch_size:
        raise DataError(f"the dataset has {len(source)} examples, fewer than "
                        f"train.batch_size={global_batch_size}.")
    local = global_batch_size // process_count
    if hasattr(source, "stream"):  # unpaired domains shuffle themselves (jgan.data.unpaired)
        ds = grain.MapDataset.range(_ENDLESS).batch(local, drop_remainder=True)[process_index::process_count]
        return ds.map(functools.partial(load_batch, source.stream(seed), image_size=image_size,
                                        channels=channels))
    ds = grain.MapDataset.range(len(source)).shuffle(seed=seed).repeat(None)
    ds = ds.batch(local, drop_remainder=True)[process_index::process_count]
    return ds.map(functools.partial(load_batch, source, image_size=image_size, channels=channels))
