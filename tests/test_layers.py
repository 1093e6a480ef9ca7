"""jgan.models.layers.conv_transpose / ConvTranspose against jax and flax references.

Outputs are compared with ``jax.lax.conv_transpose``; gradients with autodiff
through it and through an independent "interior-pad then VALID conv"
formulation. The latter is the only gradient reference when padding exceeds
``k - 1``: there autodiff of ``lax.conv_transpose`` emits a conv with negative
padding, which XLA:CPU (jax 0.10) evaluates to garbage.
"""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from jgan.models import layers
from jgan.models.layers import ConvTranspose, conv_transpose, resolve_padding, torch_padding

DN = ("NHWC", "HWIO", "NHWC")
FORWARDS = ["dilated", "subpixel"]

# name: (x shape [N,H,W,Cin], kernel (kh, kw), Cout, strides, padding)
CASES = {
    "dcgan_k4_s2_p1": ((2, 4, 4, 6), (4, 4), 5, (2, 2), torch_padding(4, 1)),
    "dcgan_first_1x1_to_4x4": ((3, 1, 1, 7), (4, 4), 5, (1, 1), torch_padding(4, 0)),
    "k3_s2_p1_op1": ((2, 5, 5, 3), (3, 3), 4, (2, 2), torch_padding(3, 1, 1)),
    "k5_s2_same": ((2, 5, 6, 3), (5, 5), 4, (2, 2), "SAME"),
    "k3_s2_valid": ((2, 3, 4, 3), (3, 3), 2, (2, 2), "VALID"),
    "k4_s2_pad_beyond_k_minus_1": ((2, 3, 5, 3), (4, 4), 2, (2, 2), ((5, 4), (6, 3))),
    "odd_sizes_asymmetric": ((2, 3, 7, 4), (3, 5), 3, (3, 2), ((1, 2), (4, 0))),
    "negative_padding": ((2, 6, 5, 3), (4, 3), 2, (2, 2), ((-1, 2), (0, -2))),
    "kernel_smaller_than_stride": ((2, 3, 4, 2), (1, 2), 3, (2, 3), ((0, 1), (1, 1))),
}


def random_inputs(x_shape, kernel_hw, cout, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=x_shape).astype(np.float32)
    kernel = rng.normal(size=(*kernel_hw, x_shape[-1], cout)).astype(np.float32)
    return jnp.asarray(x), jnp.asarray(kernel)


def lax_reference(x, kernel, strides, padding):
    return lax.conv_transpose(x, kernel, strides, padding, dimension_numbers=DN)


def padded_reference(x, kernel, strides, padding):
    """Dilate and pad (negative = crop) with lax.pad, then a VALID conv."""
    pads = resolve_padding(padding, kernel.shape[:2], strides)
    config = [(0, 0, 0), *((lo, hi, s - 1) for (lo, hi), s in zip(pads, strides)), (0, 0, 0)]
    xp = lax.pad(x, jnp.zeros((), x.dtype), config)
    return lax.conv_general_dilated(xp, kernel, (1, 1), "VALID", dimension_numbers=DN)


def vjp_of(fn, x, kernel, dy=None):
    y, pullback = jax.vjp(jax.jit(fn), x, kernel)
    if dy is None:
        dy = jnp.asarray(np.random.default_rng(1).normal(size=y.shape).astype(np.float32))
    return y, dy, pullback(dy)


def assert_close(actual, expected, rtol=1e-5):
    expected = np.asarray(expected)
    atol = rtol * max(1.0, float(np.abs(expected).max(initial=0.0)))
    np.testing.assert_allclose(np.asarray(actual), expected, rtol=rtol, atol=atol)


def exceeds_kernel(kernel_hw, strides, padding):
    pads = resolve_padding(padding, kernel_hw, strides)
    return any(max(p) > k - 1 for k, p in zip(kernel_hw, pads))


@pytest.mark.parametrize("forward", FORWARDS)
@pytest.mark.parametrize("case", CASES)
def test_matches_lax_conv_transpose(case, forward):
    x_shape, kernel_hw, cout, strides, padding = CASES[case]
    x, kernel = random_inputs(x_shape, kernel_hw, cout)

    ours = lambda x, k: conv_transpose(x, k, strides, padding, forward=forward)
    y, dy, (dx, dk) = vjp_of(ours, x, kernel)

    assert_close(y, lax_reference(x, kernel, strides, padding))
    references = [padded_reference]
    if not exceeds_kernel(kernel_hw, strides, padding):
        references.append(lax_reference)
    for ref in references:
        y_ref, _, (dx_ref, dk_ref) = vjp_of(lambda x, k: ref(x, k, strides, padding), x, kernel, dy)
        assert_close(y, y_ref)
        assert_close(dx, dx_ref)
        assert_close(dk, dk_ref)


