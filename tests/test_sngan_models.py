"""SNGAN networks (jgan.models.sngan), SAGAN self-attention and flax's spectral norm.

Shapes are checked with ``jax.eval_shape`` (tracing only); parameter counts of the CIFAR-10
networks are compared with counts derived by hand from Miyato et al. 2018, Tables 3 and 4.
"""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jgan.models.attention import SelfAttention, maybe_sn
from jgan.config import base_config
from jgan.models.layers import Conv
from jgan.models.sngan import (
    ResNetDiscriminator,
    ResNetGenerator,
    SNGANStandardDiscriminator,
    SNGANStandardGenerator,
    generator_layout,
)

KEY = jax.random.PRNGKey(0)


def count(tree):
    return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(tree))


def sn_entries(batch_stats):
    """Paths of the spectral-norm state (``.../<layer>/kernel/{u,sigma}``) in ``batch_stats``."""
    flat = jax.tree_util.tree_flatten_with_path(batch_stats)[0]
    return [jax.tree_util.keystr(p) for p, _ in flat if "SpectralNorm" in jax.tree_util.keystr(p)]


def shapes(model, x, train=True):
    """(variables, output) shapes of ``model`` applied to ``x`` in train mode."""
    variables = jax.eval_shape(lambda: model.init(KEY, x, train=False))
    out, upd = jax.eval_shape(lambda v: model.apply(v, x, train=train, mutable=["batch_stats"]),
                              variables)
    return variables, out, upd


# --------------------------------------------------------------------------------------
# Spectral normalisation (flax nn.SpectralNorm through maybe_sn)
# --------------------------------------------------------------------------------------

class _Wrapped(nn.Module):
    make: callable
    enabled: bool = True
    n_steps: int = 1

    @nn.compact
    def __call__(self, x, train: bool):
        return maybe_sn(self.make(), self.enabled, self.n_steps)(x, train)


# name: (layer factory, input shape, kernel shape). Conv layers are VALID with a kernel-sized
# input, so feeding the one-hot basis of the flattened input yields the reshaped kernel
# [kh*kw*cin, cout] (divided by sigma) as the output.
LAYERS = {
    "dense": (lambda: nn.Dense(8, use_bias=False), (36,), (36, 8)),
    "flax_conv": (lambda: nn.Conv(8, (3, 3), padding="VALID", use_bias=False), (3, 3, 4), (3, 3, 4, 8)),
    "jgan_conv": (lambda: Conv(8, (3, 3), padding="VALID", use_bias=False), (3, 3, 4), (3, 3, 4, 8)),
}


def _set_kernel(variables, kernel):
    (name,) = variables["params"].keys()
    return {"params": {name: {"kernel": jnp.asarray(kernel)}}, "batch_stats": variables["batch_stats"]}


