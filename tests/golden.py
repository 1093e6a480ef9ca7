"""Golden digests of every experiment's ``quick`` run: the bit-for-bit contract of refactors.

``CASES`` are the experiments' ``quick`` variants (plus a few overrides: an EMA, PacGAN
packs); each is trained to its final step on 1 and on 4 simulated devices and every leaf of
the final checkpointed state is hashed (SHA-256 of dtype, shape and bytes). The digests in
``tests/data/golden_digests.json`` were recorded from the code *before* the family core
(commit 754489e, GANState(step, rng, g, d, ema_params)); ``legacy_view`` maps today's state
onto that layout, so any change of a single bit in any parameter, BatchNorm statistic,
optimiser moment, key or step of any experiment fails ``tests/test_golden.py``.

Re-record (only when a change of the trajectory is intended and explained in the commit;
name the cases, e.g. ``gan``, or none for all):

    cd tests && XLA_FLAGS=--xla_force_host_platform_device_count=4 python golden.py gan

Changes since the recording: ``gan`` re-recorded on 2026-11-29 when experiments/gan.py took
the reference code's dropout (input 0.2, hidden 0.5; the old 0.2 everywhere diverged at
iteration 520 of the default run); ``cgan`` re-recorded on 2026-11-29 when experiments/cgan.py
took the paper's SGD recipe (pylearn2 schedules, G dropout, pylearn2 initialisation, [0, 1]
pixels, D's max column norm) in place of Adam.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
PATH = os.path.join(HERE, "data", "golden_digests.json")

# name -> (experiment file, variant, overrides {dotted field: value})
CASES = {
    "gan": ("experiments/gan.py", "quick", {}),
    "dcgan": ("experiments/dcgan.py", "quick", {}),
    "dcgan_ema": ("experiments/dcgan.py", "quick", {"train.ema_decay": 0.9}),
    "wgan": ("experiments/wgan.py", "quick", {}),
    "wgan_gp": ("experiments/wgan_gp.py", "quick", {}),
    "sngan": ("experiments/sngan.py", "quick", {}),
    "pacgan": ("experiments/pacgan.py", "quick", {}),
    "pacgan_pack3": ("experiments/pacgan.py", "quick", {"model.pack": 3}),
    "stacked_mnist": ("experiments/stacked_mnist.py", "quick", {}),
    "cgan": ("experiments/cgan.py", "quick", {}),
    "acgan": ("experiments/acgan.py", "quick", {}),
    "projection": ("experiments/projection.py", "quick", {}),
    "infogan": ("experiments/infogan.py", "quick", {}),
}


def case_config(name: str):
    sys.path.insert(0, HERE)
    from conftest import load_experiment

    path, variant, overrides = CASES[name]
    # evaluation does not touch the state; it needs the classifier
    return load_experiment(path, variant, **{"eval.every": 0, **overrides})


def digest(tree: dict) -> dict[str, str]:
    """``{keypath: sha256(dtype, shape, bytes)[:16]}`` of every leaf of a pytree."""
    import jax

    out = {}
    for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
        a = np.ascontiguousarray(np.asarray(jax.device_get(leaf)))
        h = hashlib.sha256(f"{a.dtype}{a.shape}".encode() + a.tobytes()).hexdigest()[:16]
        out[jax.tree_util.keystr(path)] = h
    return out


def record(names: list[str]) -> None:  # pragma: no cover - run by hand
    """Re-record the digests of the cases ``names`` (all when empty) with today's code."""
    import jax

    import test_golden
    from jgan import train
    from jgan.steps import make_mesh

    assert jax.device_count() == 4, "run with XLA_FLAGS=--xla_force_host_platform_device_count=4"
    result = json.load(open(PATH)) if os.path.exists(PATH) else {}
    for name in names or list(CASES):
        result[name] = {}
        for n in (1, 4):
            cfg, mesh = case_config(name), make_mesh(jax.devices()[:n])
            with tempfile.TemporaryDirectory() as d:
                train.run(cfg, d, mesh=mesh)
                state = test_golden.restore(cfg, d, mesh)
            result[name][str(n)] = digest(test_golden.legacy_view(state))
            print(name, n, len(result[name][str(n)]), flush=True)
    with open(PATH, "w") as f:
        json.dump(result, f, indent=1, sort_keys=True)


if __name__ == "__main__":
    record(sys.argv[1:])
