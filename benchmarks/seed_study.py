"""Seed studies: S seeds as one vmapped program vs the same S runs one after another.

The PacGAN grid25 iteration (``experiments/pacgan.py:grid25``: G 4x400 BN-ReLU, D 3 maxout
layers of 200x5, batch 100, one D + one G update) for S seeds:

    vmapped     ``compile_phases(seed_axis=True)`` on the study's ``(seed, data)`` mesh
                (``jgan.mesh.make_seed_mesh``; seed axis gcd(S, D)): one call advances all
                S seeds, each device its S / gcd(S, D) seeds
    sequential  the ordinary step on all D devices, called once per seed (one compiled program reused, so
                this is the *best case* for running seeds in turn: separate processes would
                also each pay start-up and compilation, ~10 s here)

Simulated CPU devices: ``XLA_FLAGS=--xla_force_host_platform_device_count=D``.
Batches are pre-made host arrays placed on the device(s) each call, as the training loop
does; compile time is excluded from both (it is printed separately). Prints ms per
iteration of the whole study (all S seeds advanced by one iteration) and the speed-up.

``--end-to-end STEPS`` also times two whole studies of STEPS iterations through
``jgan.study.run_study`` (build, compile, data, checkpoints, final evaluation): ``study.vmap``
True and False, i.e. what a user waits for with ``--seeds S``.

    python benchmarks/seed_study.py                     # S = 10, pack 1
    python benchmarks/seed_study.py --seeds 5 --pack 2 --iters 200
    python benchmarks/seed_study.py --seeds 5 --end-to-end 1000
    python benchmarks/seed_study.py --seeds 2 --end-to-end 600 --config experiments/wgan.py

``--config FILE[:variant]`` times whole studies of another experiment (``--end-to-end`` only:
the per-iteration comparison above builds PacGAN's batches).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from jgan.config import load_experiment_config  # noqa: E402
from jgan.experiment import build  # noqa: E402
from jgan.mesh import make_seed_mesh  # noqa: E402
from jgan.process import setup_process  # noqa: E402
from jgan.study import _stack, _with_seed  # noqa: E402
from jgan.steps import compile_phases  # noqa: E402


def experiment_config(spec_arg: str):
    """The config of ``FILE[:variant]``, FILE relative to the repository."""
    path, _, variant = spec_arg.partition(":")
    return load_experiment_config(os.path.join(ROOT, path), variant or None)


def pacgan_config(pack: int):
    return experiment_config(f"experiments/pacgan.py:grid25,pack={pack}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--pack", type=int, default=1)
    ap.add_argument("--iters", type=int, default=300, help="timed iterations per round")
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds; the median is reported")
    ap.add_argument("--end-to-end", type=int, default=0, metavar="STEPS",
                    help="also time whole studies of STEPS iterations, vmapped and sequential")
    ap.add_argument("--config", default="", metavar="FILE[:VARIANT]",
                    help="time whole studies of this experiment instead (needs --end-to-end)")
    args = ap.parse_args()
    if args.config:
        if not args.end_to_end:
            ap.error("--config times whole studies only: give --end-to-end STEPS")
        config = experiment_config(args.config)
        setup_process(config)
        print(f"{args.config}, batch {config.train.batch_size}, {args.seeds} seeds, {len(jax.devices())} device(s)")
        end_to_end(config, list(range(args.seeds)), args.end_to_end)
        return
    config = pacgan_config(args.pack)
    setup_process(config)  # host-memory policy as in a run, before JAX's first computation
    seeds = list(range(args.seeds))
    exps = [build(_with_seed(config, s)) for s in seeds]
    e0 = exps[0]
    mesh = make_seed_mesh(args.seeds)
    vfns = compile_phases(e0.family.phases(), mesh, seed_axis=True, donate=True)
    vstate = vfns.place_state(jax.device_get(_stack([e.state for e in exps], e0.state)))
    states = [e.state for e in exps]
    rng = np.random.default_rng(0)
    b = config.train.batch_size
    batches = rng.normal(size=(8, args.seeds, 1, b, 2)).astype(np.float32)  # cycled host batches

    def run_vmapped(n):
        nonlocal vstate
        for i in range(n):
            vstate, m = vfns["iteration"](vstate, vfns.shard_batch({"x": batches[i % 8]}), jnp.int32(0))
        jax.block_until_ready(m)

    def run_sequential(n):
        for i in range(n):
            for s in range(args.seeds):
                states[s], m = e0.phases["iteration"](states[s], e0.phases.shard_batch({"x": batches[i % 8, s]}),
                                                      jnp.int32(0))
        jax.block_until_ready(m)

    t = time.perf_counter()
    run_vmapped(1)
    compile_v = time.perf_counter() - t
    t = time.perf_counter()
    run_sequential(1)
    compile_s = time.perf_counter() - t
    times = {"vmapped": [], "sequential": []}
    for _ in range(args.rounds):
        for name, fn in (("vmapped", run_vmapped), ("sequential", run_sequential)):
            t = time.perf_counter()
            fn(args.iters)
            times[name].append((time.perf_counter() - t) / args.iters * 1e3)
    v, s = statistics.median(times["vmapped"]), statistics.median(times["sequential"])
    print(f"PacGAN grid25, pack {args.pack}, batch {b}, {args.seeds} seeds, {len(jax.devices())} device(s) "
          f"(seed mesh {dict(mesh.shape)}), {args.iters} iterations x {args.rounds} rounds")
    print(f"  first call (compile + 1 iteration): vmapped {compile_v:.1f} s, sequential {compile_s:.1f} s")
    print(f"  vmapped    {v:8.2f} ms per study iteration (all seeds)   rounds {[f'{x:.1f}' for x in times['vmapped']]}")
    print(f"  sequential {s:8.2f} ms per study iteration ({s / args.seeds:.2f} per seed)   "
          f"rounds {[f'{x:.1f}' for x in times['sequential']]}")
    print(f"  speed-up of the vmapped study: {s / v:.2f}x")
    if args.end_to_end:
        end_to_end(config, seeds, args.end_to_end)


def end_to_end(config, seeds, steps: int) -> None:
    import contextlib
    import io
    import tempfile

    from jgan.study import run_study

    config = config.copy_and_resolve_references()
    config.train.steps = steps
    config.train.checkpoint_every = steps
    config.train.log_every = min(config.train.log_every, steps)
    walls = {}
    for vmap in (True, False):
        config.study.vmap = vmap
        with tempfile.TemporaryDirectory() as workdir:
            t = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                run_study(config, workdir, seeds)
            walls[vmap] = time.perf_counter() - t
    print(f"  whole study of {steps} iterations x {len(seeds)} seeds (run_study): vmapped {walls[True]:.1f} s, "
          f"sequential {walls[False]:.1f} s, speed-up {walls[False] / walls[True]:.2f}x")


if __name__ == "__main__":
    main()
