"""2D mixtures drawn inside the step (``data.draw_in_step``): the law of the draws against the
mixture's definition, and runs that do not depend on devices, blocks of iterations or resumes."""
import jax
import numpy as np
import pytest

import golden
from jgan import train
from jgan.config import ConfigError
from jgan.data import drawn, sources
from jgan.experiment import build
from jgan.families import make
from test_golden import GOLDEN, restore


@pytest.mark.parametrize("name,std", [("grid25", 0.05), ("ring8", 0.01)])
def test_draws_follow_the_mixture(name, std):
    """Equal weights over the modes (chi-square), isotropic N(0, std^2) around each."""
    modes = {"grid25": [(a, b) for a in (-4, -2, 0, 2, 4) for b in (-4, -2, 0, 2, 4)],
             "ring8": [(np.cos(2 * np.pi * i / 8), np.sin(2 * np.pi * i / 8)) for i in range(8)]}[name]
    modes = np.array(modes)
    n = 200_000
    x, idx = jax.device_get(drawn.draw_mixture(name, jax.random.key(0), n))
    assert x.shape == (n, 2) and x.dtype == np.float32 and idx.dtype == np.int32
    nearest = np.argmin(((x[:, None, :] - modes[None]) ** 2).sum(-1), axis=1)
    np.testing.assert_array_equal(nearest, idx)  # every point lies by its own mode
    counts = np.bincount(idx, minlength=len(modes))
    chi2 = ((counts - n / len(modes)) ** 2 / (n / len(modes))).sum()
    assert chi2 < len(modes) - 1 + 6 * np.sqrt(2 * (len(modes) - 1))  # mean + 6 sd of chi2(K-1)
    r = x - modes[idx]
    np.testing.assert_allclose(r.std(axis=0), [std, std], rtol=0.01)
    np.testing.assert_allclose(r.mean(axis=0), [0, 0], atol=5 * std / np.sqrt(n))
    assert abs(np.corrcoef(r.T)[0, 1]) < 0.01


def _cfg(**train):
    cfg = golden.case_config("pacgan")
    cfg.data.draw_in_step = True
    cfg.train.log_every = cfg.train.sample_every = cfg.train.checkpoint_every = 3
    for k, v in train.items():
        cfg.train[k] = v
    return cfg


def test_the_drawn_batches_do_not_depend_on_the_device_count():
    """Each device's rows of the global draw: 1, 2 and 4 devices see the same points."""
    import types

    from jax.sharding import PartitionSpec as P

    from jgan.steps import AXIS, make_mesh

    state = types.SimpleNamespace(rng=jax.random.key(3), step=jax.numpy.int32(7))
    got = {}
    for n in (1, 2, 4):
        fill = jax.shard_map(lambda b: drawn.fill_batches("grid25", state, b, jax.numpy.int32(2)),
                             mesh=make_mesh(jax.devices()[:n]), in_specs=P(None, AXIS), out_specs=P(None, AXIS))
        got[n] = jax.device_get(jax.jit(fill)({"x": np.zeros((3, 8, 0), np.float32)}))
    for n in (2, 4):
        for k in ("x", "label"):
            np.testing.assert_array_equal(got[n][k], got[1][k])
    assert got[1]["x"].shape == (3, 8, 2)
    # batch j of the phase is real batch offset + j of the iteration
    x, label = drawn.draw_mixture("grid25", jax.random.fold_in(jax.random.fold_in(
        jax.random.fold_in(state.rng, 7), drawn.DATA_TAG), 2 + 1), 8)
    np.testing.assert_allclose(got[1]["x"][1], x, rtol=1e-6)  # compiled: modes + std * noise fused
    np.testing.assert_array_equal(got[1]["label"][1], label)


def test_in_step_runs_resume_and_run_in_blocks_bit_for_bit(tmp_path):
    straight = _cfg()
    train.run(straight, str(tmp_path / "straight"))
    blocks = _cfg(iterations_per_call=3, steps=3)
    train.run(blocks, str(tmp_path / "blocks"))
    blocks.train.steps = 6  # resumed
    train.run(blocks, str(tmp_path / "blocks"))
    got = {k: golden.digest(restore(c, tmp_path / k).nets) for k, c in (("straight", straight), ("blocks", blocks))}
    assert got["straight"] == got["blocks"]
    # not the fixed training set: the recorded run on the 100,000 drawn points differs
    fixed = GOLDEN["pacgan"]["4"]
    assert any(fixed[k] != v for k, v in golden.digest({"g": restore(straight, tmp_path / "straight").nets["g"]}).items()
               if k in fixed)


def test_the_loop_reads_no_data(monkeypatch):
    cfg = _cfg()
    family = make(cfg)
    assert family.train_source() is None and family.data_keys == ("x",)
    monkeypatch.setattr(sources, "toy_mixture", lambda *a, **k: pytest.fail("the training set was drawn"))
    build(cfg)  # builds the phases without the 100,000-point set


def test_draw_in_step_needs_a_2d_mixture():
    cfg = golden.case_config("gan")
    cfg.data.draw_in_step = True
    with pytest.raises(ConfigError, match="data.draw_in_step"):
        make(cfg)
