"""Gradient penalties on the discriminator, as plain functions of a discriminator function.

``d_fn: x [N, ...] -> logits [N]`` is a closure over D's parameters (and whatever else D
needs: batch statistics, a dropout key) returning D's raw output, before any sigmoid or
f-GAN activation. Gradients with respect to D's parameters flow through that closure, so
the penalty can simply be added to the D loss inside the function differentiated by the
D update.

Input gradients are computed as the gradient of ``sum(d_fn(x))`` with respect to ``x``.
That is the per-example gradient ``grad_x D(x_i)`` *only if D is per-example*, i.e. row i of
the output depends on row i of the input alone. A discriminator with BatchNorm in train
mode (batch statistics) couples the rows, and the penalty then constrains something else
than the papers' ``||grad_x D(x)||``: WGAN-GP in particular requires a critic without batch
normalisation (Gulrajani et al. 2017, Sec. 4, 'No critic batch normalization'; use layer
normalisation or none). R1/R2/DRAGAN have the same caveat.

Convention: every penalty returns ``(penalty, grad_norms)``:

* ``penalty``: a scalar, already weighted, to *add* to the D loss;
* ``grad_norms [N]``: the per-example L2 norms ``||grad_x D||`` (over all non-batch axes)
  at the points where the penalty was evaluated, for logging (e.g. their mean).

Norms are computed with a "safe" square root whose gradient at a zero gradient is 0 rather
than NaN (possible e.g. for a constant D at initialisation).

``PENALTIES`` maps ``config.loss.penalty`` names to :class:`Penalty` entries ('none' ->
None) that put the functions' different signatures behind one calling convention.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp

DFn = Callable[[jax.Array], jax.Array]


def input_gradients(d_fn: DFn, x: jax.Array) -> jax.Array:
    """``grad_x sum_i D(x)_i`` with the shape of ``x``: row i is ``grad D(x_i)`` when D is
    per-example (see the module docstring)."""
    return jax.grad(lambda inp: jnp.sum(d_fn(inp)))(x)


def _squared_norms(grads: jax.Array) -> jax.Array:
    """Per-example squared L2 norms ``[N]`` over all non-batch axes."""
    return jnp.sum(jnp.square(grads).reshape(grads.shape[0], -1), axis=1)


def _safe_sqrt(sq: jax.Array) -> jax.Array:
    """``sqrt(sq)`` with gradient 0 (not inf/NaN) where ``sq == 0``."""
    positive = sq > 0
    return jnp.where(positive, jnp.sqrt(jnp.where(positive, sq, 1.0)), 0.0)


def gradient_norms(d_fn: DFn, x: jax.Array) -> jax.Array:
    """Per-example ``||grad_x D(x)||`` ``[N]`` (see :func:`input_gradients`), with a gradient of
    0 where a norm is 0."""
    return _safe_sqrt(_squared_norms(input_gradients(d_fn, x)))


def two_sided(norms: jax.Array, *, weight: float, target: float = 1.0) -> jax.Array:
    """``weight * E (||grad|| - target)^2``: the two-sided penalty of WGAN-GP and DRAGAN."""
    return weight * jnp.mean(jnp.square(norms - target))


def _per_example_uniform(key: jax.Array, x: jax.Array) -> jax.Array:
    """U[0, 1] of shape ``[N, 1, ..., 1]`` (broadcasts over x's non-batch axes)."""
    dtype = x.dtype if jnp.issubdtype(x.dtype, jnp.floating) else jnp.float32
    return jax.random.uniform(key, (x.shape[0],) + (1,) * (x.ndim - 1), dtype)


# ----------------------------------------------------------------------------- WGAN-GP
def wgan_gp_interpolates(real: jax.Array, fake: jax.Array, key: jax.Array) -> jax.Array:
    """``x_hat = eps * x + (1 - eps) * x_tilde`` with ``eps ~ U[0, 1]`` per example
    (``eps = jax.random.uniform(key, (N, 1, ..., 1))``): points on the segments between paired
    real and fake samples (Gulrajani et al. 2017, Alg. 1, lines 4-6)."""
    eps = _per_example_uniform(key, real)
    return eps * real + (1.0 - eps) * fake


def wgan_gp(d_fn: DFn, real: jax.Array, fake: jax.Array, key: jax.Array, *,
            weight: float = 10.0, target: float = 1.0) -> tuple[jax.Array, jax.Array]:
    """WGAN-GP gradient penalty (Gulrajani et al. 2017, Eq. 3 and Alg. 1):
    ``weight * E (||grad_x_hat D(x_hat)||_2 - target)^2`` (two-sided) at the interpolates of
    :func:`wgan_gp_interpolates`. ``real`` and ``fake`` must have the same shape; the critic must
    be per-example (no BatchNorm). Returns ``(penalty, grad_norms [N])``."""
    return wgan_gp_at(d_fn, wgan_gp_interpolates(real, fake, key), weight=weight, target=target)


def wgan_gp_at(d_fn: DFn, x_hat: jax.Array, *, weight: float = 10.0,
               target: float = 1.0) -> tuple[jax.Array, jax.Array]:
    """WGAN-GP's ``weight * E (||grad D(x_hat)||_2 - target)^2`` at given points ``x_hat``
    (for callers that draw the interpolation weights themselves, e.g. for the global batch).
    Returns ``(penalty, grad_norms [N])``."""
    norms = gradient_norms(d_fn, x_hat)
    return two_sided(norms, weight=weight, target=target), norms


# ----------------------------------------------------------------------------- R1 / R2
def r1(d_fn: DFn, real: jax.Array, *, gamma: float) -> tuple[jax.Array, jax.Array]:
    """R1 (Mescheder et al. 2018, Eq. 9): ``gamma/2 * E_{x ~ P_data} ||grad_x D(x)||^2`` on real
    data, D being the logit (as in the authors' code). Returns ``(penalty, grad_norms [N])``."""
    sq = _squared_norms(input_gradients(d_fn, real))
    return 0.5 * gamma * jnp.mean(sq), _safe_sqrt(sq)


def r2(d_fn: DFn, fake: jax.Array, *, gamma: float) -> tuple[jax.Array, jax.Array]:
    """R2 (Mescheder et al. 2018, Eq. 10): ``gamma/2 * E_{x ~ P_G} ||grad_x D(x)||^2`` on generated
    data. Returns ``(penalty, grad_norms [N])``."""
    return r1(d_fn, fake, gamma=gamma)


# ----------------------------------------------------------------------------- DRAGAN
def dragan_interpolates(real: jax.Array, key: jax.Array, *, c: float = 0.5) -> jax.Array:
    """DRAGAN's perturbed points, as in the authors' code (github.com/kodalinaveen3/DRAGAN):
    ``x_p = x + c * std(x) * u`` with ``u ~ U[0, 1]`` of x's shape and ``std`` the (population)
    standard deviation over the whole batch (a constant: no gradient), then
    ``x_hat = alpha * x + (1 - alpha) * x_p`` with ``alpha ~ U[0, 1]`` per example.
    Keys: ``k_u, k_alpha = jax.random.split(key)``. (The code writes ``x + alpha (x_p - x)``,
    the same distribution since alpha and 1 - alpha are both U[0, 1].)"""
    k_u, k_alpha = jax.random.split(key)
    dtype = real.dtype if jnp.issubdtype(real.dtype, jnp.floating) else jnp.float32
    std = jax.lax.stop_gradient(jnp.std(real))
    x_p = real + c * std * jax.random.uniform(k_u, real.shape, dtype)
    alpha = _per_example_uniform(k_alpha, real)
    return alpha * real + (1.0 - alpha) * x_p


def dragan(d_fn: DFn, real: jax.Array, key: jax.Array, *, weight: float = 10.0,
           c: float = 0.5) -> tuple[jax.Array, jax.Array]:
    """DRAGAN penalty (Kodali et al. 2017), the variant of the authors' code rather than the
    paper's Gaussian ``x + delta, delta ~ N(0, cI)``: ``weight * E (||grad D(x_hat)|| - 1)^2``
    (two-sided, k = 1) at the points of :func:`dragan_interpolates` (uniform noise scaled by
    ``c * std(batch)``, then a random point between x and its perturbation).
    Returns ``(penalty, grad_norms [N])``."""
    norms = gradient_norms(d_fn, dragan_interpolates(real, key, c=c))
    return two_sided(norms, weight=weight), norms


# ----------------------------------------------------------------------------- registry


class Penalty(NamedTuple):
    """A penalty with one calling convention: ``apply(d_real, d_fake, real, fake, key,
    weight) -> (penalty, grad_norms)``. ``d_real`` / ``d_fake`` are D's closures for the real
    and the fake batch (they differ only for a label-conditioned D, which sees the real or
    the fake labels); each penalty uses the closure of the points it is evaluated at (R1,
    DRAGAN and WGAN-GP's interpolates: real labels; R2: fake labels)."""

    fn: Callable[..., tuple[jax.Array, jax.Array]]
    apply: Callable[..., tuple[jax.Array, jax.Array]]


PENALTIES: dict[str, Penalty | None] = {
    "none": None,
    "wgan_gp": Penalty(wgan_gp, lambda dr, df, real, fake, key, w: wgan_gp(dr, real, fake, key, weight=w)),
    "r1": Penalty(r1, lambda dr, df, real, fake, key, w: r1(dr, real, gamma=w)),
    "r2": Penalty(r2, lambda dr, df, real, fake, key, w: r2(df, fake, gamma=w)),
    "dragan": Penalty(dragan, lambda dr, df, real, fake, key, w: dragan(dr, real, key, weight=w)),
}


def get_penalty(name: str) -> Penalty | None:
    """The penalty named by ``config.loss.penalty`` (None for 'none')."""
    if name not in PENALTIES:
        raise KeyError(f"unknown penalty {name!r}; one of {sorted(PENALTIES)}")
    return PENALTIES[name]
