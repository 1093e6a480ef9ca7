"""Regenerate tests/data/stylegan2_reference.npz, the fixture of tests/test_stylegan2_reference.py:
the reference StyleGAN2 G and D (NVlabs/stylegan2-ada-pytorch, ``training/networks.py``) at a
tiny size, their parameters already converted to the layout of jgan's port
(``jgan/models/stylegan2.py``), fixed inputs and the reference's outputs on them.

NOT a test and not run in CI: it needs PyTorch, which jgan does not depend on. To reproduce:

    # the reference code (the fixture was made from commit d72cc7d041b42ec8e806021a205ed9349f87c6a4)
    git clone https://github.com/NVlabs/stylegan2-ada-pytorch /tmp/stylegan2-ada-pytorch
    git -C /tmp/stylegan2-ada-pytorch checkout d72cc7d041b42ec8e806021a205ed9349f87c6a4
    # torch + numpy in a separate virtual environment (CPU build; the fixture used torch 2.13.0, numpy 2.4.6)
    python3 -m venv /tmp/torchvenv
    /tmp/torchvenv/bin/pip install torch==2.13.0 numpy --index-url https://download.pytorch.org/whl/cpu
    /tmp/torchvenv/bin/python tests/data/make_stylegan2_reference.py /tmp/stylegan2-ada-pytorch

``requests`` need not be installed: the reference's ``dnnlib/util.py`` imports it (for
downloads, unused here), so this script puts an empty stub module in ``sys.modules`` first. On
CPU the reference's custom ops (``bias_act``, ``upfirdn2d``) take their pure-PyTorch paths;
nothing is compiled.

What it builds (``torch.manual_seed(0)``, one thread, float32 throughout):

* ``Generator(z_dim=8, c_dim=0, w_dim=8, img_resolution=16, img_channels=1)``, mapping
  ``num_layers=2`` (lr_mul 0.01), synthesis ``channel_base=64, channel_max=8, num_fp16_res=0,
  conv_clamp=0.5``; ``Discriminator(c_dim=0, img_resolution=16, img_channels=1, channel_base=64,
  channel_max=8, num_fp16_res=0, conv_clamp=0.5, mbstd_group_size=4)`` (resnet). Channels 8, 8, 4
  at 4, 8, 16 px. ``conv_clamp=0.5`` (the reference's default is 256, which these small
  activations never reach) makes the clamps cut, and the script checks that they do (it prints
  the share of each conv layer's outputs at the bound: up to 54%, 0 only in D's 4 px conv) and
  that D's 16 px residual skip (which the reference leaves unclamped, ``networks.py`` lines
  553-554) reaches beyond the ``0.5 * sqrt(1/2)`` a clamp would set, so a port that clamped it
  would give other logits;
* every bias, noise strength and ``w_avg`` randomised (the reference initialises them to
  constants: 0, 0, 0 and the affine layers' 1), so no term is left trivial: biases
  + N(0, 0.2^2) (the mapping's / lr_mul, as its bias gain is lr_mul), noise strengths
  N(0, 0.5^2), ``w_avg`` N(0, 1);
* inputs ``z [4, 8]`` ~ N(0, 1) and ``x [4, 16, 16, 1]`` ~ N(0, 1) (stored NHWC);
* outputs (eval mode, no gradients): ``ws`` of ``G.mapping`` at psi 1 and 0.5 (``[4, 6, 8]``),
  ``G(z, noise_mode='const')`` at psi 1 and 0.5 (NHWC; the reference's default fused
  modulated conv) and ``D(x)`` (``[4]``).

Keys of the npz: ``G/params/...``, ``G/batch_stats/w_avg`` and ``D/params/...`` ('/'-joined
paths of the port's variable trees), ``noise_const/<layer>`` (``[r, r]``, the reference's fixed
noise images, the port's noise inputs broadcast over the batch), ``z``, ``x``, ``ws_psi1``,
``ws_psi05``, ``img_psi1``, ``img_psi05``, ``logits_x``.

The conversion to the port's layout:

* conv weights ``[out, in, kh, kw]`` -> HWIO; the up-sampling synthesis convs (``conv0`` of
  the 8 and 16 px blocks) also flipped in both spatial axes: the reference runs them as a
  transposed convolution (``conv2d_resample.py``), the port as zero insertion, the filter and
  a plain convolution (cross-correlation); no other conv is flipped;
* dense weights ``[out, in]`` -> ``[in, out]``; D's ``b4.fc`` rows also permuted from the
  reference's NCHW flatten ``(c, h, w)`` to the port's NHWC flatten ``(h, w, c)``;
* the synthesis constant ``[C, 4, 4]`` -> ``[4, 4, C]``; biases, noise strengths and ``w_avg``
  as they are; the filters (buffers) are not parameters of the port.
"""
import argparse
import os
import sys
import types

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
N, Z_DIM, W_DIM, RES = 4, 8, 8, 16
CLAMP = 0.5
NET = dict(channel_base=64, channel_max=8, num_fp16_res=0, conv_clamp=CLAMP)
NOISE_LAYERS = ["b4_conv1", "b8_conv0", "b8_conv1", "b16_conv0", "b16_conv1"]  # jgan's noise order


