"""The MNIST networks of Gulrajani et al.'s ``gan_mnist.py`` (``jgan.models.improved_wgan``)
against their definition: parameter counts from the reference's layer list, every feature
map's size, TF's 'SAME' alignment checked with a NumPy convolution that pads as TF documents
(``pad_top = total // 2``) and, for the transposed convolutions, as its adjoint (TF's
``conv2d_transpose`` is the gradient of ``conv2d``), tflib's initialisation scales by hand,
and the [0, 1] pixel convention of the reference (sigmoid G, critic reading (x + 1) / 2)."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import final_state, load_experiment, np_conv_same, submodule_outputs

from jgan import train
from jgan.experiment import make_family
from jgan.models.improved_wgan import ImprovedWGANCritic, ImprovedWGANGenerator
from jgan.models.layers import Conv, ConvTranspose, conv

W, Z = 4, 6


def _init(module, x):
    return module.init(jax.random.key(0), x)


def _count(tree):
    return sum(int(np.prod(p.shape)) for p in jax.tree_util.tree_leaves(tree))


def test_parameter_counts_are_the_reference_layer_lists():
    g = _init(ImprovedWGANGenerator(width=W, axis_name=None), jnp.zeros((2, Z)))
    d = _init(ImprovedWGANCritic(width=W, axis_name=None), jnp.zeros((2, 28, 28, 1)))
    k = 25
    want_g = (Z * 64 * W + 64 * W) + 2 * 64 * W \
        + (k * 4 * W * 2 * W + 2 * W) + 2 * 2 * W \
        + (k * 2 * W * W + W) + 2 * W \
        + (k * W * 1 + 1)
    want_d = (k * 1 * W + W) + (k * W * 2 * W + 2 * W) + 2 * 2 * W \
        + (k * 2 * W * 4 * W + 4 * W) + 2 * 4 * W + (16 * 4 * W + 1)
    assert _count(g["params"]) == want_g
    assert _count(d["params"]) == want_d


def _conv_outputs(module, x):
    return submodule_outputs(module, x, kinds=("Conv", "ConvTranspose"))


def test_feature_map_sizes_28_14_7_4_and_4_8_crop_7_14_28():
    d_maps = _conv_outputs(ImprovedWGANCritic(width=W, axis_name=None), jnp.zeros((2, 28, 28, 1)))
    assert [m.shape[1:] for m in d_maps] == [(14, 14, W), (7, 7, 2 * W), (4, 4, 4 * W)]
    g_maps = _conv_outputs(ImprovedWGANGenerator(width=W, axis_name=None), jnp.zeros((2, Z)))
    assert [m.shape[1:] for m in g_maps] == [(8, 8, 2 * W), (14, 14, W), (28, 28, 1)]
    features = ImprovedWGANCritic(width=W, head=False, axis_name=None)
    out = features.apply(_init(features, jnp.zeros((2, 28, 28, 1))), jnp.zeros((2, 28, 28, 1)),
                         mutable=["batch_stats"])[0]
    assert out.shape == (2, 16 * 4 * W)


@pytest.mark.parametrize("size", [28, 14, 7])
def test_strided_convs_pad_as_tensorflow_same(size):
    rng = np.random.default_rng(size)
    x = rng.normal(size=(2, size, size, 3))
    conv = Conv(5, (5, 5), strides=(2, 2), padding="SAME")
    params = conv.init(jax.random.key(1), jnp.asarray(x, jnp.float32))
    got = conv.apply(params, jnp.asarray(x, jnp.float32))
    p = params["params"]
    want = np_conv_same(x, np.asarray(p["kernel"], np.float64), 2) + np.asarray(p["bias"])
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("size", [4, 7, 14])
def test_transposed_convs_are_the_adjoint_of_tensorflow_same_convs(size):
    """TF's ``conv2d_transpose(y, w, 2 size)`` is the adjoint of ``conv2d(., w, 2, 'SAME')``:
    ``<T(y), x> = <y, conv(x)>`` with jgan's kernel the forward one flipped and io-swapped."""
    rng = np.random.default_rng(size)
    cin, cout = 3, 2            # of the transposed layer
    y = rng.normal(size=(1, size, size, cin)).astype(np.float32)
    x = rng.normal(size=(1, 2 * size, 2 * size, cout))
    layer = ConvTranspose(cout, (5, 5), strides=(2, 2), padding="SAME", use_bias=False)
    params = layer.init(jax.random.key(2), jnp.asarray(y))
    t_y = np.asarray(layer.apply(params, jnp.asarray(y)), np.float64)
    assert t_y.shape == x.shape
    k = np.asarray(params["params"]["kernel"], np.float64)   # [5, 5, cin, cout]
    w_forward = np.flip(k, (0, 1)).transpose(0, 1, 3, 2)       # [5, 5, cout, cin]: conv 2s -> s
    np.testing.assert_allclose(np.sum(t_y * x), np.sum(y * np_conv_same(x, w_forward, 2)), rtol=1e-4)


