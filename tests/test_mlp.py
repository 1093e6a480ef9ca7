"""The fully connected discriminator's dropout placement (Goodfellow et al.'s reference drops
D's input at 0.2 and its hidden layers at 0.5) and the config checks of the two rates."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jgan.config import ConfigError, base_config, validate
from jgan.models.mlp import MLPDiscriminator


def _outputs(hidden, **rates):
    d = MLPDiscriminator(hidden=hidden, pieces=1, **rates)
    x = jnp.ones((64, 30))
    v = d.init(jax.random.key(0), x, train=False)
    train = d.apply(v, x, train=True, rngs={"dropout": jax.random.key(1)})
    return np.asarray(train), np.asarray(d.apply(v, x, train=False))


def test_input_dropout_acts_on_the_input_and_dropout_on_hidden_layers_only():
    # no hidden layer: only the input's dropout can change the train-mode output
    train, test = _outputs((), dropout=0.9, input_dropout=0.0)
    np.testing.assert_array_equal(train, test)
    train, test = _outputs((), dropout=0.0, input_dropout=0.5)
    assert np.abs(train - test).max() > 1e-3
    # input_dropout < 0 takes dropout's rate, with the same mask for the same key
    same, _ = _outputs((), dropout=0.5, input_dropout=-1.0)
    np.testing.assert_array_equal(same, train)
    # a hidden layer with dropout and an undropped input: train mode differs from eval mode
    train, test = _outputs((16,), dropout=0.5, input_dropout=0.0)
    assert np.abs(train - test).max() > 1e-3


@pytest.mark.parametrize("field,value", [("dropout", 1.0), ("dropout", -0.1), ("input_dropout", 1.0)])
def test_dropout_rates_outside_0_1_are_one_line_errors(field, value):
    c = base_config()
    c.model.discriminator[field] = value
    with pytest.raises(ConfigError, match=f"model.discriminator.{field}"):
        validate(c)


def test_generator_dropout_acts_in_train_mode_only_on_hidden_and_label_layers():
    from jgan.models.conditional import LabelConcatGenerator
    from jgan.models.mlp import MLPGenerator
    z = jnp.ones((8, 12))
    y = jnp.arange(8) % 3
    for rate, differs in ((0.0, False), (0.5, True)):
        g = LabelConcatGenerator(MLPGenerator(out_shape=(4, 4, 1), hidden=(16,), dropout=rate), 3,
                                 (6, 5), dropout=rate)
        v = g.init(jax.random.key(0), z, y, train=False)
        train = g.apply(v, z, y, train=True, rngs={"dropout": jax.random.key(1)})
        test = g.apply(v, z, y, train=False)
        assert (np.abs(np.asarray(train) - np.asarray(test)).max() > 1e-4) == differs
    # the label layers alone: no hidden layer in the inner MLP, only z_in / y_in can drop
    g = LabelConcatGenerator(MLPGenerator(out_shape=(4, 4, 1), hidden=(), dropout=0.0), 3, (6, 5), dropout=0.5)
    v = g.init(jax.random.key(0), z, y, train=False)
    train = g.apply(v, z, y, train=True, rngs={"dropout": jax.random.key(1)})
    assert np.abs(np.asarray(train) - np.asarray(g.apply(v, z, y, train=False))).max() > 1e-4


def test_generator_dropout_outside_0_1_is_a_one_line_error():
    c = base_config()
    c.model.generator.dropout = 1.0
    with pytest.raises(ConfigError, match="model.generator.dropout"):
        validate(c)


def test_init_range_draws_kernels_uniformly_in_the_range_and_zero_biases():
    from jgan.models.conditional import LabelConcatDiscriminator
    d = LabelConcatDiscriminator(MLPDiscriminator(hidden=(64,), pieces=3, init_range=0.005), 10,
                                 input_units=(32, 8), init_range=0.005)
    v = d.init(jax.random.key(0), jnp.ones((2, 28, 28, 1)), jnp.zeros(2, jnp.int32), train=False)
    kernels = [np.asarray(x) for path, x in jax.tree_util.tree_leaves_with_path(v["params"])
               if "kernel" in jax.tree_util.keystr(path)]
    biases = [np.asarray(x) for path, x in jax.tree_util.tree_leaves_with_path(v["params"])
              if "bias" in jax.tree_util.keystr(path)]
    assert len(kernels) == 4 and len(biases) == 4  # x_in, y_in, hidden maxout, head
    every = np.concatenate([k.ravel() for k in kernels])
    assert np.abs(every).max() <= 0.005 and np.abs(every).max() > 0.0049
    # U(-r, r): mean 0, variance r^2 / 3 (n = 28*28*96 + ... draws)
    assert abs(every.mean()) < 1e-4 and abs(every.std() - 0.005 / np.sqrt(3)) < 1e-4
    assert all(np.all(b == 0) for b in biases)


def test_pylearn2_pixel_range_options():
    """``unit_input``: D reads (x + 1) / 2 (pylearn2's MNIST in [0, 1]), label features
    untouched; ``output='sigmoid'``: 2 sigmoid(a) - 1 = tanh(a / 2) of the same pre-activation."""
    from jgan.models.conditional import LabelConcatDiscriminator
    from jgan.models.mlp import MLPGenerator
    x = jax.random.uniform(jax.random.key(0), (6, 4, 4, 1), minval=-1.0, maxval=1.0)
    y = jnp.arange(6) % 3
    for units in ((), (8, 4)):
        plain = LabelConcatDiscriminator(MLPDiscriminator(hidden=(8,), pieces=2, keep_tail=0 if units else 3),
                                         3, flatten=True, input_units=units)
        unit = LabelConcatDiscriminator(MLPDiscriminator(hidden=(8,), pieces=2, keep_tail=0 if units else 3,
                                                         unit_input=not units), 3, flatten=True,
                                        input_units=units, unit_input=bool(units))
        v = plain.init(jax.random.key(1), x, y, train=False)
        np.testing.assert_allclose(unit.apply(v, x, y, train=False), plain.apply(v, (x + 1) / 2, y, train=False),
                                   rtol=1e-6, atol=1e-6)
    z = jax.random.normal(jax.random.key(2), (5, 3))
    lin = MLPGenerator(out_shape=(2, 2, 1), hidden=(4,), output="linear")
    sig = MLPGenerator(out_shape=(2, 2, 1), hidden=(4,), output="sigmoid")
    v = lin.init(jax.random.key(3), z, train=False)
    np.testing.assert_allclose(sig.apply(v, z, train=False), np.tanh(np.asarray(lin.apply(v, z, train=False)) / 2),
                               rtol=1e-5, atol=1e-6)
