"""BigGAN: conditional BatchNorm against its formula (gain centred on 1), orthogonal
regularisation against NumPy and jax.grad of its penalty, truncation against the truncated
normal's closed form, hierarchical z, standing statistics against batch moments by hand, the
EMA's start, and the quick run (class x seed grid)."""
import math
import os

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import load_experiment

from jgan import optim, sampling, train
from jgan.checkpoint import Checkpointer
from jgan.config import ConfigError
from jgan.experiment import build, make_family
from jgan.models.biggan import BigGANGenerator, ConditionalBN
from jgan.models.dcgan import BatchNorm


def test_conditional_batchnorm_gain_is_one_plus_a_linear_map():
    rng = np.random.default_rng(0)
    x = rng.normal(2.0, 3.0, (8, 3, 3, 5)).astype(np.float32)
    c = rng.normal(size=(8, 4)).astype(np.float32)
    bn = ConditionalBN(spectral_norm=False, axis_name=None)
    v = bn.init(jax.random.key(0), x, c)
    wg = rng.normal(size=(4, 5)).astype(np.float32)
    wb = rng.normal(size=(4, 5)).astype(np.float32)
    params = {"gain": {"kernel": wg}, "bias": {"kernel": wb}}
    got, _ = bn.apply({"params": params, "batch_stats": v["batch_stats"]}, x, c, mutable=["batch_stats"])
    mean, var = x.mean((0, 1, 2)), x.var((0, 1, 2))
    xhat = (x - mean) / np.sqrt(var + 1e-5)
    want = xhat * (1 + c @ wg)[:, None, None, :] + (c @ wb)[:, None, None, :]
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-4, atol=1e-4)
    zero = {"gain": {"kernel": 0 * wg}, "bias": {"kernel": 0 * wb}}  # no conditioning: plain BN
    got, _ = bn.apply({"params": zero, "batch_stats": v["batch_stats"]}, x, c, mutable=["batch_stats"])
    np.testing.assert_allclose(np.asarray(got), xhat, rtol=1e-4, atol=1e-4)
    assert set(v["params"]) == {"gain", "bias"}  # no affine of the BN itself, no biases


def test_orthogonal_regularisation_matches_numpy_and_the_penalty_gradient():
    rng = np.random.default_rng(1)
    params = {"conv": {"kernel": jnp.asarray(rng.normal(size=(3, 3, 4, 6)), jnp.float32)},
              "dense": {"kernel": jnp.asarray(rng.normal(size=(5, 7)), jnp.float32),
                        "bias": jnp.asarray(rng.normal(size=(7,)), jnp.float32)},
              "shared": {"embedding": jnp.asarray(rng.normal(size=(10, 8)), jnp.float32)}}
    grads = jax.tree.map(jnp.zeros_like, params)
    beta = 1e-4
    tx = optim.ortho_regularization(beta)
    added, _ = tx.update(grads, tx.init(params), params)
    # NumPy: the reference's W = weight.view(out, -1) with PyTorch's [out, in, kh, kw] layout
    k = np.asarray(params["conv"]["kernel"])
    w = k.transpose(3, 2, 0, 1).reshape(6, -1)
    g = 2 * ((w @ w.T) * (1 - np.eye(6))) @ w
    want = g.reshape(6, 4, 3, 3).transpose(2, 3, 1, 0) * beta
    np.testing.assert_allclose(np.asarray(added["conv"]["kernel"]), want, rtol=1e-4, atol=1e-9)

    def penalty(kernel):  # beta / 2 ||(W W^T) * (1 - I)||_F^2 with W [out, in]
        wt = kernel.reshape(-1, kernel.shape[-1]).T
        return beta / 2 * jnp.sum(((wt @ wt.T) * (1 - jnp.eye(wt.shape[0]))) ** 2)

    np.testing.assert_allclose(np.asarray(added["dense"]["kernel"]),
                               np.asarray(jax.grad(penalty)(params["dense"]["kernel"])), rtol=1e-4, atol=1e-9)
    assert not np.any(np.asarray(added["dense"]["bias"]))      # 1-D: untouched
    assert not np.any(np.asarray(added["shared"]["embedding"]))  # the shared embedding: excluded


def test_truncation_resamples_into_the_interval_as_a_truncated_normal():
    t = 0.5
    z = jax.random.normal(jax.random.key(0), (200_000,))
    out = np.asarray(sampling.truncate(z, jax.random.key(1), t))
    assert np.abs(out).max() <= t
    inside = np.abs(np.asarray(z)) <= t
    np.testing.assert_array_equal(out[inside], np.asarray(z)[inside])  # only the outliers move
    # E|Z| for Z ~ N(0, 1) truncated to [-t, t]: (phi(0) - phi(t)) / (Phi(t) - 1/2)
    phi = lambda v: math.exp(-v * v / 2) / math.sqrt(2 * math.pi)  # noqa: E731
    Phi = lambda v: 0.5 * (1 + math.erf(v / math.sqrt(2)))  # noqa: E731
    want = (phi(0) - phi(t)) / (Phi(t) - 0.5)
    assert abs(np.abs(out).mean() - want) < 3e-3
    np.testing.assert_array_equal(np.asarray(sampling.truncate(z, jax.random.key(1), 0.0)), np.asarray(z))


