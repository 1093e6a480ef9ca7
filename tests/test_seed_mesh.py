"""Seed studies on the (seed, data) mesh: each seed trains bit for bit as a run of its own on
as many devices as the study's data axis, on 4 simulated devices and on 2 processes."""
import os
import socket
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
import pytest
from conftest import ROOT, load_experiment
from jax.sharding import PartitionSpec as P

from jgan import study, train
from jgan.axes import DATA
from jgan.mesh import make_seed_mesh, seed_mesh_shape
from jgan.steps import compile_phases, make_mesh, pmean


def test_seed_mesh_shape_is_the_largest_common_divisor():
    # (S, D) -> (seed, data), by hand: gcd(S, D) seeds across, D / gcd devices per seed
    cases = {(4, 4): (4, 1), (2, 4): (2, 2), (8, 4): (4, 1), (3, 4): (1, 4), (6, 4): (2, 2),
             (1, 4): (1, 4), (12, 8): (4, 2), (5, 1): (1, 1)}
    for (s, d), shape in cases.items():
        assert seed_mesh_shape(s, d) == shape, (s, d)
    mesh = make_seed_mesh(2)
    assert mesh.axis_names == ("seed", "data") and dict(mesh.shape) == {"seed": 2, "data": 2}
    ids = [[d.id for d in row] for row in mesh.devices]
    assert ids == [[0, 1], [2, 3]]  # the data axis varies fastest (a seed's group is contiguous)


def _phase(state, batch, offset):
    """A toy phase: w += offset + mean of the seed's global batch rows (pmean over data);
    the metric is the data axis size times the seed's w (a check of which axis is bound)."""
    x = batch["x"][0]  # [B_local]
    w = state["w"] + offset + pmean(jnp.mean(x))
    return {"w": w}, {"m": jax.lax.axis_size(DATA) * w}


