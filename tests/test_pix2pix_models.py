"""The pix2pix U-Net generator and the PatchGAN discriminator (jgan.models.unet / patchgan):
shapes, skip connections, dropout, measured receptive fields, parameter counts of the
authors' PyTorch code (junyanz/pytorch-CycleGAN-and-pix2pix)."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import traverse_util

from jgan.models.patchgan import PatchGANDiscriminator, receptive_field
from jgan.models.unet import UNetGenerator, unet_depth


def _shapes(model, x, **kw):
    """Variables' shapes of ``model.init`` (nothing allocated)."""
    return jax.eval_shape(lambda: model.init({"params": jax.random.key(0)}, x, **kw))


def _fill(shapes, kernel=None, seed=0, scale=0.02):
    """Variables with the given shapes without compiling an init: kernels N(0, scale) (or all
    equal to ``kernel``), BatchNorm scale / running var 1, biases / running means 0."""
    rng = np.random.default_rng(seed)
    out = {}
    for path, s in traverse_util.flatten_dict(shapes).items():
        if path[-1] == "kernel":
            v = np.full(s.shape, kernel) if kernel is not None else rng.normal(0, scale, s.shape)
        elif path[-1] in ("scale", "var"):
            v = np.ones(s.shape)
        else:
            v = np.zeros(s.shape)
        out[path] = jnp.asarray(v, s.dtype)
    return traverse_util.unflatten_dict(out)


def _key(seed):
    """A PRNG key whose samplers compile in ~1 s here (threefry's take tens of seconds on
    XLA:CPU); the tests only need some randomness, not a particular stream."""
    return jax.random.key(seed, impl="rbg")


def _count(tree):
    return sum(int(np.prod(leaf.shape)) for leaf in jax.tree_util.tree_leaves(tree))


def _images(n, s, c, seed=1):
    return jnp.asarray(np.random.default_rng(seed).uniform(-1, 1, (n, s, s, c)), jnp.float32)


# ---------------------------------------------------------------------------------------------
# U-Net
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("norm", ["batch", "instance", "none"])
def test_unet_shapes_and_norms(norm):
    g = UNetGenerator(2, width=8, norm=norm)
    x = _images(2, 32, 3)
    variables = _fill(_shapes(g, x, train=False))
    apply = jax.jit(lambda v, x, k: g.apply(v, x, train=True, rngs={"dropout": k},
                                            mutable=["batch_stats"]))
    y, updates = apply(variables, x, _key(0))
    assert y.shape == (2, 32, 32, 2) and bool(jnp.all(jnp.abs(y) <= 1))
    params = traverse_util.flatten_dict(variables["params"])
    # 5 downs (32 -> 1x1): norms on down1..down3 and up1..up4, none on down0 / down4
    norms = sorted({p[0] for p in params if "norm" in p[0]})
    if norm == "batch":
        assert norms == [f"down{i}_norm" for i in (1, 2, 3)] + [f"up{i}_norm" for i in (1, 2, 3, 4)]
        assert set(updates["batch_stats"]) == set(norms)
    else:  # InstanceNorm(affine=False): no parameters, no running statistics
        assert norms == [] and "batch_stats" not in variables and not updates
    # biases as the reference: only the outermost up conv with BatchNorm, everywhere otherwise
    biased = sorted(p[0] for p in params if p[-1] == "bias" and "norm" not in p[0])
    everywhere = sorted(f"{d}{i}" for d in ("down", "up") for i in range(5))
    assert biased == (["up0"] if norm == "batch" else everywhere)
    # skip connections by concatenation: up_i reads 2 * c_i channels (the innermost c_4 only)
    widths = [8, 16, 32, 64, 64]
    for i in range(5):
        assert params[(f"down{i}", "kernel")].shape == (4, 4, 3 if i == 0 else widths[i - 1], widths[i])
        assert params[(f"up{i}", "kernel")].shape == (4, 4, widths[i] * (1 if i == 4 else 2),
                                                      2 if i == 0 else widths[i - 1])


