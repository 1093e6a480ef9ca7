"""BiGAN / ALI: the networks against a NumPy implementation of the reference's layers, the
losses against their formulas, one iteration against gradients taken at the same parameters
(the reference's simultaneous update), the probes against hand computations, the quick run
through launch.py (evaluation, grids, modes), bit-exact resume, 1 vs 4 devices."""
import json

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import final_state, launch, load_experiment, resumed_equals_straight

from jgan import steps, train
from jgan.config import ConfigError
from jgan.eval import probe
from jgan.experiment import build, make_family
from jgan.families import bigan as B
from jgan.models.bigan import BiGANEncoder, BiGANGenerator, JointDiscriminator


def _quick(**overrides):
    return load_experiment("experiments/bigan.py", "quick", **{"eval.every": 0, **overrides})


# ----------------------------------------------------------------------------- networks


def _bn(a):  # BatchNorm in train mode without affine (the reference's --nogain --nobias)
    return (a - a.mean(0)) / np.sqrt(a.var(0) + 1e-5)


def _lrelu(a):
    return np.where(a > 0, a, 0.2 * a)


def _sigmoid(a):
    return 1 / (1 + np.exp(-a))


def _randomised(params, rng):
    """Every kernel redrawn (D's output layer starts at zero) so that each term matters."""
    return jax.tree.map(lambda p: rng.normal(0, 0.3, p.shape).astype(np.float32), params)


def test_networks_are_the_reference_layers():
    rng = np.random.default_rng(0)
    z = rng.uniform(-1, 1, (6, 3)).astype(np.float32)
    x = rng.uniform(-1, 1, (6, 2, 2, 1)).astype(np.float32)
    eps = rng.normal(size=(6, 3)).astype(np.float32)
    flat = (x.reshape(6, -1) + 1) / 2

    g = BiGANGenerator(out_shape=(2, 2, 1), hidden=(5, 4), axis_name=None)
    p = _randomised(g.init(jax.random.key(0), z)["params"], rng)
    got, _ = g.apply({"params": p, "batch_stats": g.init(jax.random.key(0), z)["batch_stats"]}, z,
                     mutable=["batch_stats"])
    h = np.maximum(_bn(z @ p["Dense_0"]["kernel"]), 0)
    h = np.maximum(_bn(h @ p["Dense_1"]["kernel"] + z @ p["Dense_2"]["kernel"]), 0)  # z again
    want = 2 * _sigmoid(h @ p["Dense_3"]["kernel"]) - 1
    np.testing.assert_allclose(np.asarray(got), want.reshape(6, 2, 2, 1), rtol=1e-4, atol=1e-5)
    assert not any("bias" in k for layer in p.values() for k in layer)  # no biases anywhere

    for stochastic in (False, True):
        e = BiGANEncoder(z_dim=3, hidden=(5, 4), prior="normal" if stochastic else "uniform",
                         stochastic=stochastic, axis_name=None)
        v = e.init(jax.random.key(1), x)
        p = _randomised(v["params"], rng)
        got, _ = e.apply({"params": p, "batch_stats": v["batch_stats"]}, x, eps, mutable=["batch_stats"])
        h = _lrelu(flat @ p["Dense_0"]["kernel"])  # no BatchNorm on the first layer
        h = _lrelu(_bn(h @ p["Dense_1"]["kernel"]))
        out = h @ p["Dense_2"]["kernel"]
        want = out[:, :3] + np.exp(out[:, 3:] / 2) * eps if stochastic else 2 * _sigmoid(out) - 1
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-4, atol=1e-5)
        if stochastic:  # inference mode: the posterior mean
            mean = e.apply({"params": p, "batch_stats": v["batch_stats"]}, x, train=False)
            assert mean.shape == (6, 3)

    d = JointDiscriminator(hidden=(5, 4), axis_name=None)
    v = d.init(jax.random.key(2), x, z)
    assert not np.any(np.asarray(v["params"]["Dense_3"]["kernel"]))  # the reference's zero classifier
    p = _randomised(v["params"], rng)
    got, _ = d.apply({"params": p, "batch_stats": v["batch_stats"]}, x, z, mutable=["batch_stats"])
    h = _lrelu(flat @ p["Dense_0"]["kernel"])
    h = _lrelu(_bn(h @ p["Dense_1"]["kernel"] + z @ p["Dense_2"]["kernel"]))
    np.testing.assert_allclose(np.asarray(got), (h @ p["Dense_3"]["kernel"])[:, 0], rtol=1e-4, atol=1e-5)


