"""The training loop: ``run(config, workdir)``.

Builds data, networks, state and the data-parallel step from the config, restores the
latest checkpoint in ``workdir`` if there is one, and trains to ``train.steps`` generator
iterations. It writes, into ``workdir``:

    config.json            the resolved config
    metrics.jsonl          one JSON record per ``log_every`` iterations
    tensorboard/           TensorBoard event files (same scalars)
    samples/step_*.png     grids (or 2D scatter plots) from one fixed latent batch
    plots/losses.png       loss, D-output and gradient-norm curves
    checkpoints/<step>/    orbax checkpoints: state, data-iterator state, config

A resumed run truncates ``metrics.jsonl`` to the restored step, so the file reads as if
the run had never stopped.
"""
from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass
from typing import Any

import grain
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from jgan import conditioning
from jgan import config as config_lib
from jgan import hostmem, losses, optim, viz
from jgan.checkpoint import Checkpointer
from jgan.data import pipeline, sources
from jgan.eval.evaluate import check_evaluator, evaluate
from jgan.sampling import fixed_latents, make_sampler
from jgan.models import make_discriminator, make_generator
from jgan.state import SAMPLES, GANState, create_state, stream_key
from jgan.steps import StepConfig, StepFunctions, make_mesh, make_step_functions


class DivergenceError(RuntimeError):
    """Training produced a non-finite loss."""


@dataclass
class Experiment:
    """Everything built from a config that the loop and the evaluation tools share."""

    config: ml_collections.ConfigDict
    source: Any
    data_shape: tuple[int, ...]
    g_model: Any
    d_model: Any
    state: GANState          # freshly initialised, replicated on the mesh
    fns: StepFunctions
    cond: conditioning.Conditioning
    step_cfg: StepConfig
    objective: losses.Objective


def build(config: ml_collections.ConfigDict) -> Experiment:
    """Data source, networks, initial state and the jitted data-parallel step."""
    config_lib.validate(config)
    source = sources.make_source(config.data, config.seed)
    probe = pipeline.load_batch(source, np.array([0]), image_size=config.data.image_size,
                                channels=config.data.channels)
    data_shape = tuple(probe["x"].shape[1:])
    cond = conditioning.from_config(config)
    if cond.uses_data_labels and not 0 <= int(probe["label"][0]) < cond.num_classes:
        raise sources.DataError(
            f"model.conditioning={config.model.conditioning!r} needs labels in [0, model.num_classes="
            f"{cond.num_classes}), but the data's first label is {int(probe['label'][0])}; use labelled "
            f"data or set model.num_classes.")
    m = config.model
    g_model = make_generator(m.generator, data_shape, m.conditioning, cond.num_classes)
    d_model = make_discriminator(m.discriminator, data_shape, m.pack, m.conditioning, cond.num_classes,
                                 cond.num_continuous)
    mesh = make_mesh()
    if config.train.batch_size % (mesh.size * config.model.pack):
        raise config_lib.ConfigError(
            f"config.train.batch_size={config.train.batch_size} is not divisible by the "
            f"{mesh.size} devices times model.pack={config.model.pack}; use a multiple of "
            f"{mesh.size * config.model.pack}.")
    state = create_state(seed=config.seed, g_model=g_model, d_model=d_model,
                         z_dim=config.model.z_dim, data_shape=data_shape,
                         g_tx=optim.make_optimizer(config.optim.g),
                         d_tx=optim.make_optimizer(config.optim.d),
                         ema_decay=config.train.ema_decay, cond=cond)
    step_cfg = StepConfig(z_dim=config.model.z_dim, reuse_fake=config.train.reuse_fake,
                          unroll=config.train.unroll_d,
                          ema_decay=config.train.ema_decay, penalty=config.loss.penalty,
                          penalty_weight=config.loss.penalty_weight, cond=cond)
    objective = losses.get_objective(config.loss.name)
    fns = make_step_functions(g_model, d_model, objective, step_cfg, mesh)
    return Experiment(config, source, data_shape, g_model, d_model, fns.replicate(state), fns, cond,
                      step_cfg, objective)


def d_updates_at(step: int, t: ml_collections.ConfigDict) -> int:
    """D updates of generator iteration ``step`` (WGAN's schedule: more for the first
    ``long_first`` iterations and every ``long_every``-th)."""
    if t.d_steps_long and (step < t.long_first or (t.long_every and step % t.long_every == 0)):
        return t.d_steps_long
    return t.d_steps