@pytest.mark.parametrize("layer", list(LAYERS))
def test_power_iteration_converges_to_top_singular_value(layer):
    make, in_shape, k_shape = LAYERS[layer]
    model = _Wrapped(make)
    basis = jnp.eye(int(np.prod(in_shape)), dtype=jnp.float32).reshape(-1, *in_shape)
    variables = model.init(KEY, basis, train=False)
    (sn_name,) = variables["batch_stats"].keys()
    (layer_name,) = variables["params"].keys()
    assert sorted(variables["batch_stats"][sn_name]) == [f"{layer_name}/kernel/sigma", f"{layer_name}/kernel/u"]
    kernel = np.random.default_rng(0).normal(size=k_shape).astype(np.float32)
    matrix = kernel.reshape(-1, k_shape[-1])
    top = np.linalg.svd(matrix, compute_uv=False)[0]
    variables = _set_kernel(variables, kernel)

    step = jax.jit(lambda v: model.apply(v, basis, train=True, mutable=["batch_stats"]))
    for _ in range(100):  # repeated train-mode applies on a fixed kernel: power iteration
        out, upd = step(variables)
        variables = {"params": variables["params"], "batch_stats": upd["batch_stats"]}
    sigma = float(variables["batch_stats"][sn_name][f"{layer_name}/kernel/sigma"])
    np.testing.assert_allclose(sigma, top, rtol=1e-3)
    w_bar = np.asarray(out).reshape(matrix.shape)  # the normalised weight W / sigma
    np.testing.assert_allclose(w_bar, matrix / sigma, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(np.linalg.svd(w_bar, compute_uv=False)[0], 1.0, rtol=1e-3)

    # eval mode: same output, state not written
    out_eval, upd_eval = model.apply(variables, basis, train=False, mutable=["batch_stats"])
    np.testing.assert_allclose(out_eval, out, rtol=1e-4, atol=1e-6)
    jax.tree.map(np.testing.assert_array_equal, upd_eval["batch_stats"], variables["batch_stats"])


def test_spectral_norm_is_scale_invariant_and_dense_is_1_lipschitz():
    model = _Wrapped(lambda: nn.Dense(6), n_steps=50)
    x = jnp.asarray(np.random.default_rng(1).normal(size=(32, 10)).astype(np.float32))
    variables = model.init(KEY, x, train=False)
    y1, _ = model.apply(variables, x, train=True, mutable=["batch_stats"])
    scaled = jax.tree_util.tree_map_with_path(
        lambda p, v: 3.0 * v if "kernel" in jax.tree_util.keystr(p) else v, variables["params"])
    y3, _ = model.apply({"params": scaled, "batch_stats": variables["batch_stats"]}, x, train=True,
                        mutable=["batch_stats"])
    np.testing.assert_allclose(y3, y1, rtol=1e-4, atol=1e-5)
    y = np.asarray(y1)
    dy = np.linalg.norm(y[:16] - y[16:], axis=1)
    dx = np.linalg.norm(np.asarray(x[:16] - x[16:]), axis=1)
    assert np.all(dy <= dx * (1 + 1e-3))


def test_spectral_norm_jgan_strided_conv_matches_flax_conv_with_gradients():
    """SN over jgan's Conv (custom VJP, stride 2) = SN over nn.Conv: outputs, grads and u."""
    mk = lambda cls: (lambda: cls(6, (4, 4), strides=(2, 2), padding=((1, 1), (1, 1))))
    x = jnp.asarray(np.random.default_rng(2).normal(size=(2, 8, 8, 3)).astype(np.float32))
    flax_m, jgan_m = _Wrapped(mk(nn.Conv)), _Wrapped(mk(Conv))
    v = flax_m.init(KEY, x, train=False)  # both layers are named Conv_0: same variable tree
    assert jax.tree.structure(jgan_m.init(KEY, x, train=False)) == jax.tree.structure(v)

    def loss(params, model, bs):
        y, upd = model.apply({"params": params, "batch_stats": bs}, x, train=True, mutable=["batch_stats"])
        return jnp.sum(jnp.sin(y)), upd

    (l_f, u_f), g_f = jax.value_and_grad(loss, has_aux=True)(v["params"], flax_m, v["batch_stats"])
    (l_j, u_j), g_j = jax.value_and_grad(loss, has_aux=True)(v["params"], jgan_m, v["batch_stats"])
    np.testing.assert_allclose(l_j, l_f, rtol=1e-5)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6), g_j, g_f)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7), u_j, u_f)
    assert float(jnp.abs(g_j["Conv_0"]["kernel"]).max()) > 0


def test_maybe_sn_disabled_is_the_plain_layer():
    model = _Wrapped(lambda: Conv(4, (3, 3)), enabled=False)
    variables = model.init(KEY, jnp.ones((1, 5, 5, 2)), train=False)
    assert "batch_stats" not in variables
    assert set(variables["params"]["Conv_0"]) == {"kernel", "bias"}


# --------------------------------------------------------------------------------------
# Output shapes
# --------------------------------------------------------------------------------------

DATA = {"mnist": (28, 1), "cifar": (32, 3)}
# attention resolutions that exist in each network, per data set
ATTN = {
    "std_g": {"mnist": 14, "cifar": 16},
    "std_d": {"mnist": 7, "cifar": 16},
    "res_g": {"mnist": 7, "cifar": 8},
    "res_d": {"mnist": 14, "cifar": 8},
}


def small(kind, size, channels, sn, attn):
    """Small-width networks; ``attn`` is an attention resolution (0 = none)."""
    if kind == "std_g":
        return SNGANStandardGenerator(image_size=size, channels=channels, width=8,
                                      spectral_norm=sn, attention_resolution=attn)
    if kind == "std_d":
        return SNGANStandardDiscriminator(width=8, spectral_norm=sn, attention_resolution=attn)
    if kind == "res_g":
        return ResNetGenerator(image_size=size, channels=channels, width=16, spectral_norm=sn,
                               attention_resolution=attn)
    return ResNetDiscriminator(width=16, spectral_norm=sn, attention_resolution=attn)