def test_unet_256_runs_and_sizes():
    g = UNetGenerator(3, width=8)
    x = _images(1, 256, 3)
    variables = _fill(_shapes(g, x, train=False))
    y, _ = jax.jit(lambda v, x, k: g.apply(v, x, train=True, rngs={"dropout": k},
                                           mutable=["batch_stats"]))(variables, x, _key(0))
    assert y.shape == (1, 256, 256, 3) and bool(jnp.all(jnp.isfinite(y)))
    # fewer downs than log2(size); non-square power-of-two images
    g4 = UNetGenerator(1, width=4, num_downs=3)
    for shape in [(2, 32, 32, 3), (1, 16, 64, 1)]:
        out = jax.eval_shape(lambda: g4.init_with_output(jax.random.key(0), jnp.zeros(shape),
                                                         train=False))[0]
        assert out.shape == shape[:3] + (1,)
    assert unet_depth((256, 256)) == 8 and unet_depth((128, 128)) == 7 and unet_depth((16, 64)) == 4
    for shape, downs in [((24, 24), 0), ((32, 32), 6), ((1, 1), 0), ((32, 48), 3)]:
        with pytest.raises(ValueError, match="UNetGenerator"):
            unet_depth(shape, downs)
    with pytest.raises(ValueError, match="UNetGenerator"):
        UNetGenerator(3).init(jax.random.key(0), jnp.zeros((1, 24, 24, 3)), train=False)


def test_unet_init_is_the_reference_normal_init():
    g = UNetGenerator(1, width=4)  # 8x8: 3 downs, tiny
    x = jnp.zeros((1, 8, 8, 1))
    params = jax.jit(lambda k: g.init({"params": k}, x, train=False))(_key(0))["params"]
    flat = traverse_util.flatten_dict(params)
    kernels = np.concatenate([np.ravel(v) for p, v in flat.items() if p[-1] == "kernel"])
    assert kernels.size > 2000 and abs(kernels.std() - 0.02) < 0.002 and abs(kernels.mean()) < 0.002
    assert all(np.all(v == 0) for p, v in flat.items() if p[-1] == "bias")
    scales = np.concatenate([np.ravel(v) for p, v in flat.items() if p[-1] == "scale"])
    assert abs(scales.mean() - 1) < 0.02 and 0.005 < scales.std() < 0.04  # N(1, 0.02)


def test_unet_skip_connection_carries_the_pixel():
    """Eval mode: perturbing one input pixel changes the output most at that pixel (through the
    outermost skip) and a little everywhere (through the 1x1 bottleneck); without the skip's
    channels in the last conv, the local effect is gone."""
    g = UNetGenerator(3, width=8)
    x = _images(1, 32, 3)
    variables = _fill(_shapes(g, x, train=False))
    f = jax.jit(lambda v, x: g.apply(v, x, train=False))
    p, q = 13, 18
    x2 = x.at[0, p, q, :].add(0.5)
    yy, xx = np.mgrid[0:32, 0:32]
    far = np.maximum(abs(yy - p), abs(xx - q)) > 3

    def change(v):
        return np.abs(np.asarray(f(v, x2) - f(v, x))).sum(-1)[0]

    d = change(variables)
    assert np.unravel_index(d.argmax(), d.shape) == (p, q)
    assert d[p, q] > 20 * d[far].max()
    assert (d > 0).mean() > 0.95  # the bottleneck sees the whole image
    ablated = jax.tree_util.tree_map(lambda a: a, variables)
    kernel = ablated["params"]["up0"]["kernel"]  # input channels: [skip e_0 (8), decoder (8)]
    ablated["params"]["up0"]["kernel"] = kernel.at[:, :, :8, :].set(0)
    d2 = change(ablated)
    assert d2[p, q] < d[p, q] / 20 and d2[~far].max() < 5 * d2[far].max()


