"""Pictures a run writes: image grids, 2D scatter plots, metric curves (PNG, no display)."""
from __future__ import annotations

import json
import math
import os
from typing import Iterable, Sequence

import numpy as np
from PIL import Image


MARK_COLOUR = (220, 30, 30)  # the frame of marked tiles


def image_grid(images: np.ndarray, ncols: int | None = None, pad: int = 2,
               marked: Sequence[int] = ()) -> np.ndarray:
    """``[N, H, W, C]`` floats in [-1, 1] -> one uint8 image ``[rows*(H+pad)+pad, ..., C]``.

    ``marked``: tiles framed in :data:`MARK_COLOUR` in the padding around them (e.g. the seed
    frames of an interpolation strip); grey images become RGB then."""
    images = np.asarray(images, np.float32)
    n, h, w, c = images.shape
    ncols = ncols or int(math.ceil(math.sqrt(n)))
    nrows = int(math.ceil(n / ncols))
    pixels = np.clip(np.round((images + 1.0) * 127.5), 0, 255).astype(np.uint8)
    if len(marked) and c == 1:
        pixels, c = np.repeat(pixels, 3, axis=-1), 3
    grid = np.full((nrows * (h + pad) + pad, ncols * (w + pad) + pad, c), 255, np.uint8)
    for i in range(n):
        r, col = divmod(i, ncols)
        top, left = pad + r * (h + pad), pad + col * (w + pad)
        if i in marked:
            grid[top - pad:top + h + pad, left - pad:left + w + pad] = MARK_COLOUR
        grid[top:top + h, left:left + w] = pixels[i]
    return grid


def save_png(array: np.ndarray, path: str) -> None:
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array).save(path)


def save_image_grid(images: np.ndarray, path: str, ncols: int | None = None,
                    marked: Sequence[int] = ()) -> None:
    save_png(image_grid(images, ncols, marked=marked), path)


def save_scatter(points: np.ndarray, path: str, modes: np.ndarray | None = None,
                 title: str = "", real: np.ndarray | None = None) -> None:
    """2D samples ``[N, 2]`` (and optionally real points and the mixture's modes)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 5))
    if real is not None:
        ax.scatter(real[:, 0], real[:, 1], s=2, c="tab:gray", alpha=0.3, label="real")
    ax.scatter(points[:, 0], points[:, 1], s=2, c="tab:blue", alpha=0.6, label="generated")
    if modes is not None:
        ax.scatter(modes[:, 0], modes[:, 1], s=40, marker="x", c="tab:red", label="modes")
    ax.set_aspect("equal")
    ax.set_title(title)
    ax.legend(loc="upper right", fontsize=7)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)


def read_jsonl(path: str) -> list[dict]:
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def save_curves(records: Iterable[dict], keys: Sequence[Sequence[str]], path: str,
                title: str = "") -> None:
    """One panel per group of ``keys``, each a curve over ``record['step']``."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = list(records)
    fig, axes = plt.subplots(len(keys), 1, figsize=(7, 2.6 * len(keys)), sharex=True, squeeze=False)
    for ax, group in zip(axes[:, 0], keys):
        for k in group:
            pts = [(r["step"], r[k]) for r in records if k in r]
            if pts:
                s, v = zip(*pts)
                ax.plot(s, v, label=k, lw=1)
        ax.legend(loc="best", fontsize=7)
        ax.grid(alpha=0.3)
    axes[-1, 0].set_xlabel("generator iteration")
    if title:
        axes[0, 0].set_title(title)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