def test_reference_gradients_agree_on_ordinary_padding():
    # Cross-check of the two gradient references where both are trustworthy.
    x_shape, kernel_hw, cout, strides, padding = CASES["k3_s2_p1_op1"]
    x, kernel = random_inputs(x_shape, kernel_hw, cout)
    _, dy, grads = vjp_of(lambda x, k: lax_reference(x, k, strides, padding), x, kernel)
    _, _, grads_pad = vjp_of(lambda x, k: padded_reference(x, k, strides, padding), x, kernel, dy)
    for g, g_pad in zip(grads, grads_pad):
        assert_close(g_pad, g)


@pytest.mark.parametrize("forward", FORWARDS)
def test_jit_and_value_and_grad(forward):
    x_shape, kernel_hw, cout, strides, padding = CASES["dcgan_k4_s2_p1"]
    x, kernel = random_inputs(x_shape, kernel_hw, cout)

    def loss(fn):
        return lambda x, k: jnp.sum(fn(x, k) ** 2)

    ours = jax.jit(jax.value_and_grad(
        loss(lambda x, k: conv_transpose(x, k, strides, padding, forward)), argnums=(0, 1)))
    ref = jax.value_and_grad(loss(lambda x, k: lax_reference(x, k, strides, padding)), argnums=(0, 1))
    (v, (dx, dk)), (v_ref, (dx_ref, dk_ref)) = ours(x, kernel), ref(x, kernel)
    assert_close(v, v_ref)
    assert_close(dx, dx_ref)
    assert_close(dk, dk_ref)


def test_compiled_gradient_has_no_lhs_dilation():
    # The point of the custom VJP: XLA:CPU's fast conv path needs no lhs (base)
    # dilation. With the sub-pixel forward, no conv in the program has any.
    x, kernel = random_inputs((2, 4, 4, 3), (4, 4), 2)
    pads = torch_padding(4, 1)
    grad = jax.jit(jax.grad(
        lambda x, k: jnp.sum(conv_transpose(x, k, (2, 2), pads, "subpixel") ** 2), argnums=(0, 1)))
    hlo = grad.lower(x, kernel).compile().as_text()
    convs = [line for line in hlo.splitlines() if " convolution(" in line]
    assert len(convs) == 6  # 4 sub-pixel phases + dx + dkernel
    assert not any("lhs_dilate" in line for line in convs)


@pytest.mark.parametrize("h,k,s,p,op", [(4, 4, 2, 1, 0), (1, 4, 1, 0, 0), (5, 3, 2, 1, 1),
                                        (7, 5, 3, 2, 2), (6, 2, 2, 0, 0), (3, 3, 1, 1, 0)])
def test_torch_padding_output_size(h, k, s, p, op):
    x, kernel = random_inputs((1, h, h + 1, 2), (k, k), 3)
    y = conv_transpose(x, kernel, (s, s), torch_padding(k, p, op))
    assert y.shape == (1, (h - 1) * s - 2 * p + k + op, h * s - 2 * p + k + op, 3)


def torch_conv_transpose2d(x, weight, stride, padding, output_padding):
    """PyTorch ConvTranspose2d (no bias) by its scatter definition, NCHW, float64.

    ``weight`` is ``[Cin, Cout, kh, kw]``; input pixel h adds ``x[h] w[t]`` to
    output ``h * s - p + t``.
    """
    n, _, h, w = x.shape
    _, cout, kh, kw = weight.shape
    ho = (h - 1) * stride - 2 * padding + kh + output_padding
    wo = (w - 1) * stride - 2 * padding + kw + output_padding
    full = np.zeros((n, cout, ho + 2 * padding + kh, wo + 2 * padding + kw))
    for i in range(h):
        for j in range(w):
            contrib = np.einsum("nc,cokl->nokl", x[:, :, i, j], weight)
            full[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw] += contrib
    return full[:, :, padding:padding + ho, padding:padding + wo]


