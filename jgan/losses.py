"""Adversarial objectives as plain functions of the discriminator's logits.

Every function takes logits ``[N]`` (D's raw output, before any sigmoid or output
activation) and returns a scalar to *minimise*. ``d_*`` functions are the discriminator's
loss, ``g_*`` the generator's. All are keyword-only:

* ``d_*(*, real_logits, fake_logits)``
* ``g_*(*, fake_logits, real_logits=None)``: every generator loss accepts ``real_logits``;
  only the relativistic ones use it (their :class:`Objective` has ``g_needs_real=True`` and
  the training step must then pass D's logits on a real batch; they raise without them).
  Real logits do not depend on G's parameters, so they only act as constants in G's loss.

With ``D(x) = sigmoid(logit)``:

* minimax (Goodfellow et al. 2014, Eq. 1): D maximises ``E log D(x) + E log(1 - D(G(z)))``;
  G minimises ``E log(1 - D(G(z)))`` (saturates when D rejects the fakes confidently).
* non-saturating (Goodfellow et al. 2014, Sec. 3): same D; G maximises ``E log D(G(z))``.
* wasserstein (Arjovsky et al. 2017, Alg. 1): the critic maximises ``E f(x) - E f(G(z))``;
  G minimises ``-E f(G(z))``.
* hinge (Lim & Ye 2017; Miyato et al. 2018): see :func:`d_hinge`.
* least squares (Mao et al. 2017): see :func:`least_squares` ('lsgan', 'lsgan_symmetric').
* relativistic standard / average (Jolicoeur-Martineau 2018): 'rsgan', 'ragan'.
* f-GAN (Nowozin et al. 2016): 'f_kl', 'f_reverse_kl', 'f_pearson', 'f_hellinger',
  'f_js', 'f_gan'; see :data:`F_DIVERGENCES` and :func:`f_gan`.

``log D = -softplus(-logit)`` and ``log(1 - D) = -softplus(logit)`` are used so that no
sigmoid is ever rounded to 0 or 1.
"""
from __future__ import annotations

import functools
import math
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp

_LOG2 = math.log(2.0)


class Objective(NamedTuple):
    """A (D loss, G loss) pair.

    ``g_needs_real``: the generator loss needs D's logits on real data (the relativistic
    objectives); the step then calls ``g_loss(fake_logits=..., real_logits=...)``.
    Otherwise ``g_loss(fake_logits=...)`` suffices (``real_logits`` is accepted and ignored).
    """

    d_loss: Callable[..., jax.Array]
    g_loss: Callable[..., jax.Array]
    g_needs_real: bool = False
    d_output: str = "score"  # what D's output means: see d_output_metrics


# ----------------------------------------------------------------------------- classic
def d_minimax(*, real_logits: jax.Array, fake_logits: jax.Array) -> jax.Array:
    """``-E log D(x) - E log(1 - D(G(z)))``: binary cross-entropy with real=1, fake=0."""
    return jnp.mean(jax.nn.softplus(-real_logits)) + jnp.mean(jax.nn.softplus(fake_logits))


def g_minimax(*, fake_logits: jax.Array, real_logits: jax.Array | None = None) -> jax.Array:
    """``E log(1 - D(G(z)))`` (the saturating generator loss of the minimax game).
    ``real_logits`` is ignored."""
    return -jnp.mean(jax.nn.softplus(fake_logits))


def g_non_saturating(*, fake_logits: jax.Array, real_logits: jax.Array | None = None) -> jax.Array:
    """``-E log D(G(z))``: the generator's labels flipped to 'real'. ``real_logits`` is ignored."""
    return jnp.mean(jax.nn.softplus(-fake_logits))


def d_wasserstein(*, real_logits: jax.Array, fake_logits: jax.Array) -> jax.Array:
    """``E f(G(z)) - E f(x)``: the negated Wasserstein estimate of the critic f."""
    return jnp.mean(fake_logits) - jnp.mean(real_logits)


def g_wasserstein(*, fake_logits: jax.Array, real_logits: jax.Array | None = None) -> jax.Array:
    """``-E f(G(z))``. ``real_logits`` is ignored."""
    return -jnp.mean(fake_logits)


# ----------------------------------------------------------------------------- hinge
def d_hinge(*, real_logits: jax.Array, fake_logits: jax.Array) -> jax.Array:
    """Hinge loss of the geometric GAN (Lim & Ye 2017) as used by SNGAN (Miyato et al. 2018,
    Sec. 4): ``E relu(1 - D(x)) + E relu(1 + D(G(z)))``."""
    return jnp.mean(jax.nn.relu(1.0 - real_logits)) + jnp.mean(jax.nn.relu(1.0 + fake_logits))


