"""SIGINT / SIGTERM at random moments: the run checkpoints the step it reached, exits with
EXIT_INTERRUPTED, and the same command resumes to the bit-identical final state."""
import os
import random
import re
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest
from conftest import ROOT, load_experiment

from jgan import train
from jgan.checkpoint import Checkpointer
from jgan.experiment import build
from jgan.interrupt import EXIT_INTERRUPTED

STEPS = 400
ARGS = ["--config", "experiments/pacgan.py:quick", "--config.eval.every=0", f"--config.train.steps={STEPS}",
        "--config.train.checkpoint_every=7", "--config.train.log_every=5", "--config.train.sample_every=100000",
        "--config.train.keep_checkpoints=2"]


def _start(workdir, *extra, env=None):
    return subprocess.Popen([sys.executable, os.path.join(ROOT, "launch.py"), *ARGS, "--workdir", str(workdir),
                             *extra], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)


def _wait_for(proc, text):
    """Read stdout lines until one contains ``text``; returns the lines read."""
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if text in line:
            return lines
    raise AssertionError(f"no {text!r} in the output: {''.join(lines)} {proc.stderr.read()[-2000:]}")


def _state(workdir):
    cfg = load_experiment("experiments/pacgan.py", "quick")
    cfg.train.steps, cfg.eval.every = STEPS, 0
    ckpt = Checkpointer(os.path.join(workdir, "checkpoints"))
    state, _ = ckpt.restore(build(cfg).state)
    ckpt.close()
    return jax.device_get(state)


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("straight")
    p = _start(workdir)
    out, err = p.communicate(timeout=600)
    assert p.returncode == 0, err[-3000:]
    assert "starting a new run in" in out and f"finished {STEPS} iterations (to step {STEPS})" in out
    return _state(workdir)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_at_a_random_moment_checkpoints_and_the_resumed_run_is_bit_exact(sig, tmp_path, straight):
    rng = random.Random(sig)
    workdir = tmp_path / "run"
    for attempt in range(2):  # two interruptions of the same run, at random moments
        p = _start(workdir)
        _wait_for(p, "starting a new run" if attempt == 0 else "resuming")
        time.sleep(rng.uniform(0.0, 2.0))
        p.send_signal(sig)
        out, err = p.communicate(timeout=600)
        assert p.returncode == EXIT_INTERRUPTED, err[-3000:]
        m = re.search(rf"interrupted \({sig.name}\) at step (\d+); checkpoint saved in .*; run the same "
                      rf"command to resume\.", out)
        assert m, out[-2000:] + err[-2000:]
        step = int(m.group(1))
        assert 0 < step < STEPS and "Traceback" not in err
        assert Checkpointer(os.path.join(workdir, "checkpoints")).latest_step() == step
    p = _start(workdir)
    out, err = p.communicate(timeout=600)
    assert p.returncode == 0, err[-3000:]
    assert f"resuming {workdir} from step {step} (of {STEPS})" in out
    for a, b in zip(jax.tree.leaves(_state(workdir)), jax.tree.leaves(straight)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("delay", [0.002, 0.02])
def test_a_second_ctrl_c_aborts_without_a_traceback(tmp_path, delay):
    # The second Ctrl-C tends to land while the first one's checkpoint is being written; a
    # KeyboardInterrupt raised inside orbax's save once left a process that never exited.
    p = _start(tmp_path / "run")
    _wait_for(p, "starting a new run")
    time.sleep(0.5)
    p.send_signal(signal.SIGINT)
    time.sleep(delay)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=120)
    assert p.returncode in (130, EXIT_INTERRUPTED), err[-3000:]  # the first stop may already be done
    assert "Traceback" not in err
    if p.returncode == 130:
        assert f"aborted; the latest complete checkpoint in {tmp_path / 'run'} is kept." in err
    # a save cut short by the abort is not taken for a checkpoint: the latest one restores
    if Checkpointer(str(tmp_path / "run" / "checkpoints")).latest_step() is not None:
        _state(tmp_path / "run")