def test_losses_are_the_references():
    real, fake = jnp.array([2.0, -1.0, 0.5]), jnp.array([-3.0, 0.2, 1.0])
    log_sig = lambda a: -np.log1p(np.exp(-np.asarray(a)))  # noqa: E731  log sigmoid
    d = 0.5 * (-log_sig(real).mean() - np.log(1 - _sigmoid(np.asarray(fake))).mean())
    np.testing.assert_allclose(B.d_loss(real, fake), d, rtol=1e-6)
    flipped = 0.5 * (-np.log(1 - _sigmoid(np.asarray(real))).mean() - log_sig(fake).mean())
    np.testing.assert_allclose(B.ge_loss(real, fake, "non_saturating"), flipped, rtol=1e-6)
    np.testing.assert_allclose(B.ge_loss(real, fake, "minimax"), -d, rtol=1e-6)


# ----------------------------------------------------------------------------- the update


def test_one_iteration_updates_every_network_from_the_same_parameters():
    """Step 2 of a run (D's output layer is no longer 0) against gradients taken here with
    jax.grad of the written losses, D's and G/E's at the same parameters, then each
    network's optax update; an alternating update (G/E through the updated D) differs."""
    cfg = _quick()
    exp = build(cfg, mesh=steps.make_mesh(jax.devices()[:1]), donate=False)
    fam = exp.family
    from jgan.data import pipeline
    batch = pipeline.load_batch(fam.source(), np.arange(16), image_size=28, channels=1)
    sharded = exp.phases.shard_batch({"x": batch["x"][None]})
    s1, _ = exp.phases["iteration"](exp.state, sharded, jnp.int32(0))
    s2, m = exp.phases["iteration"](s1, sharded, jnp.int32(0))
    s1 = jax.device_get(s1)

    it_key = jax.random.fold_in(s1.rng, s1.step)
    z = jax.random.uniform(jax.random.fold_in(it_key, 0), (16, cfg.model.z_dim), minval=-1.0, maxval=1.0)
    x = jnp.asarray(batch["x"])
    nets = s1.nets

    def logits(gp, ep, dp):
        def run(model, params, name, *args):
            return model.apply({"params": params, "batch_stats": nets[name].batch_stats}, *args,
                               mutable=["batch_stats"])[0]
        ez = run(fam.e_model, ep, "e", x)
        return run(fam.d_model, dp, "d", x, ez), run(fam.d_model, dp, "d", run(fam.g_model, gp, "g", z), z)

    def bce(a, t):
        return -jnp.mean(t * jax.nn.log_sigmoid(a) + (1 - t) * jax.nn.log_sigmoid(-a))

    def l_d(gp, ep, dp):
        r, f = logits(gp, ep, dp)
        return 0.5 * (bce(r, 1.0) + bce(f, 0.0))

    def l_ge(gp, ep, dp):
        r, f = logits(gp, ep, dp)
        return 0.5 * (bce(r, 0.0) + bce(f, 1.0))

    params = tuple(nets[n].params for n in ("g", "e", "d"))
    grads = {"d": jax.grad(l_d, 2)(*params)}
    grads["g"], grads["e"] = jax.grad(l_ge, (0, 1))(*params)
    np.testing.assert_allclose(float(m["d_loss"]), float(l_d(*params)), rtol=1e-5)
    np.testing.assert_allclose(float(m["g_loss"]), float(l_ge(*params)), rtol=1e-5)
    for name in ("g", "e", "d"):
        net = nets[name]
        updates, _ = net.tx.update(grads[name], net.opt_state, net.params)
        want = optax.apply_updates(net.params, updates)
        jax.tree.map(lambda u, v: np.testing.assert_allclose(u, v, rtol=1e-4, atol=1e-6),
                     jax.device_get(s2.nets[name].params), want)
    # the alternating alternative: G's gradient through the updated D is another update
    alt = jax.grad(l_ge, 0)(params[0], params[1], jax.device_get(s2.nets["d"].params))
    diff = max(float(jnp.max(jnp.abs(a - b))) for a, b in zip(jax.tree.leaves(alt), jax.tree.leaves(grads["g"])))
    scale = max(float(jnp.max(jnp.abs(b))) for b in jax.tree.leaves(grads["g"]))
    assert diff > 0.05 * scale, (diff, scale)