def _dropout_calls(g, x, **kw):
    """Names of the nn.Dropout layers ``g.apply`` calls and whether they are active."""
    calls = []

    def interceptor(next_fun, args, kwargs, context):
        if isinstance(context.module, nn.Dropout) and context.method_name == "__call__":
            calls.append((context.module.name, not context.module.deterministic))
        return next_fun(*args, **kwargs)

    shapes = _shapes(g, x, train=False)
    with nn.intercept_methods(interceptor):
        jax.eval_shape(lambda v: g.apply(v, x, rngs={"dropout": jax.random.key(0)}, mutable=True, **kw),
                       shapes)
    return calls


@pytest.mark.parametrize("size,downs,blocks,levels", [
    (256, 0, 3, (7, 6, 5)),  # unet_256: the paper's CD512-CD1024-CD1024 (the reference: 6, 5, 4)
    (128, 0, 3, (6, 5, 4)),
    (32, 0, 3, (4, 3, 2)),
    (8, 0, 3, (2, 1)),  # min(dropout_blocks, num_downs - 1)
    (4, 0, 3, (1,)),
    (32, 3, 3, (2, 1)),
    (32, 0, 0, ()),
    (32, 0, 9, (4, 3, 2, 1)),
])
def test_unet_dropout_layers_as_documented(size, downs, blocks, levels):
    g = UNetGenerator(1, width=2, num_downs=downs, dropout_blocks=blocks)
    x = jnp.zeros((1, size, size, 1))
    assert g.dropout_levels(unet_depth((size, size), downs)) == levels
    want = [f"up{i}_dropout" for i in levels]
    assert _dropout_calls(g, x, train=False, dropout=True) == [(n, True) for n in want]
    assert _dropout_calls(g, x, train=True) == [(n, True) for n in want]
    assert _dropout_calls(g, x, train=True, dropout=False) == [(n, False) for n in want]
    assert _dropout_calls(g, x, train=False) == [(n, False) for n in want]


def test_unet_dropout_noise():
    g = UNetGenerator(3, width=8)
    x = _images(2, 32, 3)
    variables = _fill(_shapes(g, x, train=False))
    k1, k2 = _key(1), _key(2)
    apply = jax.jit(lambda v, x, k, drop: g.apply(v, x, train=False, dropout=drop, rngs={"dropout": k}),
                    static_argnums=3)
    # the paper's test-time noise: eval-mode BatchNorm with dropout on
    on1, on2 = apply(variables, x, k1, True), apply(variables, x, k2, True)
    assert float(jnp.mean(on1 != on2)) > 0.5  # the bottleneck's noise reaches most pixels
    np.testing.assert_array_equal(on1, apply(variables, x, k1, True))  # same key, same noise
    off1, off2 = apply(variables, x, k1, False), apply(variables, x, k2, False)
    np.testing.assert_array_equal(off1, off2)
    np.testing.assert_array_equal(off1, apply(variables, x, k2, None))  # default: off in eval
    # train mode: on by default
    train = jax.jit(lambda v, x, k: g.apply(v, x, train=True, rngs={"dropout": k},
                                            mutable=["batch_stats"])[0])
    assert float(jnp.mean(train(variables, x, k1) != train(variables, x, k2))) > 0.5


# ---------------------------------------------------------------------------------------------
# PatchGAN
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("norm", ["batch", "instance", "none"])
def test_patchgan_shapes_and_norms(norm):
    d = PatchGANDiscriminator(n_layers=3, width=8, norm=norm)
    x = _images(2, 32, 6)
    variables = _fill(_shapes(d, x, train=False))
    apply = jax.jit(lambda v, x: d.apply(v, x, train=True, mutable=["batch_stats"]))
    logits, updates = apply(variables, x)
    assert logits.shape == (2, 2, 2) and bool(jnp.all(jnp.isfinite(logits)))
    params = traverse_util.flatten_dict(variables["params"])
    biased = sorted(p[0] for p in params if p[-1] == "bias" and p[0].startswith("conv"))
    assert biased == (["conv0", "conv4"] if norm == "batch" else [f"conv{i}" for i in range(5)])
    assert [params[(f"conv{i}", "kernel")].shape[-1] for i in range(5)] == [8, 16, 32, 64, 1]
    if norm == "batch":
        assert set(updates["batch_stats"]) == {"norm1", "norm2", "norm3"}
    else:
        assert not any("norm" in p[0] for p in params) and not updates


