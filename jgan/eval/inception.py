"""The FID Inception-v3 network in Flax, plus a torch-free weight converter.

This is the network every FID/KID/IS number in the literature is computed
with: the TensorFlow "2015-12-05" Inception graph used by the original TTUR
FID code (Heusel et al., 2017) and by the Inception Score code (Salimans et
al., 2016), in the PyTorch port maintained by pytorch-fid
(https://github.com/mseitzer/pytorch-fid, ``pytorch_fid/inception.py``,
``fid_inception_v3``).  It is torchvision's ``Inception3`` with the blocks
replaced by pytorch-fid's ``FIDInceptionA``, ``FIDInceptionC``,
``FIDInceptionE_1`` and ``FIDInceptionE_2``, which differ from torchvision as
the TF graph does:

* the 3x3/stride-1 average pool of the pooling branch in Mixed_5b..5d (A),
  Mixed_6b..6e (C) and Mixed_7b (E_1) uses ``count_include_pad=False`` (the
  padded border is excluded from the divisor; torchvision's default includes
  it);
* Mixed_7c (E_2) uses a 3x3/stride-1 *max* pool (padding 1) in that branch;
* the classifier ``fc`` is 2048 -> 1008 (the TF graph's 1008 classes; the
  first and last 8 of the 1008 are unused by ImageNet), no aux classifier.

Every conv is ``BasicConv2d``: bias-free conv -> BatchNorm(eps=0.001, running
statistics) -> ReLU.  Layer names are torchvision's, so a pytorch-fid state
dict maps one-to-one onto this module's variables (see
:func:`torch_state_dict_to_flax`).

Layout and outputs: NHWC.  :class:`FIDInceptionV3` maps ``x`` [n, 299, 299, 3]
float32 in [-1, 1] (already preprocessed, see :func:`preprocess_images`) to

* ``pool3``  [n, 2048]: global average pool of Mixed_7c -- the FID / KID /
  precision-recall feature ("pool_3:0" in the TF graph, ``dims=2048`` in
  pytorch-fid);
* ``logits`` [n, 1008]: ``fc(pool3)`` *with* the fc bias (the network's own
  classifier output).  The Inception Score does not use them: the reference
  (openai/improved-gan ``inception_score/model.py``: ``logits =
  tf.matmul(squeeze(pool3), w)`` with ``w`` the input of
  ``softmax/logits/MatMul``) and torch-fidelity's default
  (``logits_unbiased``) take ``pool3 @ W`` without the bias; see
  :func:`is_logits`.

Input convention (:func:`preprocess_images`), matching pytorch-fid's
``InceptionV3(resize_input=True, normalize_input=True)``:

1. images are brought to [0, 1]: ``uint8`` as ``x / 255`` (what pytorch-fid's
   ``ToTensor`` does with image files); float images are assumed to be in
   [-1, 1] (the usual GAN generator output) and mapped by ``(x + 1) / 2``,
   unless ``value_range`` says otherwise; 1-channel images are repeated to 3;
2. resized to 299x299 with **bilinear interpolation, half-pixel centres, no
   antialiasing**: pytorch-fid calls ``F.interpolate(x, size=(299, 299),
   mode='bilinear', align_corners=False)`` which never antialiases, and we
   call ``jax.image.resize(..., 'bilinear', antialias=False)``, which uses
   the same sample positions ``src = (dst + 0.5) * in / out - 0.5`` and the
   same 2-tap triangle weights (edge taps renormalised, which equals
   PyTorch's clamping of ``src`` to the border).  ``antialias=True`` (the
   jax default) would differ from PyTorch whenever the image is *down*-
   sampled (inputs larger than 299); for upsampling both are identical.
   No resize happens for 299x299 inputs.
3. scaled to [-1, 1] by ``2 * x - 1``.

Note that this is pytorch-fid's convention.  The original TF code fed uint8
images to the graph, which resized with TF1's legacy ``resize_bilinear``
(``align_corners=False`` but *without* half-pixel centres) and normalised
with ``(x - 128) / 128``; FID values from the two pipelines differ slightly
for images that are not 299x299 (pytorch-fid documents this).

Numerics: convolutions and the classifier use ``precision=HIGHEST`` by
default so that GPUs/TPUs do not silently use TF32/bf16 passes; BatchNorm
always uses the stored running statistics (inference only).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jgan.eval import torch_pickle

__all__ = [
    "FID_WEIGHTS_URL",
    "FID_WEIGHTS_FILENAME",
    "FIDWeightsError",
    "BasicConv2d",
    "FIDInceptionV3",
    "preprocess_images",
    "avg_pool_3x3_exclude_pad",
    "max_pool_3x3_same",
    "init_shapes",
    "random_variables",
    "flax_to_torch_state_dict",
    "torch_state_dict_to_flax",
    "default_weights_path",
    "load_fid_inception_weights",
    "inception_outputs",
    "is_logits",
    "count_params",
]

FID_WEIGHTS_URL = (
    "https://github.com/mseitzer/pytorch-fid/releases/download/"
    "fid_weights/pt_inception-2015-12-05-6726825d.pth"
)
FID_WEIGHTS_FILENAME = "pt_inception-2015-12-05-6726825d.pth"
WEIGHTS_ENV_VAR = "JGAN_FID_INCEPTION_WEIGHTS"
INPUT_SIZE = 299
NUM_CLASSES = 1008
BN_EPS = 1e-3  # torchvision BasicConv2d: nn.BatchNorm2d(out_channels, eps=0.001)

_HIGHEST = jax.lax.Precision.HIGHEST


class FIDWeightsError(ValueError):
    """A weights file that does not match the FID Inception architecture."""


# ----------------------------------------------------------------------------
# Layers
# ----------------------------------------------------------------------------


def avg_pool_3x3_exclude_pad(x: jax.Array) -> jax.Array:
    """3x3 / stride 1 / padding 1 average pool with ``count_include_pad=False``.

    ``F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)``: each
    output is the mean of the *in-image* pixels of its 3x3 window (4 at a
    corner, 6 along an edge, 9 inside).  NHWC.
    """
    return nn.avg_pool(x, (3, 3), strides=(1, 1), padding=((1, 1), (1, 1)), count_include_pad=False)


def max_pool_3x3_same(x: jax.Array) -> jax.Array:
    """``F.max_pool2d(x, 3, stride=1, padding=1)`` (padding acts as -inf). NHWC."""
    return nn.max_pool(x, (3, 3), strides=(1, 1), padding=((1, 1), (1, 1)))


def _max_pool_3x3_s2(x: jax.Array) -> jax.Array:
    """``F.max_pool2d(x, kernel_size=3, stride=2)`` (no padding, floor mode)."""
    return nn.max_pool(x, (3, 3), strides=(2, 2), padding="VALID")


class BasicConv2d(nn.Module):
    """torchvision ``BasicConv2d``: conv(bias=False) -> BN(eps=1e-3) -> ReLU.

    ``padding`` is the symmetric (pad_h, pad_w) of ``nn.Conv2d``.  Sub-module
    names ``conv`` / ``bn`` mirror the PyTorch attribute names.
    """

    features: int
    kernel_size: tuple[int, int]
    strides: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    precision: Any = _HIGHEST

    @nn.compact
    def __call__(self, x):
        ph, pw = self.padding
        x = nn.Conv(
            self.features,
            self.kernel_size,
            strides=self.strides,
            padding=((ph, ph), (pw, pw)),
            use_bias=False,
            precision=self.precision,
            name="conv",
        )(x)
        x = nn.BatchNorm(use_running_average=True, epsilon=BN_EPS, name="bn")(x)
        return nn.relu(x)


class FIDInceptionA(nn.Module):
    """Mixed_5b/5c/5d: pytorch-fid ``FIDInceptionA`` (avg pool w/o padding count)."""

    pool_features: int
    precision: Any = _HIGHEST

    @nn.compact
    def __call__(self, x):
        C = lambda f, k, p=(0, 0), name=None: BasicConv2d(  # noqa: E731
            f, k, padding=p, precision=self.precision, name=name
        )
        b1 = C(64, (1, 1), name="branch1x1")(x)
        b5 = C(48, (1, 1), name="branch5x5_1")(x)
        b5 = C(64, (5, 5), (2, 2), name="branch5x5_2")(b5)
        b3 = C(64, (1, 1), name="branch3x3dbl_1")(x)
        b3 = C(96, (3, 3), (1, 1), name="branch3x3dbl_2")(b3)
        b3 = C(96, (3, 3), (1, 1), name="branch3x3dbl_3")(b3)
        bp = C(self.pool_features, (1, 1), name="branch_pool")(avg_pool_3x3_exclude_pad(x))
        return jnp.concatenate([b1, b5, b3, bp], axis=-1)


class InceptionB(nn.Module):
    """Mixed_6a: torchvision ``InceptionB`` (grid 35 -> 17)."""

    precision: Any = _HIGHEST

    @nn.compact
    def __call__(self, x):
        P = self.precision
        b3 = BasicConv2d(384, (3, 3), strides=(2, 2), precision=P, name="branch3x3")(x)
        bd = BasicConv2d(64, (1, 1), precision=P, name="branch3x3dbl_1")(x)
        bd = BasicConv2d(96, (3, 3), padding=(1, 1), precision=P, name="branch3x3dbl_2")(bd)
        bd = BasicConv2d(96, (3, 3), strides=(2, 2), precision=P, name="branch3x3dbl_3")(bd)
        bp = _max_pool_3x3_s2(x)
        return jnp.concatenate([b3, bd, bp], axis=-1)


class FIDInceptionC(nn.Module):
    """Mixed_6b..6e: pytorch-fid ``FIDInceptionC`` (factorised 7x7 convs)."""

    channels_7x7: int
    precision: Any = _HIGHEST

    @nn.compact
    def __call__(self, x):
        P, c7 = self.precision, self.channels_7x7
        r, c = ((1, 7), (0, 3)), ((7, 1), (3, 0))  # (kernel, padding): 1x7, 7x1
        b1 = BasicConv2d(192, (1, 1), precision=P, name="branch1x1")(x)
        b7 = BasicConv2d(c7, (1, 1), precision=P, name="branch7x7_1")(x)
        b7 = BasicConv2d(c7, r[0], padding=r[1], precision=P, name="branch7x7_2")(b7)
        b7 = BasicConv2d(192, c[0], padding=c[1], precision=P, name="branch7x7_3")(b7)
        bd = BasicConv2d(c7, (1, 1), precision=P, name="branch7x7dbl_1")(x)
        bd = BasicConv2d(c7, c[0], padding=c[1], precision=P, name="branch7x7dbl_2")(bd)
        bd = BasicConv2d(c7, r[0], padding=r[1], precision=P, name="branch7x7dbl_3")(bd)
        bd = BasicConv2d(c7, c[0], padding=c[1], precision=P, name="branch7x7dbl_4")(bd)
        bd = BasicConv2d(192, r[0], padding=r[1], precision=P, name="branch7x7dbl_5")(bd)
        bp = BasicConv2d(192, (1, 1), precision=P, name="branch_pool")(avg_pool_3x3_exclude_pad(x))
        return jnp.concatenate([b1, b7, bd, bp], axis=-1)


class InceptionD(nn.Module):
    """Mixed_7a: torchvision ``InceptionD`` (grid 17 -> 8)."""

    precision: Any = _HIGHEST

    @nn.compact
    def __call__(self, x):
        P = self.precision
        b3 = BasicConv2d(192, (1, 1), precision=P, name="branch3x3_1")(x)
        b3 = BasicConv2d(320, (3, 3), strides=(2, 2), precision=P, name="branch3x3_2")(b3)
        b7 = BasicConv2d(192, (1, 1), precision=P, name="branch7x7x3_1")(x)
        b7 = BasicConv2d(192, (1, 7), padding=(0, 3), precision=P, name="branch7x7x3_2")(b7)
        b7 = BasicConv2d(192, (7, 1), padding=(3, 0), precision=P, name="branch7x7x3_3")(b7)
        b7 = BasicConv2d(192, (3, 3), strides=(2, 2), precision=P, name="branch7x7x3_4")(b7)
        bp = _max_pool_3x3_s2(x)
        return jnp.concatenate([b3, b7, bp], axis=-1)


class FIDInceptionE(nn.Module):
    """Mixed_7b (``pool='avg'``, FIDInceptionE_1) / Mixed_7c (``pool='max'``, E_2)."""

    pool: str  # "avg": avg pool without pad count; "max": 3x3 stride-1 max pool
    precision: Any = _HIGHEST

    @nn.compact
    def __call__(self, x):
        P = self.precision
        b1 = BasicConv2d(320, (1, 1), precision=P, name="branch1x1")(x)
        b3 = BasicConv2d(384, (1, 1), precision=P, name="branch3x3_1")(x)
        b3 = jnp.concatenate(
            [
                BasicConv2d(384, (1, 3), padding=(0, 1), precision=P, name="branch3x3_2a")(b3),
                BasicConv2d(384, (3, 1), padding=(1, 0), precision=P, name="branch3x3_2b")(b3),
            ],
            axis=-1,
        )
        bd = BasicConv2d(448, (1, 1), precision=P, name="branch3x3dbl_1")(x)
        bd = BasicConv2d(384, (3, 3), padding=(1, 1), precision=P, name="branch3x3dbl_2")(bd)
        bd = jnp.concatenate(
            [
                BasicConv2d(384, (1, 3), padding=(0, 1), precision=P, name="branch3x3dbl_3a")(bd),
                BasicConv2d(384, (3, 1), padding=(1, 0), precision=P, name="branch3x3dbl_3b")(bd),
            ],
            axis=-1,
        )
        if self.pool == "avg":
            pooled = avg_pool_3x3_exclude_pad(x)
        elif self.pool == "max":
            pooled = max_pool_3x3_same(x)
        else:
            raise ValueError(f"pool must be 'avg' or 'max', got {self.pool!r}")
        bp = BasicConv2d(192, (1, 1), precision=P, name="branch_pool")(pooled)
        return jnp.concatenate([b1, b3, bd, bp], axis=-1)


class FIDInceptionV3(nn.Module):
    """pytorch-fid's ``fid_inception_v3()`` network (inference mode), NHWC.

    Call with ``x`` [n, H, W, 3] float32 in [-1, 1] (see
    :func:`preprocess_images`; the reference always uses H = W = 299, any
    H, W >= 75 runs).  Returns ``(pool3 [n, 2048], logits [n, num_classes])``.

    Variables: ``{'params': ..., 'batch_stats': ...}`` with torchvision's layer
    names (``Conv2d_1a_3x3/conv/kernel``, ``Mixed_5b/branch1x1/bn/scale``,
    ``fc/kernel`` ...).  Parameter count (``params`` only): 23,850,960, equal
    to ``sum(p.numel() for p in model.parameters())`` of the PyTorch model.
    """

    num_classes: int = NUM_CLASSES
    precision: Any = _HIGHEST

    @nn.compact
    def __call__(self, x):
        P = self.precision
        x = BasicConv2d(32, (3, 3), strides=(2, 2), precision=P, name="Conv2d_1a_3x3")(x)
        x = BasicConv2d(32, (3, 3), precision=P, name="Conv2d_2a_3x3")(x)
        x = BasicConv2d(64, (3, 3), padding=(1, 1), precision=P, name="Conv2d_2b_3x3")(x)
        x = _max_pool_3x3_s2(x)
        x = BasicConv2d(80, (1, 1), precision=P, name="Conv2d_3b_1x1")(x)
        x = BasicConv2d(192, (3, 3), precision=P, name="Conv2d_4a_3x3")(x)
        x = _max_pool_3x3_s2(x)
        x = FIDInceptionA(32, precision=P, name="Mixed_5b")(x)
        x = FIDInceptionA(64, precision=P, name="Mixed_5c")(x)
        x = FIDInceptionA(64, precision=P, name="Mixed_5d")(x)
        x = InceptionB(precision=P, name="Mixed_6a")(x)
        x = FIDInceptionC(128, precision=P, name="Mixed_6b")(x)
        x = FIDInceptionC(160, precision=P, name="Mixed_6c")(x)
        x = FIDInceptionC(160, precision=P, name="Mixed_6d")(x)
        x = FIDInceptionC(192, precision=P, name="Mixed_6e")(x)
        x = InceptionD(precision=P, name="Mixed_7a")(x)
        x = FIDInceptionE("avg", precision=P, name="Mixed_7b")(x)
        x = FIDInceptionE("max", precision=P, name="Mixed_7c")(x)
        pool3 = jnp.mean(x, axis=(1, 2))  # AdaptiveAvgPool2d((1, 1)) + flatten
        logits = nn.Dense(self.num_classes, precision=P, name="fc")(pool3)  # dropout: eval no-op
        return pool3, logits


# ----------------------------------------------------------------------------
# Preprocessing
# ----------------------------------------------------------------------------


def preprocess_images(images, value_range: tuple[float, float] | None = None) -> jax.Array:
    """Map images to the network input: [n, 299, 299, 3] float32 in [-1, 1].

    Args:
      images: [n, H, W, C] NHWC with C in {1, 3}.  ``uint8`` arrays are read
        as [0, 255]; floating arrays as ``value_range``.
      value_range: (low, high) of floating inputs; default (-1, 1), the
        usual generator output range.  Ignored for uint8.

    Steps (pytorch-fid ``InceptionV3.forward`` with ``resize_input=True,
    normalize_input=True``): to [0, 1]; grey -> RGB by repetition; bilinear
    resize to 299x299 (half-pixel centres, ``antialias=False``, i.e.
    ``F.interpolate(mode='bilinear', align_corners=False)``); ``2 x - 1``.
    Values are not clipped (neither does the reference).
    """
    x = jnp.asarray(images)
    if x.ndim != 4 or x.shape[-1] not in (1, 3):
        raise ValueError(f"images must be [n, H, W, 1 or 3] (NHWC), got shape {x.shape}")
    if x.dtype == jnp.uint8:
        x = x.astype(jnp.float32) / 255.0
    elif jnp.issubdtype(x.dtype, jnp.floating):
        lo, hi = (-1.0, 1.0) if value_range is None else value_range
        x = (x.astype(jnp.float32) - lo) / (hi - lo)
    else:
        raise ValueError(f"images must be uint8 or floating, got dtype {x.dtype}")
    if x.shape[-1] == 1:
        x = jnp.repeat(x, 3, axis=-1)
    n, h, w, c = x.shape
    if (h, w) != (INPUT_SIZE, INPUT_SIZE):
        x = jax.image.resize(x, (n, INPUT_SIZE, INPUT_SIZE, c), method="bilinear", antialias=False)
    return 2.0 * x - 1.0


# ----------------------------------------------------------------------------
# Variables: shapes, counting, torch state-dict mapping
# ----------------------------------------------------------------------------


def init_shapes(model: FIDInceptionV3 | None = None, input_size: int = INPUT_SIZE):
    """The variable tree as ``jax.ShapeDtypeStruct`` leaves (no computation)."""
    model = model or FIDInceptionV3()
    x = jax.ShapeDtypeStruct((1, input_size, input_size, 3), jnp.float32)
    return jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros(x.shape, x.dtype)))


@functools.lru_cache(maxsize=1)
def _default_shapes():
    return init_shapes()


def count_params(tree) -> int:
    """Total number of elements over the leaves of ``tree`` (arrays or shape structs)."""
    return int(sum(int(np.prod(leaf.shape)) for leaf in jax.tree_util.tree_leaves(tree)))


def random_variables(seed: int = 0, model: FIDInceptionV3 | None = None):
    """Random but well-scaled variables (He-normal kernels, BN stats near identity).

    For tests and the torch cross-check only; never for computing metrics.
    Built with numpy from :func:`init_shapes`, so no forward pass is compiled.
    """
    rng = np.random.default_rng(seed)
    shapes = _default_shapes() if model is None else init_shapes(model)

    def make(path, s):
        name = path[-1].key
        if name == "kernel":
            fan_in = int(np.prod(s.shape[:-1]))
            return (rng.standard_normal(s.shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)
        if name in ("scale", "var"):
            return rng.uniform(0.5, 1.5, s.shape).astype(np.float32)
        return (0.1 * rng.standard_normal(s.shape)).astype(np.float32)  # bias, mean

    return jax.tree_util.tree_map_with_path(make, shapes)


_BN_NAMES = {  # (collection, flax leaf) -> torch suffix
    ("params", "scale"): "weight",
    ("params", "bias"): "bias",
    ("batch_stats", "mean"): "running_mean",
    ("batch_stats", "var"): "running_var",
}


def _flat_items(variables):
    """Yield (collection, path tuple, leaf) over a {'params','batch_stats'} tree."""
    for coll in ("params", "batch_stats"):
        flat = jax.tree_util.tree_flatten_with_path(dict(variables.get(coll, {})))[0]
        for path, leaf in flat:
            yield coll, tuple(p.key for p in path), leaf


def _torch_name(coll: str, path: tuple[str, ...]) -> tuple[str, tuple[int, ...] | None]:
    """Torch state-dict key and the axes permutation flax -> torch (None: same)."""
    *mods, leaf = path
    if mods and mods[-1] == "conv" and coll == "params" and leaf == "kernel":
        return ".".join(mods + ["weight"]), (3, 2, 0, 1)  # HWIO -> OIHW
    if mods and mods[-1] == "bn" and (coll, leaf) in _BN_NAMES:
        return ".".join(mods + [_BN_NAMES[(coll, leaf)]]), None
    if mods == ["fc"] and coll == "params":
        if leaf == "kernel":
            return "fc.weight", (1, 0)  # [in, out] -> [out, in]
        if leaf == "bias":
            return "fc.bias", None
    raise FIDWeightsError(f"no torch name for variable {coll}/{'/'.join(path)}")


def _inverse(perm):
    return tuple(int(i) for i in np.argsort(perm))


def flax_to_torch_state_dict(variables) -> dict[str, np.ndarray]:
    """Flax variables -> pytorch-fid state-dict names and layouts (numpy).

    Conv kernels HWIO -> OIHW; ``fc.weight`` is [out, in]; BN ``scale/bias``
    -> ``bn.weight/bn.bias``, ``mean/var`` -> ``bn.running_mean/var``.
    ``num_batches_tracked`` is not produced (it is unused at inference).
    """
    out = {}
    for coll, path, leaf in _flat_items(variables):
        name, perm = _torch_name(coll, path)
        arr = np.asarray(leaf)
        out[name] = np.ascontiguousarray(arr.transpose(perm)) if perm else arr
    return out


def _shape_of(leaf) -> tuple[int, ...]:
    return tuple(int(s) for s in leaf.shape)


def torch_state_dict_to_flax(state_dict: Mapping[str, Any], template=None):
    """pytorch-fid state dict (name -> array) -> Flax variables (float32 jnp).

    Args:
      state_dict: mapping torch key -> array-like, e.g. from
        :func:`jgan.eval.torch_pickle.load`.
      template: variable tree (arrays or ShapeDtypeStructs) fixing the expected
        names and shapes; default :func:`init_shapes` of FIDInceptionV3().

    Raises:
      FIDWeightsError: on a missing key, an unexpected key (other than
        BatchNorm's ``*.num_batches_tracked``, which is ignored) or a shape
        mismatch; the message names the first offending key.
    """
    if not isinstance(state_dict, Mapping):
        raise FIDWeightsError(f"expected a state dict (mapping), got {type(state_dict).__name__}")
    template = _default_shapes() if template is None else template
    expected = {}
    for coll, path, leaf in _flat_items(template):
        name, perm = _torch_name(coll, path)
        shape = _shape_of(leaf)
        torch_shape = tuple(shape[i] for i in perm) if perm else shape
        expected[name] = (coll, path, perm, torch_shape)
    for key in state_dict:
        if key not in expected and not str(key).endswith(".num_batches_tracked"):
            raise FIDWeightsError(f"unexpected key {key!r} in FID Inception state dict")
    out: dict[str, dict] = {"params": {}, "batch_stats": {}}
    for name, (coll, path, perm, torch_shape) in expected.items():
        if name not in state_dict:
            raise FIDWeightsError(f"missing key {name!r} in FID Inception state dict")
        arr = np.asarray(state_dict[name])
        if tuple(arr.shape) != torch_shape:
            raise FIDWeightsError(
                f"shape mismatch for {name!r}: file has {tuple(arr.shape)}, expected {torch_shape}"
            )
        if not np.issubdtype(arr.dtype, np.floating):
            raise FIDWeightsError(f"non-floating dtype {arr.dtype} for {name!r}")
        arr = arr.astype(np.float32)
        if perm:
            arr = np.ascontiguousarray(arr.transpose(_inverse(perm)))
        node = out[coll]
        for p in path[:-1]:
            node = node.setdefault(p, {})
        node[path[-1]] = jnp.asarray(arr)
    return out


def default_weights_path() -> str:
    """Where :func:`load_fid_inception_weights` looks when given no path.

    In order: ``$JGAN_FID_INCEPTION_WEIGHTS``; ``<jgan cache>/<file>`` (the
    project cache, :func:`jgan.cache.cache_dir`, ``~/.cache/jgan`` by default);
    torch hub's cache ``$TORCH_HOME/hub/checkpoints/<file>`` (default
    ``~/.cache/torch``), where pytorch-fid itself downloads it.  Returns the
    first that exists, else the jgan cache path.
    """
    from jgan.cache import cache_dir

    env = os.environ.get(WEIGHTS_ENV_VAR)
    if env:
        return env
    home = os.path.expanduser("~")
    jgan_path = os.path.join(cache_dir(), FID_WEIGHTS_FILENAME)
    torch_home = os.environ.get("TORCH_HOME", os.path.join(home, ".cache", "torch"))
    for p in (jgan_path, os.path.join(torch_home, "hub", "checkpoints", FID_WEIGHTS_FILENAME)):
        if os.path.isfile(p):
            return p
    return jgan_path


def load_fid_inception_weights(path: str | os.PathLike | None = None, sha256_prefix: str | None = None):
    """Load pytorch-fid's ``pt_inception-2015-12-05-6726825d.pth`` as Flax variables.

    No torch needed (:mod:`jgan.eval.torch_pickle`).  Returns
    ``{'params': ..., 'batch_stats': ...}`` for :class:`FIDInceptionV3`.

    Args:
      path: the .pth file; default :func:`default_weights_path`.
      sha256_prefix: if given, the file's SHA-256 hex digest must start with it.

    Raises:
      FileNotFoundError: the file is missing (message says where to get it).
      FIDWeightsError: unreadable file or a key/shape mismatch (names the key).
    """
    path = os.fspath(path) if path is not None else default_weights_path()
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"FID Inception weights not found at {path!r}; download {FID_WEIGHTS_URL} "
            f"and pass its path (or set ${WEIGHTS_ENV_VAR})"
        )
    if sha256_prefix is not None:
        import hashlib

        h = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        if not h.hexdigest().startswith(sha256_prefix.lower()):
            raise FIDWeightsError(
                f"{path!r}: sha256 {h.hexdigest()[:16]}... does not start with {sha256_prefix!r}"
            )
    try:
        state_dict = torch_pickle.load(path)
    except torch_pickle.TorchPickleError as e:
        raise FIDWeightsError(f"cannot read {path!r} as a torch state dict: {e}") from None
    return torch_state_dict_to_flax(state_dict)


# ----------------------------------------------------------------------------
# Batched evaluation
# ----------------------------------------------------------------------------


@functools.lru_cache(maxsize=8)
def _jitted_forward(model: FIDInceptionV3, value_range):
    """preprocess + forward, jitted once per (model, value_range) and reused."""

    def fwd(v, x):
        return model.apply(v, preprocess_images(x, value_range))

    return jax.jit(fwd)


def inception_outputs(
    variables,
    images,
    batch_size: int = 50,
    value_range: tuple[float, float] | None = None,
    model: FIDInceptionV3 | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Run preprocessing + network over ``images`` in batches.

    Args:
      variables: from :func:`load_fid_inception_weights`.
      images: array [n, H, W, C] (uint8 or float, see :func:`preprocess_images`)
        or an iterable of such batches.
      batch_size: images per jitted call; the last batch is zero-padded so a
        single program is compiled (padding rows are dropped; BatchNorm uses
        running statistics so rows do not interact).

    Returns:
      (pool3 [n, 2048], logits [n, 1008]) as float32 numpy arrays.
    """
    model = model or FIDInceptionV3()
    fwd = _jitted_forward(model, None if value_range is None else tuple(value_range))
    if isinstance(images, (np.ndarray, jax.Array)):
        arr = np.asarray(images)
        batches = (arr[i : i + batch_size] for i in range(0, arr.shape[0], batch_size))
    else:
        batches = iter(images)
    pools, logits = [], []
    for b in batches:
        b = np.asarray(b)
        for i in range(0, b.shape[0], batch_size):
            chunk = b[i : i + batch_size]
            k = chunk.shape[0]
            if k < batch_size:
                pad = np.zeros((batch_size - k,) + chunk.shape[1:], chunk.dtype)
                chunk = np.concatenate([chunk, pad])
            p, lg = fwd(variables, chunk)
            pools.append(np.asarray(p)[:k])
            logits.append(np.asarray(lg)[:k])
    if not pools:
        return np.zeros((0, 2048), np.float32), np.zeros((0, model.num_classes), np.float32)
    return np.concatenate(pools), np.concatenate(logits)


def is_logits(variables, pool3) -> np.ndarray:
    """The Inception Score's logits ``pool3 [n, 2048] @ W [2048, 1008]`` (float64), without
    the fc bias: Salimans et al.'s code multiplies ``pool_3`` by the weight of the graph's
    ``softmax/logits/MatMul`` and applies the softmax to that (the bias is added after that
    MatMul in the graph, so it is left out); torch-fidelity's IS default, ``logits_unbiased``,
    is the same product."""
    w = np.asarray(variables["params"]["fc"]["kernel"], np.float64)
    return np.asarray(pool3, np.float64) @ w