def g_hinge(*, fake_logits: jax.Array, real_logits: jax.Array | None = None) -> jax.Array:
    """Hinge generator loss (Lim & Ye 2017; Miyato et al. 2018): ``-E D(G(z))``.
    ``real_logits`` is ignored."""
    return -jnp.mean(fake_logits)


# ----------------------------------------------------------------------------- least squares
def d_least_squares(*, real_logits: jax.Array, fake_logits: jax.Array,
                    a: float = 0.0, b: float = 1.0) -> jax.Array:
    """LSGAN discriminator (Mao et al. 2017, Sec. 3.2, Eq. 2):
    ``1/2 E (D(x) - b)^2 + 1/2 E (D(G(z)) - a)^2`` (b: the 'real' label, a: the 'fake' label)."""
    return 0.5 * jnp.mean(jnp.square(real_logits - b)) + 0.5 * jnp.mean(jnp.square(fake_logits - a))


def g_least_squares(*, fake_logits: jax.Array, real_logits: jax.Array | None = None,
                    c: float = 1.0) -> jax.Array:
    """LSGAN generator (Mao et al. 2017, Sec. 3.2, Eq. 2): ``1/2 E (D(G(z)) - c)^2`` (c: the
    value G wants D to believe for fake data). ``real_logits`` is ignored."""
    return 0.5 * jnp.mean(jnp.square(fake_logits - c))


def least_squares(a: float, b: float, c: float) -> Objective:
    """The LSGAN objective (Mao et al. 2017, Eq. 2) with labels a (fake), b (real), c (G's target).

    The paper's two settings (Sec. 3.2.2): ``a=-1, b=1, c=0`` (``b - c = 1, b - a = 2``: G then
    minimises the Pearson chi^2 divergence between p_d + p_g and 2 p_g) and ``a=0, b=1, c=1``
    (the 0-1 coding, which the paper uses in its experiments). D's output is the raw (linear) logit.
    """
    return Objective(functools.partial(d_least_squares, a=a, b=b),
                     functools.partial(g_least_squares, c=c))


# ----------------------------------------------------------------------------- relativistic
def _require_real(real_logits, name):
    if real_logits is None:
        raise ValueError(f"{name} is a relativistic generator loss and needs real_logits "
                         "(D's logits on a real batch); its Objective has g_needs_real=True.")


def d_relativistic(*, real_logits: jax.Array, fake_logits: jax.Array) -> jax.Array:
    """RSGAN discriminator (Jolicoeur-Martineau 2018, Sec. 4, relativistic standard GAN):
    ``-E log sigmoid(C(x_r) - C(x_f))`` over *paired* samples (row i of real with row i of
    fake; the batches must have the same size) = ``E softplus(C(x_f) - C(x_r))``."""
    return jnp.mean(jax.nn.softplus(fake_logits - real_logits))


def g_relativistic(*, fake_logits: jax.Array, real_logits: jax.Array | None = None) -> jax.Array:
    """RSGAN generator (Jolicoeur-Martineau 2018, Sec. 4): ``-E log sigmoid(C(x_f) - C(x_r))``
    over paired samples = ``E softplus(C(x_r) - C(x_f))``. Requires ``real_logits``."""
    _require_real(real_logits, "g_relativistic")
    return jnp.mean(jax.nn.softplus(real_logits - fake_logits))


def d_relativistic_average(*, real_logits: jax.Array, fake_logits: jax.Array) -> jax.Array:
    """RaGAN discriminator (Jolicoeur-Martineau 2018, Sec. 4, relativistic average GAN):
    ``-E_r log sigmoid(C(x_r) - E_f C(x_f)) - E_f log(1 - sigmoid(C(x_f) - E_r C(x_r)))``
    = ``E softplus(E C(x_f) - C(x_r)) + E softplus(C(x_f) - E C(x_r))``. The averages are
    over the batch given (per device under data parallelism)."""
    mean_real, mean_fake = jnp.mean(real_logits), jnp.mean(fake_logits)
    return (jnp.mean(jax.nn.softplus(mean_fake - real_logits))
            + jnp.mean(jax.nn.softplus(fake_logits - mean_real)))