def test_patchgan_output_sizes():
    d = PatchGANDiscriminator(n_layers=3, width=8)
    x = _images(1, 256, 6)
    logits = jax.jit(lambda v, x: d.apply(v, x, train=False))(_fill(_shapes(d, x, train=False)), x)
    assert logits.shape == (1, 30, 30)  # the reference's 30x30 patch map for 256x256 inputs
    for n, s, want in [(1, 32, 14), (2, 32, 6), (3, 64, 6), (3, 24, 1), (4, 256, 14), (5, 256, 6)]:
        dn = PatchGANDiscriminator(n_layers=n, width=2)
        out = jax.eval_shape(lambda: dn.init_with_output(jax.random.key(0), jnp.zeros((1, s, s, 3)),
                                                         train=False))[0]
        assert out.shape == (1, want, want), (n, s)
    with pytest.raises(ValueError, match="no patches"):
        PatchGANDiscriminator(n_layers=3).init(jax.random.key(0), jnp.zeros((1, 16, 16, 3)),
                                               train=False)


@pytest.mark.parametrize("n_layers,want", [(1, 16), (2, 34), (3, 70)])
def test_patchgan_receptive_field_measured(n_layers, want):
    """The support of d logit[c, c] / d input, with all-ones kernels and a positive input (every
    path positive, so nothing cancels), is a want x want square inside the image."""
    assert receptive_field(n_layers) == want
    d = PatchGANDiscriminator(n_layers=n_layers, width=4, norm="batch")
    x = jnp.ones((1, 128, 128, 3))
    variables = _fill(_shapes(d, x, train=False), kernel=1.0)
    h = jax.eval_shape(lambda: d.apply(variables, x, train=False)).shape[1]
    c = h // 2
    grad = jax.jit(jax.grad(lambda x: d.apply(variables, x, train=False)[0, c, c]))(x)
    support = np.asarray(jnp.any(grad[0] != 0, axis=-1))
    rows, cols = np.nonzero(support.any(1))[0], np.nonzero(support.any(0))[0]
    assert rows[0] > 0 and cols[0] > 0 and rows[-1] < 127 and cols[-1] < 127  # not clipped
    assert rows[-1] - rows[0] + 1 == want and cols[-1] - cols[0] + 1 == want
    assert support[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1].all()
    assert [receptive_field(n) for n in (4, 5)] == [142, 286]


# ---------------------------------------------------------------------------------------------
# Parameter counts of the reference code
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("channels,size,num_downs,printed", [
    # unet_256, RGB -> RGB, BatchNorm (pix2pix defaults): "Total number of parameters : 54.414 M"
    (3, 256, 8, "54.414"),
    # grey -> grey, as printed in junyanz/pytorch-CycleGAN-and-pix2pix issue #1152
    (1, 256, 8, "54.408"),
    (1, 64, 6, "29.238"),
])
def test_unet_parameter_count_matches_reference(channels, size, num_downs, printed):
    g = UNetGenerator(channels, width=64, norm="batch", num_downs=num_downs)
    n = _count(_shapes(g, jnp.zeros((1, size, size, channels)), train=False)["params"])
    assert f"{n / 1e6:.3f}" == printed  # the reference prints "%.3f M" of its parameters
    if (channels, size) == (3, 256):
        assert n == 54_413_955


@pytest.mark.parametrize("in_channels,n_layers,printed", [
    (6, 3, "2.769"),  # pix2pix basic D on (input, output) RGB pairs
    (2, 3, "2.765"),  # issue #1152, grey pairs
    (2, 2, "0.662"),
])
def test_patchgan_parameter_count_matches_reference(in_channels, n_layers, printed):
    d = PatchGANDiscriminator(n_layers=n_layers, width=64, norm="batch")
    n = _count(_shapes(d, jnp.zeros((1, 256, 256, in_channels)), train=False)["params"])
    assert f"{n / 1e6:.3f}" == printed
    if (in_channels, n_layers) == (6, 3):
        assert n == 2_768_705
