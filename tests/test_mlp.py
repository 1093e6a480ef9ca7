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