@pytest.mark.parametrize("seeds,seed_mesh", [(4, True), (8, True), (2, True), (3, True), (2, False)])
def test_phases_on_the_seed_mesh_match_numpy(seeds, seed_mesh):
    # seed_mesh=False: the 1D data mesh, every seed's state replicated on every device
    mesh = make_seed_mesh(seeds) if seed_mesh else make_mesh()
    n_seed, n_data = seed_mesh_shape(seeds, 4) if seed_mesh else (1, 4)
    phases = compile_phases({"p": _phase}, mesh, seed_axis=True, donate=False)
    w0 = np.arange(seeds, dtype=np.float32) * 10
    state = phases.place_state({"w": w0})
    # each device holds its S / n_seed seeds' states
    assert {s.data.shape for s in state["w"].addressable_shards} == {(seeds // n_seed,)}
    assert state["w"].sharding.spec == (P("seed") if seed_mesh else P())
    x = np.random.default_rng(seeds).normal(size=(seeds, 1, 8)).astype(np.float32)  # [S, k, B]
    new, metrics = phases["p"](state, phases.shard_batch({"x": x}), jnp.int32(3))
    want = w0 + 3 + x[:, 0].mean(axis=1)  # NumPy: each seed's own global batch
    np.testing.assert_allclose(np.asarray(new["w"]), want, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(metrics["m"]), n_data * want, rtol=1e-6)
    assert metrics["m"].sharding.is_fully_replicated
    # a block of 2 iterations: [K, S, n, B]
    xs = np.random.default_rng(1).normal(size=(2, seeds, 1, 8)).astype(np.float32)
    blk, m = phases.block((("p", 1),), 2)(new, phases.shard_block({"x": xs}))
    want2 = want + xs[0, :, 0].mean(axis=1)
    np.testing.assert_allclose(np.asarray(m["m"]), n_data * np.stack([want2, want2 + xs[1, :, 0].mean(axis=1)]),
                               rtol=1e-6)
    np.testing.assert_allclose(np.asarray(blk["w"]), want2 + xs[1, :, 0].mean(axis=1), rtol=1e-6)


def _config(steps, k=1):
    c = load_experiment("experiments/pacgan.py", "quick")
    c.eval.every = 0
    c.train.steps, c.train.iterations_per_call = steps, k
    return c


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Studies on 4 devices and single runs of their seeds on data-axis-sized meshes."""
    root = tmp_path_factory.mktemp("seedmesh")
    # S=2 -> mesh (2, 2): stopped after 3 iterations and resumed to 6
    study.run_study(_config(3), str(root / "s2"), [0, 1])
    study.run_study(_config(6), str(root / "s2"), [0, 1])
    # S=4 -> mesh (4, 1), blocks of 3 iterations per compiled call
    study.run_study(_config(6, k=3), str(root / "s4"), [0, 1, 2, 3])
    singles = {}
    for s, data in ((0, 2), (1, 2), (3, 1)):
        c = _config(6)
        c.seed = s
        singles[s, data] = root / f"single{s}_on{data}"
        train.run(c, str(singles[s, data]), mesh=make_mesh(jax.devices()[:data]))
    return root, singles


def raw_state(workdir, step):
    """The saved state of checkpoint ``step`` as arrays on this process's first device,
    whatever devices (or processes) wrote it."""
    mgr = ocp.CheckpointManager(os.path.join(workdir, "checkpoints"),
                                item_handlers={"state": ocp.StandardCheckpointHandler()})
    try:
        one = jax.sharding.SingleDeviceSharding(jax.devices()[0])
        target = jax.tree.map(lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype, sharding=one),
                              mgr.item_metadata(step)["state"])
        return mgr.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore(target))).state
    finally:
        mgr.close()


def _assert_seed_is_single(study_dir, index, single_dir):
    ours, theirs = raw_state(study_dir, 6), raw_state(single_dir, 6)
    leaves_s, leaves_1 = jax.tree.leaves(ours), jax.tree.leaves(theirs)
    assert len(leaves_s) == len(leaves_1)
    for a, b in zip(leaves_s, leaves_1):
        np.testing.assert_array_equal(np.asarray(a)[index], b)


def test_two_seeds_on_four_devices_resumed_train_as_single_runs_on_two(runs):
    root, singles = runs
    for s in (0, 1):
        _assert_seed_is_single(root / "s2", s, singles[s, 2])


def test_four_seeds_one_per_device_train_as_single_runs_on_one(runs):
    root, singles = runs
    _assert_seed_is_single(root / "s4", 3, singles[3, 1])


def _free_port():
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def test_two_processes_train_each_seed_as_a_single_run(runs, tmp_path):
    # 2 processes x 2 devices, S=2 -> mesh (2, 2): each process holds one seed's two devices
    _, singles = runs
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2")
    args = ["--config", "experiments/pacgan.py:quick", "--config.eval.every=0", "--seeds", "2",
            "--workdir", str(tmp_path / "study"), "--config.distributed.enabled=True",
            f"--config.distributed.coordinator=localhost:{_free_port()}", "--config.distributed.num_processes=2"]
    procs = [subprocess.Popen([sys.executable, os.path.join(ROOT, "launch.py"), *args,
                               f"--config.distributed.process_id={i}"], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err[-3000:]
    assert "| modes/modes |" in outs[0][0]
    for s in (0, 1):
        _assert_seed_is_single(tmp_path / "study", s, singles[s, 2])


def test_a_study_batch_need_only_split_over_the_data_axis():
    from jgan.config import ConfigError
    from jgan.experiment import make_family

    cfg = load_experiment("experiments/gan.py", "quick")
    cfg.train.batch_size = 6  # not a multiple of the 4 devices, but of the data axis of S=2: (2, 2)
    make_family(cfg, make_seed_mesh(2))
    with pytest.raises(ConfigError, match=r"batch_size=6 is not divisible by the 4 devices; use a multiple of 4"):
        make_family(cfg, make_seed_mesh(3))  # (1, 4)
    cfg.train.batch_size = 3
    with pytest.raises(ConfigError, match=r"batch_size=3 is not divisible by the 2 devices of the mesh's data axis"):
        make_family(cfg, make_seed_mesh(2))
