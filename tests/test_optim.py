"""The WGAN weight-clipping chain: parameters stay in [-c, c]; matches RMSProp+clip by hand."""
import jax
import jax.numpy as jnp
import numpy as np
import optax

from jgan import optim
from jgan.config import base_config


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
