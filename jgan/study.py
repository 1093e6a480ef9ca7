"""Seed studies: one config trained with several seeds, summarised as mean +- standard error.

``launch.py --config experiments/pacgan.py:grid25 --seeds 10`` trains seeds ``config.seed``
.. ``config.seed + 9`` (``--seeds 3,7,11`` names them) and evaluates each at the end with the
config's metrics. Written to the workdir:

    seed_<s>/metrics.jsonl   each seed's training records and its final evaluation
    seed_<s>/samples/        each seed's final samples (grid or 2D scatter)
    study.json               per-seed results and, per metric, mean, standard error, n
    study.md                 the table (mean +- standard error over seeds)
    checkpoints/             (vmapped studies) the stacked state and every seed's data position

With ``study.vmap`` (default) the seeds run as **one compiled program**: the state of
every seed is stacked on a leading seed axis and the family's data-parallel phases are
``jax.vmap``-ed over it (``compile_phases(seed_axis=True)``); each seed's batches come from its own
grain pipeline (seeded with its seed), so seed ``s`` of the study trains exactly as
``--config.seed=s`` alone would on as many devices as the study's ``data`` axis has (bit
for bit on CPU for fully connected nets; tested on 4 devices and on 2 processes).

The seeds are spread over the devices on a ``(seed, data)`` mesh (``jgan.mesh``; seed axis
``gcd(S, D)`` for S seeds on D devices, no padding): the stacked state is split over
``seed``, so each device holds ``S / gcd(S, D)`` seeds and ``D / gcd(S, D)`` devices share
each seed's batch. Every process reads every seed's whole global batches (one grain
pipeline per seed) and places the parts its devices hold: simple and layout-independent,
at the price of redundant reading on many hosts (fine for the small models studies are
run with). Checkpoints hold the sharded state (orbax) and every seed's data position (the
same on every process): a study resumed on the same devices continues bit for bit; on
another device count it restores (orbax reshards to the new mesh) and continues with the
same data, but the reductions over a different ``data`` axis round differently. With ``study.vmap=False`` the
seeds are trained one after another as ordinary runs in ``seed_<s>/`` (for models too large
to hold S copies of). Either way a study resumes where it stopped.
"""
from __future__ import annotations

import json
import math
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec as P

from jgan import iteration, train
from jgan.checkpoint import Checkpointer
from jgan.experiment import make_family, restore
from jgan.interrupt import Interrupted, StopRequest, aborted_message
from jgan.outputs import Outputs, eval_record, prepare_workdir, progress_bar, workdir_lock
from jgan.process import setup_process
from jgan.mesh import make_seed_mesh
from jgan.steps import compile_phases


def study_seeds(spec: str, base_seed: int) -> list[int]:
    """``--seeds`` in train mode: 'N' -> N seeds from ``base_seed``; '3,7' or '0-4' -> those."""
    from jgan.sampling import parse_seeds

    spec = spec.strip()
    if spec.isdigit():
        n = int(spec)
        if n < 1:
            raise ValueError(f"--seeds={spec!r}: a study needs at least one seed.")
        return list(range(base_seed, base_seed + n))
    return parse_seeds(spec)


def _with_seed(config, seed: int):
    c = config.copy_and_resolve_references()
    c.seed = seed
    return c


def summarise(results: dict[int, dict[str, float]]) -> dict[str, dict[str, float]]:
    """``{metric: {mean, sem, n}}`` over seeds; sem = sample std (ddof 1) / sqrt(n) (0 for n=1)."""
    metrics = sorted({k for r in results.values() for k in r})
    out = {}
    for k in metrics:
        v = np.array([r[k] for r in results.values() if k in r], np.float64)
        sem = float(v.std(ddof=1) / math.sqrt(len(v))) if len(v) > 1 else 0.0
        out[k] = {"mean": float(v.mean()), "sem": sem, "n": len(v)}
    return out


