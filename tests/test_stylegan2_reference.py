"""StyleGAN2's networks against the reference implementation: jgan's ``StyleGAN2Generator`` and
``StyleGAN2Discriminator`` (``jgan/models/stylegan2.py``) with the weights of the reference's
``Generator`` and ``Discriminator`` (NVlabs/stylegan2-ada-pytorch, ``training/networks.py``
and the ops it calls in ``torch_utils/ops/``: ``bias_act.py``, ``upfirdn2d.py``,
``conv2d_resample.py``) give the reference's outputs on the same inputs: the mapping's ws at
psi 1 and 0.5 (truncation towards a stored ``w_avg``), the images (the reference's
``noise_mode='const'``: its fixed noise images as the port's noise) at psi 1 and 0.5, and D's
logits on N(0, 1) images, to 1e-5 relative to the largest output.

The networks are tiny (16 px, 1 channel, w 8, a 2-layer mapping, channels 8, 8, 4 at 4, 8,
16 px; 4 examples, one minibatch-stddev group, where the port's consecutive groups and the
reference's strided ones coincide) with ``conv_clamp=0.5``, so the clamps cut (up to half of
a layer's outputs at the bound) and D's 16 px residual skip, which the reference leaves
unclamped, reaches beyond the bound a clamp would set; every bias, noise strength and
``w_avg`` is random. The fixture ``tests/data/stylegan2_reference.npz`` (the parameters already
in the port's layout, the inputs, the reference's outputs) was written by torch itself:
``tests/data/make_stylegan2_reference.py`` (its docstring says how to rerun it and how the
weights are converted); no torch here."""
import os

import jax
import numpy as np
import pytest

from jgan.models.stylegan2 import StyleGAN2Discriminator, StyleGAN2Generator, noise_resolutions

FIXTURE = os.path.join(os.path.dirname(__file__), "data", "stylegan2_reference.npz")
NOISE_LAYERS = ["b4_conv1", "b8_conv0", "b8_conv1", "b16_conv0", "b16_conv1"]  # noise_resolutions order
CLAMP = 0.5


@pytest.fixture(scope="module")
def ref():
    with np.load(FIXTURE) as f:
        return {k: f[k] for k in f.files}


def _variables(ref, net):
    """The fixture's ``<net>/a/b/c`` arrays as the nested variable dict ``{a: {b: {c: ...}}}``."""
    tree = {}
    for key, value in ref.items():
        if key.startswith(net + "/"):
            *parents, leaf = key.split("/")[1:]
            node = tree
            for p in parents:
                node = node.setdefault(p, {})
            node[leaf] = value
    return tree


def _assert_layout(variables, model, *args):
    """The stored tree is the port's own: the leaves and shapes of ``model.init(key, *args)``
    (traced, not run)."""
    init = jax.eval_shape(model.init, jax.random.key(0), *args)
    assert jax.tree_util.tree_structure(variables) == jax.tree_util.tree_structure(init)
    assert jax.tree.map(np.shape, variables) == jax.tree.map(np.shape, init)


def _assert_close(got, want):
    want = np.asarray(want, np.float64)
    np.testing.assert_allclose(np.asarray(got, np.float64), want, rtol=1e-5, atol=1e-5 * np.abs(want).max())


def test_generator_matches_reference_mapping_truncation_and_images(ref):
    G = StyleGAN2Generator(resolution=16, channels=1, z_dim=8, w_dim=8, mapping_layers=2, lr_mul=0.01,
                           channel_base=64, channel_max=8, conv_clamp=CLAMP)
    z = ref["z"]
    noise = [np.broadcast_to(ref[f"noise_const/{name}"][None, :, :, None], (len(z), r, r, 1))
             for name, r in zip(NOISE_LAYERS, noise_resolutions(16), strict=True)]
    variables = _variables(ref, "G")
    _assert_layout(variables, G, z, noise)

    @jax.jit
    def run(variables, z, noise):  # one compile: ws and images at psi 1 and 0.5
        ws = [G.apply(variables, G.apply(variables, z, psi, method=G.map), method=G.broadcast)
              for psi in (1.0, 0.5)]
        return ws, [G.apply(variables, z, noise, psi) for psi in (1.0, 0.5)]

    with jax.default_matmul_precision("float32"):
        (ws1, ws05), (img1, img05) = run(variables, z, noise)
    _assert_close(ws1, ref["ws_psi1"])
    _assert_close(ws05, ref["ws_psi05"])
    _assert_close(img1, ref["img_psi1"])
    _assert_close(img05, ref["img_psi05"])


def test_discriminator_matches_reference_logits(ref):
    D = StyleGAN2Discriminator(resolution=16, channel_base=64, channel_max=8, mbstd_group=4, conv_clamp=CLAMP)
    variables = _variables(ref, "D")
    _assert_layout(variables, D, ref["x"])
    with jax.default_matmul_precision("float32"):
        logits = jax.jit(D.apply)(variables, ref["x"])
    _assert_close(logits, ref["logits_x"])
