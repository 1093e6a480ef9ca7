"""The data-parallel step: 4 simulated devices agree with 1 on the same global batch."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jgan import steps
from jgan.config import base_config
from jgan.experiment import build
from jgan.models import make_discriminator

SHAPE = (28, 28, 1)


def make(cfg, n_devices):
    """The gan family's compiled phases and initial state on ``n_devices``."""
    exp = build(cfg, mesh=steps.make_mesh(jax.devices()[:n_devices]), donate=False)
    return exp.phases, exp.state


def small_config(**train):
    cfg = base_config()
    cfg.model.z_dim = 16
    cfg.model.generator.width = cfg.model.discriminator.width = 8
    for k, v in train.items():
        cfg.train[k] = v
    return cfg


def reals(k, batch, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, (k, batch, *SHAPE)).astype(np.float32)


def run(fns, state, x, n=2):
    for _ in range(n):
        state, metrics = fns["iteration"](state, fns.shard_batch({"x": x}), jnp.int32(0))
    return jax.device_get(state), jax.device_get(metrics)


@pytest.mark.parametrize("reuse_fake,d_steps", [(True, 1), (False, 2)], ids=["reuse", "fresh"])
def test_four_devices_match_one(reuse_fake, d_steps):
    assert jax.device_count() >= 4, "tests/conftest.py sets 4 CPU devices"
    cfg = small_config(reuse_fake=reuse_fake, d_steps=d_steps, ema_decay=0.9)
    x = reals(d_steps, 16)
    s1, m1 = run(*make(cfg, 1), x)
    s4, m4 = run(*make(cfg, 4), x)
    for k in m1:
        np.testing.assert_allclose(m4[k], m1[k], rtol=2e-4, atol=1e-5, err_msg=k)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-6),
                 (s1.nets["g"].params, s1.nets["d"].params, s1.ema["g"]), (s4.nets["g"].params, s4.nets["d"].params, s4.ema["g"]))
    assert int(s4.step) == 2


def test_batchnorm_statistics_are_global():
    # After one step, G's and D's running statistics with 4 devices equal the 1-device ones,
    # which are the statistics of the whole global batch (a per-device BatchNorm would
    # average per-shard variances and differ).
    cfg = small_config(reuse_fake=True, d_steps=1)
    x = reals(1, 16, seed=1)
    x[0, 8:] *= 0.2  # shards with different spreads: per-shard and global variances differ
    s1, _ = run(*make(cfg, 1), x, n=1)
    s4, _ = run(*make(cfg, 4), x, n=1)
    assert jax.tree.leaves(s1.nets["d"].batch_stats) and jax.tree.leaves(s1.nets["g"].batch_stats)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6),
                 (s1.nets["g"].batch_stats, s1.nets["d"].batch_stats), (s4.nets["g"].batch_stats, s4.nets["d"].batch_stats))
    # D's first BatchNorm saw the real batch then the fake batch: its running mean moved
    # away from its init (0) by 0.1 of each batch mean (PyTorch momentum 0.1).
    assert float(np.abs(jax.tree.leaves(s1.nets["d"].batch_stats)[0]).max()) > 0


def test_split_d_phase_equals_one_call(monkeypatch):
    # WGAN's long iterations run extra critic updates as D-only calls before the full step.
    # Keys depend on (iteration, update index) only, so 2 D-only updates + a step with 2
    # more equals one step with all 4 D updates.
    monkeypatch.setenv("JGAN_MAX_TRACES", "2")  # the iteration phase sees k = 2 and k = 4
    cfg = small_config()
    cfg.model.discriminator.norm = "none"
    cfg.loss.name = "wasserstein"
    fns, state = make(cfg, 1)
    x = reals(4, 8)
    a, _ = fns["critic"](state, fns.shard_batch({"x": x[:2]}), jnp.int32(0))
    a, ma = fns["iteration"](a, fns.shard_batch({"x": x[2:]}), jnp.int32(2))
    b, mb = fns["iteration"](state, fns.shard_batch({"x": x}), jnp.int32(0))
    jax.tree.map(lambda u, v: np.testing.assert_allclose(u, v, rtol=1e-6, atol=1e-8),
                 jax.device_get((a.nets["d"].params, a.nets["g"].params)), jax.device_get((b.nets["d"].params, b.nets["g"].params)))
    c, _ = fns["critic"](state, fns.shard_batch({"x": x[:2]}), jnp.int32(5))  # other indices, other z
    assert not np.allclose(jax.device_get(c.nets["d"].params)["Dense_0"]["kernel"],
                           jax.device_get(a.nets["d"].params)["Dense_0"]["kernel"])


def test_rolled_d_loop_matches_unrolled():
    cfg = small_config(d_steps=3)
    x = reals(3, 8)
    s_u, m_u = run(*make(cfg, 1), x, n=1)
    cfg.train.unroll_d = False
    s_r, m_r = run(*make(cfg, 1), x, n=1)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6), s_u.nets["d"].params, s_r.nets["d"].params)


