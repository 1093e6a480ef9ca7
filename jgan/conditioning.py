"""What G and D are given besides z and x, and the auxiliary losses that come with it.

``Conditioning.kind`` (from ``config.model.conditioning``):

* ``'none'``: ``G(z)``, ``D(x) -> logits``.
* ``'label'`` (cGAN with concatenation, projection cGAN): ``G(z, y)``, ``D(x, y) -> logits``;
  real batches bring their labels, fake labels are drawn uniformly.
* ``'acgan'`` (Odena et al. 2017): ``G(z, y)``, ``D(x) -> (logits, class logits)``. Both
  nets also minimise the class cross-entropy ``L_C``: D on real and fake, G on fake
  (Eq. 2-3: D maximises ``L_S + L_C``, G maximises ``L_C - L_S``), weighted by ``aux_weight``.
* ``'infogan'`` (Chen et al. 2016): ``G(concat(z, onehot(c), u))`` with a categorical code
  ``c ~ U{0..K-1}`` (``num_classes`` = K) and ``num_continuous`` codes ``u ~ U(-1, 1)``;
  ``D(x) -> (logits, Q outputs)`` with Q's outputs the K logits of ``c`` and the means of
  ``u``. The mutual-information lower bound ``L_I = H(c) - CE(c) - NLL(u)`` (Eq. 5; Q(u|x)
  a unit-variance Gaussian, as the authors' code's ``fix_std``) is maximised by G and by Q
  (Q is D's head, so D's update carries it), i.e. both add ``aux_weight * (CE + NLL)``.

Latents are drawn for the global batch by :func:`draw_latents` and sliced per device
(``Latents`` is a pytree), so 1 and N devices see the same draws.
"""
from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import optax
from flax import struct

KINDS = ("none", "label", "acgan", "infogan")
# config.model.conditioning -> Conditioning.kind
MODEL_CONDITIONING = {"none": "none", "concat": "label", "projection": "label", "acgan": "acgan",
                      "infogan": "infogan"}


@dataclasses.dataclass(frozen=True)
class Conditioning:
    kind: str = "none"
    num_classes: int = 0      # label/acgan: classes of the data's labels; infogan: K of the code
    num_continuous: int = 0   # infogan: continuous codes
    aux_weight: float = 1.0   # acgan: weight of L_C; infogan: lambda of L_I

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"conditioning kind {self.kind!r} is not one of {KINDS}")
        if self.kind != "none" and self.num_classes < 2:
            raise ValueError(f"conditioning {self.kind!r} needs num_classes >= 2, got {self.num_classes}")

    @property
    def g_takes_labels(self) -> bool:
        return self.kind in ("label", "acgan")

    @property
    def d_takes_labels(self) -> bool:
        return self.kind == "label"

    @property
    def d_has_aux(self) -> bool:
        return self.kind in ("acgan", "infogan")

    @property
    def uses_data_labels(self) -> bool:
        """Whether the step needs the real batches' labels."""
        return self.kind in ("label", "acgan")

    @property
    def code_dim(self) -> int:
        """Extra G input units (InfoGAN codes), 0 otherwise."""
        return self.num_classes + self.num_continuous if self.kind == "infogan" else 0

    @property
    def aux_dim(self) -> int:
        """Width of D's auxiliary head (0 without one)."""
        return {"acgan": self.num_classes, "infogan": self.num_classes + self.num_continuous}.get(self.kind, 0)


def from_config(config) -> Conditioning:
    m = config.model
    kind = MODEL_CONDITIONING[m.conditioning]
    return Conditioning(kind=kind, num_classes=m.num_classes if kind != "none" else 0,
                        num_continuous=m.info_continuous if kind == "infogan" else 0,
                        aux_weight=config.loss.aux_weight)


class Latents(struct.PyTreeNode):
    """G's inputs for one batch: ``z [N, z_dim + code_dim]`` (InfoGAN codes appended),
    ``labels int32 [N]`` (label/acgan: the fake labels; infogan: the categorical code) and
    ``continuous [N, num_continuous]`` (infogan; else ``[N, 0]``)."""

    z: jax.Array
    labels: jax.Array
    continuous: jax.Array


