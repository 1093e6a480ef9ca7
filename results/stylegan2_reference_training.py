"""StyleGAN2's CPU default trained by the reference implementation itself, for
``results/stylegan2_mnist.md``: NVlabs/stylegan2-ada-pytorch's ``Generator``, ``Discriminator``
and ``StyleGAN2Loss`` (``training/networks.py``, ``training/loss.py``) driven by the phases of
its ``training/training_loop.py`` (Gmain every iteration, Greg every 4, Dmain, Dreg every 16,
each with its own fresh latents and ``gain = interval``; one Adam per network with ``lr * c``,
``beta2 ** c``, ``c = interval / (interval + 1)``; gradients through ``nan_to_num``; the EMA
with ``beta = 0.5 ** (batch / (ema_kimg * 1000))`` after every iteration, buffers copied), at
jgan's CPU default (``experiments/stylegan2.py``): the 4,500 training digits of the MNIST
subset padded to 32 px, batch 16, z = w = 128, 8 mapping layers, ``channel_base`` 512 /
``channel_max`` 64, minibatch-stddev group 4, lr 0.0025, gamma 0.0128, path length 2, mixing
0.9, EMA 5 kimg, fp32 (``num_fp16_res=0``), ``conv_clamp`` 256.

Logged every ``--every`` iterations: the collapse measure of the results file, the per-pixel
std across 64 fixed z of the raw and the EMA G's images with one constant noise for all
(``noise_mode='const'``); every 1,000 iterations 2,000 samples of each (random noise) to
``OUT_<it>.npz`` (NCHW, [-1, 1], 32 px) for jgan's evaluation.

NOT a test and not run in CI: it needs PyTorch and the reference code, as
``tests/data/make_stylegan2_reference.py``:

    git clone https://github.com/NVlabs/stylegan2-ada-pytorch /tmp/stylegan2-ada-pytorch
    python3 -m venv /tmp/torchvenv && /tmp/torchvenv/bin/pip install torch numpy
    # the training digits as jgan reads them, padded to 32 px (jgan's venv)
    python -c "import numpy as np; from jgan.data.sources import mnist_subset_split as s; \
      x = s('train', 500).x / 127.5 - 1; \
      np.save('/tmp/mnist32.npy', np.pad(x, ((0, 0), (2, 2), (2, 2), (0, 0)), constant_values=-1) \
      .transpose(0, 3, 1, 2).astype(np.float32))"
    /tmp/torchvenv/bin/python results/stylegan2_reference_training.py /tmp/stylegan2-ada-pytorch \
      /tmp/mnist32.npy /tmp/ref.json --steps 3000 --every 250

(measured with torch 2.14.1 on the 2-core CPU machine, ~0.17 s per iteration alone).
"""
import argparse
import copy
import json
import sys
import time
import types

import numpy as np
import torch

p = argparse.ArgumentParser()
p.add_argument("ref", help="the stylegan2-ada-pytorch checkout")
p.add_argument("data", help="[N, 1, 32, 32] float32 images in [-1, 1] (.npy)")
p.add_argument("out", help="the log (.json); samples go to OUT_<it>.npz")
p.add_argument("--steps", type=int, default=600)
p.add_argument("--map", type=int, default=8)
p.add_argument("--base", type=int, default=512)
p.add_argument("--max", type=int, default=64)
p.add_argument("--gamma", type=float, default=0.0128)
p.add_argument("--pl", type=float, default=2.0)
p.add_argument("--mix", type=float, default=0.9)
p.add_argument("--batch", type=int, default=16)
p.add_argument("--lr", type=float, default=0.0025)
p.add_argument("--mbstd", type=int, default=4)
p.add_argument("--zdim", type=int, default=128)
p.add_argument("--seed", type=int, default=0)
p.add_argument("--every", type=int, default=50)
p.add_argument("--fp16", type=int, default=0)
p.add_argument("--ramp", type=float, default=0.0, help="EMA ramp-up (0: none, as jgan's default)")
a = p.parse_args()

