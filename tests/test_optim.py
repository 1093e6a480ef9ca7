"""The WGAN weight-clipping chain: parameters stay in [-c, c]; matches RMSProp+clip by hand.
pylearn2's SGD schedules (the MLP GAN papers' code) against a transcription of its update."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jgan import optim
from jgan.config import ConfigError, base_config, validate


def test_clip_keeps_every_parameter_in_the_box():
    c = 0.01
    tx = optax.chain(optax.sgd(1.0), optim.clip_params(c))
    rng = np.random.default_rng(0)
    params = {"w": jnp.asarray(rng.uniform(-c, c, (64, 33)), jnp.float32), "b": jnp.zeros(7)}
    state = tx.init(params)
    update = jax.jit(lambda g, s, p: tx.update(g, s, p))
    for i in range(50):
        grads = jax.tree.map(lambda p: jnp.asarray(rng.normal(0, 10 ** rng.uniform(-4, 1), p.shape),
                                                   jnp.float32), params)
        updates, state = update(grads, state, params)
        params = optax.apply_updates(params, updates)
        for leaf in jax.tree.leaves(params):
            assert float(jnp.max(jnp.abs(leaf))) <= c, f"step {i}: {float(jnp.max(jnp.abs(leaf)))}"


def rmsprop_clip_reference(params, grads_seq, lr, alpha, eps, c):
    """PyTorch's RMSprop (v = a v + (1-a) g^2; p -= lr g / (sqrt(v) + eps)) then clamp_."""
    p = params.astype(np.float64)
    v = np.zeros_like(p)
    for g in grads_seq:
        v = alpha * v + (1 - alpha) * g ** 2
        p = p - lr * g / (np.sqrt(v) + eps)
        p = np.clip(p, -c, c)
    return p


def test_rmsprop_clip_chain_matches_reference():
    cfg = base_config().optim.d
    cfg.name, cfg.lr, cfg.decay, cfg.eps, cfg.clip = "rmsprop", 5e-3, 0.99, 1e-8, 0.01
    tx = optim.make_optimizer(cfg)
    rng = np.random.default_rng(1)
    p0 = rng.uniform(-0.01, 0.01, (200,)).astype(np.float32)
    grads_seq = [rng.normal(0, 1, (200,)).astype(np.float32) for _ in range(20)]
    params, state = jnp.asarray(p0), tx.init(jnp.asarray(p0))
    for g in grads_seq:
        updates, state = tx.update(jnp.asarray(g), state, params)
        params = optax.apply_updates(params, updates)
    expected = rmsprop_clip_reference(p0, grads_seq, 5e-3, 0.99, 1e-8, 0.01)
    np.testing.assert_allclose(np.asarray(params), expected, atol=2e-7)
    assert np.any(np.abs(expected) == 0.01)  # the clip was active


def test_clip_needs_params():
    tx = optim.clip_params(0.1)
    try:
        tx.update({"w": jnp.ones(2)}, tx.init(None))
    except ValueError as e:
        assert "params" in str(e)
    else:
        raise AssertionError("clip_params without params must fail")


def pylearn2_sgd_reference(p, grads_seq, lr, decay_factor, min_lr, m0, m1, start, saturate):
    """pylearn2's SGD, written from its source: ``Momentum`` (inc = m inc - lr g; p += inc),
    ``ExponentialDecay`` (after each update lr = max(lr / decay_factor, min_lr)) and
    ``MomentumAdjustor`` (m linear in the update count from ``start`` to ``saturate``)."""
    p, inc = p.astype(np.float64), np.zeros_like(p, np.float64)
    for t, g in enumerate(grads_seq):
        alpha = min(max((t - start) / (saturate - start), 0.0), 1.0)
        m = m0 * (1 - alpha) + alpha * m1
        inc = m * inc - lr * g
        p = p + inc
        lr = max(lr / decay_factor, min_lr)
    return p


def test_sgd_schedules_match_pylearn2():
    cfg = base_config().optim.g
    cfg.name, cfg.lr, cfg.momentum = "sgd", 0.1, 0.5
    cfg.final_momentum, cfg.momentum_start, cfg.momentum_saturate = 0.7, 3, 13
    cfg.lr_decay_factor, cfg.min_lr = 1.2, 0.02  # reaches min_lr at update 9
    tx = optim.make_optimizer(cfg)
    rng = np.random.default_rng(2)
    p0 = rng.normal(0, 1, (50,)).astype(np.float32)
    grads_seq = [rng.normal(0, 1, (50,)).astype(np.float32) for _ in range(20)]
    params, state = jnp.asarray(p0), tx.init(jnp.asarray(p0))
    step = jax.jit(tx.update)
    for g in grads_seq:
        updates, state = step(jnp.asarray(g), state, params)
        params = optax.apply_updates(params, updates)
    expected = pylearn2_sgd_reference(p0, grads_seq, 0.1, 1.2, 0.02, 0.5, 0.7, 3, 13)
    np.testing.assert_allclose(np.asarray(params), expected, rtol=1e-5, atol=1e-5)
    # optax.sgd's order (trace, then scale by the changing lr) is measurably different
    other = p0.astype(np.float64)
    tr, lr = np.zeros_like(other), 0.1
    for t, g in enumerate(grads_seq):
        m = 0.5 + 0.2 * min(max((t - 3) / 10, 0.0), 1.0)
        tr = g + m * tr
        other, lr = other - lr * tr, max(lr / 1.2, 0.02)
    assert np.abs(other - expected).max() > 1e-2


