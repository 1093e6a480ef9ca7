"""Training-iteration throughput of jgan's step, optionally beside the PyTorch peer.

The three iterations of ``../shared/bench/README.md`` at batch 64:

    dcgan64      DCGAN 64x64x3 (nz 100, ngf = ndf = 64), Adam, one D update + one G update
                 on the same fake batch, non-saturating loss
    dcgan_mnist  the 28x28 DCGAN (nz 64) with BatchNorm in G and D, same iteration
    wgan_mnist   the 28x28 nets without BatchNorm in the critic, RMSProp(5e-5), weight
                 clipping 0.01, 5 critic updates then 1 G update

and the three small fully connected GANs of the peer, whose iteration includes drawing the
minibatch from a dataset held in memory, so jgan's side is its **whole training loop**
(``jgan.train.run``, what ``launch.py`` runs: grain data, the compiled iterations, metrics
fetched and logged every ``log_every``), not a bare step:

    gan_mnist            experiments/gan.py (G 100-1200-1200-784, maxout D, SGD, batch 100)
    pacgan_grid25        experiments/pacgan.py:grid25 (G 4x400 BN-ReLU, D maxout 3x200x5, Adam)
    pacgan_grid25_pack2  experiments/pacgan.py:grid25,pack=2

For these jgan's number is the median of the loop's own ``iters_per_s`` records over the
logging intervals after the first (which holds the compilation); ``--iterations-per-call K``
sets ``train.iterations_per_call`` (default: the experiment's own).

For each conv model it prints ms per iteration (median), images per second (generator samples per
second: batch / time), achieved model FLOP/s (the analytic count of ``common.py``) and that
as a fraction of a matmul peak measured in the same run. ``--torch PYTHON`` also runs
``gan_steps_torch.py`` (eager) in a worker process, interleaved model by model, and prints
the time ratio jgan / torch.

jgan runs with its default host-memory policy (``config.train.host_memory='keep'``, see
``jgan/hostmem.py``); ``--host-memory release`` measures it with glibc's defaults instead. The
torch worker runs with glibc's defaults; for a like-for-like comparison give both processes the
same policy through the environment (PyTorch's large CPU tensors page-fault the same way):

    export GLIBC_TUNABLES=glibc.malloc.arena_max=1:glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=2147483647
    python benchmarks/step_throughput.py --torch /tmp/torchvenv/bin/python

    python benchmarks/step_throughput.py
    python benchmarks/step_throughput.py --torch /tmp/torchvenv/bin/python --repeats 2
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from jgan import hostmem  # noqa: E402
from jgan.config import base_config, load_experiment_config  # noqa: E402
from jgan.experiment import build  # noqa: E402

MODELS = ("dcgan64", "dcgan_mnist", "wgan_mnist")
SMALL = {"gan_mnist": ("experiments/gan.py", None), "pacgan_grid25": ("experiments/pacgan.py", "grid25"),
         "pacgan_grid25_pack2": ("experiments/pacgan.py", "grid25,pack=2")}


def load_common(bench_dir: str):
    sys.path.insert(0, bench_dir)
    import common  # noqa: PLC0415
    return common


def bench_config(model: str):
    """The jgan config of one benchmark iteration (sizes from ../shared/bench/common.py)."""
    c = base_config()
    c.train.batch_size = 64
    if model == "dcgan64":
        c.model.z_dim = 100
        c.model.generator.name = c.model.discriminator.name = "dcgan"
        shape = (64, 64, 3)
    else:
        c.model.z_dim = 64
        c.model.generator.name = c.model.discriminator.name = "dcgan28"
        shape = (28, 28, 1)
    if model == "wgan_mnist":
        c.model.discriminator.norm = "none"
        c.loss.name = "wasserstein"
        for net in ("g", "d"):
            c.optim[net].update(name="rmsprop", lr=5e-5, decay=0.99, eps=1e-8)
        c.optim.d.clip = 0.01
        c.train.d_steps, c.train.reuse_fake = 5, False
    else:
        c.loss.name = "non_saturating"
        c.train.d_steps, c.train.reuse_fake = 1, True
    return c, shape


def build_jgan(model: str):
    """Returns ``step()`` running one full iteration and ``sync(result)``."""
    c, shape = bench_config(model)
    c.data.image_size, c.data.channels = shape[0], shape[-1]
    exp = build(c)
    fns = exp.phases
    k = c.train.d_steps
    rng = np.random.default_rng(0)
    pool = [fns.shard_batch({"x": rng.uniform(-1, 1, (k, 64, *shape)).astype(np.float32)}) for _ in range(4)]
    box = {"state": exp.state, "i": 0}
    offset = jnp.int32(0)

    def step():
        box["i"] = (box["i"] + 1) % len(pool)
        box["state"], metrics = fns["iteration"](box["state"], pool[box["i"]], offset)
        return metrics

    return step, jax.block_until_ready


def small_loop_config(model: str, intervals: int, iterations_per_call: int | None):
    """The experiment's own config, run for ``intervals + 1`` logging intervals with no grids,
    evaluation or checkpoints until the end."""
    path, variant = SMALL[model]
    c = load_experiment_config(os.path.join(ROOT, path), variant)
    if model == "gan_mnist":  # the peer's D: dropout 0.2 on the input and the hidden layers
        c.model.discriminator.dropout, c.model.discriminator.input_dropout = 0.2, -1.0
    if iterations_per_call:
        c.train.iterations_per_call = iterations_per_call
    c.train.steps = c.train.log_every * (intervals + 1)
    c.train.sample_every = c.train.checkpoint_every = c.train.steps
    c.eval.every = 0
    return c


def run_small_loop(model: str, intervals: int, iterations_per_call: int | None) -> list[float]:
    """ms per iteration of each logging interval after the first, from ``jgan.train.run``."""
    import tempfile

    from jgan import train

    c = small_loop_config(model, intervals, iterations_per_call)
    with tempfile.TemporaryDirectory() as workdir:
        train.run(c, workdir)
        with open(os.path.join(workdir, "metrics.jsonl")) as f:
            rates = [json.loads(line).get("iters_per_s") for line in f]
    return [1e3 / r for r in rates[1:] if r]


def torch_round(worker, args, model: str, torch_ms: dict) -> float:
    """One round of the peer's eager ``model`` in the torch worker: its median ms per
    iteration, also appended to ``torch_ms[model]``."""
    reply = worker.ask({"cmd": "bench", "model": model, "variant": "eager",
                        "policy": {"min_iters": args.min_iters, "min_time_s": args.min_time}})
    torch_ms[model].append(reply["median_s"] * 1e3)
    return torch_ms[model][-1]


def small_models(args, worker, common) -> None:
    """Interleaved rounds of the peer's eager loop and jgan's whole loop for the small models."""
    models = [m for m in args.models.split(",") if m in SMALL]
    if not models:
        return
    jgan_ms, torch_ms = {m: [] for m in models}, {m: [] for m in models}
    for r in range(args.repeats):
        for m in models:
            jgan_ms[m].append(statistics.median(run_small_loop(m, args.intervals, args.iterations_per_call)))
            line = f"round {r} {m:20s} jgan loop {jgan_ms[m][-1]:7.2f} ms"
            if worker:
                line += f"   torch eager {torch_round(worker, args, m, torch_ms):7.2f} ms"
            print(line, flush=True)
    print()
    head, sep = "| model | jgan loop it/s (median of rounds; min-max) |", "|---|---:|"
    if worker:
        head += " torch eager it/s (median; min-max) | jgan / torch speed (median of paired rounds; min-max) |"
        sep += "---:|---:|"
    print(head)
    print(sep)
    for m in models:
        its = [1e3 / v for v in jgan_ms[m]]
        row = f"| {m} | {statistics.median(its):.0f} ({min(its):.0f}-{max(its):.0f}) |"
        if worker:
            tits = [1e3 / v for v in torch_ms[m]]
            ratio = [t / j for j, t in zip(jgan_ms[m], torch_ms[m])]
            row += (f" {statistics.median(tits):.0f} ({min(tits):.0f}-{max(tits):.0f}) |"
                    f" {statistics.median(ratio):.2f}x ({min(ratio):.2f}-{max(ratio):.2f}) |")
        print(row)
    print(f"\n({args.repeats} interleaved rounds; jgan: median ms/it over {args.intervals} logging intervals "
          f"of the real loop, compilation excluded; torch: median over >= {args.min_iters} iterations "
          f"and >= {args.min_time:.0f} s)")


def matmul_peak(common, n: int = 2048) -> float:
    """FLOP/s of a jitted f32 n x n matmul (the best of the timed iterations)."""
    a = jax.random.normal(jax.random.PRNGKey(0), (n, n), jnp.float32)
    f = jax.jit(lambda x: x @ x)
    times = common.time_iterations(lambda: f(a), jax.block_until_ready,
                                   common.TimingPolicy(min_iters=20, min_time_s=5.0))
    return common.matmul_flops(n) / min(times)


class TorchWorker:
    """The PyTorch peer in its own process, driven by common.py's JSON-line protocol."""

    def __init__(self, python: str, bench_dir: str, common, threads: int):
        self.common = common
        self.proc = subprocess.Popen(
            [python, os.path.join(bench_dir, "gan_steps_torch.py"), "--serve", "--threads", str(threads)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self._read()

    def _read(self) -> dict:
        for line in self.proc.stdout:
            if line.startswith(self.common.TAG):
                return json.loads(line[len(self.common.TAG):])
        raise RuntimeError("the torch worker exited")

    def ask(self, request: dict) -> dict:
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        reply = self._read()
        if not reply.get("ok"):
            raise RuntimeError(f"torch worker: {reply.get('error')}")
        return reply

    def close(self) -> None:
        self.proc.stdin.write(json.dumps({"cmd": "quit"}) + "\n")
        self.proc.stdin.flush()
        self.proc.wait(timeout=60)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default=",".join(MODELS + tuple(SMALL)))
    ap.add_argument("--intervals", type=int, default=10,
                    help="small models: timed logging intervals of jgan's loop per round")
    ap.add_argument("--iterations-per-call", type=int, default=None,
                    help="small models: train.iterations_per_call (default: the experiment's)")
    ap.add_argument("--torch", metavar="PYTHON", help="python of a venv with torch: run the peer too")
    ap.add_argument("--bench-dir", default=os.path.join(ROOT, "..", "shared", "bench"))
    ap.add_argument("--repeats", type=int, default=2, help="interleaved rounds; the best median counts")
    ap.add_argument("--min-iters", type=int, default=20)
    ap.add_argument("--min-time", type=float, default=10.0)
    ap.add_argument("--threads", type=int, default=os.cpu_count(), help="torch.set_num_threads")
    ap.add_argument("--host-memory", choices=("keep", "release"), default="keep",
                    help="jgan's host-memory policy (config.train.host_memory)")
    args = ap.parse_args()
    kept = args.host_memory == "keep" and hostmem.keep_freed_memory()  # before JAX's first computation
    common = load_common(os.path.abspath(args.bench_dir))
    policy = common.TimingPolicy(min_iters=args.min_iters, min_time_s=args.min_time)
    models = [m for m in args.models.split(",") if m not in SMALL]

    print(f"jax {jax.__version__}, {jax.device_count()} {jax.devices()[0].platform} device(s), "
          f"{os.cpu_count()} cores, host memory {'kept' if kept else 'glibc defaults'}", flush=True)
    worker = TorchWorker(args.torch, os.path.abspath(args.bench_dir), common, args.threads) if args.torch else None
    if worker:
        env = worker.ask({"cmd": "env"})
        print(f"torch {env['torch']}, {env['threads']} threads, {env['cpu_capability']}", flush=True)

    small_models(args, worker, common)
    if not models:
        if worker:
            worker.close()
        return
    peak = matmul_peak(common)
    print(f"matmul peak (2048^2 f32, jitted): {peak / 1e9:.0f} GFLOP/s", flush=True)
    built, jgan_ms, torch_ms, first = {}, {m: [] for m in models}, {m: [] for m in models}, {}
    for r in range(args.repeats):
        for m in models:
            if m not in built:
                t0 = time.perf_counter()
                built[m] = build_jgan(m)
                step, sync = built[m]
                sync(step())
                first[m] = time.perf_counter() - t0
            step, sync = built[m]
            faults0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            times = common.time_iterations(step, sync, policy)
            faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults0) / (len(times) + policy.warmup_iters)
            jgan_ms[m].append(statistics.median(times) * 1e3)
            line = f"round {r} {m:12s} jgan {jgan_ms[m][-1]:8.1f} ms ({faults:6.0f} page faults/it)"
            if worker:
                line += f"   torch {torch_round(worker, args, m, torch_ms):8.1f} ms"
            print(line, flush=True)
    if worker:
        worker.close()

    print()
    head = "| model | jgan ms/it | images/s | GFLOP/s | % of matmul peak |"
    sep = "|---|---:|---:|---:|---:|"
    if worker:
        head += " torch ms/it | jgan/torch (best) | jgan/torch (median of rounds) |"
        sep += "---:|---:|---:|"
    print(head)
    print(sep)
    for m in models:
        ms = min(jgan_ms[m])
        flops = common.iteration_flops(m) / (ms / 1e3)
        row = f"| {m} | {ms:.1f} | {64 / (ms / 1e3):.0f} | {flops / 1e9:.1f} | {100 * flops / peak:.1f}% |"
        if worker:
            tms = min(torch_ms[m])
            paired = statistics.median(j / t for j, t in zip(jgan_ms[m], torch_ms[m]))
            row += f" {tms:.1f} | {ms / tms:.2f} | {paired:.2f} |"
        print(row)
    print(f"\n(best of {args.repeats} interleaved medians; the paired ratio compares each round's "
          f"jgan and torch medians, measured back to back; jgan first call incl. compile: "
          + ", ".join(f"{m} {first[m]:.1f}s" for m in models) + ")")


if __name__ == "__main__":
    main()