class _Outputs:
    """The workdir's logs, grids and plots (written by process 0 only)."""

    def __init__(self, workdir: str, start_step: int, enabled: bool):
        self.workdir, self.enabled = workdir, enabled
        self.metrics_path = os.path.join(workdir, "metrics.jsonl")
        self.writer = None
        if not enabled:
            return
        records = [r for r in viz.read_jsonl(self.metrics_path) if r["step"] <= start_step]
        with open(self.metrics_path, "w") as f:  # drop records written after the checkpoint
            f.writelines(json.dumps(r) + "\n" for r in records)
        from tensorboardX import SummaryWriter
        self.writer = SummaryWriter(os.path.join(workdir, "tensorboard"), purge_step=start_step + 1)

    def record(self, step: int, metrics: dict[str, float]) -> None:
        if not self.enabled:
            return
        with open(self.metrics_path, "a") as f:
            f.write(json.dumps({"step": step, **metrics}) + "\n")
        for k, v in metrics.items():
            self.writer.add_scalar(k, v, step)

    def plot(self, title: str) -> None:
        if not self.enabled:
            return
        records = viz.read_jsonl(self.metrics_path)
        eval_keys = sorted({k for r in records for k in r if k.startswith("eval/")})
        if eval_keys:
            viz.save_curves(records, [(k,) for k in eval_keys],
                            os.path.join(self.workdir, "plots", "eval.png"), title=title)
        viz.save_curves(viz.read_jsonl(self.metrics_path),
                        [("d_loss", "g_loss", "d_penalty"), ("d_real", "d_fake"),
                         ("d_grad_norm", "g_grad_norm", "d_input_grad_norm")],
                        os.path.join(self.workdir, "plots", "losses.png"), title=title)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def check_finite(step: int, metrics: dict[str, float], last_ckpt: int | None, ckpt_dir: str,
                 who: str = "training") -> None:
    """Raise ``DivergenceError`` naming ``who`` (e.g. 'seed 3'), the step and the bad metrics
    if any metric is not finite."""
    bad = {k: v for k, v in metrics.items() if not math.isfinite(v)}
    if bad:
        where = (f"the last good checkpoint (step {last_ckpt}) in {ckpt_dir} is intact"
                 if last_ckpt is not None else "no checkpoint had been written yet")
        raise DivergenceError(
            f"{who} diverged at step {step}: {', '.join(f'{k}={v}' for k, v in bad.items())}; "
            f"{where}; lower the learning rates or change the loss and resume or restart.")


def data_iterator(config: ml_collections.ConfigDict, source, seed: int):
    """This process's grain iterator over ``source``, shuffled with ``seed`` (checkpointable)."""
    dataset = pipeline.make_dataset(
        source, seed=seed, global_batch_size=config.train.batch_size,
        image_size=config.data.image_size, channels=config.data.channels,
        process_index=jax.process_index(), process_count=jax.process_count())
    read = grain.ReadOptions(num_threads=1 if config.data.prefetch else 0,
                             prefetch_buffer_size=config.data.prefetch)
    return iter(dataset.to_iter_dataset(read))


def stack_batches(batches: list[dict], cond: conditioning.Conditioning) -> dict:
    """Host batches -> ``{'x': [n, B, ...]}`` (plus 'label' when the step needs the labels)."""
    keys = ("x", "label") if cond.uses_data_labels else ("x",)
    return {name: np.stack([b[name] for b in batches]) for name in keys}


