"""Unpaired data: two domains, each read in its own shuffled order (CycleGAN).

``UnpairedSource(a, b)`` holds one source per domain (any source of ``{'x', 'label'}``
examples: ``ArraySource``, TFDS, an image folder). The training stream is indexed by the
position ``k = 0, 1, 2, ...`` of an example in it; the example at ``k`` is domain A's
example ``perm_A(k // n_A)[k % n_A]`` and domain B's ``perm_B(k // n_B)[k % n_B]``, where
``perm_D(e)`` is epoch ``e``'s permutation of domain D, drawn from
``default_rng(SeedSequence([seed, D, e]))``. So each domain is reshuffled whenever it has
been read once, independently of the other: the pairs of A and B images are new in every
pass (the reference's ``UnalignedDataset`` draws B at random for each A; here B too runs
through whole epochs). ``len`` is ``max(n_A, n_B)``, the reference's epoch.

The grain pipeline (``jgan.data.pipeline.make_dataset``) batches the positions, so its
checkpointed iterator state is the stream position and a resumed run reads the same pairs.
"""
from __future__ import annotations

import functools
from typing import Any

import numpy as np

from jgan.data.sources import DataError


def read_images(source, indices: np.ndarray):
    """The images of ``source`` at ``indices`` (an array, or a list of arrays of any size)."""
    if hasattr(source, "get_batch"):
        got = source.get_batch(np.asarray(indices))
        return got[0] if isinstance(got, tuple) else got["x"]
    return [source[int(i)]["x"] for i in indices]


class UnpairedSource:
    """Domains ``a`` and ``b``; see the module docstring. ``stream(seed)`` is the training
    stream, ``get_batch(indices)`` reads the same index in both (for held-out sets use the
    domains' own sources)."""

    def __init__(self, a, b):
        for name, s in (("A", a), ("B", b)):
            if len(s) == 0:
                raise DataError(f"domain {name} of the unpaired data set holds no examples.")
        self.domains = {"a": a, "b": b}

    def __len__(self) -> int:
        return max(len(s) for s in self.domains.values())

    def stream(self, seed: int) -> "UnpairedStream":
        return UnpairedStream(self.domains, int(seed))


class UnpairedStream:
    """``get_batch(positions [n]) -> {'a': images, 'b': images}`` (see the module docstring)."""

    def __init__(self, domains: dict[str, Any], seed: int):
        self.domains, self.seed = domains, seed

    @functools.lru_cache(maxsize=8)
    def permutation(self, domain: int, epoch: int) -> np.ndarray:
        n = len(self.domains["ab"[domain]])
        return np.random.default_rng(np.random.SeedSequence([self.seed, domain, int(epoch)])).permutation(n)

    def indices(self, domain: int, positions: np.ndarray) -> np.ndarray:
        """Domain ``domain``'s (0: A, 1: B) example indices at stream ``positions``."""
        n = len(self.domains["ab"[domain]])
        positions = np.asarray(positions, np.int64).reshape(-1)
        return np.array([self.permutation(domain, int(p // n))[p % n] for p in positions], np.int64)

    def get_batch(self, positions: np.ndarray) -> dict[str, Any]:
        return {k: read_images(self.domains[k], self.indices(d, positions)) for d, k in enumerate("ab")}