def write_table(workdir: str, config, results: dict[int, dict[str, float]], info: dict) -> str:
    """Write ``study.json`` and ``study.md``; returns the table's text."""
    summary = summarise(results)
    title = f"{config.name}{('-' + config.variant) if config.variant else ''}"
    lines = [f"# {title}: {len(results)} seeds ({', '.join(map(str, results))})", "",
             "| metric | mean | ± s.e. | n |", "|---|---:|---:|---:|"]
    lines += [f"| {k} | {v['mean']:.4g} | {v['sem']:.2g} | {v['n']} |" for k, v in summary.items()]
    text = "\n".join(lines) + "\n"
    with open(os.path.join(workdir, "study.md"), "w") as f:
        f.write(text)
    with open(os.path.join(workdir, "study.json"), "w") as f:
        json.dump({"name": title, "seeds": list(results), "summary": summary,
                   "per_seed": {str(s): r for s, r in results.items()}, **info}, f, indent=2)
    return text


def _finished_study(workdir: str, config, seeds: list[int]) -> dict:
    """The ``study.json`` of this study when it already holds its final results (a rerun of
    a finished study), else ``{}``."""
    try:
        with open(os.path.join(workdir, "study.json")) as f:
            old = json.load(f)
    except (OSError, ValueError):
        return {}
    same = old.get("train.steps") == config.train.steps and old.get("seeds") == list(seeds)
    return old if same else {}


def run_study(config, workdir: str, seeds: list[int]) -> dict[str, dict[str, float]]:
    """Train and evaluate ``seeds``; returns the summary (see module doc)."""
    setup_process(config)
    family = make_family(config)
    family.check_evaluator()
    prepare_workdir(workdir)
    with workdir_lock(workdir, jax.process_index() == 0):  # one study per workdir
        return _run_study(config, workdir, seeds)


def _run_study(config, workdir: str, seeds: list[int]) -> dict[str, dict[str, float]]:
    previous = _finished_study(workdir, config, seeds)
    t0 = time.time()
    if config.study.vmap:
        results = _run_vmapped(config, workdir, seeds)
    else:
        results = _run_sequential(config, workdir, seeds)
    # wall time of the invocation that trained to the end; rerunning a finished study keeps it
    info = {"vmap": bool(config.study.vmap), "train.steps": config.train.steps,
            "wall_seconds": previous.get("wall_seconds", round(time.time() - t0, 1))}
    if jax.process_index() == 0:
        print(write_table(workdir, config, results, info))
    return summarise(results)


def _recorded_eval(seed_dir: str, step: int) -> dict[str, float] | None:
    """The final evaluation of ``step`` already in ``seed_dir/metrics.jsonl`` (a rerun or a
    resumed study), or None."""
    from jgan.viz import read_jsonl

    for r in read_jsonl(os.path.join(seed_dir, "metrics.jsonl")):
        if r["step"] == step and any(k.startswith("eval/") for k in r):
            return {k[len("eval/"):]: v for k, v in r.items() if k.startswith("eval/")}
    return None


def _final_eval(family, state, seed_dir: str, step: int) -> dict[str, float]:
    """The seed's evaluation at ``step``, recorded once in its metrics.jsonl (a rerun reads
    the record instead of writing it again)."""
    recorded = _recorded_eval(seed_dir, step)
    if recorded is not None:
        return recorded
    result = family.evaluate(state, seed_dir)
    if jax.process_index() == 0:
        with open(os.path.join(seed_dir, "metrics.jsonl"), "a") as f:
            f.write(json.dumps({"step": step, **eval_record(result)}) + "\n")
    return {k: v for k, v in result.items() if k != "provenance"}


def _run_sequential(config, workdir: str, seeds: list[int]) -> dict[int, dict[str, float]]:
    results = {}
    for s in seeds:
        c = _with_seed(config, s)
        c.eval.every = 0  # the study evaluates once, at the end
        seed_dir = os.path.join(workdir, f"seed_{s}")
        train.run(c, seed_dir)
        family, state = restore(c, seed_dir)
        results[s] = _final_eval(family, state, seed_dir, int(state.step))
    return results


def _stack(trees, like):
    """Stack pytrees ``trees`` (same structure) on a new leading axis, in ``like``'s treedef
    (so the static parts, e.g. optimiser objects, are shared)."""
    leaves = [jax.tree.leaves(t) for t in trees]
    return jax.tree.unflatten(jax.tree.structure(like), [jnp.stack(xs) for xs in zip(*leaves)])


