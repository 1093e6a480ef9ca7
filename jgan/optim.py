"""Optimisers as optax chains, built from ``config.optim.g`` / ``config.optim.d``.

SGD can follow pylearn2's schedules, as in the MLP papers' code (Goodfellow et al. 2014,
goodfeli/adversarial; Mirza & Osindero 2014): the learning rate divided by ``lr_decay_factor``
after every update down to ``min_lr`` (``ExponentialDecay``), the momentum ramped linearly
from ``momentum`` to ``final_momentum`` (``MomentumAdjustor``, there per epoch, here per
update), with pylearn2's update ``inc = m_t inc - lr_t g; p += inc``.

WGAN's weight clipping (Arjovsky et al. 2017, Algorithm 1, line 7) is a
``GradientTransformation`` placed last in the chain: it turns the proposed update into
one that lands the parameters inside ``[-c, c]``. It is stateless and composes with any
optimiser, and the optimiser state around it is checkpointed like any other.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import optax


def _projection(name: str, project) -> optax.GradientTransformation:
    """A stateless transformation placed last in a chain: every update ``u`` of a parameter
    ``p`` becomes ``project(u, p)`` (the update that lands ``p`` where the constraint puts
    ``p + u``); needs the current ``params``."""

    def init_fn(params):
        del params
        return optax.EmptyState()

    def update_fn(updates, state, params=None):
        if params is None:
            raise ValueError(f"{name} needs the current params: call update(g, s, params).")
        return jax.tree.map(project, updates, params), state

    return optax.GradientTransformation(init_fn, update_fn)


def clip_params(clip: float) -> optax.GradientTransformation:
    """Projects ``params + updates`` onto the box ``[-clip, clip]`` (needs ``params``).

    Returns updates ``u'`` with ``params + u' = clip(params + u, -clip, clip)``. Float
    subtraction can miss the bound by one ulp, so ``u'`` is nudged towards zero where the
    sum would land outside; after ``optax.apply_updates`` every parameter is in the box.
    """

    def project(u, p):
        target = jnp.clip(p + u, -clip, clip)
        u = target - p
        landed = p + u
        u = jnp.where(landed > clip, jnp.nextafter(u, jnp.full_like(u, -jnp.inf)), u)
        return jnp.where(landed < -clip, jnp.nextafter(u, jnp.full_like(u, jnp.inf)), u)

    return _projection("clip_params", project)


def max_col_norm(max_norm: float) -> optax.GradientTransformation:
    """pylearn2's ``max_col_norm`` (the maxout networks' constraint, Goodfellow et al. 2013):
    after the update, every column of a 2D kernel ``[in, out]`` (one unit's, or one maxout
    piece's, incoming weights) whose L2 norm exceeds ``max_norm`` is rescaled to it, as
    pylearn2 does: ``W * clip(n, 0, c) / (1e-7 + n)``. Other leaves (biases) are left alone.
    Placed last in a chain; needs ``params``."""

    def project(u, p):
        if p.ndim != 2:
            return u
        w = p + u
        norms = jnp.sqrt(jnp.sum(jnp.square(w), axis=0, keepdims=True))
        return w * (jnp.clip(norms, 0.0, max_norm) / (1e-7 + norms)) - p

    return _projection("max_col_norm", project)


def ortho_regularization(strength: float, exclude: tuple[str, ...] = ("shared",)) -> optax.GradientTransformation:
    """BigGAN's orthogonal regularisation (Brock et al. 2019, Sec. 3.1, Eq. 3; BigGAN-PyTorch's
    ``utils.ortho``, which adds the penalty's gradient to ``param.grad``): for every parameter
    with at least 2 axes, seen as ``W [out, in]`` (rows = output units: a flax kernel ``[..., out]``
    transposed), ``g += strength * 2 ((W W^T) * (1 - I)) W``: the gradient of
    ``strength / 2 * ||(W W^T) * (1 - I)||_F^2`` (the paper's Eq. 3 with beta = strength / 2;
    the reference's code, which its results come from, is followed). Parameters whose path
    names one of ``exclude`` (the shared class embedding) are left alone. Placed first in a
    chain (it changes the gradient); needs ``params``."""

    def add(path, g, p):
        if p.ndim < 2 or any(getattr(k, "key", None) in exclude for k in path):
            return g
        w = p.reshape(-1, p.shape[-1]).T
        gram = (w @ w.T) * (1.0 - jnp.eye(w.shape[0], dtype=w.dtype))
        return g + strength * (2.0 * gram @ w).T.reshape(p.shape)

    def init_fn(params):
        del params
        return optax.EmptyState()

    def update_fn(updates, state, params=None):
        if params is None:
            raise ValueError("ortho_regularization needs the current params: call update(g, s, params).")
        return jax.tree_util.tree_map_with_path(add, updates, params), state

    return optax.GradientTransformation(init_fn, update_fn)


def learning_rate(cfg):
    """``cfg.lr``, or with ``cfg.decay_steps`` > 0 an optax schedule: constant for
    ``cfg.constant_steps`` updates, then over ``decay_steps`` updates either linear to 0
    (``decay_schedule='linear'``: pix2pix / CycleGAN's "constant, then linear decay") or
    geometric to ``lr * final_lr_mult`` (``'exponential'``: BiGAN's, ``lr * final_lr_mult **
    (t / decay_steps)`` for the t-th decaying update, constant after). The schedule reads the
    optimiser's own update count, which is in the checkpointed optimiser state, so a resumed
    run continues on it."""
    if not cfg.get("decay_steps", 0):
        return cfg.lr
    if cfg.get("decay_schedule", "linear") == "exponential":
        decay = optax.exponential_decay(cfg.lr, transition_steps=cfg.decay_steps,
                                        decay_rate=cfg.final_lr_mult, end_value=cfg.lr * cfg.final_lr_mult)
    else:
        decay = optax.linear_schedule(cfg.lr, 0.0, cfg.decay_steps)
    return optax.join_schedules([optax.constant_schedule(cfg.lr), decay], [cfg.constant_steps])


def sgd_schedules(cfg):
    """``(lr schedule, momentum schedule)`` of pylearn2's SGD for ``cfg``: ``lr_t = max(lr /
    lr_decay_factor**t, min_lr)`` and ``m_t`` = ``momentum`` until update ``momentum_start``,
    then linear to ``final_momentum`` at update ``momentum_saturate`` and constant after; ``t``
    counts updates from 0 (update 0 uses ``lr`` and ``momentum``)."""
    lr = optax.exponential_decay(cfg.lr, transition_steps=1, decay_rate=1.0 / cfg.lr_decay_factor,
                                 end_value=cfg.min_lr if cfg.lr_decay_factor > 1 else None)
    final = cfg.final_momentum if cfg.final_momentum >= 0 else cfg.momentum
    ramp = max(cfg.momentum_saturate - cfg.momentum_start, 1)
    momentum = optax.linear_schedule(cfg.momentum, final, ramp, transition_begin=cfg.momentum_start)
    return lr, momentum


def uses_sgd_schedules(cfg) -> bool:
    """Whether ``cfg`` asks for pylearn2's decaying lr or momentum ramp (``sgd`` only)."""
    return cfg.get("lr_decay_factor", 1.0) != 1.0 or cfg.get("final_momentum", -1.0) >= 0


def make_optimizer(cfg) -> optax.GradientTransformation:
    """The chain for one network from its config section.

    ``cfg.name``: 'adam' (``b1``, ``b2``, ``eps``), 'rmsprop' (PyTorch semantics:
    ``v = decay v + (1-decay) g^2``, update ``lr g / (sqrt(v) + eps)``), or 'sgd'
    (``momentum``, 0 = plain SGD; with ``lr_decay_factor`` != 1 or ``final_momentum`` >= 0
    pylearn2's schedules and update, :func:`sgd_schedules`). ``cfg.weight_decay`` > 0 first
    adds ``weight_decay * p`` to every gradient (coupled L2, as BiGAN's ``Regularizer``; not
    AdamW's decoupled decay). ``cfg.max_col_norm`` > 0 appends :func:`max_col_norm`;
    ``cfg.clip`` > 0 appends weight clipping; the learning rate is :func:`learning_rate`.
    """
    lr = learning_rate(cfg)
    if cfg.name == "adam":
        tx = optax.adam(lr, b1=cfg.b1, b2=cfg.b2, eps=cfg.eps)
    elif cfg.name == "rmsprop":
        tx = optax.rmsprop(lr, decay=cfg.decay, eps=cfg.eps, eps_in_sqrt=False)
    elif cfg.name == "sgd" and uses_sgd_schedules(cfg):
        # inc = m_t inc - lr_t g: the learning rate scales the gradient before the momentum
        # trace (optax.sgd scales after it, which differs once lr_t changes)
        lr_t, m_t = sgd_schedules(cfg)
        tx = optax.chain(optax.scale_by_learning_rate(lr_t), optax.inject_hyperparams(optax.trace)(decay=m_t))
    elif cfg.name == "sgd":
        tx = optax.sgd(lr, momentum=cfg.momentum or None)
    else:
        raise ValueError(f"optimizer {cfg.name!r} is not one of 'adam', 'rmsprop', 'sgd'")
    if cfg.get("weight_decay", 0.0) > 0:
        tx = optax.chain(optax.add_decayed_weights(cfg.weight_decay), tx)
    if cfg.get("ortho_reg", 0.0) > 0:
        tx = optax.chain(ortho_regularization(cfg.ortho_reg), tx)
    if cfg.get("max_col_norm", 0.0) > 0:
        tx = optax.chain(tx, max_col_norm(cfg.max_col_norm))
    if cfg.clip > 0:
        tx = optax.chain(tx, clip_params(cfg.clip))
    return tx