def g_relativistic_average(*, fake_logits: jax.Array,
                           real_logits: jax.Array | None = None) -> jax.Array:
    """RaGAN generator (Jolicoeur-Martineau 2018, Sec. 4), D's loss with the roles swapped:
    ``-E_f log sigmoid(C(x_f) - E_r C(x_r)) - E_r log(1 - sigmoid(C(x_r) - E_f C(x_f)))``
    = ``E softplus(E C(x_r) - C(x_f)) + E softplus(C(x_r) - E C(x_f))``. Requires
    ``real_logits`` (the second term depends on G through ``E C(x_f)``)."""
    _require_real(real_logits, "g_relativistic_average")
    mean_real, mean_fake = jnp.mean(real_logits), jnp.mean(fake_logits)
    return (jnp.mean(jax.nn.softplus(mean_real - fake_logits))
            + jnp.mean(jax.nn.softplus(real_logits - mean_fake)))


# ----------------------------------------------------------------------------- f-GAN
def _log1mexp(t):
    """``log(1 - exp(t))`` for ``t < 0``, accurate near 0 and for very negative t
    (Maechler 2012: ``log(-expm1(t))`` for ``t > -log 2``, ``log1p(-exp(t))`` below)."""
    t_hi = jnp.minimum(t, -_LOG2)   # keep the branch not taken finite (no NaN gradients)
    t_lo = jnp.maximum(t, -_LOG2)
    return jnp.where(t > -_LOG2, jnp.log(-jnp.expm1(t_lo)), jnp.log1p(-jnp.exp(t_hi)))


class FDivergence(NamedTuple):
    """One row of Nowozin et al. (2016), Table 2 (conjugate) and Table 6 (activation).

    ``activation``: ``g_f``, maps raw logits ``v`` (any real) into ``dom f*``; T(x) = g_f(V(x)).
    ``conjugate``: the Fenchel conjugate ``f*(t)`` on ``dom f*``.
    ``conjugate_of_activation``: ``f*(g_f(v))`` simplified in closed form; the D loss uses it.
    Composing the two in floating point is not safe: for large ``v``, g_f(v) rounds onto the
    boundary of ``dom f*`` (e.g. 1 for Hellinger, log 2 for JS), where f* is infinite, while
    the closed form stays finite wherever the true value is representable.
    """

    name: str
    activation: Callable[[jax.Array], jax.Array]
    conjugate: Callable[[jax.Array], jax.Array]
    conjugate_of_activation: Callable[[jax.Array], jax.Array]


F_DIVERGENCES: dict[str, FDivergence] = {
    # KL: f(u) = u log u; g_f(v) = v; f*(t) = exp(t - 1), dom R.
    "kl": FDivergence("kl", lambda v: v, lambda t: jnp.exp(t - 1.0), lambda v: jnp.exp(v - 1.0)),
    # Reverse KL: f(u) = -log u; g_f(v) = -exp(-v) < 0; f*(t) = -1 - log(-t), dom t < 0;
    # f*(g_f(v)) = v - 1.
    "reverse_kl": FDivergence("reverse_kl", lambda v: -jnp.exp(-v),
                              lambda t: -1.0 - jnp.log(-t), lambda v: v - 1.0),
    # Pearson chi^2: f(u) = (u - 1)^2; g_f(v) = v; f*(t) = t^2/4 + t, dom R.
    "pearson": FDivergence("pearson", lambda v: v, lambda t: 0.25 * t * t + t,
                           lambda v: 0.25 * v * v + v),
    # Squared Hellinger: f(u) = (sqrt(u) - 1)^2; g_f(v) = 1 - exp(-v) < 1;
    # f*(t) = t / (1 - t), dom t < 1; f*(g_f(v)) = exp(v) - 1.
    "hellinger": FDivergence("hellinger", lambda v: -jnp.expm1(-v), lambda t: t / (1.0 - t),
                             jnp.expm1),
    # Jensen-Shannon: f(u) = -(u + 1) log((1 + u)/2) + u log u;
    # g_f(v) = log 2 - log(1 + exp(-v)) < log 2; f*(t) = -log(2 - exp(t)), dom t < log 2;
    # f*(g_f(v)) = -log(2 - 2 sigmoid(v)) = softplus(v) - log 2.
    "js": FDivergence("js", lambda v: _LOG2 - jax.nn.softplus(-v),
                      lambda t: -_LOG2 - _log1mexp(t - _LOG2),
                      lambda v: jax.nn.softplus(v) - _LOG2),
    # GAN: f(u) = u log u - (u + 1) log(u + 1); g_f(v) = -log(1 + exp(-v)) < 0;
    # f*(t) = -log(1 - exp(t)), dom t < 0; f*(g_f(v)) = -log(1 - sigmoid(v)) = softplus(v).
    "gan": FDivergence("gan", lambda v: -jax.nn.softplus(-v), lambda t: -_log1mexp(t),
                       jax.nn.softplus),
}