@pytest.mark.parametrize("variant", ["plain", "sn", "sn_attention"])
@pytest.mark.parametrize("data", list(DATA))
@pytest.mark.parametrize("kind", list(ATTN))
def test_output_shapes(kind, data, variant):
    size, channels = DATA[data]
    sn = variant != "plain"
    attn = ATTN[kind][data] if variant == "sn_attention" else 0
    model = small(kind, size, channels, sn, attn)
    x = jnp.zeros((2, 16)) if kind.endswith("_g") else jnp.zeros((2, size, size, channels))
    variables, out, upd = shapes(model, x)
    assert out.shape == ((2, size, size, channels) if kind.endswith("_g") else (2,))
    assert ("attention" in variables["params"]) == bool(attn)
    entries = sn_entries(variables.get("batch_stats", {}))
    assert bool(entries) == sn
    if sn:
        assert jax.tree.structure(upd["batch_stats"]) == jax.tree.structure(variables["batch_stats"])
    if attn:
        assert sum("attention" in e for e in entries) == 8  # u and sigma of f, g, h, v


def test_generator_layout_and_bad_attention_resolution():
    assert generator_layout(32) == (3, 4)
    assert generator_layout(28) == (2, 7)
    assert generator_layout(48) == (3, 6)  # the paper's STL-10 M_g
    with pytest.raises(ValueError):
        generator_layout(30)
    with pytest.raises(ValueError, match="attention_resolution"):
        shapes(ResNetDiscriminator(width=16, attention_resolution=4), jnp.zeros((2, 32, 32, 3)))
    with pytest.raises(ValueError, match="attention_resolution"):
        shapes(ResNetGenerator(image_size=28, channels=1, width=16, attention_resolution=8),
               jnp.zeros((2, 16)))


def test_generator_without_norm_has_no_batch_stats():
    variables, out, _ = shapes(ResNetGenerator(image_size=28, channels=1, width=16, norm="none"),
                               jnp.zeros((2, 16)))
    assert "batch_stats" not in variables and out.shape == (2, 28, 28, 1)


# --------------------------------------------------------------------------------------
# Parameter counts of the CIFAR-10 networks (z_dim 128), derived from Tables 3 and 4
# --------------------------------------------------------------------------------------

def conv_params(k, cin, cout):  # k x k kernel + bias
    return k * k * cin * cout + cout


def test_standard_discriminator_parameter_count():
    # Table 3 (M = 32): 3x3 s1 64; 4x4 s2 64; 3x3 s1 128; 4x4 s2 128; 3x3 s1 256; 4x4 s2 256;
    # 3x3 s1 512 (all with bias), then dense 4*4*512 -> 1.
    paper = [
        conv_params(3, 3, 64),      # 1,792
        conv_params(4, 64, 64),     # 65,600
        conv_params(3, 64, 128),    # 73,856
        conv_params(4, 128, 128),   # 262,272
        conv_params(3, 128, 256),   # 295,168
        conv_params(4, 256, 256),   # 1,048,832
        conv_params(3, 256, 512),   # 1,180,160
        4 * 4 * 512 + 1,            # 8,193
    ]
    assert sum(paper) == 2_935_873
    # the authors' chainer SNDCGANDiscriminator: channels double at the stride-2 convs
    code = [conv_params(3, 3, 64), conv_params(4, 64, 128), conv_params(3, 128, 128),
            conv_params(4, 128, 256), conv_params(3, 256, 256), conv_params(4, 256, 512),
            conv_params(3, 512, 512), 4 * 4 * 512 + 1]
    assert sum(code) == 5_860_865
    x = jnp.zeros((2, 32, 32, 3))
    for model, expected, n_sn in [(SNGANStandardDiscriminator(), sum(paper), 8),
                                  (SNGANStandardDiscriminator(widen_strided=True), sum(code), 8),
                                  (SNGANStandardDiscriminator(spectral_norm=False), sum(paper), 0)]:
        variables, _, _ = shapes(model, x)
        assert count(variables["params"]) == expected
        assert len(sn_entries(variables.get("batch_stats", {}))) == 2 * n_sn  # u and sigma