def draw_latents(key, n: int, z_dim: int, cond: Conditioning) -> Latents:
    """``n`` draws of G's inputs. z is ``normal(key, (n, z_dim))`` for every kind (so an
    unconditional run's z does not depend on this module); labels and codes come from
    ``fold_in(key, 1)`` and ``fold_in(key, 2)``."""
    z = jax.random.normal(key, (n, z_dim), jnp.float32)
    labels = jnp.zeros((n,), jnp.int32)
    cont = jnp.zeros((n, 0), jnp.float32)
    if cond.kind != "none":
        labels = jax.random.randint(jax.random.fold_in(key, 1), (n,), 0, cond.num_classes, jnp.int32)
    if cond.kind == "infogan":
        cont = jax.random.uniform(jax.random.fold_in(key, 2), (n, cond.num_continuous), jnp.float32, -1.0, 1.0)
    return with_codes(z, labels, cont, cond)


def with_codes(z, labels, continuous, cond: Conditioning) -> Latents:
    """``Latents`` from noise ``z [N, z_dim]``, labels / categorical code and continuous codes
    (for InfoGAN the codes are appended to z)."""
    if cond.kind == "infogan":
        z = jnp.concatenate([z, jax.nn.one_hot(labels, cond.num_classes, dtype=z.dtype), continuous], -1)
    return Latents(z=z, labels=jnp.asarray(labels, jnp.int32), continuous=continuous)


def balanced_latents(z, code_key, cond: Conditioning) -> Latents:
    """Latents for fixed sample / evaluation batches from noise ``z [n, z_dim]``: labels (or
    InfoGAN's categorical code) cycle through the classes, ``arange(n) % K`` (balanced; a
    grid with K columns shows one class per column); InfoGAN's continuous codes are drawn
    from ``U(-1, 1)`` with ``code_key``."""
    n = z.shape[0]
    labels = jnp.arange(n, dtype=jnp.int32) % max(cond.num_classes, 1)
    cont = jax.random.uniform(code_key, (n, cond.num_continuous), minval=-1.0, maxval=1.0)
    return with_codes(z, labels, cont, cond)


def g_args(lat: Latents, cond: Conditioning) -> tuple:
    """Positional arguments of ``G.apply(variables, *args)``."""
    return (lat.z, lat.labels) if cond.g_takes_labels else (lat.z,)


def d_args(x, labels, cond: Conditioning) -> tuple:
    """Positional arguments of ``D.apply(variables, *args)``."""
    return (x, labels) if cond.d_takes_labels else (x,)


def split_output(out, cond: Conditioning):
    """D's output -> ``(logits [N], aux [N, aux_dim] or None)``."""
    return out if cond.d_has_aux else (out, None)


def info_terms(aux, lat: Latents, cond: Conditioning) -> tuple[jax.Array, jax.Array]:
    """InfoGAN: ``(CE of the categorical code, Gaussian NLL of the continuous codes)``, batch
    means; the NLL is ``0.5 * sum (u - mu)^2`` (unit variance, constant dropped)."""
    k = cond.num_classes
    ce = jnp.mean(optax.softmax_cross_entropy_with_integer_labels(aux[:, :k], lat.labels))
    nll = 0.5 * jnp.mean(jnp.sum(jnp.square(lat.continuous - aux[:, k:]), axis=-1))
    return ce, nll


def d_aux_loss(aux_real, aux_fake, real_labels, lat: Latents, cond: Conditioning):
    """``(weighted auxiliary loss added to D's, metrics)``; zero for 'none' / 'label'."""
    if cond.kind == "acgan":
        ce_real = jnp.mean(optax.softmax_cross_entropy_with_integer_labels(aux_real, real_labels))
        ce_fake = jnp.mean(optax.softmax_cross_entropy_with_integer_labels(aux_fake, lat.labels))
        metrics = {"d_class_ce_real": ce_real, "d_class_ce_fake": ce_fake,
                   "d_class_acc_real": jnp.mean(jnp.argmax(aux_real, -1) == real_labels)}
        return cond.aux_weight * (ce_real + ce_fake), metrics
    if cond.kind == "infogan":
        ce, nll = info_terms(aux_fake, lat, cond)
        return cond.aux_weight * (ce + nll), {"info_ce": ce, "info_nll": nll,
                                              "info_mi_cat": math.log(cond.num_classes) - ce}
    return jnp.zeros(()), {}


def g_aux_loss(aux_fake, lat: Latents, cond: Conditioning):
    """``(weighted auxiliary loss added to G's, metrics)``; zero for 'none' / 'label'."""
    if cond.kind == "acgan":
        ce = jnp.mean(optax.softmax_cross_entropy_with_integer_labels(aux_fake, lat.labels))
        return cond.aux_weight * ce, {"g_class_ce": ce}
    if cond.kind == "infogan":
        ce, nll = info_terms(aux_fake, lat, cond)
        return cond.aux_weight * (ce + nll), {"g_info_ce": ce}
    return jnp.zeros(()), {}