def d_f_gan(*, real_logits: jax.Array, fake_logits: jax.Array, divergence: str) -> jax.Array:
    """f-GAN discriminator (Nowozin et al. 2016, Sec. 2-3, with T = g_f(V)): D maximises
    ``F = E_P[g_f(V(x))] - E_Q[f*(g_f(V(G(z))))]``; returns ``-F``."""
    div = F_DIVERGENCES[divergence]
    return (-jnp.mean(div.activation(real_logits))
            + jnp.mean(div.conjugate_of_activation(fake_logits)))


def g_f_gan(*, fake_logits: jax.Array, real_logits: jax.Array | None = None,
            divergence: str) -> jax.Array:
    """f-GAN generator, the paper's recommended alternative (Nowozin et al. 2016, Sec. 3.2,
    'practical considerations'): G maximises ``E_Q[g_f(V(G(z)))]`` instead of minimising
    ``-E_Q[f*(g_f(V(G(z))))]``; returns ``-E_Q[g_f(V(G(z)))]``. (For the GAN divergence this is
    the non-saturating loss ``-E log D(G(z))``.) ``real_logits`` is ignored."""
    return -jnp.mean(F_DIVERGENCES[divergence].activation(fake_logits))


def f_gan(divergence: str) -> Objective:
    """The f-GAN objective (Nowozin et al. 2016) for a key of :data:`F_DIVERGENCES`."""
    if divergence not in F_DIVERGENCES:
        raise KeyError(f"unknown f-divergence {divergence!r}; one of {sorted(F_DIVERGENCES)}")
    return Objective(functools.partial(d_f_gan, divergence=divergence),
                     functools.partial(g_f_gan, divergence=divergence))


# ----------------------------------------------------------------------------- registry
OBJECTIVES: dict[str, Objective] = {
    "minimax": Objective(d_minimax, g_minimax, d_output="probability"),
    "non_saturating": Objective(d_minimax, g_non_saturating, d_output="probability"),
    "wasserstein": Objective(d_wasserstein, g_wasserstein, d_output="critic"),
    "hinge": Objective(d_hinge, g_hinge),
    "lsgan": least_squares(a=0.0, b=1.0, c=1.0),
    "lsgan_symmetric": least_squares(a=-1.0, b=1.0, c=0.0),
    "rsgan": Objective(d_relativistic, g_relativistic, g_needs_real=True),
    "ragan": Objective(d_relativistic_average, g_relativistic_average, g_needs_real=True),
    **{f"f_{name}": f_gan(name) for name in F_DIVERGENCES},
}


def d_output_metrics(d_output: str, *, real_logits: jax.Array, fake_logits: jax.Array) -> dict:
    """What D says about a real and a fake batch, each named for what it is (scalars).

    Always ``d_real_logit`` / ``d_fake_logit``: the mean raw output (the logit, in this module's
    terms) on real and on fake data. Then by ``d_output`` (:attr:`Objective.d_output`):

    * ``'probability'`` (D(x) = sigmoid(logit): minimax, non-saturating): ``d_real_prob`` =
      E D(x) and ``d_fake_prob`` = E D(G(z)), the probabilities D assigns to 'real'
      (the mean of the sigmoids, not the sigmoid of the mean logit);
    * ``'critic'`` (Wasserstein): ``wasserstein_estimate`` = E f(x) - E f(G(z)), the critic's
      estimate of W1(P_r, P_g) up to its Lipschitz constant (Arjovsky et al. 2017, Sec. 3;
      the curve that paper plots in Figs. 3-4);
    * ``'score'`` (hinge, least squares, relativistic, f-GAN): the logits only.
    """
    out = {"d_real_logit": jnp.mean(real_logits), "d_fake_logit": jnp.mean(fake_logits)}
    if d_output == "probability":
        out.update(d_real_prob=jnp.mean(jax.nn.sigmoid(real_logits)),
                   d_fake_prob=jnp.mean(jax.nn.sigmoid(fake_logits)))
    elif d_output == "critic":
        out["wasserstein_estimate"] = jnp.mean(real_logits) - jnp.mean(fake_logits)
    elif d_output != "score":
        raise ValueError(f"unknown d_output {d_output!r}; one of 'probability', 'critic', 'score'")
    return out


def d_output_panel(d_output: str) -> tuple[str, ...]:
    """The metrics of :func:`d_output_metrics` worth a plot panel of their own."""
    return {"probability": ("d_real_prob", "d_fake_prob"), "critic": ("wasserstein_estimate",)}.get(
        d_output, ())


def get_objective(name: str) -> Objective:
    """The (D loss, G loss) pair named by ``config.loss.name``."""
    return OBJECTIVES[name]
