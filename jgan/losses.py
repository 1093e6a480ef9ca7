"""Adversarial objectives as plain functions of the discriminator's logits.

Every function takes logits ``[N]`` (D's raw output, before any sigmoid) and returns a
scalar to *minimise*. ``d_*`` functions are the discriminator's loss, ``g_*`` the
generator's. With ``D(x) = sigmoid(logit)``:

* minimax (Goodfellow et al. 2014, Eq. 1): D maximises ``E log D(x) + E log(1 - D(G(z)))``;
  G minimises ``E log(1 - D(G(z)))`` (saturates when D rejects the fakes confidently).
* non-saturating (Goodfellow et al. 2014, Sec. 3): same D; G maximises ``E log D(G(z))``.
* wasserstein (Arjovsky et al. 2017, Alg. 1): the critic maximises ``E f(x) - E f(G(z))``;
  G minimises ``-E f(G(z))``.

``log D = -softplus(-logit)`` and ``log(1 - D) = -softplus(logit)`` are used so that no
sigmoid is ever rounded to 0 or 1.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp


def d_minimax(*, real_logits: jax.Array, fake_logits: jax.Array) -> jax.Array:
    """``-E log D(x) - E log(1 - D(G(z)))``: binary cross-entropy with real=1, fake=0."""
    return jnp.mean(jax.nn.softplus(-real_logits)) + jnp.mean(jax.nn.softplus(fake_logits))


def g_minimax(*, fake_logits: jax.Array) -> jax.Array:
    """``E log(1 - D(G(z)))`` (the saturating generator loss of the minimax game)."""
    return -jnp.mean(jax.nn.softplus(fake_logits))


def g_non_saturating(*, fake_logits: jax.Array) -> jax.Array:
    """``-E log D(G(z))``: the generator's labels flipped to 'real'."""
    return jnp.mean(jax.nn.softplus(-fake_logits))


def d_wasserstein(*, real_logits: jax.Array, fake_logits: jax.Array) -> jax.Array:
    """``E f(G(z)) - E f(x)``: the negated Wasserstein estimate of the critic f."""
    return jnp.mean(fake_logits) - jnp.mean(real_logits)


def g_wasserstein(*, fake_logits: jax.Array) -> jax.Array:
    """``-E f(G(z))``."""
    return -jnp.mean(fake_logits)


class Objective(NamedTuple):
    d_loss: Callable[..., jax.Array]
    g_loss: Callable[..., jax.Array]


OBJECTIVES = {
    "minimax": Objective(d_minimax, g_minimax),
    "non_saturating": Objective(d_minimax, g_non_saturating),
    "wasserstein": Objective(d_wasserstein, g_wasserstein),
}


def get_objective(name: str) -> Objective:
    """The (D loss, G loss) pair named by ``config.loss.name``."""
    return OBJECTIVES[name]