def _replicated(mesh, tree):
    """``tree`` (seed-sharded arrays) replicated on every device of ``mesh``, readable by
    every process."""
    return jax.jit(lambda x: x, out_shardings=NamedSharding(mesh, P()))(tree)


def _run_vmapped(config, workdir: str, seeds: list[int]) -> dict[int, dict[str, float]]:
    t = config.train
    mesh = make_seed_mesh(len(seeds))
    families = [make_family(_with_seed(config, s), mesh) for s in seeds]
    f0 = families[0]
    phases = compile_phases(f0.phases(), mesh, seed_axis=True)
    inits = [f.init_state() for f in families]
    state = phases.place_state(_stack(inits, inits[0]))
    is_main = jax.process_index() == 0
    iters = [iteration.data_iterator(config, f.train_source(), s, whole_batch=True) for f, s in zip(families, seeds)]
    config_dict = json.loads(config.to_json())
    config_dict["study"]["seeds"] = list(seeds)  # resuming with other seeds is another study
    train.check_resume_config(workdir, config_dict)
    ckpt = Checkpointer(os.path.join(workdir, "checkpoints"), max_to_keep=t.keep_checkpoints,
                        data_iterators=len(seeds), repair=True)
    if ckpt.latest_step() is not None:
        state, _ = ckpt.restore(state, iters)
    start = int(_replicated(mesh, state.step)[0])
    if is_main:
        print(f"{config.name}: resuming the study in {workdir} from step {start} (of {t.steps})" if start else
              f"{config.name}: starting a study of {len(seeds)} seeds in {workdir} ({t.steps} iterations)",
              flush=True)
    seed_dirs = [os.path.join(workdir, f"seed_{s}") for s in seeds]
    outs = [Outputs(d, start, is_main, tensorboard=False, drop_eval=True) for d in seed_dirs]

    def next_batches(k: int, n: int) -> dict:
        """``k`` iterations of ``n`` batches of every seed -> ``{name: [k, S, n, B, ...]}``."""
        per_seed = [iteration.block_batches([next(it) for _ in range(k * n)], f0.data_keys, k) for it in iters]
        return {name: np.stack([b[name] for b in per_seed], axis=1) for name in per_seed[0]}

    bar = progress_bar(t.steps, start, f"{config.name} x{len(seeds)} seeds", is_main)
    pending = []
    interrupted = None
    with StopRequest(aborted_message(config.name, workdir)) as stop:
        try:
            intervals, done = iteration.event_intervals(config), start
            while done < t.steps:
                plan, k = iteration.next_block(f0.schedule, done, t.iterations_per_call, intervals, t.steps)
                reals = next_batches(k, iteration.iteration_batches(plan))
                state, metrics = iteration.run_block(phases, plan, k, state, reals, seed_axis=True)
                done += k
                pending.append((done, k, metrics))
                bar.update(k)
                save_now, stop_now = stop.after_iteration(done, t)
                if done % t.log_every == 0 or save_now:
                    host = iteration.expand_pending(jax.device_get(pending))
                    pending.clear()
                    for s_done, m in host:
                        for i, s in enumerate(seeds):
                            iteration.check_finite(s_done, {name: float(v[i]) for name, v in m.items()},
                                                   ckpt.latest_step(), ckpt.directory, who=f"seed {s}")
                    means = iteration.interval_means(host)  # one record per log_every, as train.run
                    for i, out in enumerate(outs):
                        out.record(host[-1][0], {name: float(v[i]) for name, v in means.items()})
                if save_now:
                    iteration.check_state_finite(state, done, ckpt.latest_step(), ckpt.directory,
                                                 who=f"the study of seeds {seeds}")
                    ckpt.save(done, state, iters, config_dict)
                if stop_now:
                    interrupted = done
                    break
        finally:
            bar.close()
            ckpt.close()
    if interrupted is not None:
        raise Interrupted(interrupted, stop.signal_name, workdir)

    results = {}
    state = _replicated(mesh, state)  # each seed's state on every device, for sampling and evaluation
    final = int(state.step[0])
    for i, (s, family) in enumerate(zip(seeds, families)):
        state_i = jax.tree.map(lambda v: v[i], state)
        results[s] = _final_eval(family, state_i, seed_dirs[i], final)
        family.write_grids(state_i, final, outs[i])
    return results
