"""Test setup: 4 simulated CPU devices (before jax is imported) for the data-parallel tests,
and the trace-count check on every compiled phase."""
import os

os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                           " --xla_force_host_platform_device_count=4").strip()
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# Every jitted phase may be traced once per compiled set (jgan.steps): a silent recompile
# fails the test (also in the launch.py subprocesses, which inherit the environment).
os.environ["JGAN_MAX_TRACES"] = "1"
# XLA's persistent compilation cache, one per test process (the launch.py subprocesses it
# starts inherit it): the quick runs that several tests train (a resume test's straight and
# resumed runs, a launch.py run and the in-process tests of the same config) compile each
# program once. Cached executables are the compiled programs themselves, so results are
# unchanged. Removed when the process exits.
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    import atexit
    import shutil
    import tempfile

    _xla_cache = tempfile.mkdtemp(prefix="jgan-test-xla-cache-")
    os.environ["JAX_COMPILATION_CACHE_DIR"] = _xla_cache
    os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
    os.environ["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "0"
    atexit.register(shutil.rmtree, _xla_cache, ignore_errors=True)

import pytest  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_experiment(path, variant=None, **overrides):
    """``get_config(variant)`` of an experiment file (path relative to the repository), then
    ``overrides``: dotted field -> value, in order (``**{"eval.every": 0}``)."""
    from jgan.config import load_experiment_config

    cfg = load_experiment_config(os.path.join(ROOT, path), variant)
    for field, value in overrides.items():
        *parents, leaf = field.split(".")
        node = cfg
        for p in parents:
            node = node[p]
        node[leaf] = value
    return cfg


def final_state(cfg, workdir, mesh=None):
    """The state of the newest checkpoint in ``workdir`` (a run of ``cfg``), on the host."""
    import jax

    from jgan.checkpoint import Checkpointer
    from jgan.experiment import build

    ckpt = Checkpointer(os.path.join(str(workdir), "checkpoints"))
    state, _ = ckpt.restore(build(cfg, mesh=mesh).state)
    ckpt.close()
    return jax.device_get(state)


def resumed_equals_straight(cfg, first_leg, tmp_path, mesh=None):
    """Train ``cfg`` straight through, and again in two legs (``first_leg``: the same config
    stopping earlier, then ``cfg`` resuming); assert the two final states are bit-identical,
    leaf by leaf, and return the straight one (on the host)."""
    import jax
    import numpy as np

    from jgan import train

    train.run(cfg, str(tmp_path / "straight"), mesh=mesh)
    train.run(first_leg, str(tmp_path / "resumed"), mesh=mesh)
    train.run(cfg, str(tmp_path / "resumed"), mesh=mesh)
    a, b = final_state(cfg, tmp_path / "straight", mesh), final_state(cfg, tmp_path / "resumed", mesh)
    assert int(a.step) == cfg.train.steps > first_leg.train.steps
    for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(u, v)
    return a


def on_mesh(fn, n_devices, *args, out_specs=None):
    """``fn`` under ``jit(shard_map)`` on the first ``n_devices`` devices, every argument (and,
    unless ``out_specs`` says otherwise, every output) split along the data axis."""
    import jax

    from jgan import steps

    mesh = steps.make_mesh(jax.devices()[:n_devices])
    spec = jax.sharding.PartitionSpec(steps.AXIS)
    return jax.jit(jax.shard_map(fn, mesh=mesh, in_specs=(spec,) * len(args),
                                 out_specs=spec if out_specs is None else out_specs))(*args)


def np_conv_same(x, w, stride=1):
    """'SAME' cross-correlation, NHWC x HWIO, padded as TensorFlow documents it: ``ceil(H / s)``
    outputs, total padding ``max((out - 1) s + k - H, 0)``, ``total // 2`` of it before and the
    rest after; written with loops over the kernel (NumPy)."""
    import numpy as np

    k = w.shape[0]
    outs, pads = [], []
    for size in x.shape[1:3]:
        out = -(-size // stride)
        total = max((out - 1) * stride + k - size, 0)
        outs.append(out)
        pads.append((total // 2, total - total // 2))
    xp = np.pad(x, ((0, 0), *pads, (0, 0)))
    span_h, span_w = (stride * (o - 1) + 1 for o in outs)
    y = np.zeros((x.shape[0], *outs, w.shape[-1]))
    for i in range(k):
        for j in range(k):
            y += np.einsum("nhwc,cd->nhwd", xp[:, i:i + span_h:stride, j:j + span_w:stride], w[i, j])
    return y


def submodule_outputs(module, *args, kinds):
    """The outputs of every submodule whose class name is in ``kinds``, in call order (train
    mode, fixed parameter and dropout keys)."""
    import jax

    variables = module.init({"params": jax.random.key(0), "dropout": jax.random.key(1)}, *args)
    _, state = module.apply(variables, *args, capture_intermediates=lambda m, _: type(m).__name__ in kinds,
                            mutable=["intermediates", "batch_stats"], rngs={"dropout": jax.random.key(2)})
    return [v["__call__"][0] for v in jax.tree_util.tree_leaves(
        state["intermediates"], is_leaf=lambda t: isinstance(t, dict) and "__call__" in t)]


def adam_count(net):
    """The update count in a network's (Adam) optimiser state."""
    import jax

    counts = [leaf for path, leaf in jax.tree_util.tree_flatten_with_path(net.opt_state)[0]
              if "count" in jax.tree_util.keystr(path)]
    return int(counts[0])


def launch(*args, cwd=ROOT, timeout=900):
    """``python launch.py *args`` in a subprocess (the real entry point) -> CompletedProcess."""
    import subprocess
    import sys

    return subprocess.run([sys.executable, os.path.join(ROOT, "launch.py"), *args], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="session")
def mnist_classifier_dir(tmp_path_factory):
    """Workdir of the quick MNIST classifier, trained once per test session (per xdist worker)
    through the real entry point (``launch.py --config experiments/classifier_mnist.py:quick``)
    and shared by every test that evaluates digit models; its output is in ``launch.log``."""
    workdir = tmp_path_factory.mktemp("mnist_classifier")
    r = launch("--config", "experiments/classifier_mnist.py:quick", "--workdir", str(workdir))
    assert r.returncode == 0, r.stderr[-3000:]
    (workdir / "launch.log").write_text(r.stdout)
    return str(workdir)
