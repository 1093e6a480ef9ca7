"""Micro-benchmark: transposed-conv forward+backward on XLA:CPU.

Times ``jax.value_and_grad`` of ``sum(y**2)`` w.r.t. the input and the kernel
(jitted, median of ``--iters`` runs after warm-up) for the DCGAN-64 generator
layers at batch 64, for:

  flax      flax.linen.ConvTranspose, i.e. lax.conv_transpose + autodiff
  dilated   jgan conv_transpose, custom VJP, lhs-dilated forward
  subpixel  jgan conv_transpose, custom VJP, sub-pixel forward
  auto      jgan conv_transpose as ConvTranspose uses it by default

Usage: python benchmarks/conv_transpose.py [--iters 10] [--batch 64]
"""

from __future__ import annotations

import argparse
import statistics
import time

import flax.linen as nn
import jax
import jax.numpy as jnp

from jgan.models.layers import conv_transpose, torch_padding

# (H, Cin, Cout, k, stride, torch padding): DCGAN-64 generator, input 1x1 z.
LAYERS = [
    (1, 100, 512, 4, 1, 0),
    (4, 512, 256, 4, 2, 1),
    (8, 256, 128, 4, 2, 1),
    (16, 128, 64, 4, 2, 1),
    (32, 64, 3, 4, 2, 1),
]


def _flax_apply(x, kernel, strides, pads):
    layer = nn.ConvTranspose(kernel.shape[-1], kernel.shape[:2], strides, pads, use_bias=False)
    return layer.apply({"params": {"kernel": kernel}}, x)


IMPLS = {
    "flax": _flax_apply,
    "dilated": lambda x, k, s, p: conv_transpose(x, k, s, p, forward="dilated"),
    "subpixel": lambda x, k, s, p: conv_transpose(x, k, s, p, forward="subpixel"),
    "auto": lambda x, k, s, p: conv_transpose(x, k, s, p, forward="auto"),
}


def time_fn(fn, *args, iters: int) -> float:
    """Median wall time in ms of ``fn(*args)`` after two warm-up calls."""
    for _ in range(2):
        jax.block_until_ready(fn(*args))
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times)


def bench_layer(impl, h, cin, cout, k, s, p, batch, iters):
    pads = torch_padding(k, p)
    strides = (s, s)
    key_x, key_k = jax.random.split(jax.random.key(0))
    x = jax.random.normal(key_x, (batch, h, h, cin), jnp.float32)
    kernel = 0.02 * jax.random.normal(key_k, (k, k, cin, cout), jnp.float32)

    def loss(x, kernel):
        return jnp.sum(impl(x, kernel, strides, pads) ** 2)

    fwd = jax.jit(lambda x, kernel: impl(x, kernel, strides, pads))
    fwd_bwd = jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))
    return time_fn(fwd, x, kernel, iters=iters), time_fn(fwd_bwd, x, kernel, iters=iters)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=int, default=10)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--impls", default=",".join(IMPLS))
    args = parser.parse_args()
    names = args.impls.split(",")

    print(f"jax {jax.__version__}, {jax.devices()[0].platform}, batch {args.batch}, "
          f"median of {args.iters}; ms as forward / forward+backward")
    header = f"{'layer':<24}" + "".join(f"{n:>20}" for n in names)
    print(header)
    print("-" * len(header))
    totals = {n: [0.0, 0.0] for n in names}
    for h, cin, cout, k, s, p in LAYERS:
        ho = (h - 1) * s - 2 * p + k
        row = f"{h}x{h}x{cin}->{ho}x{ho}x{cout}"
        cells = []
        for n in names:
            f, fb = bench_layer(IMPLS[n], h, cin, cout, k, s, p, args.batch, args.iters)
            totals[n][0] += f
            totals[n][1] += fb
            cells.append(f"{f:8.1f} / {fb:8.1f}")
        print(f"{row:<24}" + "".join(f"{c:>20}" for c in cells), flush=True)
    print(f"{'total':<24}" + "".join(f"{totals[n][0]:8.1f} / {totals[n][1]:8.1f}".rjust(20)
                                     for n in names))


if __name__ == "__main__":
    main()
