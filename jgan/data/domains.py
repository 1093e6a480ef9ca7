"""Multi-domain data for StarGAN: every example an image and the label of its domain.

* :func:`digit_domains`: several ``jgan.data.digits`` domains of one split in one source,
  ``label`` = the index of the example's domain in ``names`` (int32 [n]);
* :class:`AttributeSource`: a TFDS dataset with binary attributes (``celeb_a``), ``label`` = the
  chosen attributes as 0/1 (int32 [n, k]), e.g. CelebA's hair colour, gender and age.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from jgan.data import digits, sources
from jgan.data.sources import ArraySource, DataError


def digit_domains(names: Sequence[str], split: str, **kw) -> ArraySource:
    """The examples of digit domains ``names`` (split ``split``), concatenated in that order,
    labelled with their domain's index; ``kw`` as ``jgan.data.digits.digit_domain``."""
    parts = [digits.digit_domain(name, split, **kw) for name in names]
    x = np.concatenate([p.x for p in parts])
    labels = np.concatenate([np.full(len(p), i, np.int32) for i, p in enumerate(parts)])
    return ArraySource(x, labels)


class AttributeSource:
    """TFDS examples ``{'image', 'attributes': {name: bool}}`` -> ``{'x': uint8 image, 'label':
    int32 [k]}``, ``label[j] = attributes[names[j]]``."""

    def __init__(self, name: str, split: str, data_dir: str | None, names: Sequence[str]):
        self.source = sources.tfds_source(name, split, data_dir).source
        self.names = tuple(names)
        if len(self.source):
            missing = [a for a in self.names if a not in self.source[0]["attributes"]]
            if missing:
                raise DataError(f"data.attributes: {missing} are not attributes of TFDS dataset {name!r}.")

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, i: int) -> dict[str, Any]:
        ex = self.source[int(i)]
        return {"x": np.asarray(ex["image"], np.uint8),
                "label": np.array([bool(ex["attributes"][a]) for a in self.names], np.int32)}
