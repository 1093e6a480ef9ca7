"""Seed studies: one config trained with several seeds, summarised as mean +- standard error.

``launch.py --config experiments/pacgan.py:grid25 --seeds 10`` trains seeds ``config.seed``
.. ``config.seed + 9`` (``--seeds 3,7,11`` names them) and evaluates each at the end with the
config's metrics. Written to the workdir:

    seed_<s>/metrics.jsonl   each seed's training records and its final evaluation
    seed_<s>/samples/        each seed's final samples (grid or 2D scatter)
    study.json               per-seed results and, per metric, mean, standard error, n
    study.md                 the table (mean +- standard error over seeds)
    checkpoints/             (vmapped studies) the stacked state and every seed's data position

With ``study.vmap`` (default) the seeds run as **one compiled program**: the GANState of
every seed is stacked on a leading seed axis and the data-parallel step is ``jax.vmap``-ed
over it (``make_step_functions(seed_axis=True)``); each seed's batches come from its own
grain pipeline (seeded with its seed), so seed ``s`` of the study trains exactly as
``--config.seed=s`` alone would (bit for bit on CPU; tested). With ``study.vmap=False`` the
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

from jgan import train, viz
from jgan.checkpoint import Checkpointer
from jgan.eval.evaluate import check_evaluator, evaluate
from jgan.sampling import fixed_latents, generate
from jgan.state import SAMPLES, stream_key
from jgan.steps import make_step_functions


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


def run_study(config, workdir: str, seeds: list[int]) -> dict[str, dict[str, float]]:
    """Train and evaluate ``seeds``; returns the summary (see module doc)."""
    train.setup_process(config)
    os.makedirs(workdir, exist_ok=True)
    check_evaluator(config)
    t0 = time.time()
    if config.study.vmap:
        results = _run_vmapped(config, workdir, seeds)
    else:
        results = _run_sequential(config, workdir, seeds)
    info = {"vmap": bool(config.study.vmap), "train.steps": config.train.steps,
            "wall_seconds": round(time.time() - t0, 1)}
    if jax.process_index() == 0:
        print(write_table(workdir, config, results, info))
    return summarise(results)


def _final_eval(config, g_model, params, batch_stats, seed_dir: str, step: int) -> dict[str, float]:
    result = evaluate(config, g_model, params, batch_stats, seed_dir)
    if jax.process_index() == 0:
        with open(os.path.join(seed_dir, "metrics.jsonl"), "a") as f:
            f.write(json.dumps({"step": step, **{f"eval/{k}": v for k, v in result.items()}}) + "\n")
    return result


def _run_sequential(config, workdir: str, seeds: list[int]) -> dict[int, dict[str, float]]:
    from jgan.sampling import restore_generator

    results = {}
    for s in seeds:
        c = _with_seed(config, s)
        c.eval.every = 0  # the study evaluates once, at the end
        seed_dir = os.path.join(workdir, f"seed_{s}")
        train.run(c, seed_dir)
        g_model, params, bs, step = restore_generator(c, seed_dir)
        results[s] = _final_eval(c, g_model, params, bs, seed_dir, step)
    return results


def _stack(trees, like):
    """Stack pytrees ``trees`` (same structure) on a new leading axis, in ``like``'s treedef
    (so the static parts, e.g. optimiser objects, are shared)."""
    leaves = [jax.tree.leaves(t) for t in trees]
    return jax.tree.unflatten(jax.tree.structure(like), [jnp.stack(xs) for xs in zip(*leaves)])


def _run_vmapped(config, workdir: str, seeds: list[int]) -> dict[int, dict[str, float]]:
    t = config.train
    exps = [train.build(_with_seed(config, s)) for s in seeds]
    e0 = exps[0]
    fns = make_step_functions(e0.g_model, e0.d_model, e0.objective, e0.step_cfg, e0.fns.mesh,
                              seed_axis=True)
    state = fns.replicate(_stack([e.state for e in exps], e0.state))
    is_main = jax.process_index() == 0
    iters = [train.data_iterator(config, e.source, s) for e, s in zip(exps, seeds)]
    ckpt = Checkpointer(os.path.join(workdir, "checkpoints"), max_to_keep=t.keep_checkpoints,
                        data_iterators=len(seeds))
    config_dict = json.loads(config.to_json())
    if ckpt.latest_step() is not None:
        state, _ = ckpt.restore(state, iters)
    start = int(state.step[0])
    seed_dirs = [os.path.join(workdir, f"seed_{s}") for s in seeds]
    if is_main:
        for d in seed_dirs:  # drop records written after the checkpoint
            os.makedirs(d, exist_ok=True)
            path = os.path.join(d, "metrics.jsonl")
            records = [r for r in viz.read_jsonl(path) if r["step"] <= start and not any(
                k.startswith("eval/") for k in r)]
            with open(path, "w") as f:
                f.writelines(json.dumps(r) + "\n" for r in records)

    def next_batches(n: int) -> dict:
        """``n`` batches of every seed -> ``{name: [S, n, B, ...]}``."""
        per_seed = [train.stack_batches([next(it) for _ in range(n)], e0.cond) for it in iters]
        return {name: np.stack([b[name] for b in per_seed]) for name in per_seed[0]}

    from tqdm.auto import tqdm
    bar = tqdm(total=t.steps, initial=start, desc=f"{config.name} x{len(seeds)} seeds", unit="it",
               disable=not is_main, mininterval=1.0, dynamic_ncols=True)
    pending = []
    try:
        for step in range(start, t.steps):
            n_d = train.d_updates_at(step, t)
            state, metrics = train.train_iteration(fns, state, next_batches(n_d), n_d, t.d_steps, axis=1)
            done = step + 1
            pending.append((done, metrics))
            bar.update(1)
            save_now = done % t.checkpoint_every == 0 or done == t.steps
            if done % t.log_every == 0 or save_now:
                host = jax.device_get(pending)
                for j, (s_done, m) in enumerate(host):
                    for i, s in enumerate(seeds):
                        rec = {name: float(v[i]) for name, v in m.items()}
                        train.check_finite(s_done, rec, ckpt.latest_step(), ckpt.directory, who=f"seed {s}")
                        if is_main and j == len(host) - 1:  # one record per log_every, as train.run
                            with open(os.path.join(seed_dirs[i], "metrics.jsonl"), "a") as f:
                                f.write(json.dumps({"step": s_done, **rec}) + "\n")
                pending.clear()
            if save_now:
                ckpt.save(done, state, iters, config_dict)
    finally:
        bar.close()
        ckpt.close()

    results = {}
    final = int(state.step[0])
    for i, s in enumerate(seeds):
        params_i = jax.tree.map(lambda v: v[i], state.ema_params if state.ema_params is not None
                                else state.g.params)
        bs_i = jax.tree.map(lambda v: v[i], state.g.batch_stats)
        c = _with_seed(config, s)
        results[s] = _final_eval(c, e0.g_model, params_i, bs_i, seed_dirs[i], final)
        if is_main:
            _write_final_samples(c, e0, params_i, bs_i, seed_dirs[i], final)
    return results


def _write_final_samples(config, exp, params, batch_stats, seed_dir: str, step: int) -> None:
    lat = fixed_latents(stream_key(config.seed, SAMPLES), config.train.num_samples, config.model.z_dim,
                        exp.cond)
    x = generate(exp.g_model, params, batch_stats, lat.z, lat.labels if exp.cond.g_takes_labels else None)
    train.save_samples(x, os.path.join(seed_dir, "samples", f"step_{step:07d}.png"), config,
                       f"{config.name} seed {config.seed}")