sys.modules["requests"] = types.ModuleType("requests")
sys.path.insert(0, a.ref)
torch.set_num_threads(2)
from training.networks import Generator, Discriminator  # noqa: E402
from training.loss import StyleGAN2Loss  # noqa: E402

torch.manual_seed(a.seed)
np.random.seed(a.seed)
dev = torch.device("cpu")
data = torch.from_numpy(np.load(a.data))
net = dict(channel_base=a.base, channel_max=a.max, num_fp16_res=a.fp16, conv_clamp=256)
G = Generator(z_dim=a.zdim, c_dim=0, w_dim=a.zdim, img_resolution=32, img_channels=1,
              mapping_kwargs=dict(num_layers=a.map), synthesis_kwargs=net).train().requires_grad_(False)
D = Discriminator(c_dim=0, img_resolution=32, img_channels=1, epilogue_kwargs=dict(mbstd_group_size=a.mbstd),
                  **net).train().requires_grad_(False)
G_ema = copy.deepcopy(G).eval()
loss = StyleGAN2Loss(dev, G.mapping, G.synthesis, D, r1_gamma=a.gamma, pl_weight=a.pl, style_mixing_prob=a.mix)

phases = []
for name, module, reg in [("G", G, 4), ("D", D, 16)]:
    ratio = reg / (reg + 1)
    opt = torch.optim.Adam(module.parameters(), lr=a.lr * ratio, betas=(0.0, 0.99 ** ratio), eps=1e-8)
    phases += [dict(name=name + "main", module=module, opt=opt, interval=1)]
    if (name == "G" and a.pl > 0) or (name == "D" and a.gamma > 0):
        phases += [dict(name=name + "reg", module=module, opt=opt, interval=reg)]

z_fix = torch.randn([64, a.zdim], generator=torch.Generator().manual_seed(123))
ema_kimg, ema_rampup = a.batch * 10 / 32, a.ramp or None


def spread(net):
    with torch.no_grad():
        img = net(z_fix, None, noise_mode="const")
    return float(img.std(0).mean())


log = []
t0 = time.time()
gen = torch.Generator().manual_seed(a.seed)
for it in range(a.steps + 1):
    if it % a.every == 0:
        rec = dict(it=it, std_raw=spread(G), std_ema=spread(G_ema), t=round(time.time() - t0, 1))
        log.append(rec)
        print(rec, flush=True)
        json.dump(dict(args=vars(a), log=log), open(a.out, "w"))
        if it and it % 1000 == 0:
            with torch.no_grad():
                zs = torch.randn([2000, a.zdim], generator=torch.Generator().manual_seed(it))
                imgs = {k: torch.cat([net(zs[i:i + 500], None) for i in range(0, 2000, 500)]).numpy()
                        for k, net in (("raw", G), ("ema", G_ema))}
            np.savez(a.out.replace(".json", f"_{it}.npz"), **imgs)
    if it == a.steps:
        break
    idx = torch.randint(len(data), (a.batch,), generator=gen)
    real = data[idx]
    for ph in phases:
        if it % ph["interval"] != 0:
            continue
        ph["opt"].zero_grad(set_to_none=True)
        ph["module"].requires_grad_(True)
        z = torch.randn([a.batch, a.zdim])
        c = torch.zeros([a.batch, 0])
        loss.accumulate_gradients(phase=ph["name"], real_img=real, real_c=c, gen_z=z, gen_c=c, sync=True,
                                  gain=ph["interval"])
        ph["module"].requires_grad_(False)
        for prm in ph["module"].parameters():
            if prm.grad is not None:
                torch.nan_to_num(prm.grad, nan=0, posinf=1e5, neginf=-1e5, out=prm.grad)
        ph["opt"].step()
    ema_nimg = ema_kimg * 1000
    if ema_rampup is not None:
        ema_nimg = min(ema_nimg, it * a.batch * ema_rampup)
    beta = 0.5 ** (a.batch / max(ema_nimg, 1e-8))
    for pe, pr in zip(G_ema.parameters(), G.parameters()):
        pe.copy_(pr.detach().lerp(pe, beta))
    for be, br in zip(G_ema.buffers(), G.buffers()):
        be.copy_(br)