def test_standard_generator_parameter_count():
    # Table 3: dense 128 -> 4*4*512 (+ BatchNorm1d over its 8192 outputs, as in the chainer code),
    # deconv 4x4 s2 512->256, 256->128, 128->64 each + BN, conv 3x3 64->3.
    expected = ((128 * 8192 + 8192) + 2 * 8192
                + conv_params(4, 512, 256) + 2 * 256
                + conv_params(4, 256, 128) + 2 * 128
                + conv_params(4, 128, 64) + 2 * 64
                + conv_params(3, 64, 3))
    assert expected == 3_828_739
    variables, _, _ = shapes(SNGANStandardGenerator(), jnp.zeros((2, 128)))
    assert count(variables["params"]) == expected


def test_resnet_generator_parameter_count():
    # Table 4: dense 128 -> 4*4*256; 3 x ResBlock up 256; BN, ReLU, conv3x3 256 -> 3.
    dense = 128 * 4 * 4 * 256 + 4 * 4 * 256                     # 528,384
    block = (2 * 256 + conv_params(3, 256, 256)                 # BN1, conv1: 590,592
             + 2 * 256 + conv_params(3, 256, 256)               # BN2, conv2: 590,592
             + conv_params(1, 256, 256))                        # shortcut 1x1: 65,792
    assert block == 1_246_976
    final = 2 * 256 + conv_params(3, 256, 3)                    # 7,427
    expected = dense + 3 * block + final
    assert expected == 4_276_739
    variables, _, _ = shapes(ResNetGenerator(), jnp.zeros((2, 128)))
    assert count(variables["params"]) == expected
    assert len(sn_entries(variables["batch_stats"])) == 0


def test_resnet_discriminator_parameter_count():
    # Table 4: optimized ResBlock down 128; ResBlock down 128; ResBlock 128; ResBlock 128;
    # ReLU, global sum pooling, dense 128 -> 1.
    optimized = conv_params(3, 3, 128) + conv_params(3, 128, 128) + conv_params(1, 3, 128)
    down = 2 * conv_params(3, 128, 128) + conv_params(1, 128, 128)  # learnable shortcut
    plain = 2 * conv_params(3, 128, 128)                            # identity shortcut
    dense = 128 + 1
    assert (optimized, down, plain) == (151_680, 311_680, 295_168)
    expected = optimized + down + 2 * plain + dense
    assert expected == 1_053_825
    variables, _, _ = shapes(ResNetDiscriminator(), jnp.zeros((2, 32, 32, 3)))
    assert count(variables["params"]) == expected
    n_layers = 3 + 3 + 2 + 2 + 1
    assert len(sn_entries(variables["batch_stats"])) == 2 * n_layers


# --------------------------------------------------------------------------------------
# Self-attention
# --------------------------------------------------------------------------------------

