"""Adversarial objectives against their formulas from the papers, on hand-made logits."""
import jax.numpy as jnp
import numpy as np
import pytest

from jgan import losses

REAL = np.array([2.0, -1.0, 0.5, 3.0], np.float32)
FAKE = np.array([-2.0, 0.3, -0.7, 1.5], np.float32)


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x.astype(np.float64)))


def test_minimax_discriminator_is_eq1_negated():
    # D maximises E log D(x) + E log(1 - D(G(z))) (Goodfellow et al. 2014, Eq. 1).
    expected = -(np.mean(np.log(sigmoid(REAL))) + np.mean(np.log(1 - sigmoid(FAKE))))
    np.testing.assert_allclose(losses.d_minimax(real_logits=REAL, fake_logits=FAKE), expected, rtol=1e-6)


def test_minimax_generator_minimises_log_one_minus_d():
    expected = np.mean(np.log(1 - sigmoid(FAKE)))
    np.testing.assert_allclose(losses.g_minimax(fake_logits=FAKE), expected, rtol=1e-6)


def test_non_saturating_generator_maximises_log_d():
    expected = -np.mean(np.log(sigmoid(FAKE)))
    np.testing.assert_allclose(losses.g_non_saturating(fake_logits=FAKE), expected, rtol=1e-6)


def test_wasserstein_critic_and_generator():
    # The critic maximises E f(x) - E f(G(z)) (Arjovsky et al. 2017, Alg. 1); G maximises E f(G(z)).
    np.testing.assert_allclose(losses.d_wasserstein(real_logits=REAL, fake_logits=FAKE),
                               FAKE.mean() - REAL.mean(), rtol=1e-6)
    np.testing.assert_allclose(losses.g_wasserstein(fake_logits=FAKE), -FAKE.mean(), rtol=1e-6)


def test_hand_computed_values():
    # logit 0 -> D = 1/2: every log term is log 2.
    zero = np.zeros(3, np.float32)
    np.testing.assert_allclose(losses.d_minimax(real_logits=zero, fake_logits=zero), 2 * np.log(2), rtol=1e-6)
    np.testing.assert_allclose(losses.g_minimax(fake_logits=zero), -np.log(2), rtol=1e-6)
    np.testing.assert_allclose(losses.g_non_saturating(fake_logits=zero), np.log(2), rtol=1e-6)


def test_saturation_gradients():
    # With D confidently rejecting fakes (logit -10), the minimax G gradient vanishes and the
    # non-saturating one does not: the reason for the NS objective (Goodfellow et al. Sec. 3).
    import jax
    x = np.full(4, -10.0, np.float32)
    g_mm = jax.grad(lambda l: losses.g_minimax(fake_logits=l))(x)
    g_ns = jax.grad(lambda l: losses.g_non_saturating(fake_logits=l))(x)
    assert np.all(np.abs(g_mm) < 1e-4) and np.all(np.abs(g_ns) > 0.2)


@pytest.mark.parametrize("big", [80.0, 1e4])
def test_no_overflow_for_extreme_logits(big):
    real = np.array([big, -big], np.float32)
    fake = np.array([-big, big], np.float32)
    for v in (losses.d_minimax(real_logits=real, fake_logits=fake), losses.g_minimax(fake_logits=fake),
              losses.g_non_saturating(fake_logits=fake)):
        assert np.isfinite(v)
    np.testing.assert_allclose(losses.g_non_saturating(fake_logits=fake), big / 2, rtol=1e-5)


def test_d_output_metrics_name_what_d_says():
    """Probabilities are the mean of the sigmoids (not the sigmoid of the mean logit); the
    Wasserstein estimate is E f(x) - E f(G(z)); other objectives report the logits only."""
    real, fake = np.array([3.0, -1.0, 0.5]), np.array([-4.0, 2.0, 0.0])
    p = losses.d_output_metrics("probability", real_logits=jnp.asarray(real), fake_logits=jnp.asarray(fake))
    assert set(p) == {"d_real_logit", "d_fake_logit", "d_real_prob", "d_fake_prob"}
    np.testing.assert_allclose(p["d_real_prob"], np.mean([0.95257413, 0.26894142, 0.62245933]), rtol=1e-6)
    np.testing.assert_allclose(p["d_fake_prob"], sigmoid(fake).mean(), rtol=1e-6)
    np.testing.assert_allclose(p["d_real_logit"], 2.5 / 3, rtol=1e-6)
    w = losses.d_output_metrics("critic", real_logits=jnp.asarray(real), fake_logits=jnp.asarray(fake))
    assert set(w) == {"d_real_logit", "d_fake_logit", "wasserstein_estimate"}
    np.testing.assert_allclose(w["wasserstein_estimate"], 2.5 / 3 - (-2.0 / 3), rtol=1e-6)
    assert set(losses.d_output_metrics("score", real_logits=jnp.asarray(real), fake_logits=jnp.asarray(fake))) == {
        "d_real_logit", "d_fake_logit"}
    kinds = {n: o.d_output for n, o in losses.OBJECTIVES.items()}
    assert kinds["minimax"] == kinds["non_saturating"] == "probability" and kinds["wasserstein"] == "critic"
    assert kinds["hinge"] == kinds["lsgan"] == "score"
