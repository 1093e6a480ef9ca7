"""The ``(seed, data)`` device mesh of a seed study.

A study of S seeds on D devices (all devices of all processes) uses a 2D mesh with axes
``seed`` and ``data`` (``jgan.axes``) of shape ``(gcd(S, D), D / gcd(S, D))``: the seed axis
is the largest divisor of D that also divides S, so no dummy seeds are ever padded in and
every device holds the same number of seeds, ``S / gcd(S, D)``. Examples: S=4 on 4 devices
-> (4, 1), one seed per device; S=2 on 4 -> (2, 2), each seed's batch split over 2 devices;
S=8 on 4 -> (4, 1), two seeds per device; S=3 on 4 -> (1, 4), every device holds all three
seeds and a quarter of each seed's batch (the layout of a 1D data mesh).

Devices are laid out process-major (sorted by process, then id) and the data axis varies
fastest, so a seed's data group stays inside one process whenever the data axis is no
larger than a process's device count: its gradient and BatchNorm ``pmean``\\s then never
leave the host.
"""
from __future__ import annotations

import math

import jax
import numpy as np

from jgan.axes import DATA, SEED


def seed_mesh_shape(seeds: int, devices: int) -> tuple[int, int]:
    """``(seed axis size, data axis size)`` for ``seeds`` seeds on ``devices`` devices."""
    if seeds < 1 or devices < 1:
        raise ValueError(f"a seed mesh needs at least one seed and one device, not {seeds} and {devices}.")
    s = math.gcd(seeds, devices)
    return s, devices // s


def make_seed_mesh(seeds: int, devices=None) -> jax.sharding.Mesh:
    """The ``(seed, data)`` mesh for ``seeds`` seeds over ``devices`` (default: every device
    of every process), laid out as the module doc says."""
    devices = sorted(jax.devices() if devices is None else devices, key=lambda d: (d.process_index, d.id))
    shape = seed_mesh_shape(seeds, len(devices))
    auto = jax.sharding.AxisType.Auto
    return jax.sharding.Mesh(np.array(devices, dtype=object).reshape(shape), (SEED, DATA), axis_types=(auto, auto))
