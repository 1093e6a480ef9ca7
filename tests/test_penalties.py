"""Gradient penalties against closed-form and finite-difference gradient norms."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jgan import penalties

N, SHAPE = 5, (2, 3)          # 5 examples of shape [2, 3]: norms are over all non-batch axes
DIM = int(np.prod(SHAPE))


def batch(seed, scale=1.0, shift=0.0):
    return (shift + scale * np.random.default_rng(seed).normal(size=(N, *SHAPE))).astype(np.float32)


def linear_d(w):
    """D(x) = <w, x>: grad_x D = w everywhere."""
    w = jnp.asarray(w)
    return lambda x: jnp.sum(x.reshape(x.shape[0], -1) * w.reshape(1, -1), axis=1)


# A small nonlinear per-example D, its float64 NumPy twin, and central differences.
_rng = np.random.default_rng(0)
W1 = _rng.normal(size=(DIM, 4)) / 2
B1 = _rng.normal(size=4)
W2 = _rng.normal(size=4)


def mlp_d(x):
    h = jnp.tanh(x.reshape(x.shape[0], -1) @ jnp.asarray(W1, x.dtype) + jnp.asarray(B1, x.dtype))
    return h @ jnp.asarray(W2, x.dtype) + 0.1 * jnp.sum(x.reshape(x.shape[0], -1) ** 2, axis=1)


def mlp_np(x):  # one example, float64
    x = np.asarray(x, np.float64).reshape(-1)
    return np.tanh(x @ W1 + B1) @ W2 + 0.1 * np.sum(x ** 2)


def fd_grad_norms(points, h=1e-5):
    points = np.asarray(points, np.float64).reshape(len(points), -1)
    norms = []
    for p in points:
        g = np.array([(mlp_np(p + h * e) - mlp_np(p - h * e)) / (2 * h) for e in np.eye(p.size)])
        norms.append(np.linalg.norm(g))
    return np.array(norms)


KEY = jax.random.key(3)


# ----------------------------------------------------------------------------- linear D
def test_wgan_gp_is_zero_for_unit_gradient_everywhere():
    w = np.random.default_rng(1).normal(size=SHAPE)
    w /= np.linalg.norm(w)
    pen, norms = penalties.wgan_gp(linear_d(w.astype(np.float32)), batch(1), batch(2), KEY)
    np.testing.assert_allclose(norms, np.ones(N), rtol=1e-6)
    assert abs(float(pen)) < 1e-10


def test_wgan_gp_linear_closed_form_and_target():
    w = np.full(SHAPE, 0.5, np.float32)          # ||w|| = 0.5 * sqrt(6)
    nw = 0.5 * np.sqrt(DIM)
    pen, norms = penalties.wgan_gp(linear_d(w), batch(1), batch(2), KEY, weight=3.0)
    np.testing.assert_allclose(norms, np.full(N, nw), rtol=1e-6)
    np.testing.assert_allclose(pen, 3.0 * (nw - 1.0) ** 2, rtol=1e-5)
    pen_t, _ = penalties.wgan_gp(linear_d(w), batch(1), batch(2), KEY, target=nw)
    assert abs(float(pen_t)) < 1e-10


def test_r1_r2_linear_closed_form():
    w = np.random.default_rng(4).normal(size=SHAPE).astype(np.float32)
    sq = float(np.sum(w.astype(np.float64) ** 2))
    for fn, x in ((penalties.r1, batch(1)), (penalties.r2, batch(2))):
        pen, norms = fn(linear_d(w), x, gamma=7.0)
        np.testing.assert_allclose(pen, 7.0 / 2 * sq, rtol=1e-5)
        np.testing.assert_allclose(norms, np.full(N, np.sqrt(sq)), rtol=1e-5)


def test_dragan_linear_closed_form():
    w = np.full(SHAPE, 1.0, np.float32)          # ||w|| = sqrt(6)
    pen, norms = penalties.dragan(linear_d(w), batch(1), KEY, weight=2.0)
    np.testing.assert_allclose(norms, np.full(N, np.sqrt(DIM)), rtol=1e-6)
    np.testing.assert_allclose(pen, 2.0 * (np.sqrt(DIM) - 1.0) ** 2, rtol=1e-5)


# ----------------------------------------------------------------------------- nonlinear D
def test_wgan_gp_against_finite_differences():
    real, fake = batch(1), batch(2, scale=0.5, shift=1.0)
    with jax.enable_x64(True):
        real64, fake64 = real.astype(np.float64), fake.astype(np.float64)
        x_hat = np.asarray(penalties.wgan_gp_interpolates(real64, fake64, KEY))
        pen, norms = penalties.wgan_gp(mlp_d, real64, fake64, KEY, weight=10.0)
    expected = fd_grad_norms(x_hat)
    assert np.ptp(expected) > 0.1               # distinct per-example norms: rows not mixed up
    np.testing.assert_allclose(norms, expected, rtol=1e-7)
    np.testing.assert_allclose(pen, 10.0 * np.mean((expected - 1.0) ** 2), rtol=1e-7)


@pytest.mark.parametrize("which", ["r1", "r2"])
def test_r1_r2_against_finite_differences(which):
    x = batch(5, scale=1.5)
    with jax.enable_x64(True):
        pen, norms = getattr(penalties, which)(mlp_d, x.astype(np.float64), gamma=0.3)
    expected = fd_grad_norms(x)
    np.testing.assert_allclose(norms, expected, rtol=1e-7)
    np.testing.assert_allclose(pen, 0.15 * np.mean(expected ** 2), rtol=1e-7)


def test_dragan_against_finite_differences():
    real = batch(6)
    with jax.enable_x64(True):
        x_hat = np.asarray(penalties.dragan_interpolates(real.astype(np.float64), KEY, c=0.5))
        pen, norms = penalties.dragan(mlp_d, real.astype(np.float64), KEY, weight=10.0, c=0.5)
    expected = fd_grad_norms(x_hat)
    np.testing.assert_allclose(norms, expected, rtol=1e-7)
    np.testing.assert_allclose(pen, 10.0 * np.mean((expected - 1.0) ** 2), rtol=1e-7)


def test_float32_matches_finite_differences_loosely():
    real, fake = batch(1), batch(2)
    x_hat = np.asarray(penalties.wgan_gp_interpolates(real, fake, KEY))
    _, norms = penalties.wgan_gp(mlp_d, real, fake, KEY)
    np.testing.assert_allclose(norms, fd_grad_norms(x_hat), rtol=1e-4)


# ----------------------------------------------------------------------------- sampling
def test_wgan_gp_interpolates_lie_on_the_segments():
    real, fake = batch(1), batch(2)
    x_hat = np.asarray(penalties.wgan_gp_interpolates(real, fake, KEY), np.float64)
    d = (real - fake).astype(np.float64).reshape(N, -1)
    t = np.sum((x_hat.reshape(N, -1) - fake.reshape(N, -1)) * d, axis=1) / np.sum(d * d, axis=1)
    assert np.all((t >= 0) & (t <= 1)) and np.ptp(t) > 0     # one eps per example, in [0, 1]
    np.testing.assert_allclose(x_hat.reshape(N, -1), fake.reshape(N, -1) + t[:, None] * d, atol=1e-5)
    # ... and eps is the documented draw from the key.
    eps = np.asarray(jax.random.uniform(KEY, (N, 1, 1)))
    np.testing.assert_allclose(x_hat, eps * real + (1 - eps) * fake, rtol=1e-6, atol=1e-6)
    # Another key, other points.
    other = np.asarray(penalties.wgan_gp_interpolates(real, fake, jax.random.key(4)))
    assert not np.allclose(other, x_hat)


def test_penalty_evaluates_d_at_the_interpolates():
    seen = []

    def recording_d(x):
        jax.debug.callback(lambda v: seen.append(np.asarray(v)), x)
        return linear_d(np.ones(SHAPE, np.float32))(x)

    real, fake = batch(1), batch(2)
    penalties.wgan_gp(recording_d, real, fake, KEY)
    np.testing.assert_allclose(seen[-1], penalties.wgan_gp_interpolates(real, fake, KEY), rtol=1e-6)
    seen.clear()
    penalties.dragan(recording_d, real, KEY)
    np.testing.assert_allclose(seen[-1], penalties.dragan_interpolates(real, KEY), rtol=1e-6)


def test_dragan_points_follow_the_authors_code():
    real = batch(7)
    c = 0.5
    x_hat = np.asarray(penalties.dragan_interpolates(real, KEY, c=c), np.float64)
    k_u, k_alpha = jax.random.split(KEY)
    u = np.asarray(jax.random.uniform(k_u, real.shape), np.float64)
    alpha = np.asarray(jax.random.uniform(k_alpha, (N, 1, 1)), np.float64)
    x = real.astype(np.float64)
    x_p = x + c * x.std() * u                       # std over the whole batch
    np.testing.assert_allclose(x_hat, alpha * x + (1 - alpha) * x_p, rtol=1e-5, atol=1e-6)
    # The perturbation is non-negative and at most c * std(batch) per coordinate.
    delta = x_hat - x
    assert np.all(delta >= -1e-6) and np.all(delta <= c * x.std() + 1e-6)


# ----------------------------------------------------------------------------- differentiability
@pytest.mark.parametrize("name", ["wgan_gp", "r1", "r2", "dragan"])
def test_gradients_wrt_d_params_are_finite_and_jittable(name):
    real, fake = batch(1), batch(2)

    def penalty(w):  # D's parameter w; w = 0 gives a zero input gradient (sqrt at 0)
        d_fn = linear_d(w)
        if name == "wgan_gp":
            return penalties.wgan_gp(d_fn, real, fake, KEY)[0]
        if name == "dragan":
            return penalties.dragan(d_fn, real, KEY)[0]
        return getattr(penalties, name)(d_fn, real if name == "r1" else fake, gamma=10.0)[0]

    for w in (np.zeros(SHAPE, np.float32), np.full(SHAPE, 0.2, np.float32)):
        g = jax.jit(jax.grad(penalty))(w)
        assert np.all(np.isfinite(g))
    # Two-sided penalties pull ||w|| towards 1: d/dw of 10 (||w|| - 1)^2 = 20 (||w|| - 1) w / ||w||.
    if name in ("wgan_gp", "dragan"):
        w = np.full(SHAPE, 0.2, np.float32)
        nw = np.linalg.norm(w)
        np.testing.assert_allclose(jax.grad(penalty)(w), 20 * (nw - 1) * w / nw, rtol=1e-5)
    else:  # d/dw of 5 ||w||^2 = 10 w
        w = np.full(SHAPE, 0.2, np.float32)
        np.testing.assert_allclose(jax.grad(penalty)(w), 10.0 * w, rtol=1e-5)


def test_registry():
    assert set(penalties.PENALTIES) == {"none", "wgan_gp", "r1", "r2", "dragan"}
    assert penalties.get_penalty("none") is None
    assert penalties.get_penalty("r1").fn is penalties.r1
    with pytest.raises(KeyError):
        penalties.get_penalty("gp")
