"""ALI's convolutional networks (``jgan.models.ali``) against the paper's Table 3 and the
reference code: every layer's output size against Theano's 'valid' conv arithmetic, maxout
against NumPy, the posterior against the reparameterised Gaussian with ``sigma =
exp(log_sigma)``, D's dropout rates and places against the paper's table, G's initial output
bias against the data's log-odds computed here; a short conv-ALI run is finite, trains
every network and resumes bit-exactly."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import load_experiment, resumed_equals_straight, submodule_outputs

from jgan.config import ConfigError
from jgan.data.sources import mnist_subset_split
from jgan.experiment import make_family
from jgan.models.ali import ALIDecoder, ALIDiscriminator, ALIEncoder, maxout


def _tiny_ali(**overrides):
    """The ``ali`` variant at width 2, batch 8, 4 iterations, nothing evaluated."""
    base = {"model.generator.width": 2, "model.encoder.width": 2, "model.discriminator.width": 2,
            "model.z_dim": 4, "train.batch_size": 8, "train.steps": 4, "train.log_every": 2,
            "train.sample_every": 2, "train.checkpoint_every": 2, "train.num_samples": 16, "eval.every": 0}
    return load_experiment("experiments/bigan.py", "ali", **{**base, **overrides})


def _valid(n, k, s):      # Theano's 'valid' convolution
    return (n - k) // s + 1


def _valid_t(n, k, s):    # ... and its transpose
    return (n - 1) * s + k


def _sizes(module, *args, kind):
    """Spatial sizes and widths of the outputs of every ``kind`` submodule, in call order."""
    outs = submodule_outputs(module, *args, kinds=(kind,))
    return [o.shape[1] for o in outs], [o.shape[-1] for o in outs]


def test_layer_sizes_follow_the_valid_conv_arithmetic_of_table_3():
    x = jnp.zeros((2, 28, 28, 1))  # MNIST: padded to 32 inside
    z = jnp.zeros((2, 5))
    want_e, n = [], 32
    for k, s in ((5, 1), (4, 2), (4, 1), (4, 2), (4, 1), (1, 1), (1, 1)):
        n = _valid(n, k, s)
        want_e.append(n)
    assert want_e == [28, 13, 10, 4, 1, 1, 1]
    sizes, widths = _sizes(ALIEncoder(z_dim=5, width=3, axis_name=None), x, kind="Conv")
    assert sizes == want_e and widths == [3, 6, 12, 24, 48, 48, 10]

    want_g, n = [], 1
    for k, s in ((4, 1), (4, 2), (4, 1), (4, 2), (5, 1)):
        n = _valid_t(n, k, s)
        want_g.append(n)
    assert want_g == [4, 10, 13, 28, 32]
    sizes, widths = _sizes(ALIDecoder(out_shape=(28, 28, 1), width=3, axis_name=None), z, kind="ConvTranspose")
    assert sizes == want_g and widths == [24, 12, 6, 3, 3]
    sizes, widths = _sizes(ALIDecoder(out_shape=(28, 28, 1), width=3, axis_name=None), z, kind="Conv")
    assert sizes == [32, 32] and widths == [3, 1]
    assert ALIDecoder(out_shape=(28, 28, 1), width=3, axis_name=None).init(jax.random.key(0), z)[
        "params"]["marginal_bias"].shape == (28, 28, 1)

    sizes, widths = _sizes(ALIDiscriminator(width=4), x, z, kind="Conv")
    # D(x) 5 convs, D(z) 2, D(x, z) 3; maxout halves the width each conv feeds forward
    assert sizes == [28, 13, 10, 4, 1, 1, 1, 1, 1, 1]
    assert widths == [4, 8, 16, 32, 64, 64, 64, 128, 128, 1]


def test_maxout_is_the_max_over_consecutive_channel_pairs():
    x = np.random.default_rng(0).normal(size=(2, 3, 3, 8)).astype(np.float32)
    want = np.stack([np.maximum(x[..., 2 * i], x[..., 2 * i + 1]) for i in range(4)], axis=-1)
    np.testing.assert_array_equal(np.asarray(maxout(jnp.asarray(x), 2)), want)


def test_posterior_is_the_reparameterised_gaussian_with_log_sigma():
    e = ALIEncoder(z_dim=3, width=2, axis_name=None)
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.uniform(-1, 1, (4, 28, 28, 1)), jnp.float32)
    eps = jnp.asarray(rng.normal(size=(4, 3)), jnp.float32)
    v = e.init(jax.random.key(0), x)
    v = {**v, "params": jax.tree.map(lambda p: p * 30, v["params"])}  # away from the tiny init

    def run(*args):
        out, st = e.apply(v, x, *args, capture_intermediates=lambda m, _: m.name == "posterior",
                          mutable=["intermediates", "batch_stats"])
        return np.asarray(out), np.asarray(st["intermediates"]["posterior"]["__call__"][0]).reshape(4, 6)

    mean, stats = run()
    z, _ = run(eps)
    np.testing.assert_allclose(mean, stats[:, :3], rtol=1e-6)
    np.testing.assert_allclose(z, stats[:, :3] + np.exp(stats[:, 3:]) * np.asarray(eps), rtol=1e-5, atol=1e-6)
    assert np.abs(z - mean).max() > 1e-3
    det = ALIEncoder(z_dim=3, width=2, stochastic=False, axis_name=None)
    np.testing.assert_allclose(np.asarray(det.apply(v, x, eps, mutable=["batch_stats"])[0]), mean, rtol=1e-6)


def test_discriminator_dropout_rates_and_places_are_the_papers():
    d = ALIDiscriminator(width=4)
    x = jnp.ones((64, 32, 32, 1))
    z = jnp.ones((64, 6))
    v = d.init({"params": jax.random.key(0), "dropout": jax.random.key(1)}, x, z)
    _, st = d.apply(v, x, z, capture_intermediates=lambda m, _: type(m).__name__ == "Dropout",
                    mutable=["intermediates"], rngs={"dropout": jax.random.key(2)})
    drops = [t["__call__"][0] for t in jax.tree_util.tree_leaves(
        st["intermediates"], is_leaf=lambda t: isinstance(t, dict) and "__call__" in t)]
    # D(x): 0.2 on x, 0.5 before convs 2-5; D(z): 0.2 on z, 0.5; D(x, z): 0.5 before its 3 convs
    assert len(drops) == 10
    want = [0.2, 0.5, 0.5, 0.5, 0.5, 0.2, 0.5, 0.5, 0.5, 0.5]
    for o, rate in zip(drops, want):
        got = float(np.mean(np.asarray(o) == 0))
        assert abs(got - rate) < 4 * np.sqrt(rate * (1 - rate) / o.size) + 1e-3, (got, rate, o.shape)
    kept = np.asarray(drops[5])[np.asarray(drops[5]) != 0]
    np.testing.assert_allclose(kept, 1 / 0.8, rtol=1e-6)  # inverted dropout on z = 1
    a = d.apply(v, x, z, train=False)
    np.testing.assert_array_equal(np.asarray(a), np.asarray(d.apply(v, x, z, train=False)))


def test_generator_starts_at_the_data_mean_image():
    cfg = _tiny_ali()
    family = make_family(cfg)
    state = family.init_state()
    bias = np.asarray(state.nets["g"].params["marginal_bias"])
    x = mnist_subset_split("train", cfg.data.holdout).x[:500].astype(np.float64) / 255.0
    p = np.clip(x.mean(0), 1e-7, 1 - 1e-7)
    np.testing.assert_allclose(bias, np.log(p / (1 - p)), rtol=1e-4, atol=1e-4)
    # with the last conv zeroed, G(z) = 2 sigmoid(bias) - 1: the data's mean image in [-1, 1]
    params = jax.tree_util.tree_map_with_path(
        lambda path, a: a * 0 if "to_image" in jax.tree_util.keystr(path) else a, state.nets["g"].params)
    out = family.generate({"params": params, "batch_stats": state.nets["g"].batch_stats}, jnp.ones((3, 4)))
    np.testing.assert_allclose(out, np.broadcast_to(2 * p - 1, out.shape), atol=1e-5)


def test_conv_ali_trains_every_network_and_resumes_bit_exactly(tmp_path):
    cfg = _tiny_ali()
    final = resumed_equals_straight(cfg, _tiny_ali(**{"train.steps": 2}), tmp_path)
    init = make_family(cfg).init_state()
    for name in "ged":
        before, after = jax.tree.leaves(init.nets[name].params), jax.tree.leaves(final.nets[name].params)
        assert all(np.isfinite(np.asarray(a)).all() for a in after)
        assert any(not np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(before, after)), name


@pytest.mark.parametrize("override,field", [
    ({"model.discriminator.maxout_pieces": 3}, "maxout_pieces"),
    ({"model.encoder.width": 0}, "model.encoder.width"),
    ({"data.image_size": 27}, "ali_conv"),
    ({"model.discriminator.input_dropout": 1.0}, "input_dropout"),
])
def test_bad_conv_ali_config_names_the_field(override, field):
    with pytest.raises(ConfigError, match=field):
        make_family(_tiny_ali(**override))


def test_input_dropout_is_refused_for_the_mlp():
    cfg = load_experiment("experiments/bigan.py", "quick", **{"model.discriminator.input_dropout": 0.2})
    with pytest.raises(ConfigError, match="input_dropout"):
        make_family(cfg)


def test_cifar10_variant_builds_table_3_without_reading_data():
    """``ali_cifar10`` from the config alone (shapes only: the output bias's log-odds are a host
    callback, so no CIFAR-10 is read): parameter counts are arithmetic on the paper's Table 3."""
    cfg = load_experiment("experiments/bigan.py", "ali_cifar10")
    state = jax.eval_shape(make_family(cfg).init_state)
    count = lambda tree: sum(int(np.prod(v.shape)) for v in jax.tree.leaves(tree))  # noqa: E731
    c, z = 3, 64
    e_convs = [(5, c, 32), (4, 32, 64), (4, 64, 128), (4, 128, 256), (4, 256, 512), (1, 512, 512)]
    e = sum(k * k * i * o + 2 * o for k, i, o in e_convs) + 512 * 2 * z + 2 * z  # + BN; posterior with bias
    g_convs = [(4, z, 256), (4, 256, 128), (4, 128, 64), (4, 64, 32), (5, 32, 32), (1, 32, 32)]
    g = sum(k * k * i * o + 2 * o for k, i, o in g_convs) + 32 * c + 32 * 32 * c  # untied output bias
    x_convs = [(5, c, 32), (4, 16, 64), (4, 32, 128), (4, 64, 256), (4, 128, 512)]  # maxout halves
    d = sum(k * k * i * o for k, i, o in x_convs) + 32 + z * 512 + 256 * 512
    d += 512 * 1024 + 1024 + 512 * 1024 + 1024 + 512 + 1
    assert (count(state.nets["e"].params), count(state.nets["g"].params), count(state.nets["d"].params)) == (e, g, d)
    assert cfg.train.batch_size == 100 and cfg.optim.g.lr == cfg.optim.d.lr == 1e-4