def train_iteration(fns: StepFunctions, state: GANState, reals: dict, n_d: int, k: int, axis: int = 0):
    """One generator iteration on host batches ``reals`` holding ``n_d`` D batches along
    ``axis`` (1 with a leading seed axis): the extra critic updates in chunks of ``k``
    (``d_only_step``), then the full step on the last ``k``. Returns ``(state, metrics)``."""
    def part(lo: int, hi: int) -> dict:
        index = (slice(None),) * axis + (slice(lo, hi),)
        return fns.shard_reals({name: v[index] for name, v in reals.items()})

    for c in range(n_d // k - 1):  # extra critic updates before the full step
        state, _ = fns.d_only_step(state, part(c * k, (c + 1) * k), jnp.int32(c * k))
    return fns.train_step(state, part(n_d - k, n_d), jnp.int32(n_d - k))


def save_samples(x: np.ndarray, path: str, config: ml_collections.ConfigDict, title: str,
                 ncols: int | None = None) -> None:
    """A sample grid (images) or a scatter plot over the mixture's modes (2D points)."""
    if x.ndim == 2:
        toy = sources.TOY_MIXTURES.get(config.data.source)
        viz.save_scatter(x, path, modes=toy[0]() if toy else None, title=title)
    else:
        viz.save_image_grid(x, path, ncols=ncols)


def initialize_distributed(cfg: ml_collections.ConfigDict) -> None:
    """``jax.distributed.initialize`` when ``config.distributed.enabled`` (once per process).

    Empty fields are detected from the cluster environment (SLURM, TPU, ...); on CPU the
    processes' collectives go through gloo.
    """
    if not cfg.enabled or jax.distributed.is_initialized():
        return
    if jax.config.jax_platforms in (None, "", "cpu"):
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(coordinator_address=cfg.coordinator or None,
                               num_processes=cfg.num_processes or None,
                               process_id=cfg.process_id if cfg.process_id >= 0 else None)


def setup_process(config: ml_collections.ConfigDict) -> None:
    """Once per process, before its first computation: the host-memory policy
    (``config.train.host_memory``, see ``jgan.hostmem``) and ``jax.distributed``."""
    if config.train.host_memory == "keep":
        hostmem.keep_freed_memory()
    initialize_distributed(config.distributed)


def run(config: ml_collections.ConfigDict, workdir: str) -> dict[str, float]:
    """Train (or resume) to ``config.train.steps``; returns the last logged metrics."""
    setup_process(config)
    exp = build(config)
    t = config.train
    if config.eval.every:
        check_evaluator(config)
    is_main = jax.process_index() == 0
    os.makedirs(workdir, exist_ok=True)

    data_iter = data_iterator(config, exp.source, config.seed)
    ckpt = Checkpointer(os.path.join(workdir, "checkpoints"), max_to_keep=t.keep_checkpoints)
    config_dict = json.loads(config.to_json())

    state = exp.state
    last_ckpt = ckpt.latest_step()
    if last_ckpt is not None:
        state, _ = ckpt.restore(state, data_iter)
    start = int(state.step)
    if start >= t.steps:
        print(f"{config.name}: run in {workdir} already finished at step {start} "
              f"(train.steps={t.steps}); nothing to do.")
        ckpt.close()
        return {}

    if is_main:
        with open(os.path.join(workdir, "config.json"), "w") as f:
            f.write(config.to_json(indent=2))
    out = _Outputs(workdir, start, is_main)
    sample = make_sampler(exp.g_model)
    lat_fixed = fixed_latents(stream_key(config.seed, SAMPLES), t.num_samples, config.model.z_dim, exp.cond)
    labels_fixed = lat_fixed.labels if exp.cond.g_takes_labels else None
    ncols = exp.cond.num_classes if exp.cond.kind != "none" else None  # one column per class / code

    def write_samples(st: GANState, step: int) -> None:
        # Every process runs the sampler (the state spans all processes' devices); process 0 writes.
        variants = [("", st.g.params)] + ([("ema_", st.ema_params)] if st.ema_params is not None else [])
        for prefix, params in variants:
            x = np.asarray(jax.device_get(sample(params, st.g.batch_stats, lat_fixed.z, labels_fixed)))
            if not is_main:
                continue
            save_samples(x, os.path.join(workdir, "samples", f"{prefix}step_{step:07d}.png"), config,
                         f"{config.name} step {step}", ncols)

    pending: list[tuple[int, dict]] = []
    last: dict[str, float] = {}
    t_last, s_last = time.time(), start

    def flush() -> None:
        nonlocal last, t_last, s_last
        if not pending:
            return
        host = jax.device_get(pending)
        pending.clear()
        for s, m in host:
            m = {k: float(v) for k, v in m.items()}
            check_finite(s, m, ckpt.latest_step(), ckpt.directory)
            last = m
        now = time.time()
        rate = (host[-1][0] - s_last) / max(now - t_last, 1e-9)
        t_last, s_last = now, host[-1][0]
        out.record(host[-1][0], {**last, "iters_per_s": rate})
        if bar is not None:
            bar.set_postfix({k: f"{last[k]:.4g}" for k in ("d_loss", "g_loss") if k in last})

    from tqdm.auto import tqdm
    bar = tqdm(total=t.steps, initial=start, desc=config.name, unit="it", dynamic_ncols=True,
               disable=not is_main, mininterval=1.0)
    try:
        for step in range(start, t.steps):
            n_d = d_updates_at(step, t)
            reals = stack_batches([next(data_iter) for _ in range(n_d)], exp.cond)
            state, metrics = train_iteration(exp.fns, state, reals, n_d, t.d_steps)
            pending.append((step + 1, metrics))
            done = step + 1
            bar.update(1)
            save_now = done % t.checkpoint_every == 0 or done == t.steps
            if done % t.log_every == 0 or save_now:
                flush()
            if done % t.sample_every == 0 or done == t.steps:
                write_samples(state, done)
            if save_now:  # before evaluating: a failing evaluation must not lose the checkpoint
                ckpt.save(done, state, data_iter, config_dict)
            if config.eval.every and (done % config.eval.every == 0 or done == t.steps):
                params = state.ema_params if state.ema_params is not None else state.g.params
                result = evaluate(config, exp.g_model, params, state.g.batch_stats, workdir)
                out.record(done, {f"eval/{name}": v for name, v in result.items()})
            if done % t.sample_every == 0 or done == t.steps or (
                    config.eval.every and done % config.eval.every == 0):
                out.plot(config.name)
    finally:
        bar.close()
        out.close()
        ckpt.close()
    return last