def test_initialisation_scales_are_tflibs():
    width = 64
    g = _init(ImprovedWGANGenerator(width=width, axis_name=None), jnp.zeros((2, 128)))["params"]
    d = _init(ImprovedWGANCritic(width=width, axis_name=None), jnp.zeros((2, 28, 28, 1)))["params"]
    k2, s2 = 25, 4
    want = {  # tflib: he_init convs sqrt(4 / (fan_in + fan_out)), linear glorot sqrt(2 / (in + out))
        ("g", "Dense_0"): math.sqrt(2 / (128 + 4096)),
        ("g", "ConvTranspose_0"): math.sqrt(4 / (256 * k2 / s2 + 128 * k2)),
        ("g", "ConvTranspose_1"): math.sqrt(4 / (128 * k2 / s2 + 64 * k2)),
        ("g", "ConvTranspose_2"): math.sqrt(4 / (64 * k2 / s2 + 1 * k2)),
        ("d", "Conv_0"): math.sqrt(4 / (1 * k2 + 64 * k2 / s2)),
        ("d", "Conv_1"): math.sqrt(4 / (64 * k2 + 128 * k2 / s2)),
        ("d", "Conv_2"): math.sqrt(4 / (128 * k2 + 256 * k2 / s2)),
        ("d", "Dense_0"): math.sqrt(2 / (4096 + 1)),
    }
    for (net, name), std in want.items():
        kernel = np.asarray((g if net == "g" else d)[name]["kernel"])
        if kernel.size > 1000:
            assert abs(kernel.std() / std - 1) < 0.05, (net, name, kernel.std(), std)
        assert np.abs(kernel).max() <= std * math.sqrt(3) + 1e-7     # uniform, std sqrt(3) bound
        assert np.abs(kernel).max() > 0.9 * std * math.sqrt(3)
        assert not np.any((g if net == "g" else d)[name]["bias"])