def conv_k(w, flip=False):
    """torch ``[out, in, kh, kw]`` -> HWIO, optionally flipped in both spatial axes."""
    k = np.transpose(w, (2, 3, 1, 0))
    return k[::-1, ::-1] if flip else k


def g_params(sd):
    """The reference G's state dict -> the port's ``{'params', 'batch_stats'}`` (flat keys)."""
    out = {"G/batch_stats/w_avg": sd["mapping.w_avg"]}
    for i in range(2):
        out[f"G/params/mapping/fc{i}/kernel"] = sd[f"mapping.fc{i}.weight"].T
        out[f"G/params/mapping/fc{i}/bias"] = sd[f"mapping.fc{i}.bias"]
    out["G/params/synthesis/const"] = np.transpose(sd["synthesis.b4.const"], (1, 2, 0))
    for res in (4, 8, 16):
        for layer in ("conv0", "conv1", "torgb"):
            pre = f"synthesis.b{res}.{layer}"
            if pre + ".weight" not in sd:
                continue  # the 4 px block has no conv0
            dst = f"G/params/synthesis/b{res}_{layer}/"
            out[dst + "affine/kernel"] = sd[pre + ".affine.weight"].T
            out[dst + "affine/bias"] = sd[pre + ".affine.bias"]
            out[dst + "kernel"] = conv_k(sd[pre + ".weight"], flip=layer == "conv0")
            out[dst + "bias"] = sd[pre + ".bias"]
            if layer != "torgb":
                out[dst + "noise_strength"] = sd[pre + ".noise_strength"]
    return out