@pytest.mark.parametrize("k,s,p,op", [(4, 2, 1, 0), (3, 2, 1, 1), (5, 3, 2, 0)])
def test_torch_convention_is_a_kernel_flip(k, s, p, op):
    rng = np.random.default_rng(0)
    x_nchw = rng.normal(size=(2, 3, 4, 5))
    w_torch = rng.normal(size=(3, 2, k, k))
    expected = torch_conv_transpose2d(x_nchw, w_torch, s, p, op)

    x = jnp.asarray(x_nchw.transpose(0, 2, 3, 1), jnp.float32)
    kernel = jnp.asarray(np.flip(w_torch.transpose(2, 3, 0, 1), (0, 1)), jnp.float32)
    y = conv_transpose(x, kernel, (s, s), torch_padding(k, p, op))
    assert_close(y, expected.transpose(0, 2, 3, 1))


def test_torch_padding_pairs():
    assert torch_padding(4, 1) == ((2, 2), (2, 2))
    assert torch_padding(3, 1, 1) == ((1, 2), (1, 2))
    assert torch_padding((5, 3), (2, 0), (0, 1)) == ((2, 2), (2, 3))


def test_auto_forward_heuristic():
    assert not layers.use_subpixel((1, 1), 512)
    assert not layers.use_subpixel((2, 2), 64, out_size=14)
    assert layers.use_subpixel((2, 2), 64, out_size=16)
    assert not layers.use_subpixel((2, 2), 3)
    assert layers.use_subpixel((2, 2), layers.SUBPIXEL_MIN_FEATURES)
    assert layers.use_subpixel((1, 2), 64)


@pytest.mark.parametrize("padding", ["SAME", "VALID", ((2, 1), (0, 3)), 1])
@pytest.mark.parametrize("kernel_size,strides", [((4, 4), (2, 2)), ((2, 5), (3, 1))])
def test_module_matches_flax(kernel_size, strides, padding):
    x = jnp.asarray(np.random.default_rng(0).normal(size=(2, 5, 6, 3)).astype(np.float32))
    kwargs = dict(features=4, kernel_size=kernel_size, strides=strides, padding=padding)
    ours, theirs = ConvTranspose(**kwargs), nn.ConvTranspose(**kwargs)

    key = jax.random.key(0)
    params = theirs.init(key, x)
    jax.tree.map(np.testing.assert_array_equal, ours.init(key, x), params)  # same names, shapes, inits
    # A non-zero bias, so that its handling is compared too.
    params = jax.tree.map(lambda p: p + 0.1, params)

    def loss(module):
        return lambda params, x: jnp.sum(module.apply(params, x) ** 2)

    assert_close(jax.jit(ours.apply)(params, x), jax.jit(theirs.apply)(params, x))
    (g_params, g_x) = jax.jit(jax.grad(loss(ours), argnums=(0, 1)))(params, x)
    (g_params_ref, g_x_ref) = jax.jit(jax.grad(loss(theirs), argnums=(0, 1)))(params, x)
    assert_close(g_x, g_x_ref)
    jax.tree.map(assert_close, g_params, g_params_ref)


def test_module_without_bias():
    x = jnp.ones((1, 2, 2, 3))
    variables = ConvTranspose(5, (4, 4), (2, 2), torch_padding(4, 1), use_bias=False).init(
        jax.random.key(0), x)
    assert jax.tree.map(jnp.shape, variables) == {"params": {"kernel": (4, 4, 3, 5)}}


def test_rejects_bad_arguments():
    x, kernel = random_inputs((1, 3, 3, 2), (3, 3), 2)
    with pytest.raises(ValueError):
        conv_transpose(x, kernel, (2, 2), "FULL")
    with pytest.raises(ValueError):
        conv_transpose(x, kernel, (2, 2), "SAME", forward="fft")
    with pytest.raises(ValueError):
        conv_transpose(x[..., :1], kernel, (2, 2), "SAME")


# --------------------------------------------------------------------------
# Strided Conv with the conv-transpose input gradient
# --------------------------------------------------------------------------

