"""The registry of families: ``config.family`` -> the module that builds it.

Each module has ``make(config) -> jgan.family.Family`` (validating its own config fields).
Modules are imported when asked for, so a run pays only for its own family.
"""
from __future__ import annotations

import importlib

from jgan.config import ConfigError

FAMILIES = {"gan": "jgan.families.gan", "pix2pix": "jgan.families.pix2pix", "cyclegan": "jgan.families.cyclegan",
            "stargan": "jgan.families.stargan", "bigan": "jgan.families.bigan",
            "progan": "jgan.families.progan", "stylegan2": "jgan.families.stylegan2"}


def make(config):
    """The family named by ``config.family``, built from ``config``."""
    if config.family not in FAMILIES:
        raise ConfigError(f"config.family={config.family!r} is not one of "
                          f"{', '.join(map(repr, FAMILIES))}.")
    return importlib.import_module(FAMILIES[config.family]).make(config)