def test_hierarchical_z_feeds_one_chunk_per_block():
    g = BigGANGenerator(image_size=28, channels=1, width=2, num_classes=3, shared_dim=4, axis_name=None)
    assert g.chunks(13) == (3, 4)  # two blocks at 28 px: three chunks, the 13th entry unused
    rng = np.random.default_rng(0)
    z = jnp.asarray(rng.normal(size=(4, 13)), jnp.float32)
    y = jnp.array([0, 1, 2, 0])
    v = g.init(jax.random.key(0), z, y, train=False)
    assert v["params"]["linear"]["kernel"].shape == (4, 7 * 7 * 8)  # chunk 0 -> the 7x7 input
    assert v["params"]["block0"]["bn1"]["gain"]["kernel"].shape == (4 + 4, 8)  # embedding + chunk 1
    apply = jax.jit(lambda z: g.apply(v, z, y, train=False))
    out = lambda z: np.asarray(apply(z))  # noqa: E731
    base = out(z)
    np.testing.assert_array_equal(out(z.at[:, 12].set(5.0)), base)  # the remainder is unused
    for k in range(3):  # every chunk matters
        assert np.abs(out(z.at[:, 4 * k].add(1.0)) - base).max() > 1e-6


class _TwoNorms(nn.Module):
    @nn.compact
    def __call__(self, x, train=True):
        h = BatchNorm(axis_name=None)(x, train)
        return nn.SpectralNorm(nn.Dense(3))(h, update_stats=train)


def test_standing_statistics_are_the_batches_average_moments():
    rng = np.random.default_rng(0)
    batches = [(jnp.asarray(rng.normal(i, 1 + i, (16, 3)), jnp.float32),) for i in range(3)]
    model = _TwoNorms()
    v = model.init(jax.random.key(0), batches[0][0])
    got = sampling.standing_statistics(model, v, batches)
    bs = got["batch_stats"]["BatchNorm_0"]["BatchNorm_0"]
    xs = [np.asarray(b[0]) for b in batches]
    np.testing.assert_allclose(bs["mean"], np.mean([x.mean(0) for x in xs], 0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(bs["var"], np.mean([x.var(0) for x in xs], 0), rtol=1e-5, atol=1e-6)
    sn = lambda t: t["batch_stats"]["SpectralNorm_0"]  # noqa: E731
    jax.tree.map(np.testing.assert_array_equal, sn(got), sn(v))  # SN's vectors are kept


def _quick(**overrides):
    return load_experiment("experiments/biggan.py", "quick", **overrides)


def test_ema_starts_late(tmp_path):
    """train.ema_start = 3 (on gan:quick, the cheapest G with an EMA): after 2 iterations the EMA
    is G itself (decay 0 while the 1-based iteration is below 3), after 4 it is not."""
    def cfg_of(steps):
        cfg = load_experiment("experiments/gan.py", "quick")
        cfg.train.ema_decay, cfg.train.ema_start = 0.9, 3
        cfg.train.steps, cfg.train.checkpoint_every, cfg.eval.every = steps, 2, 0
        return cfg

    cfg = cfg_of(4)
    train.run(cfg, str(tmp_path / "straight"))

    def state(workdir, step):
        ckpt = Checkpointer(os.path.join(workdir, "checkpoints"))
        s, _ = ckpt.restore(build(cfg).state, step=step)
        ckpt.close()
        return jax.device_get(s)

    at2, at4 = state(tmp_path / "straight", 2), state(tmp_path / "straight", 4)
    jax.tree.map(np.testing.assert_array_equal, at2.ema["g"]["params"], at2.nets["g"].params)
    diff = jax.tree.map(lambda a, b: float(np.abs(a - b).max()), at4.ema["g"]["params"], at4.nets["g"].params)
    assert max(jax.tree.leaves(diff)) > 0


def test_quick_run_through_launch_trains_and_writes_the_class_by_seed_grid(tmp_path):
    """biggan:quick (ortho on G, EMA from 2, standing statistics in the grids)."""
    import json

    from PIL import Image
    from conftest import launch
    r = launch("--config", "experiments/biggan.py:quick", "--workdir", str(tmp_path),
               "--config.train.d_steps=1")  # the n_critic loop is the gan family's, tested there
    assert r.returncode == 0, r.stderr[-3000:]
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert all(np.isfinite(r["d_loss"]) and np.isfinite(r["g_loss"]) for r in records if "d_loss" in r)
    grid = Image.open(tmp_path / "samples" / "ema_step_0000004.png")
    assert grid.size == (10 * 30 + 2, 2 * 30 + 2)  # 20 samples, a column per class


def test_biggan_generator_needs_the_projection_conditioning():
    with pytest.raises(ConfigError, match=r"model\.conditioning='projection'"):
        make_family(_quick(**{"model.conditioning": "none"}))


def test_adam_ortho_chain_is_ortho_then_adam():
    cfg = load_experiment("experiments/biggan.py", "quick").optim.g
    tx = optim.make_optimizer(cfg)
    p = {"w": jnp.asarray(np.random.default_rng(0).normal(size=(4, 3)), jnp.float32)}
    g = {"w": jnp.ones((4, 3), jnp.float32)}
    ref = optax.chain(optim.ortho_regularization(cfg.ortho_reg), optax.adam(cfg.lr, b1=0.0, b2=0.999, eps=1e-8))
    u1, _ = tx.update(g, tx.init(p), p)
    u2, _ = ref.update(g, ref.init(p), p)
    np.testing.assert_array_equal(np.asarray(u1["w"]), np.asarray(u2["w"]))