def _attention_reference(p, x, pool):
    """numpy SAGAN attention from the params: y = x + gamma * v(h . softmax(f g^T))."""
    n, h, w, c = x.shape
    f = x @ p["f"]["kernel"][0, 0]
    g = x @ p["g"]["kernel"][0, 0]
    hv = x @ p["h"]["kernel"][0, 0]
    if pool:
        g = g.reshape(n, h // 2, 2, w // 2, 2, -1).max(axis=(2, 4))
        hv = hv.reshape(n, h // 2, 2, w // 2, 2, -1).max(axis=(2, 4))
    f, g, hv = f.reshape(n, h * w, -1), g.reshape(n, -1, c // 8), hv.reshape(n, -1, c // 2)
    logits = np.einsum("nqc,nkc->nqk", f, g)
    beta = np.exp(logits - logits.max(-1, keepdims=True))
    beta /= beta.sum(-1, keepdims=True)
    o = np.einsum("nqk,nkc->nqc", beta, hv).reshape(n, h, w, c // 2) @ p["v"]["kernel"][0, 0]
    return x + p["gamma"] * o


@pytest.mark.parametrize("pool", [True, False])
def test_self_attention_identity_at_init_weights_and_reference(pool):
    x = np.random.default_rng(3).normal(size=(2, 8, 6, 16)).astype(np.float32)
    model = SelfAttention(pool=pool)
    variables = model.init(KEY, x, train=False)
    assert float(variables["params"]["gamma"]) == 0.0
    assert variables["params"]["h"]["kernel"].shape == (1, 1, 16, 8)
    assert variables["params"]["f"]["kernel"].shape == (1, 1, 16, 2)
    y, inter = model.apply(variables, x, train=True, mutable=["intermediates"])
    np.testing.assert_array_equal(y, x)  # gamma = 0: identity
    (beta,) = inter["intermediates"]["attention"]
    assert beta.shape == (2, 48, 12 if pool else 48)
    np.testing.assert_allclose(np.asarray(beta).sum(-1), 1.0, rtol=1e-5)
    assert float(beta.min()) >= 0

    params = jax.tree.map(np.asarray, dict(variables["params"]))
    params["gamma"] = np.float32(0.7)
    y = model.apply({"params": params}, x, train=False)
    np.testing.assert_allclose(y, _attention_reference(params, x, pool), rtol=1e-4, atol=1e-5)
    assert not np.allclose(y, x)


def test_self_attention_odd_size_and_spectral_norm():
    x = jnp.asarray(np.random.default_rng(4).normal(size=(2, 7, 7, 16)).astype(np.float32))
    model = SelfAttention(spectral_norm=True)
    variables = model.init(KEY, x, train=False)
    assert len(sn_entries(variables["batch_stats"])) == 8
    (y, upd) = model.apply(variables, x, train=True, mutable=["batch_stats", "intermediates"])
    (beta,) = upd["intermediates"]["attention"]
    assert y.shape == x.shape and beta.shape == (2, 49, 16)  # 7x7 keys max-pooled to 4x4 ('SAME')
    np.testing.assert_allclose(np.asarray(beta).sum(-1), 1.0, rtol=1e-5)


# --------------------------------------------------------------------------------------
# The spectral-norm state lives in batch_stats, where jgan's train step threads it
# --------------------------------------------------------------------------------------

def test_sn_state_is_updated_through_batch_stats_and_gradients_flow():
    d = SNGANStandardDiscriminator(width=4)
    x = jnp.asarray(np.random.default_rng(5).uniform(-1, 1, (2, 8, 8, 1)).astype(np.float32))
    # random variables of the init's shapes (compiling the init itself takes long on XLA:CPU)
    rng = np.random.default_rng(6)
    variables = jax.tree.map(lambda s: jnp.asarray(0.1 * rng.normal(size=s.shape), s.dtype),
                             jax.eval_shape(lambda: d.init(KEY, x, train=False)))
    params, bs = variables["params"], variables["batch_stats"]

    def loss(p, bs):  # as jgan.steps: apply with mutable batch_stats, thread the update
        logits, upd = d.apply({"params": p, "batch_stats": bs}, x, train=True, mutable=["batch_stats"])
        return jnp.mean(logits ** 2), upd["batch_stats"]

    (l, new_bs), grads = jax.jit(jax.value_and_grad(loss, has_aux=True))(params, bs)
    assert np.isfinite(float(l))
    changed = jax.tree.map(lambda a, b: bool(np.any(np.asarray(a) != np.asarray(b))), bs, new_bs)
    us = [c for p, c in jax.tree_util.tree_flatten_with_path(changed)[0] if jax.tree_util.keystr(p).endswith("/u']")]
    assert len(us) == 8 and all(us)  # every u moved
    norms = jax.tree.map(lambda g: float(jnp.abs(g).max()), grads)
    assert all(n > 0 for n in jax.tree.leaves(norms))
    # eval mode leaves the state alone
    _, upd = d.apply({"params": params, "batch_stats": new_bs}, x, train=False, mutable=["batch_stats"])
    jax.tree.map(np.testing.assert_array_equal, upd["batch_stats"], new_bs)


def test_initial_state_keeps_sn_state():
    from jgan.experiment import make_family
    cfg = base_config()
    cfg.model.z_dim = 8
    cfg.model.generator.name = cfg.model.discriminator.name = "resnet"
    cfg.model.generator.width = cfg.model.discriminator.width = 16
    cfg.model.discriminator.norm = "none"
    state = jax.eval_shape(make_family(cfg).init_state)
    assert len(sn_entries(state.nets["d"].batch_stats)) == 22
    assert "BatchNorm_0" in state.nets["g"].batch_stats
