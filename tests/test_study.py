"""Seed studies: the vmapped program trains each seed exactly as a run of its own."""
import json
import os

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest
from conftest import launch, load_experiment

from jgan import study, train
from jgan.steps import make_mesh


def raw_state(workdir, step):
    """The saved state of checkpoint ``step`` as plain arrays (no template)."""
    mgr = ocp.CheckpointManager(os.path.join(workdir, "checkpoints"),
                                item_handlers={"state": ocp.StandardCheckpointHandler()})
    try:
        return mgr.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore())).state
    finally:
        mgr.close()


def test_study_seeds_and_summary():
    assert study.study_seeds("3", 5) == [5, 6, 7]
    assert study.study_seeds("3,7", 0) == [3, 7] and study.study_seeds("0-2", 9) == [0, 1, 2]
    s = study.summarise({0: {"m": 1.0}, 1: {"m": 2.0}, 2: {"m": 6.0}})["m"]
    assert s["mean"] == pytest.approx(3.0) and s["n"] == 3
    assert s["sem"] == pytest.approx(np.std([1, 2, 6], ddof=1) / np.sqrt(3))


def test_vmapped_study_trains_each_seed_as_its_own_run_resumes_and_matches_sequential(tmp_path):
    workdir = tmp_path / "study"
    # 3 iterations, then resumed to 6: must equal a straight run (checked via seed 1 below)
    r = launch("--config", "experiments/pacgan.py:quick", "--seeds", "2", "--workdir", str(workdir),
               "--config.train.steps=3")
    assert r.returncode == 0, r.stderr[-3000:]
    r = launch("--config", "experiments/pacgan.py:quick", "--seeds", "2", "--workdir", str(workdir))
    assert r.returncode == 0, r.stderr[-3000:]
    assert "| modes/modes |" in r.stdout
    table = json.loads((workdir / "study.json").read_text())
    assert table["seeds"] == [0, 1] and table["vmap"] is True
    assert set(table["summary"]) == {"modes/modes", "modes/high_quality", "modes/reverse_kl"}
    for s in (0, 1):
        records = [json.loads(line) for line in (workdir / f"seed_{s}" / "metrics.jsonl").read_text().splitlines()]
        assert [r["step"] for r in records] == [3, 6, 6] and "eval/modes/modes" in records[-1]
        assert (workdir / f"seed_{s}" / "samples" / "step_0000006.png").exists()

    # seed 1 alone, as an ordinary run of its own on the study's data axis (2 seeds on 4
    # devices: a (seed 2, data 2) mesh, see jgan.mesh): bit for bit
    config = load_experiment("experiments/pacgan.py", "quick")
    config.seed = 1
    config.eval.every = 0
    single = tmp_path / "seed1"
    train.run(config, str(single), mesh=make_mesh(jax.devices()[:2]))
    ours, theirs = raw_state(workdir, 6), raw_state(single, 6)
    leaves_s, leaves_1 = jax.tree.leaves(ours), jax.tree.leaves(theirs)
    assert len(leaves_s) == len(leaves_1)
    for a, b in zip(leaves_s, leaves_1):
        np.testing.assert_array_equal(np.asarray(a)[1], b)
    from jgan.experiment import restore
    family, state = restore(config, str(single))
    result = family.evaluate(state, str(single))
    assert result.pop("provenance")["generated_count"] == config.eval.num_samples
    for k, v in result.items():
        assert table["per_seed"]["1"][k] == pytest.approx(v, abs=1e-6), k
    # the same seeds trained in turn (study.vmap=False) give the same table
    r = launch("--config", "experiments/pacgan.py:quick", "--seeds", "0,1", "--workdir", str(tmp_path / "seq"),
               "--config.study.vmap=False")
    assert r.returncode == 0, r.stderr[-3000:]
    seq = json.loads((tmp_path / "seq" / "study.json").read_text())
    assert seq["vmap"] is False and (tmp_path / "seq" / "seed_1" / "checkpoints" / "6").exists()
    for s in ("0", "1"):
        for k, v in seq["per_seed"][s].items():
            assert table["per_seed"][s][k] == pytest.approx(v, abs=1e-6), (s, k)
