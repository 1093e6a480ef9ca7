"""The hinge, least-squares, relativistic and f-GAN objectives against their formulas,
computed independently in float64 NumPy on hand-made logits, and the objective registry."""
import inspect

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jgan import losses

# Negative, positive, zero and largish values (|v| <= 15 keeps the naive float64 reference
# formulas accurate; extreme values are tested separately).
REAL = np.array([2.0, -1.0, 0.5, 3.0, -12.0, 15.0, 0.0], np.float32)
FAKE = np.array([-2.0, 0.3, -0.7, 1.5, 13.0, -14.0, 0.0], np.float32)
R, F = REAL.astype(np.float64), FAKE.astype(np.float64)
LOG2 = np.log(2.0)

RELATIVISTIC = {"rsgan", "ragan"}
F_NAMES = ["kl", "reverse_kl", "pearson", "hellinger", "js", "gan"]


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-np.asarray(x, np.float64)))


def close(actual, expected, rtol=2e-6, atol=1e-6):
    np.testing.assert_allclose(np.asarray(actual, np.float64), expected, rtol=rtol, atol=atol)


# ----------------------------------------------------------------------------- hinge
def test_hinge():
    # Lim & Ye 2017 / Miyato et al. 2018: D: E max(0, 1 - D(x)) + E max(0, 1 + D(G(z))); G: -E D(G(z)).
    expected_d = np.mean(np.maximum(0.0, 1.0 - R)) + np.mean(np.maximum(0.0, 1.0 + F))
    close(losses.d_hinge(real_logits=REAL, fake_logits=FAKE), expected_d)
    close(losses.g_hinge(fake_logits=FAKE), -np.mean(F))
    obj = losses.get_objective("hinge")
    close(obj.d_loss(real_logits=REAL, fake_logits=FAKE), expected_d)


def test_hinge_is_zero_beyond_the_margins():
    assert float(losses.d_hinge(real_logits=np.array([1.0, 5.0]), fake_logits=np.array([-1.0, -3.0]))) == 0.0


# ----------------------------------------------------------------------------- LSGAN
@pytest.mark.parametrize("name,a,b,c", [("lsgan", 0.0, 1.0, 1.0), ("lsgan_symmetric", -1.0, 1.0, 0.0)])
def test_lsgan_named_settings(name, a, b, c):
    # Mao et al. 2017: D: 1/2 E (D(x) - b)^2 + 1/2 E (D(G(z)) - a)^2; G: 1/2 E (D(G(z)) - c)^2.
    obj = losses.get_objective(name)
    close(obj.d_loss(real_logits=REAL, fake_logits=FAKE),
          0.5 * np.mean((R - b) ** 2) + 0.5 * np.mean((F - a) ** 2))
    close(obj.g_loss(fake_logits=FAKE), 0.5 * np.mean((F - c) ** 2))
    assert not obj.g_needs_real


def test_least_squares_factory_arbitrary_labels():
    a, b, c = 0.3, -0.2, 0.7
    obj = losses.least_squares(a, b, c)
    close(obj.d_loss(real_logits=REAL, fake_logits=FAKE),
          0.5 * np.mean((R - b) ** 2) + 0.5 * np.mean((F - a) ** 2))
    close(obj.g_loss(fake_logits=FAKE, real_logits=REAL), 0.5 * np.mean((F - c) ** 2))
    # D's optimum without a generator to fight: real logits at b, fake at a; G's: fakes at c.
    n = 5
    close(obj.d_loss(real_logits=np.full(n, b, np.float32), fake_logits=np.full(n, a, np.float32)), 0.0)
    close(obj.g_loss(fake_logits=np.full(n, c, np.float32)), 0.0)


# ----------------------------------------------------------------------------- relativistic
def test_rsgan_against_sigmoid_formulas():
    # Jolicoeur-Martineau 2018: D: -E log sigmoid(C(x_r) - C(x_f)); G: -E log sigmoid(C(x_f) - C(x_r)).
    close(losses.d_relativistic(real_logits=REAL, fake_logits=FAKE), -np.mean(np.log(sigmoid(R - F))))
    close(losses.g_relativistic(fake_logits=FAKE, real_logits=REAL), -np.mean(np.log(sigmoid(F - R))))