def d_params(sd):
    """The reference D's state dict -> the port's ``{'params'}`` (flat keys)."""
    out = {}
    for name in [k for k in sd if k.endswith(".weight")]:
        blk, layer = name[:-len(".weight")].split(".")
        w, dst = sd[name], f"D/params/{blk}_{layer}/"
        if w.ndim == 4:
            out[dst + "kernel"] = conv_k(w)
        elif layer == "fc":  # [out, C*4*4] flattened (c, h, w) -> [4*4*C, out] flattened (h, w, c)
            c = w.shape[1] // 16
            out[dst + "kernel"] = w.reshape(w.shape[0], c, 4, 4).transpose(2, 3, 1, 0).reshape(16 * c, w.shape[0])
        else:
            out[dst + "kernel"] = w.T
        if f"{blk}.{layer}.bias" in sd:
            out[dst + "bias"] = sd[f"{blk}.{layer}.bias"]
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("reference", help="checkout of NVlabs/stylegan2-ada-pytorch")
    ap.add_argument("--out", default=os.path.join(HERE, "stylegan2_reference.npz"))
    a = ap.parse_args()

    sys.modules.setdefault("requests", types.ModuleType("requests"))  # dnnlib.util imports it; unused
    sys.path.insert(0, os.path.abspath(a.reference))
    import torch
    from training.networks import Conv2dLayer, Discriminator, Generator, SynthesisLayer, ToRGBLayer

    torch.set_num_threads(1)
    torch.manual_seed(0)
    G = Generator(z_dim=Z_DIM, c_dim=0, w_dim=W_DIM, img_resolution=RES, img_channels=1,
                  mapping_kwargs=dict(num_layers=2), synthesis_kwargs=NET).eval()
    D = Discriminator(c_dim=0, img_resolution=RES, img_channels=1, epilogue_kwargs=dict(mbstd_group_size=4),
                      **NET).eval()
    with torch.no_grad():
        for name, p in list(G.named_parameters()) + list(D.named_parameters()):
            if name.endswith("noise_strength"):
                p.copy_(torch.randn(()) * 0.5)
            elif name.endswith("bias"):
                p.add_(torch.randn(p.shape) * (0.2 / 0.01 if name.startswith("mapping.") else 0.2))
        G.mapping.w_avg.copy_(torch.randn(W_DIM))
    z = torch.randn(N, Z_DIM)
    x = torch.randn(N, 1, RES, RES)

    # How far the clamps cut: per conv layer, the share of outputs at the bound +-clamp * gain
    # (D's skips: the largest |output| against the bound a clamp would have put on them).
    stats = {}

    def hook(name):
        def f(mod, args, kwargs, out):
            bound = CLAMP * float(kwargs.get("gain", 1))  # D's conv1 and skip: gain=sqrt(1/2)
            o = out.detach().abs()
            stats.setdefault(name, []).append((float((o >= bound * (1 - 1e-6)).float().mean()),
                                               float(o.max()), bound))
        return f

    for net, prefix in ((G.synthesis, "G"), (D, "D")):
        for name, m in net.named_modules():
            if isinstance(m, (Conv2dLayer, SynthesisLayer, ToRGBLayer)):
                m.register_forward_hook(hook(f"{prefix} {name}"), with_kwargs=True)

    with torch.no_grad():
        ws1 = G.mapping(z, None, truncation_psi=1)
        ws05 = G.mapping(z, None, truncation_psi=0.5)
        img1 = G(z, None, truncation_psi=1, noise_mode="const")
        img05 = G(z, None, truncation_psi=0.5, noise_mode="const")
        logits = D(x, None)[:, 0]

    nhwc = lambda t: t.permute(0, 2, 3, 1).numpy()  # noqa: E731
    sd_g = {k: v.numpy() for k, v in G.state_dict().items()}
    sd_d = {k: v.numpy() for k, v in D.state_dict().items()}
    res = {**g_params(sd_g), **d_params(sd_d)}
    for layer in NOISE_LAYERS:
        blk, conv = layer.split("_")
        res[f"noise_const/{layer}"] = sd_g[f"synthesis.{blk}.{conv}.noise_const"]
    res.update(z=z.numpy(), x=nhwc(x), ws_psi1=ws1.numpy(), ws_psi05=ws05.numpy(), img_psi1=nhwc(img1),
               img_psi05=nhwc(img05), logits_x=logits.numpy())
    res = {k: np.asarray(v, np.float32) for k, v in res.items()}  # (0-d noise strengths stay 0-d)
    np.savez_compressed(a.out, **res)

    print(f"outputs at the clamp +-{CLAMP} * gain (G: the psi=1 pass; D's skips: beyond the bound "
          "a clamp would set):")
    for name, s in stats.items():
        share, mx, bound = s[-1] if name.startswith("D") else s[-2]  # G: the psi=1 call (of 2)
        print(f"  {name:<24} {share:7.2%}   bound {bound:.3g}   max|out| {mx:.3g}")
    for net in ("G", "D"):
        assert any(s[-1][0] > 0 for n, s in stats.items() if n.startswith(net) and not n.endswith("skip")), \
            f"the clamp never cuts in {net}"
    assert any(s[-1][1] > s[-1][2] for n, s in stats.items() if n.endswith("skip")), \
        "no skip reaches beyond the would-be clamp: the fixture would not tell a clamped skip apart"
    print(f"{len(res)} arrays, {sum(v.size for v in res.values())} floats -> {a.out} "
          f"({os.path.getsize(a.out)} bytes)")


if __name__ == "__main__":
    main()
