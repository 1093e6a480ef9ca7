"""How long each experiment's default run takes on this machine, from a measured prefix.

Running every default to the end takes hours; this runs each one's real training loop
(``jgan.train.run``, what ``launch.py`` runs) for a prefix of ``--intervals + 1`` logging
intervals and measures:

* the time per real batch of the intervals after the first (the first holds the compilation;
  a batch is one D update's data, so WGAN's long critic phases count by their batches);
* the fixed cost: the prefix's wall time minus its batches at that rate (start-up, data,
  compilation, the final grid and checkpoint);
* one evaluation (the first, which also computes the cached reference features, and a
  second), for experiments that evaluate while training (``eval.every``).

The estimate of the whole default run is ``fixed + batches(steps) * per-batch + evaluations``
(grids and checkpoints in between are not counted: a few seconds each). It prints one row per
experiment for the README; the machine's load at the time is printed too, since a shared
machine inflates every number.

    python benchmarks/run_times.py                        # every experiment's default
    python benchmarks/run_times.py --experiments wgan,dcgan --intervals 3
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from jgan import train  # noqa: E402
from jgan.config import load_experiment_config  # noqa: E402
from jgan.experiment import restore  # noqa: E402
from jgan.families import make  # noqa: E402
from jgan.iteration import iteration_batches  # noqa: E402

EXPERIMENTS = ("gan", "dcgan", "wgan", "wgan_gp", "sngan", "pacgan", "stacked_mnist", "cgan", "acgan",
               "projection", "infogan", "pix2pix", "cyclegan", "stargan")


def load(name: str):
    return load_experiment_config(os.path.join(ROOT, "experiments", f"{name}.py"))


def batches(schedule, start: int, stop: int) -> int:
    return sum(iteration_batches(schedule(s)) for s in range(start, stop))


def measure(name: str, intervals: int) -> dict:
    full = load(name)
    family = make(full)
    c = load(name)
    c.train.steps = min(full.train.steps, c.train.log_every * (intervals + 1))
    c.train.sample_every = c.train.checkpoint_every = c.train.steps
    c.eval.every = 0
    every = c.train.log_every
    with tempfile.TemporaryDirectory() as workdir:
        t0 = time.perf_counter()
        train.run(c, workdir)
        wall = time.perf_counter() - t0
        records = [json.loads(line) for line in open(os.path.join(workdir, "metrics.jsonl"))]
        per_batch = statistics.median(
            (every / r["iters_per_s"]) / batches(family.schedule, r["step"] - every, r["step"])
            for r in records[1:])
        fixed = wall - per_batch * batches(family.schedule, 0, c.train.steps)
        evals, eval_s = 0, (0.0, 0.0)
        if full.eval.every:
            evals = len(set(range(full.eval.every, full.train.steps + 1, full.eval.every)) | {full.train.steps})
            fam, state = restore(full, workdir)
            times = []
            for _ in range(2):
                t1 = time.perf_counter()
                fam.evaluate(state, workdir)
                times.append(time.perf_counter() - t1)
            eval_s = tuple(times)
    total_batches = batches(family.schedule, 0, full.train.steps)
    train_s = per_batch * total_batches
    eval_total = eval_s[0] + (evals - 1) * eval_s[1] if evals else 0.0
    return dict(name=name, steps=full.train.steps, batches=total_batches, per_batch_ms=per_batch * 1e3,
                fixed_s=fixed, evals=evals, eval_s=eval_s, total_min=(fixed + train_s + eval_total) / 60)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--experiments", default=",".join(EXPERIMENTS))
    ap.add_argument("--intervals", type=int, default=3, help="timed logging intervals after the first")
    args = ap.parse_args()
    names = [n for n in args.experiments.split(",") if os.path.exists(os.path.join(ROOT, "experiments", f"{n}.py"))]
    print(f"{os.cpu_count()} cores; load average at start {os.getloadavg()[0]:.1f}", flush=True)
    rows = []
    for n in names:
        r = measure(n, args.intervals)
        rows.append(r)
        print(json.dumps(r), flush=True)
    print(f"\nload average at the end {os.getloadavg()[0]:.1f}\n")
    print("| experiment (default) | iterations | real batches | ms per batch | fixed (s) | evaluations (first, then each, s) | estimated total |")
    print("|---|---:|---:|---:|---:|---|---:|")
    for r in rows:
        ev = f"{r['evals']} ({r['eval_s'][0]:.0f}, {r['eval_s'][1]:.0f})" if r["evals"] else "none"
        print(f"| {r['name']} | {r['steps']:,} | {r['batches']:,} | {r['per_batch_ms']:.1f} | {r['fixed_s']:.0f} | "
              f"{ev} | {r['total_min']:.1f} min |")


if __name__ == "__main__":
    main()