def test_ragan_against_sigmoid_formulas():
    # D: -E_r log sigmoid(C(x_r) - E C(x_f)) - E_f log(1 - sigmoid(C(x_f) - E C(x_r))); G: roles swapped.
    expected_d = (-np.mean(np.log(sigmoid(R - F.mean())))
                  - np.mean(np.log(1.0 - sigmoid(F - R.mean()))))
    expected_g = (-np.mean(np.log(sigmoid(F - R.mean())))
                  - np.mean(np.log(1.0 - sigmoid(R - F.mean()))))
    close(losses.d_relativistic_average(real_logits=REAL, fake_logits=FAKE), expected_d)
    close(losses.g_relativistic_average(fake_logits=FAKE, real_logits=REAL), expected_g)


def test_ragan_generator_gradient_flows_through_the_fake_mean():
    # The second term of RaGAN's G loss depends on the fakes only through E C(x_f).
    g = jax.grad(lambda f: losses.g_relativistic_average(fake_logits=f, real_logits=REAL))(FAKE)
    n = len(F)
    s1 = sigmoid(R.mean() - F)              # d/df_i softplus(mean_r - f_i) = -sigmoid(mean_r - f_i)
    s2 = sigmoid(R - F.mean())              # d/dmean_f softplus(r_j - mean_f) = -sigmoid(r_j - mean_f)
    expected = -s1 / n - np.mean(s2) / n
    close(g, expected, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name", sorted(RELATIVISTIC))
def test_relativistic_generators_require_real_logits(name):
    with pytest.raises(ValueError, match="real_logits"):
        losses.get_objective(name).g_loss(fake_logits=FAKE)


# ----------------------------------------------------------------------------- f-GAN
# Nowozin et al. 2016, Table 2 (f, f*, dom f*) and Table 6 (output activation g_f), in NumPy.
NP_F = {
    "kl": dict(f=lambda u: u * np.log(u), g=lambda v: v, fstar=lambda t: np.exp(t - 1), sup=np.inf),
    "reverse_kl": dict(f=lambda u: -np.log(u), g=lambda v: -np.exp(-v),
                       fstar=lambda t: -1 - np.log(-t), sup=0.0),
    "pearson": dict(f=lambda u: (u - 1) ** 2, g=lambda v: v, fstar=lambda t: t ** 2 / 4 + t, sup=np.inf),
    "hellinger": dict(f=lambda u: (np.sqrt(u) - 1) ** 2, g=lambda v: 1 - np.exp(-v),
                      fstar=lambda t: t / (1 - t), sup=1.0),
    "js": dict(f=lambda u: -(u + 1) * np.log((1 + u) / 2) + u * np.log(u),
               g=lambda v: LOG2 - np.log(1 + np.exp(-v)), fstar=lambda t: -np.log(2 - np.exp(t)),
               sup=LOG2),
    "gan": dict(f=lambda u: u * np.log(u) - (u + 1) * np.log(u + 1),
                g=lambda v: -np.log(1 + np.exp(-v)), fstar=lambda t: -np.log(1 - np.exp(t)), sup=0.0),
}


def test_f_divergence_records():
    assert sorted(losses.F_DIVERGENCES) == sorted(F_NAMES)
    for name, div in losses.F_DIVERGENCES.items():
        assert isinstance(div, losses.FDivergence) and div.name == name


@pytest.mark.parametrize("name", F_NAMES)
def test_f_gan_objective_against_table(name):
    # D maximises E_P[g_f(V(x))] - E_Q[f*(g_f(V(G(z))))]; G (Sec. 3.2) maximises E_Q[g_f(V(G(z)))].
    ref = NP_F[name]
    obj = losses.get_objective(f"f_{name}")
    expected_d = -(np.mean(ref["g"](R)) - np.mean(ref["fstar"](ref["g"](F))))
    close(obj.d_loss(real_logits=REAL, fake_logits=FAKE), expected_d, rtol=1e-5)
    close(obj.g_loss(fake_logits=FAKE), -np.mean(ref["g"](F)), rtol=1e-5)
    assert not obj.g_needs_real


@pytest.mark.parametrize("name", F_NAMES)
def test_f_gan_pieces_in_float64(name):
    ref, div = NP_F[name], losses.F_DIVERGENCES[name]
    v = np.linspace(-30.0, 30.0, 241)
    with jax.enable_x64(True):
        t = np.asarray(div.activation(jnp.asarray(v)))
        np.testing.assert_allclose(t, ref["g"](v), rtol=1e-12, atol=1e-14)
        # Every real logit is mapped strictly into dom f*, where f* is finite.
        assert np.all(t < ref["sup"])
        fstar = np.asarray(div.conjugate(jnp.asarray(t)))
        assert np.all(np.isfinite(fstar))
        fused = np.asarray(div.conjugate_of_activation(jnp.asarray(v)))
        assert np.all(np.isfinite(fused))
    # Against the table's formulas where these are accurate in float64 (near the boundary of
    # dom f*, e.g. 2 - exp(t) for t -> log 2, they cancel catastrophically).
    m = np.abs(v) <= 15
    np.testing.assert_allclose(fstar[m], ref["fstar"](t[m]), rtol=1e-7, atol=1e-12)
    # The closed-form f*(g_f(v)) equals the composition of the table's pieces.
    np.testing.assert_allclose(fused[m], ref["fstar"](ref["g"](v[m])), rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("name", F_NAMES)
def test_fenchel_young_equality(name):
    # For convex differentiable f: f*(f'(u)) = u f'(u) - f(u). f' by central differences of the
    # table's f (float64), f* from the library.
    ref, div = NP_F[name], losses.F_DIVERGENCES[name]
    u = np.array([0.1, 0.5, 1.0, 2.0, 5.0])
    h = 1e-6
    fprime = (ref["f"](u + h) - ref["f"](u - h)) / (2 * h)
    with jax.enable_x64(True):
        lhs = np.asarray(div.conjugate(jnp.asarray(fprime)))
    np.testing.assert_allclose(lhs, u * fprime - ref["f"](u), rtol=1e-7, atol=1e-8)


def test_conjugates_at_known_points():
    fd = losses.F_DIVERGENCES
    close(fd["kl"].conjugate(1.0), 1.0)
    close(fd["reverse_kl"].conjugate(-1.0), -1.0)
    close(fd["pearson"].conjugate(2.0), 3.0)
    close(fd["hellinger"].conjugate(0.5), 1.0)
    close(fd["js"].conjugate(0.0), 0.0)
    close(fd["gan"].conjugate(-LOG2), LOG2)


@pytest.mark.parametrize("name", F_NAMES)
def test_f_gan_discriminator_optimum_when_p_equals_q(name):
    # With P = Q the best T is the constant f'(1) and sup_T F = D_f(P || P) = f(1) (0 for a
    # proper divergence; -log 4 for the paper's 'GAN' f). A D that cannot tell the two apart
    # outputs one logit v for both; -F(v) >= -f(1), with equality and zero gradient at the v0
    # with g_f(v0) = f'(1) (v0 = 1 for KL, 0 for the others).
    obj = losses.get_objective(f"f_{name}")
    v0 = 1.0 if name == "kl" else 0.0
    f1 = NP_F[name]["f"](1.0)

    def neg_f(v):
        logits = jnp.full((4,), v)
        return obj.d_loss(real_logits=logits, fake_logits=logits)

    close(neg_f(v0), -f1, atol=1e-6)
    close(jax.grad(neg_f)(v0), 0.0, atol=1e-6)
    assert all(float(neg_f(v)) >= -f1 - 1e-6 for v in np.linspace(-3.0, 3.0, 13))


def test_f_gan_with_the_gan_divergence_is_the_standard_gan():
    obj = losses.get_objective("f_gan")
    close(obj.d_loss(real_logits=REAL, fake_logits=FAKE),
          float(losses.d_minimax(real_logits=REAL, fake_logits=FAKE)), rtol=1e-6)
    close(obj.g_loss(fake_logits=FAKE), float(losses.g_non_saturating(fake_logits=FAKE)), rtol=1e-6)


# ----------------------------------------------------------------------------- registry
def test_registry_names_and_g_needs_real():
    expected = {"minimax", "non_saturating", "wasserstein", "hinge", "lsgan", "lsgan_symmetric",
                "rsgan", "ragan", "f_kl", "f_reverse_kl", "f_pearson", "f_hellinger", "f_js", "f_gan"}
    assert set(losses.OBJECTIVES) == expected
    for name in expected:
        obj = losses.get_objective(name)
        assert isinstance(obj, losses.Objective)
        assert obj.g_needs_real is (name in RELATIVISTIC), name


def test_every_generator_function_takes_real_logits():
    g_fns = [f for n, f in vars(losses).items() if n.startswith("g_") and callable(f)]
    assert len(g_fns) >= 8
    for fn in g_fns:
        params = inspect.signature(fn).parameters
        assert params["fake_logits"].kind is inspect.Parameter.KEYWORD_ONLY, fn.__name__
        assert params["real_logits"].kind is inspect.Parameter.KEYWORD_ONLY, fn.__name__


@pytest.mark.parametrize("name", sorted(losses.OBJECTIVES))
def test_every_objective_g_loss_accepts_real_logits(name):
    obj = losses.get_objective(name)
    with_real = obj.g_loss(fake_logits=FAKE, real_logits=REAL)
    assert np.isfinite(with_real)
    if not obj.g_needs_real:  # ignored when not needed
        close(with_real, float(obj.g_loss(fake_logits=FAKE)), rtol=0, atol=0)


@pytest.mark.parametrize("name", sorted(losses.OBJECTIVES))
def test_finite_values_and_gradients_for_large_logits(name):
    obj = losses.get_objective(name)
    real = np.array([80.0, -80.0, 3.0], np.float32)
    fake = np.array([-80.0, 80.0, -3.0], np.float32)
    d_val, d_grads = jax.value_and_grad(
        lambda r, f: obj.d_loss(real_logits=r, fake_logits=f), argnums=(0, 1))(real, fake)
    g_val, g_grads = jax.value_and_grad(
        lambda r, f: obj.g_loss(fake_logits=f, real_logits=r), argnums=(0, 1))(real, fake)
    for x in (d_val, g_val, *d_grads, *g_grads):
        assert np.all(np.isfinite(x)), name


@pytest.mark.parametrize("name", ["hinge", "lsgan", "lsgan_symmetric", "rsgan", "ragan", "f_pearson",
                                  "f_js", "f_gan"])
def test_no_overflow_for_extreme_logits(name):
    # (f_kl, f_hellinger and f_reverse_kl contain exp(|v|) terms, e.g. g_f(v) = -exp(-v) for
    # reverse KL: their true values overflow float32 at |v| = 1e4.)
    obj = losses.get_objective(name)
    big = 1e4
    real = np.array([big, -big], np.float32)
    fake = np.array([-big, big], np.float32)
    assert np.isfinite(obj.d_loss(real_logits=real, fake_logits=fake))
    assert np.isfinite(obj.g_loss(fake_logits=fake, real_logits=real))


def test_objectives_jit():
    for name, obj in losses.OBJECTIVES.items():
        d = jax.jit(lambda r, f: obj.d_loss(real_logits=r, fake_logits=f))(REAL, FAKE)
        g = jax.jit(lambda r, f: obj.g_loss(fake_logits=f, real_logits=r))(REAL, FAKE)
        close(d, float(obj.d_loss(real_logits=REAL, fake_logits=FAKE)), rtol=1e-5)
        close(g, float(obj.g_loss(fake_logits=FAKE, real_logits=REAL)), rtol=1e-5)
