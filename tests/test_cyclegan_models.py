"""The CycleGAN ResNet generator (jgan.models.resnet_translator) against a NumPy forward pass
written from PyTorch's layer definitions (ReflectionPad2d, Conv2d, InstanceNorm2d,
ConvTranspose2d with output_padding), and the parameter counts the authors' code prints
(junyanz/pytorch-CycleGAN-and-pix2pix: "[Network G_A] Total number of parameters : 11.378 M",
"[Network D_A] ... : 2.765 M")."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import traverse_util

from jgan.models.patchgan import PatchGANDiscriminator
from jgan.models.resnet_translator import ResnetGenerator


def _count(tree):
    return sum(int(np.prod(leaf.shape)) for leaf in jax.tree_util.tree_leaves(tree))


def test_parameter_counts_are_the_references():
    g = jax.eval_shape(lambda: ResnetGenerator(3).init(jax.random.PRNGKey(0), jnp.zeros((1, 256, 256, 3)),
                                                       train=False))
    assert _count(g["params"]) == 11_378_179  # resnet_9blocks, ngf 64, instance norm
    d = jax.eval_shape(lambda: PatchGANDiscriminator(norm="instance").init(
        jax.random.PRNGKey(0), jnp.zeros((1, 256, 256, 3)), train=False))
    assert _count(d["params"]) == 2_764_737  # basic (70x70) D with instance norm: biases on every conv


# --- NumPy reference, PyTorch semantics, NHWC --------------------------------------------------


def _conv(x, w, b, stride=1, pad=0):
    """Conv2d (cross-correlation), zero padding ``pad``; ``w`` [kh, kw, Cin, Cout]."""
    x = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    kh, kw = w.shape[:2]
    ho, wo = (x.shape[1] - kh) // stride + 1, (x.shape[2] - kw) // stride + 1
    out = np.zeros((x.shape[0], ho, wo, w.shape[3]))
    for i in range(ho):
        for j in range(wo):
            patch = x[:, i * stride:i * stride + kh, j * stride:j * stride + kw, :]
            out[:, i, j] = np.einsum("nhwc,hwcd->nd", patch, w)
    return out + (0 if b is None else b)


def _conv_transpose(x, w_t, b, stride=2, padding=1, output_padding=1):
    """ConvTranspose2d as PyTorch defines it: every input pixel scatters ``w_t [Cin, Cout, kh, kw]``
    to ``out[i*s + di - p, j*s + dj - p]``; the output is ``(H - 1) s - 2p + k + op`` high."""
    n, h, w, _ = x.shape
    k = w_t.shape[2]
    full = np.zeros((n, (h - 1) * stride + k + output_padding, (w - 1) * stride + k + output_padding, w_t.shape[1]))
    for i in range(h):
        for j in range(w):
            full[:, i * stride:i * stride + k, j * stride:j * stride + k] += np.einsum("nc,cdhw->nhwd", x[:, i, j], w_t)
    ho = (h - 1) * stride - 2 * padding + k + output_padding
    wo = (w - 1) * stride - 2 * padding + k + output_padding
    return full[:, padding:padding + ho, padding:padding + wo] + b


def _inorm(x):
    m, v = x.mean(axis=(1, 2), keepdims=True), x.var(axis=(1, 2), keepdims=True)
    return (x - m) / np.sqrt(v + 1e-5)


def _reflect(x, p):
    return np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)), mode="reflect")


def _reference_forward(p, x, blocks):
    relu = lambda v: np.maximum(v, 0)  # noqa: E731
    h = relu(_inorm(_conv(_reflect(x, 3), p["stem"]["kernel"], p["stem"]["bias"])))
    for i in range(2):
        h = relu(_inorm(_conv(h, p[f"down{i}"]["kernel"], p[f"down{i}"]["bias"], stride=2, pad=1)))
    for b in range(blocks):
        r = relu(_inorm(_conv(_reflect(h, 1), p[f"block{b}_conv0"]["kernel"], p[f"block{b}_conv0"]["bias"])))
        h = h + _inorm(_conv(_reflect(r, 1), p[f"block{b}_conv1"]["kernel"], p[f"block{b}_conv1"]["bias"]))
    for i in range(2):
        # jgan's ConvTranspose kernel is the PyTorch weight flipped (jgan.models.layers.torch_padding)
        w_t = np.flip(p[f"up{i}"]["kernel"], (0, 1)).transpose(2, 3, 0, 1)
        h = relu(_inorm(_conv_transpose(h, w_t, p[f"up{i}"]["bias"])))
    return np.tanh(_conv(_reflect(h, 3), p["head"]["kernel"], p["head"]["bias"]))


@pytest.mark.parametrize("size", [8, 12])
def test_resnet_generator_is_the_reference_network(size):
    g = ResnetGenerator(2, width=3, num_blocks=2)
    x = np.random.default_rng(0).uniform(-1, 1, (2, size, size, 1)).astype(np.float32)
    shapes = jax.eval_shape(lambda: g.init(jax.random.PRNGKey(0), jnp.asarray(x), train=False))
    rng = np.random.default_rng(1)
    flat = {k: rng.normal(0, 0.5, s.shape).astype(np.float32)
            for k, s in traverse_util.flatten_dict(shapes["params"]).items()}
    params = traverse_util.unflatten_dict(flat)
    got = np.asarray(jax.jit(lambda p, x: g.apply({"params": p}, x, train=False))(params, x))
    want = _reference_forward(jax.tree.map(np.float64, params), x.astype(np.float64), blocks=2)
    assert got.shape == (2, size, size, 2)
    np.testing.assert_allclose(got, want, atol=2e-4)
