"""Bit for bit: every experiment's quick run ends in the state recorded before the family
core (``tests/golden.py``), on 1 and on 4 devices; old checkpoints still restore."""
import json
import os

import jax
import pytest

import golden
from jgan import train
from jgan.checkpoint import Checkpointer
from jgan.experiment import build
from jgan.steps import make_mesh

GOLDEN = json.load(open(golden.PATH))


def legacy_view(state) -> dict:
    """Today's gan-family State in the recorded layout (GANState(step, rng, g, d, ema_params))."""
    ema = state.ema.get("g")
    return {"step": state.step, "rng": state.rng, "g": state.nets["g"], "d": state.nets["d"],
            "ema_params": None if ema is None else ema["params"]}


def restore(cfg, workdir, mesh=None):
    ckpt = Checkpointer(os.path.join(workdir, "checkpoints"))
    state, _ = ckpt.restore(build(cfg, mesh=mesh).state)
    ckpt.close()
    return state


@pytest.mark.parametrize("devices", [1, 4])
@pytest.mark.parametrize("case", sorted(golden.CASES))
def test_final_state_is_bit_identical_to_the_recorded_one(case, devices, tmp_path):
    cfg = golden.case_config(case)
    mesh = make_mesh(jax.devices()[:devices])
    train.run(cfg, str(tmp_path), mesh=mesh)
    got = golden.digest(legacy_view(restore(cfg, tmp_path, mesh)))
    want = GOLDEN[case][str(devices)]
    assert set(got) == set(want)
    changed = sorted(k for k in want if got[k] != want[k])
    assert not changed, f"{len(changed)} of {len(want)} leaves changed, e.g. {changed[:5]}"


def test_checkpoint_written_before_the_family_core_restores(tmp_path):
    # tests/data/legacy_dcgan_ema: dcgan:quick with train.ema_decay=0.9, 3 steps, written by
    # commit 754489e (GANState layout); digest.json: its leaves as that code restored them.
    from conftest import load_experiment

    cfg = load_experiment("experiments/dcgan.py", "quick")
    cfg.train.ema_decay, cfg.train.steps = 0.9, 3
    here = os.path.join(os.path.dirname(__file__), "data", "legacy_dcgan_ema")
    state = restore(cfg, here)
    want = json.load(open(os.path.join(here, "digest.json")))
    assert golden.digest(legacy_view(state)) == want
    assert int(state.step) == 3
    # the old EMA held params only: the restored EMA takes G's batch statistics
    chex_equal = jax.tree.map(lambda a, b: (a == b).all(), state.ema["g"]["batch_stats"],
                              state.nets["g"].batch_stats)
    assert all(jax.tree.leaves(chex_equal))
