"""End to end: the real entry point, determinism, resume, divergence, bad config."""
import glob
import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from conftest import ROOT, launch, load_experiment

from jgan import train
from jgan.checkpoint import Checkpointer
from jgan.config import ConfigError
from jgan.data import pipeline
from jgan.experiment import build


@pytest.mark.parametrize("experiment", ["wgan", "gan", "dcgan", "wgan_gp", "sngan"])
def test_quick_variant_through_launch_writes_every_artefact(experiment, tmp_path):
    workdir = tmp_path / "run"
    r = launch("--config", f"experiments/{experiment}.py:quick", "--workdir", str(workdir))
    assert r.returncode == 0, r.stderr[-3000:]
    steps = load_experiment(f"experiments/{experiment}.py", "quick").train.steps
    assert json.loads((workdir / "config.json").read_text())["name"] == experiment
    records = [json.loads(l) for l in (workdir / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [3, 6]
    assert {"d_loss", "g_loss", "d_real_logit", "d_fake_logit", "d_grad_norm", "g_grad_norm"} <= set(records[-1])
    assert glob.glob(str(workdir / "tensorboard" / "events.out.tfevents.*"))
    assert sorted(os.listdir(workdir / "samples")) == ["step_0000003.png", "step_0000006.png"]
    assert (workdir / "plots" / "losses.png").stat().st_size > 1000
    assert str(steps) in os.listdir(workdir / "checkpoints")
    # The same command again: the run is finished, says so and exits cleanly.
    r = launch("--config", f"experiments/{experiment}.py:quick", "--workdir", str(workdir))
    assert r.returncode == 0 and "already finished at step 6" in r.stdout


def test_default_workdir_and_variant_name(tmp_path):
    r = launch("--config", os.path.join(ROOT, "experiments/gan.py:quick"), "--config.train.steps=1", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert (tmp_path / "runs" / "gan-quick" / "checkpoints" / "1").exists()


@pytest.mark.parametrize("override,field", [
    ("--config.optim.d.lrr=1", "optim.d.lrr"),
    ("--config.train.stepz=1", "train.stepz"),
    ("--config.loss.name=hinge2", "loss.name"),
    ("--config.train.d_steps=0", "train.d_steps"),
    ("--config.train.steps=abc", "train.steps"),
    ("--config.loss.penalty=wgan_gp", "loss.penalty"),  # the WGAN critic has BatchNorm
])
def test_bad_override_is_one_line_naming_the_field(override, field, tmp_path):
    r = launch("--config", "experiments/wgan.py:quick", "--workdir", str(tmp_path / "w"), override)
    assert r.returncode != 0
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and field in lines[0], r.stderr
    assert not (tmp_path / "w" / "checkpoints").exists()  # rejected before anything is written


def final_params(workdir):
    ckpt = Checkpointer(os.path.join(workdir, "checkpoints"))
    step = ckpt.latest_step()
    cfg = load_experiment("experiments/wgan.py", "quick")
    template = build(cfg).state
    state, _ = ckpt.restore(template)
    ckpt.close()
    return step, jax.device_get(state)


def wgan_quick(steps, seed=0):
    cfg = load_experiment("experiments/wgan.py", "quick")
    cfg.train.steps, cfg.seed = steps, seed
    return cfg


def assert_trees_equal(a, b):
    """Every array of two States (params, batch stats, optimiser states, EMA, step, key)."""
    la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
    assert len(la) == len(lb)
    for x, y in zip(la, lb):
        np.testing.assert_array_equal(x, y)


def test_same_seed_same_bits_and_resume_equals_straight_run(tmp_path):
    # Straight to 8 (WGAN quick: long critic phases at iterations 0, 1, 4 and the
    # data iterator, RNG and RMSProp state all matter) ...
    # (the same seed twice gives the same bits: tests/test_golden.py holds wgan:quick's final
    # state to a recorded digest)
    train.run(wgan_quick(8), str(tmp_path / "a"))
    _, a = final_params(tmp_path / "a")
    # Stopped at 4 and resumed to 8: bitwise equal to the straight run.
    train.run(wgan_quick(4), str(tmp_path / "c"))
    train.run(wgan_quick(8), str(tmp_path / "c"))
    step, c = final_params(tmp_path / "c")
    assert step == 8
    assert_trees_equal(a, c)
    records = [json.loads(l)["step"] for l in (tmp_path / "c" / "metrics.jsonl").read_text().splitlines()]
    assert records == [3, 4, 6, 8]
    # Another seed: other initial parameters (and so another run; no training needed to see it)
    from jgan.experiment import make_family
    other = jax.device_get(make_family(wgan_quick(8, seed=1)).init_state())
    first = jax.device_get(make_family(wgan_quick(8)).init_state())
    assert not np.array_equal(first.nets["g"].params["Dense_0"]["kernel"], other.nets["g"].params["Dense_0"]["kernel"])


def test_divergence_stops_with_step_and_keeps_checkpoint(tmp_path, monkeypatch):
    calls = {"n": 0}
    real_load = pipeline.load_batch

    def poisoned(*args, **kwargs):  # iteration i reads calls 5i+1..5i+5 (nothing probes the data)
        calls["n"] += 1
        batch = real_load(*args, **kwargs)
        if calls["n"] > 35:
            batch["x"] = np.full_like(batch["x"], np.nan)
        return batch

    monkeypatch.setattr(pipeline, "load_batch", poisoned)
    cfg = wgan_quick(9)
    cfg.train.long_first = cfg.train.long_every = 0  # 5 batches per iteration
    cfg.data.prefetch = 0  # batches are read when the loop asks: call n is batch n
    with pytest.raises(train.DivergenceError, match=r"diverged at step 8.*checkpoint \(step 6\)"):
        train.run(cfg, str(tmp_path / "w"))
    step, state = final_params(tmp_path / "w")
    assert step == 6
    assert all(np.isfinite(x).all() for x in jax.tree.leaves(state))


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def test_two_processes_match_one_process_with_as_many_devices(tmp_path):
    # 2 processes x 2 CPU devices (jax.distributed on localhost, gloo collectives) against
    # 1 process x 4 devices: the same global batches, z and synchronised BatchNorm, so the
    # same parameters up to the order of floating-point reductions.
    port = free_port()
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2")
    procs = [subprocess.Popen(
        [sys.executable, os.path.join(ROOT, "launch.py"), "--config", "experiments/dcgan.py:quick",
         "--workdir", str(tmp_path / "multi"), "--config.distributed.enabled=True",
         f"--config.distributed.coordinator=localhost:{port}", "--config.distributed.num_processes=2",
         f"--config.distributed.process_id={i}"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True) for i in range(2)]
    for p in procs:
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err[-3000:]
    assert sorted(os.listdir(tmp_path / "multi" / "checkpoints" / "6" / "data")) == [
        "commit_success.txt", "process_0-of-2.json", "process_1-of-2.json"]
    assert jax.device_count() == 4
    cfg = load_experiment("experiments/dcgan.py", "quick")
    train.run(cfg, str(tmp_path / "single"))

    def params(workdir):
        ckpt = Checkpointer(os.path.join(workdir, "checkpoints"))
        state, _ = ckpt.restore(build(cfg).state)
        ckpt.close()
        g, d = state.nets["g"], state.nets["d"]
        return jax.device_get((g.params, d.params, g.batch_stats, d.batch_stats))

    # Adam moves each weight by ~lr = 2e-4 per step whatever the gradient's size, so a
    # rounding difference can flip a near-zero gradient's step: allow a quarter of a step.
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=5e-5),
                 params(tmp_path / "multi"), params(tmp_path / "single"))


def test_batch_not_divisible_by_devices_is_a_clear_error():
    cfg = load_experiment("experiments/gan.py", "quick")
    cfg.train.batch_size = 6  # 4 simulated devices
    with pytest.raises(ConfigError, match=r"train.batch_size=6 is not divisible by the 4 devices"):
        build(cfg)


@pytest.mark.parametrize("experiment,variant", [("dcgan", "celeba64"), ("wgan", "lsun64")])
def test_tfds_64px_variants_train_on_mock_data(experiment, variant, tmp_path):
    # The 64x64 TFDS variants end to end on tfds.testing.mock_data (random images with the
    # real datasets' features), with the DCGAN-64 networks shrunk to width 8.
    import tensorflow_datasets as tfds

    cfg = load_experiment(f"experiments/{experiment}.py", variant)
    cfg.model.generator.width = cfg.model.discriminator.width = 8
    cfg.train.batch_size, cfg.train.steps = 8, 2
    cfg.train.long_first = cfg.train.d_steps_long = 0
    cfg.train.log_every = cfg.train.sample_every = cfg.train.checkpoint_every = 2
    with tfds.testing.mock_data(num_examples=40):
        last = train.run(cfg, str(tmp_path))
    assert np.isfinite(last["d_loss"]) and (tmp_path / "samples" / "step_0000002.png").exists()
    from PIL import Image
    assert Image.open(tmp_path / "samples" / "step_0000002.png").mode == "RGB"
    # Sampling a trained run restores the state's shapes from the config: the (absent) TFDS
    # data is never opened.
    import types

    from jgan.experiment import restore
    family, state = restore(cfg, str(tmp_path))
    args = types.SimpleNamespace(seeds="0-3", labels=None, frames=4)
    (path,) = family.modes()["sample"](state, str(tmp_path), args)
    assert Image.open(path).mode == "RGB"


def test_logged_scalars_are_means_over_the_logging_interval(tmp_path):
    # The same run logged every iteration and every 3: each record of the latter is the mean
    # of the three per-iteration records (the trajectory does not depend on logging).
    def records(log_every):
        cfg = load_experiment("experiments/pacgan.py", "quick")
        cfg.eval.every, cfg.train.log_every = 0, log_every
        train.run(cfg, str(tmp_path / f"log{log_every}"))
        return [json.loads(l) for l in (tmp_path / f"log{log_every}" / "metrics.jsonl").read_text().splitlines()]

    every, third = records(1), records(3)
    assert [r["step"] for r in third] == [3, 6]
    for r in third:
        window = [e for e in every if r["step"] - 3 < e["step"] <= r["step"]]
        for k in ("d_loss", "g_loss", "d_real_logit", "d_fake_logit", "g_grad_norm"):
            np.testing.assert_allclose(r[k], np.mean([e[k] for e in window]), rtol=1e-6, err_msg=k)
        assert r["d_loss"] != window[-1]["d_loss"]  # not just the last iteration's value


def test_help_exits_0_and_step_help_names_every_mode_that_uses_it():
    for flag in ("--helpshort", "--help"):
        r = launch(flag)
        assert r.returncode == 0, (flag, r.stderr[-500:])
    out = launch("--helpshort").stdout
    step_help = " ".join(out[out.index("--step:"):].split("(an integer)")[0].split())
    for mode in ("eval", "sample", "interpolate"):
        assert mode in step_help, step_help