def test_resume_is_bit_exact_and_four_devices_match_one(tmp_path):
    # ALI: the posterior noise and the prior are drawn for the global batch; no D dropout for
    # the device comparison (its masks are per device)
    cfg = _quick(**{"model.prior": "normal", "model.encoder.stochastic": True})
    half = _quick(**{"model.prior": "normal", "model.encoder.stochastic": True, "train.steps": 3})
    a = resumed_equals_straight(cfg, half, tmp_path)
    assert len(jax.devices()) == 4  # the straight run used all four (tests/conftest.py)
    one = steps.make_mesh(jax.devices()[:1])
    train.run(cfg, str(tmp_path / "one"), mesh=one)
    c, d = final_state(cfg, tmp_path / "one", one), a
    jax.tree.map(lambda u, v: np.testing.assert_allclose(u, v, rtol=2e-3, atol=2e-5),
                 {n: c.nets[n].params for n in "ged"}, {n: d.nets[n].params for n in "ged"})


# ----------------------------------------------------------------------------- probes


def test_linear_probe_reaches_the_regularised_optimum():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 5))
    y = (x @ rng.normal(size=(5, 3))).argmax(1)  # a linear rule: separable
    tr = (x - x.mean(0)) / x.std(0)
    params = probe.fit_softmax_regression(jnp.asarray(tr, jnp.float32), jnp.asarray(y), 3, 1e-3)
    grad = jax.grad(probe.softmax_regression_loss)(params, jnp.asarray(tr, jnp.float32), jnp.asarray(y), 1e-3)
    assert max(float(jnp.max(jnp.abs(g))) for g in jax.tree.leaves(grad)) < 1e-4  # stationary
    assert probe.linear_probe_accuracy(x[:200], y[:200], x[200:], y[200:], num_classes=3) > 0.95
    shuffled = rng.permutation(y)  # labels unrelated to the features: chance
    assert probe.linear_probe_accuracy(x[:200], shuffled[:200], x[200:], shuffled[200:], num_classes=3) < 0.6


def test_nearest_neighbour_accuracy_by_hand():
    train_x = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    train_y = np.array([0, 1, 2])
    test_x = np.array([[1.0, 1.0], [9.0, 2.0], [2.0, 9.0], [6.0, 0.0]])
    assert probe.nearest_neighbour_accuracy(train_x, train_y, test_x, np.array([0, 1, 2, 1])) == 1.0
    assert probe.nearest_neighbour_accuracy(train_x, train_y, test_x, np.array([0, 1, 1, 0]), chunk=3) == 0.5


# ----------------------------------------------------------------------------- the run


def test_quick_run_through_launch_evaluates_the_encoder_and_writes_grids(tmp_path, mnist_classifier_dir):
    run = tmp_path / "run"
    args = ["--config", "experiments/bigan.py:quick", "--workdir", str(run),
            f"--config.eval.classifier_workdir={mnist_classifier_dir}"]
    r = launch(*args, "--config.eval.every=6")
    assert r.returncode == 0, r.stderr[-3000:]
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert {"d_loss", "g_loss", "d_real_prob", "d_fake_prob", "e_grad_norm"} <= set(records[0])
    e = [rec for rec in records if "eval/fid" in rec][-1]
    for k in ("fid", "encoder/linear_acc", "encoder/1nn_acc", "encoder_init/linear_acc", "pixels/1nn_acc",
              "recon/l1", "recon/label_acc", "real/label_acc"):
        assert 0 <= e[f"eval/{k}"], k
    assert e["eval/probe/test_count"] == 500 and e["eval/probe/train_count"] == 4500
    assert e["eval/pixels/1nn_acc"] > 0.9 and e["eval/real/label_acc"] > 0.5
    from PIL import Image
    assert Image.open(run / "samples" / "recon_step_0000006.png").size == (16 * 30 + 2, 1 * 30 + 2)
    r = launch(*args, "--mode", "reconstruct")
    assert r.returncode == 0, r.stderr[-3000:]
    assert Image.open(r.stdout.split()[-1]).size == (16 * 30 + 2, 8 * 30 + 2)  # 64 digits + 64 G(E(x))
    # --mode sample in-process (one launch fewer): four latent seeds, a 2 x 2 grid
    import types

    from jgan.experiment import restore
    cfg = _quick(**{"eval.classifier_workdir": mnist_classifier_dir})
    family, state = restore(cfg, str(run))
    (path,) = family.modes()["sample"](state, str(run), types.SimpleNamespace(seeds="0-3", labels=None, frames=8))
    assert Image.open(path).size == (2 * 30 + 2, 2 * 30 + 2)


@pytest.mark.parametrize("override,field", [
    ({"model.encoder.stochastic": True}, "model.encoder.stochastic"),
    ({"train.d_steps": 2}, "train.d_steps"),
    ({"model.prior": "laplace"}, "model.prior"),
    ({"loss.name": "hinge"}, "loss.name"),
])
def test_bad_config_names_the_field(override, field):
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        make_family(_quick(**override))
