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


# iterations per call (a block of K whole iterations in one lax.scan program): bit for bit
# for fully connected networks (the small models it is for); see Phases.block for conv nets
BLOCKS = {"gan": 3, "pacgan_pack3": 3, "cgan": 3}


def _count_blocks(monkeypatch) -> list:
    from jgan import steps

    blocks = []
    real_block = steps.Phases.block
    monkeypatch.setattr(steps.Phases, "block", lambda self, plan, n: blocks.append(n) or real_block(self, plan, n))
    return blocks


@pytest.mark.parametrize("case", sorted(BLOCKS))
def test_iterations_per_call_end_in_the_recorded_state_through_a_resume(case, tmp_path, monkeypatch):
    blocks = _count_blocks(monkeypatch)
    k = BLOCKS[case]
    cfg = golden.case_config(case)
    final = cfg.train.steps
    cfg.train.iterations_per_call = k
    cfg.train.log_every = cfg.train.sample_every = cfg.train.checkpoint_every = k
    cfg.train.steps = k
    train.run(cfg, str(tmp_path))
    cfg.train.steps = final  # resume from the checkpoint at k
    train.run(cfg, str(tmp_path))
    assert blocks and set(blocks) == {k}  # whole blocks ran
    got = golden.digest(legacy_view(restore(cfg, tmp_path)))
    want = GOLDEN[case]["4"]
    changed = sorted(n for n in want if got[n] != want[n])
    assert not changed, f"{len(changed)} of {len(want)} leaves changed, e.g. {changed[:5]}"


def test_long_plans_never_form_blocks():
    """WGAN's warm-up iterations (100 critic updates + 5 for G) in blocks of 10 would unroll
    1,050 updates into one program; they run one per call, the ordinary plan in blocks."""
    from jgan.iteration import MAX_BLOCK_BATCHES, next_block

    def schedule(step):
        return [("critic", 95), ("iteration", 5)] if step < 25 else [("critic", 0), ("iteration", 5)]

    assert 10 * 100 > MAX_BLOCK_BATCHES >= 10 * 5
    assert next_block(schedule, 0, 10, (50,), 1000) == ((("critic", 95), ("iteration", 5)), 1)
    assert next_block(schedule, 30, 10, (50,), 1000) == ((("critic", 0), ("iteration", 5)), 10)


def test_a_schedule_change_splits_the_block(tmp_path, monkeypatch):
    """WGAN's schedule on the MLP GAN (long D phases at iterations 0, 1 and 4): blocks of 2
    run where two iterations share a plan, single calls elsewhere; the state is K = 1's."""
    blocks = _count_blocks(monkeypatch)
    states = {}
    for k in (1, 2):
        cfg = golden.case_config("gan")
        cfg.train.d_steps_long, cfg.train.long_first, cfg.train.long_every = 4, 2, 4
        cfg.train.log_every = cfg.train.sample_every = cfg.train.checkpoint_every = 6
        cfg.train.iterations_per_call = k
        train.run(cfg, str(tmp_path / str(k)))
        states[k] = golden.digest(legacy_view(restore(cfg, tmp_path / str(k))))
    assert blocks == [2, 2]  # [0, 2) long, [2, 4) ordinary; 4 (long) and 5 single
    assert states[1] == states[2]