def test_pixels_are_the_references_zero_one_range_mapped_to_minus_one_one():
    """G = 2 sigmoid(a) - 1 and the critic reads (x + 1) / 2: with the last layer's weights
    zeroed G returns 2 sigmoid(bias) - 1; the critic on x equals the same layers on (x+1)/2."""
    gen = ImprovedWGANGenerator(width=W, axis_name=None)
    v = _init(gen, jnp.zeros((3, Z)))
    last = dict(v["params"]["ConvTranspose_2"])
    last["kernel"] = jnp.zeros_like(last["kernel"])
    last["bias"] = jnp.full_like(last["bias"], 0.7)
    v = {**v, "params": {**v["params"], "ConvTranspose_2": last}}
    out = gen.apply(v, jax.random.normal(jax.random.key(3), (3, Z)), train=False)
    np.testing.assert_allclose(np.asarray(out), 2 / (1 + np.exp(-0.7)) - 1, rtol=1e-6)

    critic = ImprovedWGANCritic(width=W, axis_name=None)
    x = jax.random.uniform(jax.random.key(4), (3, 28, 28, 1), minval=-1, maxval=1)
    dv = _init(critic, x)
    got = critic.apply(dv, x, train=False)
    p = dv["params"]
    h = (x + 1) / 2
    h = jax.nn.leaky_relu(conv(h, p["Conv_0"]["kernel"], (2, 2), "SAME") + p["Conv_0"]["bias"], 0.2)
    for i in (1, 2):
        h = conv(h, p[f"Conv_{i}"]["kernel"], (2, 2), "SAME") + p[f"Conv_{i}"]["bias"]
        bn, stats = p[f"BatchNorm_{i - 1}"]["BatchNorm_0"], dv["batch_stats"][f"BatchNorm_{i - 1}"]["BatchNorm_0"]
        h = (h - stats["mean"]) / jnp.sqrt(stats["var"] + 1e-5) * bn["scale"] + bn["bias"]
        h = jax.nn.leaky_relu(h, 0.2)
    want = h.reshape(3, -1) @ p["Dense_0"]["kernel"] + p["Dense_0"]["bias"]
    np.testing.assert_allclose(np.asarray(got), np.asarray(want[:, 0]), rtol=1e-5, atol=1e-6)


def test_the_improved_wgan_variant_is_gan_mnist_py_in_wgan_mode():
    """``wgan.py:improved_wgan`` from the config alone (shapes only, no MNIST read): the
    reference's DIM = 64 networks (parameter counts by hand), z 128, batch 50, RMSProp 5e-5,
    clipping 0.01, 5 critic updates throughout, 200,000 iterations."""
    cfg = load_experiment("experiments/wgan.py", "improved_wgan")
    state = jax.eval_shape(make_family(cfg).init_state)
    k, w, z = 25, 64, 128
    g = (z * 4096 + 4096) + 2 * 4096 + (k * 256 * 128 + 128) + 2 * 128 + (k * 128 * 64 + 64) + 2 * 64 + (k * 64 + 1)
    d = (k * 64 + 64) + (k * 64 * 128 + 128) + 2 * 128 + (k * 128 * 256 + 256) + 2 * 256 + (4 * 4 * 4 * w + 1)
    assert (_count(state.nets["g"].params), _count(state.nets["d"].params)) == (g, d)
    assert (cfg.data.source, cfg.data.name, cfg.model.z_dim, cfg.train.batch_size) == ("tfds", "mnist", 128, 50)
    assert (cfg.optim.d.name, cfg.optim.d.lr, cfg.optim.g.lr, cfg.optim.d.clip) == ("rmsprop", 5e-5, 5e-5, 0.01)
    assert cfg.train.d_steps == 5 and cfg.train.d_steps_long == 0 and cfg.train.steps == 200_000


def test_a_clipped_wgan_on_these_networks_trains_and_keeps_the_critic_in_the_box(tmp_path):
    cfg = load_experiment("experiments/wgan.py", "quick", **{
        "model.generator.name": "improved_wgan28", "model.discriminator.name": "improved_wgan28",
        "model.generator.width": 2, "model.discriminator.width": 2, "train.batch_size": 8,
        "train.steps": 3, "train.num_samples": 8, "train.d_steps_long": 0})
    before = make_family(cfg).init_state()
    train.run(cfg, str(tmp_path))
    state = final_state(cfg, str(tmp_path))
    moved = {name: jax.tree.map(lambda a, b: bool(np.any(np.asarray(a) != np.asarray(b))),
                                before.nets[name].params, state.nets[name].params) for name in ("g", "d")}
    # the critic's output bias cancels in E[D(fake)] - E[D(real)]: its gradient is exactly 0
    assert moved["d"]["Dense_0"].pop("bias") is False
    assert all(jax.tree.leaves(moved)), moved  # every other parameter trained
    leaves = jax.tree.leaves(state.nets["d"].params)
    assert all(np.all(np.isfinite(np.asarray(p))) for p in leaves)
    assert max(float(np.abs(np.asarray(p)).max()) for p in leaves) <= 0.01