def test_time_based_checkpoints(tmp_path):
    cfg = load_experiment("experiments/pacgan.py", "quick")
    cfg.eval.every = 0
    cfg.train.steps, cfg.train.checkpoint_every, cfg.train.keep_checkpoints = 40, 1000, 100
    cfg.train.checkpoint_every_minutes = 1e-9  # due after every iteration
    train.run(cfg, str(tmp_path))
    assert Checkpointer(str(tmp_path / "checkpoints")).all_steps() == list(range(1, 41))


def test_both_processes_stop_at_the_same_step(tmp_path):
    # SIGTERM to process 1 only: process 0 learns of it through the per-iteration agreement
    # and both checkpoint and stop after the same iteration; then both resume to the end.
    import socket
    with socket.socket() as s:
        s.bind(("localhost", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2")
    dist = ["--config.distributed.enabled=True", f"--config.distributed.coordinator=localhost:{port}",
            "--config.distributed.num_processes=2"]
    procs = [_start(tmp_path / "run", *dist, f"--config.distributed.process_id={i}", env=env) for i in range(2)]
    _wait_for(procs[0], "starting a new run")
    time.sleep(1.0)
    procs[1].send_signal(signal.SIGTERM)
    outs = [p.communicate(timeout=600) for p in procs]
    steps = []
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == EXIT_INTERRUPTED, err[-3000:]
        steps.append(int(re.search(r"at step (\d+); checkpoint saved", out).group(1)))
    assert steps[0] == steps[1] and 0 < steps[0] < STEPS
    assert Checkpointer(str(tmp_path / "run" / "checkpoints")).latest_step() == steps[0]
    port += 1
    with socket.socket() as s:
        s.bind(("localhost", 0))
        port = s.getsockname()[1]
    dist[1] = f"--config.distributed.coordinator=localhost:{port}"
    dist.append(f"--config.train.checkpoint_every={STEPS}")  # the rest in one go: only the end is checked
    procs = [_start(tmp_path / "run", *dist, f"--config.distributed.process_id={i}", env=env) for i in range(2)]
    for p in procs:
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err[-3000:]
    assert Checkpointer(str(tmp_path / "run" / "checkpoints")).latest_step() == STEPS


def test_seed_study_interrupted_and_resumed_trains_as_if_never_stopped(tmp_path):
    args = ["--seeds", "2", "--config.train.steps=120", "--config.train.keep_checkpoints=2"]
    p = _start(tmp_path / "stopped", *args)
    _wait_for(p, "starting")  # the study's first line
    time.sleep(random.Random(7).uniform(0.5, 2.0))
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=600)
    assert p.returncode == EXIT_INTERRUPTED, err[-3000:]
    assert re.search(r"interrupted \(SIGTERM\) at step \d+; checkpoint saved", out), out[-2000:]
    for workdir in (tmp_path / "stopped", tmp_path / "straight"):  # checkpoints: only the final one matters now
        p = _start(workdir, *args, "--config.train.checkpoint_every=120")
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err[-3000:]
    import json

    import orbax.checkpoint as ocp
    a = json.loads((tmp_path / "stopped" / "study.json").read_text())["per_seed"]
    b = json.loads((tmp_path / "straight" / "study.json").read_text())["per_seed"]
    assert a == b  # the same final evaluations, to the last digit

    def raw(workdir):
        mgr = ocp.CheckpointManager(str(workdir / "checkpoints"), item_handlers={"state": ocp.StandardCheckpointHandler()})
        try:
            return mgr.restore(120, args=ocp.args.Composite(state=ocp.args.StandardRestore())).state
        finally:
            mgr.close()
    for x, y in zip(jax.tree.leaves(raw(tmp_path / "stopped")), jax.tree.leaves(raw(tmp_path / "straight"))):
        np.testing.assert_array_equal(x, y)