# name: (x shape, kernel (kh, kw), Cout, strides, padding); Cin >= 8 and sides >= 16, or
# windows that miss the last input rows, take the sub-pixel path in the backward, the
# others the dilated one.
CONV_CASES = {
    "dcgan_k4_s2_p1_wide": ((2, 16, 16, 8), (4, 4), 6, (2, 2), ((1, 1), (1, 1))),
    "dcgan_k4_s2_p1_narrow": ((2, 8, 8, 3), (4, 4), 5, (2, 2), ((1, 1), (1, 1))),
    "k3_s2_odd_size": ((2, 17, 19, 9), (3, 3), 4, (2, 2), ((1, 1), (1, 1))),
    "k3x5_s2x3_valid": ((2, 18, 16, 8), (3, 5), 4, (2, 3), "VALID"),
    "k4_s2_same": ((2, 16, 17, 8), (4, 4), 3, (2, 2), "SAME"),
    "asymmetric_padding": ((2, 16, 16, 10), (4, 4), 6, (2, 2), ((2, 1), (0, 3))),
    "stride_1": ((2, 6, 6, 3), (3, 3), 4, (1, 1), "SAME"),
    "sngan_7_to_3_rows_missed": ((2, 7, 7, 4), (4, 4), 3, (2, 2), ((1, 1), (1, 1))),
}


def conv_reference(x, kernel, strides, padding):
    return lax.conv_general_dilated(x, kernel, strides, padding, dimension_numbers=DN)


@pytest.mark.parametrize("name", list(CONV_CASES))
def test_conv_matches_lax_outputs_and_gradients(name):
    x_shape, khw, cout, strides, padding = CONV_CASES[name]
    x, kernel = random_inputs(x_shape, khw, cout, seed=3)
    y, vjp = jax.vjp(lambda a, b: layers.conv(a, b, strides, padding), x, kernel)
    y_ref, vjp_ref = jax.vjp(lambda a, b: conv_reference(a, b, strides, padding), x, kernel)
    np.testing.assert_allclose(y, y_ref, rtol=1e-5, atol=1e-4)
    dy = jnp.asarray(np.random.default_rng(4).normal(size=y.shape).astype(np.float32))
    for got, want in zip(vjp(dy), vjp_ref(dy)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("name", ["dcgan_k4_s2_p1_wide", "sngan_7_to_3_rows_missed"])
def test_conv_input_gradient_has_no_dilated_conv_on_the_subpixel_path(name):
    # the 7 -> 3 case: XLA:CPU turned its lhs-dilated input gradient into a ~25x slower conv
    x_shape, khw, cout, strides, padding = CONV_CASES[name]
    x, kernel = random_inputs(x_shape, khw, cout)
    grad = jax.jit(jax.grad(lambda a: jnp.sum(layers.conv(a, kernel, strides, padding) ** 2)))
    hlo = grad.lower(x).compile().as_text()
    assert "lhs_dilate" not in hlo and "rhs_reversal" not in hlo


def test_conv_second_order_gradient_matches_lax():
    # Gradient penalties differentiate ||grad_x D|| with respect to D's weights.
    x, kernel = random_inputs((2, 16, 16, 8), (4, 4), 3, seed=5)

    def penalty(conv_fn):
        def f(w):
            gx = jax.grad(lambda a: jnp.sum(jnp.tanh(conv_fn(a, w))))(x)
            return jnp.sum(gx ** 2)
        return jax.grad(f)(kernel)

    pads = ((1, 1), (1, 1))
    np.testing.assert_allclose(penalty(lambda a, w: layers.conv(a, w, (2, 2), pads)),
                               penalty(lambda a, w: conv_reference(a, w, (2, 2), pads)),
                               rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("padding", ["SAME", "VALID", ((1, 1), (1, 1))])
def test_conv_module_matches_flax_conv(padding):
    x, _ = random_inputs((2, 16, 16, 8), (4, 4), 1, seed=6)
    ours = layers.Conv(5, (4, 4), strides=(2, 2), padding=padding)
    ref = nn.Conv(5, (4, 4), strides=(2, 2), padding=padding)
    v = ours.init(jax.random.PRNGKey(0), x)
    v_ref = ref.init(jax.random.PRNGKey(0), x)
    jax.tree.map(np.testing.assert_array_equal, v, v_ref)
    np.testing.assert_allclose(ours.apply(v, x), ref.apply(v, x), rtol=1e-5, atol=1e-5)
    g = jax.grad(lambda p: jnp.sum(ours.apply(p, x) ** 2))(v)
    g_ref = jax.grad(lambda p: jnp.sum(ref.apply(p, x) ** 2))(v)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4), g, g_ref)