def test_step_metrics_and_clip():
    cfg = small_config(d_steps=2)
    cfg.loss.name = "wasserstein"
    cfg.model.discriminator.norm = "none"
    cfg.optim.d.name, cfg.optim.d.lr, cfg.optim.d.clip = "rmsprop", 1e-2, 0.01
    s, m = run(*make(cfg, 4), reals(2, 16), n=3)
    assert set(m) == {"d_loss", "d_real_logit", "d_fake_logit", "wasserstein_estimate", "d_grad_norm", "g_loss",
                      "g_grad_norm"}
    np.testing.assert_allclose(m["d_loss"], m["d_fake_logit"] - m["d_real_logit"], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(m["wasserstein_estimate"], -m["d_loss"], rtol=1e-5, atol=1e-7)
    assert max(float(np.abs(p).max()) for p in jax.tree.leaves(s.nets["d"].params)) <= 0.01


def test_r1_penalty_data_parallel_matches_one_device_and_direct_value():
    # R1 needs the gradient of ||grad_x D||^2 w.r.t. D's weights (double backward through the
    # custom convolutions) inside shard_map; 4 devices must agree with 1.
    cfg = small_config(d_steps=1)
    cfg.model.discriminator.norm = "none"
    cfg.loss.penalty, cfg.loss.penalty_weight = "r1", 5.0
    x = reals(1, 16, seed=2)
    fns1, state1 = make(cfg, 1)
    s1, m1 = run(fns1, state1, x, n=1)
    s4, m4 = run(*make(cfg, 4), x, n=1)
    for k in ("d_penalty", "d_input_grad_norm", "d_loss"):
        np.testing.assert_allclose(m4[k], m1[k], rtol=1e-4, err_msg=k)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-6), s1.nets["d"].params, s4.nets["d"].params)
    # The logged penalty is gamma/2 * mean ||grad_x D(x_real)||^2 at the pre-update weights.
    d_model = make_discriminator(cfg.model.discriminator, SHAPE)
    d0 = jax.device_get(state1.nets["d"])
    grads = jax.grad(lambda inp: d_model.apply({"params": d0.params}, inp, train=True).sum())(x[0])
    expected = 2.5 * np.mean(np.sum(np.asarray(grads).reshape(16, -1) ** 2, axis=1))
    np.testing.assert_allclose(m1["d_penalty"], expected, rtol=1e-4)


def test_spectral_norm_state_is_updated_and_replicated():
    # SN's power-iteration vectors live in D's batch_stats; the step updates them and, under
    # data parallelism, keeps them replicated: 4 devices give the 1-device values.
    cfg = small_config(d_steps=1)
    cfg.model.discriminator.name = "sngan_cnn"
    cfg.model.discriminator.norm = "none"
    cfg.loss.name = "hinge"
    x = reals(1, 16, seed=3)
    fns1, state1 = make(cfg, 1)
    before = jax.device_get(state1.nets["d"].batch_stats)
    s1, m1 = run(fns1, state1, x, n=1)
    s4, m4 = run(*make(cfg, 4), x, n=1)
    us = [(k, v) for k, v in jax.tree_util.tree_leaves_with_path(s1.nets["d"].batch_stats) if "/u" in str(k)]
    assert len(us) == 8  # every layer of the standard CNN discriminator
    changed = jax.tree.map(lambda a, b: not np.allclose(a, b), before, jax.device_get(s1.nets["d"].batch_stats))
    # (sigma of the final 1-output Dense can stay exactly 1: flax initialises that vector
    # kernel already normalised, and one power iteration is exact for it.)
    unchanged = [jax.tree_util.keystr(k) for k, v in jax.tree_util.tree_leaves_with_path(changed)
                 if not v and "/u" in jax.tree_util.keystr(k)]
    assert not unchanged, unchanged
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4), s1.nets["d"].batch_stats, s4.nets["d"].batch_stats)
    np.testing.assert_allclose(m4["d_loss"], m1["d_loss"], rtol=1e-4)


def test_a_phase_traced_twice_fails_the_trace_check(monkeypatch):
    # The tests run with JGAN_MAX_TRACES=1 (conftest): a phase recompiled within one compiled
    # set, e.g. by a batch of another shape, raises instead of silently recompiling.
    monkeypatch.setenv("JGAN_MAX_TRACES", "1")
    cfg = small_config()
    cfg.model.discriminator.norm = "none"
    fns, state = make(cfg, 1)
    fns["critic"](state, fns.shard_batch({"x": reals(1, 8)}), jnp.int32(0))
    fns["critic"](state, fns.shard_batch({"x": reals(1, 8, seed=1)}), jnp.int32(3))  # same shapes: cached
    with pytest.raises(AssertionError, match="traced > 1 times"):
        fns["critic"](state, fns.shard_batch({"x": reals(2, 8)}), jnp.int32(0))
