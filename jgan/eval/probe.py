"""How much of the labels features carry: a linear probe and 1-nearest-neighbour accuracy.

BiGAN and ALI measure an encoder by what a simple classifier reads from ``E(x)`` (Donahue et
al. 2017, Table 1: 1NN accuracy on MNIST; linear classifiers on the features elsewhere).

* :func:`linear_probe_accuracy`: multinomial logistic regression (softmax, L2 ``l2 / 2 ||W||^2``
  on the weights, not the biases) on features standardised with the training set's mean and
  standard deviation, fitted full-batch with L-BFGS (optax, zoom line search) to convergence;
  accuracy on the test features.
* :func:`nearest_neighbour_accuracy`: each test feature takes the label of its nearest
  training feature in Euclidean distance (ties: the lower index).
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax


def _standardise(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean, std = train.mean(0), train.std(0)
    std = np.where(std > 1e-8, std, 1.0)
    return (train - mean) / std, (test - mean) / std


def softmax_regression_loss(params, x, y, l2: float):
    """Mean cross-entropy of ``softmax(x W + b)`` against integer labels ``y`` plus
    ``l2 / 2 ||W||^2``."""
    logits = x @ params["w"] + params["b"]
    ce = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
    return ce + 0.5 * l2 * jnp.sum(jnp.square(params["w"]))


@functools.partial(jax.jit, static_argnames=("num_classes", "iterations"))
def fit_softmax_regression(x, y, num_classes: int, l2: float = 1e-3, iterations: int = 300):
    """``{'w' [d, K], 'b' [K]}`` minimising :func:`softmax_regression_loss` (L-BFGS, ``iterations``
    steps from zero; the objective is strictly convex for ``l2`` > 0)."""
    params = {"w": jnp.zeros((x.shape[1], num_classes), x.dtype), "b": jnp.zeros((num_classes,), x.dtype)}
    fun = functools.partial(softmax_regression_loss, x=x, y=y, l2=l2)
    opt = optax.lbfgs()
    value_and_grad = optax.value_and_grad_from_state(fun)

    def step(_, carry):
        params, state = carry
        value, grad = value_and_grad(params, state=state)
        updates, state = opt.update(grad, state, params, value=value, grad=grad, value_fn=fun)
        return optax.apply_updates(params, updates), state

    params, _ = jax.lax.fori_loop(0, iterations, step, (params, opt.init(params)))
    return params


def linear_probe_accuracy(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray,
                          test_y: np.ndarray, num_classes: int = 10, l2: float = 1e-3) -> float:
    """Test accuracy of softmax regression fitted on ``(train_x [n, d], train_y [n])``."""
    tr, te = _standardise(np.asarray(train_x, np.float64), np.asarray(test_x, np.float64))
    params = fit_softmax_regression(jnp.asarray(tr, jnp.float32), jnp.asarray(train_y, jnp.int32),
                                    num_classes, l2)
    pred = np.argmax(np.asarray(te, np.float32) @ np.asarray(params["w"]) + np.asarray(params["b"]), -1)
    return float(np.mean(pred == np.asarray(test_y)))


def nearest_neighbour_accuracy(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray,
                               test_y: np.ndarray, chunk: int = 512) -> float:
    """Fraction of test rows whose nearest training row (Euclidean) has the same label."""
    tr = np.asarray(train_x, np.float64).reshape(len(train_x), -1)
    te = np.asarray(test_x, np.float64).reshape(len(test_x), -1)
    sq_tr = np.sum(tr * tr, 1)
    hits = 0
    for i in range(0, len(te), chunk):
        block = te[i:i + chunk]
        dist = sq_tr[None, :] - 2.0 * block @ tr.T  # + |block|^2, the same for every column
        hits += int(np.sum(np.asarray(train_y)[np.argmin(dist, 1)] == np.asarray(test_y)[i:i + chunk]))
    return hits / len(te)