def test_sgd_without_schedules_is_optax_sgd():
    cfg = base_config().optim.g
    cfg.name, cfg.lr, cfg.momentum = "sgd", 0.1, 0.5
    assert not optim.uses_sgd_schedules(cfg)
    g, p = jnp.array([1.0, -2.0]), jnp.array([0.5, 0.5])
    a, b = optim.make_optimizer(cfg), optax.sgd(0.1, momentum=0.5)
    sa, sb = a.init(p), b.init(p)
    for _ in range(3):
        ua, sa = a.update(g, sa, p)
        ub, sb = b.update(g, sb, p)
        np.testing.assert_array_equal(np.asarray(ua), np.asarray(ub))


@pytest.mark.parametrize("field,value,name,match", [
    ("final_momentum", 1.0, "sgd", "final_momentum"),
    ("lr_decay_factor", 0.9, "sgd", "lr_decay_factor"),
    ("momentum_saturate", 0, "sgd", "momentum_saturate"),
    ("final_momentum", 0.7, "adam", "SGD schedules"),
    ("min_lr", -1.0, "sgd", "min_lr"),
])
def test_sgd_schedule_fields_are_checked(field, value, name, match):
    c = base_config()
    c.optim.g.name = name
    c.optim.g.final_momentum, c.optim.g.momentum_saturate = 0.7, 100
    c.optim.g[field] = value
    with pytest.raises(ConfigError, match=match):
        validate(c)


def test_max_col_norm_matches_pylearn2():
    """pylearn2 ``MLP._modify_updates``: W <- W * clip(n, 0, c) / (1e-7 + n), n the column norms."""
    c = 1.9365
    rng = np.random.default_rng(3)
    w = rng.normal(0, 0.2, (40, 6)).astype(np.float32)
    w[:, 0] *= 10  # one column far over the bound
    params = {"kernel": jnp.asarray(w), "bias": jnp.asarray(rng.normal(0, 5, 6).astype(np.float32))}
    grads = jax.tree.map(lambda p: jnp.asarray(rng.normal(0, 0.1, p.shape).astype(np.float32)), params)
    tx = optax.chain(optax.sgd(0.5), optim.max_col_norm(c))
    updates, _ = tx.update(grads, tx.init(params), params)
    new = optax.apply_updates(params, updates)
    proposed = w - 0.5 * np.asarray(grads["kernel"])
    n = np.sqrt((proposed.astype(np.float64) ** 2).sum(0, keepdims=True))
    np.testing.assert_allclose(np.asarray(new["kernel"]), proposed * np.clip(n, 0, c) / (1e-7 + n), rtol=1e-5, atol=1e-6)
    assert np.sqrt((np.asarray(new["kernel"]) ** 2).sum(0)).max() <= c + 1e-5
    assert n.max() > c and n.min() < c  # both branches exercised
    np.testing.assert_allclose(np.asarray(new["bias"]),
                               np.asarray(params["bias"]) - 0.5 * np.asarray(grads["bias"]), rtol=1e-6)


def test_bigan_adam_with_coupled_weight_decay_and_exponential_decay_matches_the_reference():
    """BiGAN's updater (lib/updates.py): ``g += l2 p`` before Adam (b1 0.5; bias-corrected
    moments), the rate constant, then geometric to ``lr * final_lr_mult`` over decay_steps."""
    cfg = base_config().optim.g
    cfg.lr, cfg.b1, cfg.b2, cfg.eps, cfg.weight_decay = 0.1, 0.5, 0.999, 1e-8, 0.05
    cfg.constant_steps, cfg.decay_steps, cfg.decay_schedule, cfg.final_lr_mult = 2, 4, "exponential", 0.01
    tx = optim.make_optimizer(cfg)
    rng = np.random.default_rng(0)
    p0 = rng.normal(size=(3, 2))
    grads_seq = [rng.normal(size=(3, 2)) for _ in range(9)]
    params, state = jnp.asarray(p0, jnp.float32), None
    state = tx.init(params)
    p, m, v = p0.copy(), np.zeros_like(p0), np.zeros_like(p0)
    for t, g in enumerate(grads_seq):
        lr = 0.1 if t < 2 else 0.1 * 0.01 ** (min(t - 2, 4) / 4)  # t-th update (from 0)
        g = g + 0.05 * p
        m, v = 0.5 * m + 0.5 * g, 0.999 * v + 0.001 * g * g
        m_c, v_c = m / (1 - 0.5 ** (t + 1)), v / (1 - 0.999 ** (t + 1))
        p = p - lr * m_c / (np.sqrt(v_c) + 1e-8)
        updates, state = tx.update(jnp.asarray(grads_seq[t], jnp.float32), state, params)
        params = optax.apply_updates(params, updates)
        np.testing.assert_allclose(np.asarray(params), p, rtol=2e-5, atol=1e-6)
    assert abs(float(optim.learning_rate(cfg)(6)) - 0.001) < 1e-9  # the last rate, then held
    assert abs(float(optim.learning_rate(cfg)(100)) - 0.001) < 1e-9
