"""Optimisers as optax chains, built from ``config.optim.g`` / ``config.optim.d``.

WGAN's weight clipping (Arjovsky et al. 2017, Algorithm 1, line 7) is a
``GradientTransformation`` placed last in the chain: it turns the proposed update into
one that lands the parameters inside ``[-c, c]``. It is stateless and composes with any
optimiser, and the optimiser state around it is checkpointed like any other.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import optax


def clip_params(clip: float) -> optax.GradientTransformation:
    """Projects ``params + updates`` onto the box ``[-clip, clip]`` (needs ``params``).

    Returns updates ``u'`` with ``params + u' = clip(params + u, -clip, clip)``. Float
    subtraction can miss the bound by one ulp, so ``u'`` is nudged towards zero where the
    sum would land outside; after ``optax.apply_updates`` every parameter is in the box.
    """

    def init_fn(params):
        del params
        return optax.EmptyState()

    def update_fn(updates, state, params=None):
        if params is None:
            raise ValueError("clip_params needs the current params: call update(g, s, params).")

        def project(u, p):
            target = jnp.clip(p + u, -clip, clip)
            u = target - p
            landed = p + u
            u = jnp.where(landed > clip, jnp.nextafter(u, jnp.full_like(u, -jnp.inf)), u)
            return jnp.where(landed < -clip, jnp.nextafter(u, jnp.full_like(u, jnp.inf)), u)

        return jax.tree.map(project, updates, params), state

    return optax.GradientTransformation(init_fn, update_fn)


def learning_rate(cfg):
    """``cfg.lr``, or with ``cfg.decay_steps`` > 0 an optax schedule: constant for
    ``cfg.constant_steps`` updates, then linear to 0 over ``decay_steps`` updates (pix2pix /
    CycleGAN's "constant, then linear decay"). The schedule reads the optimiser's own update
    count, which is in the checkpointed optimiser state, so a resumed run continues on it."""
    if not cfg.get("decay_steps", 0):
        return cfg.lr
    return optax.join_schedules([optax.constant_schedule(cfg.lr),
                                 optax.linear_schedule(cfg.lr, 0.0, cfg.decay_steps)],
                                [cfg.constant_steps])


def make_optimizer(cfg) -> optax.GradientTransformation:
    """The chain for one network from its config section.

    ``cfg.name``: 'adam' (``b1``, ``b2``, ``eps``), 'rmsprop' (PyTorch semantics:
    ``v = decay v + (1-decay) g^2``, update ``lr g / (sqrt(v) + eps)``), or 'sgd'
    (``momentum``, 0 = plain SGD). ``cfg.clip`` > 0 appends weight clipping; the learning
    rate is :func:`learning_rate`.
    """
    lr = learning_rate(cfg)
    if cfg.name == "adam":
        tx = optax.adam(lr, b1=cfg.b1, b2=cfg.b2, eps=cfg.eps)
    elif cfg.name == "rmsprop":
        tx = optax.rmsprop(lr, decay=cfg.decay, eps=cfg.eps, eps_in_sqrt=False)
    elif cfg.name == "sgd":
        tx = optax.sgd(lr, momentum=cfg.momentum or None)
    else:
        raise ValueError(f"optimizer {cfg.name!r} is not one of 'adam', 'rmsprop', 'sgd'")
    if cfg.clip > 0:
        tx = optax.chain(tx, clip_params(cfg.clip))
    return tx
