"""The training loop: ``run(config, workdir)``, for any family.

Builds the experiment from the config (``jgan.experiment``: family, data-parallel phases,
initial state), restores the latest checkpoint in ``workdir`` if there is one, and trains to
``train.steps`` iterations: each iteration runs the phases the family's schedule names, each
on its number of real batches. It writes, into ``workdir``:

    config.json            the resolved config
    metrics.jsonl          one JSON record per ``log_every`` iterations: each metric's mean over
                           those iterations (``jgan.outputs``)
    tensorboard/           TensorBoard event files (same scalars)
    samples/*.png          the family's sample grids, every ``sample_every`` iterations
    plots/                 the family's loss panels and evaluation curves
    eval_summary.json      per evaluation metric: the final value and the best during training
    checkpoints/<step>/    orbax checkpoints: state, data-iterator state, config
"""
from __future__ import annotations

import contextlib
import json
import os
import time

import jax
import ml_collections

from jgan.checkpoint import Checkpointer, saved_config
from jgan.config import check_resume
from jgan.experiment import build
from jgan.interrupt import Interrupted, StopRequest, aborted_message
from jgan.iteration import (DivergenceError, block_batches, check_finite, check_state_finite,  # noqa: F401
                            data_iterator, event_intervals, expand_pending, interval_means,
                            iteration_batches, next_block, run_block)
from jgan.outputs import Outputs, eval_record, prepare_workdir, progress_bar, workdir_lock, write_eval_summary
from jgan.process import setup_process


def run(config: ml_collections.ConfigDict, workdir: str, mesh=None) -> dict[str, float]:
    """Train (or resume) to ``config.train.steps``; returns the last logged metrics.
    ``mesh``: the device mesh (default: every device of every process).

    SIGINT / SIGTERM (``jgan.interrupt``): the iteration in flight finishes, a checkpoint is
    written at its step and ``Interrupted`` is raised; rerunning resumes bit for bit.

    Resuming refuses (``ConfigError``) a config that changes the trajectory of the saved run
    (``jgan.config.RESUMABLE_FIELDS`` lists what may change); no checkpoint is written whose
    state holds a NaN or inf (``DivergenceError``)."""
    t0 = time.time()
    setup_process(config)
    # after jax.distributed.initialize, which installs a SIGTERM handler of its own (preemption)
    with StopRequest(aborted_message(config.name, workdir)) as stop, contextlib.ExitStack() as held:
        return _run(config, workdir, mesh, stop, t0, held)


def check_resume_config(workdir: str, config_dict: dict) -> None:
    """Refuse (``ConfigError``) to resume ``workdir``'s newest checkpoint with a config that
    changes its trajectory; reads the files only (nothing is created)."""
    found = saved_config(os.path.join(workdir, "checkpoints"))
    if found is not None:
        step, saved = found
        check_resume(saved, config_dict, f"checkpoint {step} in {os.path.join(workdir, 'checkpoints')}")


def _run(config, workdir: str, mesh, stop: StopRequest, t0: float, held: contextlib.ExitStack) -> dict[str, float]:
    config_dict = json.loads(config.to_json())
    check_resume_config(workdir, config_dict)
    exp = build(config, mesh=mesh)
    family, t = exp.family, config.train
    if config.eval.every:
        family.check_evaluator()
    is_main = jax.process_index() == 0
    data_iter = data_iterator(config, family.train_source(), config.seed)
    prepare_workdir(workdir)  # after every check of the config and data: a bad one creates nothing
    held.enter_context(workdir_lock(workdir, is_main))  # one run per workdir
    ckpt = Checkpointer(os.path.join(workdir, "checkpoints"), max_to_keep=t.keep_checkpoints, repair=True)
    state = exp.state
    if ckpt.latest_step() is not None:
        try:
            state, _ = ckpt.restore(state, data_iter)
        except BaseException:
            ckpt.close()
            raise
    start = int(state.step)
    if start >= t.steps:
        print(f"{config.name}: run in {workdir} already finished at step {start} "
              f"(train.steps={t.steps}); nothing to do.")
        ckpt.close()
        return {}
    if is_main:
        print(f"{config.name}: resuming {workdir} from step {start} (of {t.steps})" if start else
              f"{config.name}: starting a new run in {workdir} ({t.steps} iterations)", flush=True)
        with open(os.path.join(workdir, "config.json"), "w") as f:
            f.write(config.to_json(indent=2))
    out = Outputs(workdir, start, is_main, title=config.name, panels=family.plot_panels())

    pending: list[tuple[int, int, dict]] = []  # (last step, iterations, metrics on device)
    last: dict[str, float] = {}
    t_last, s_last = time.time(), start

    def flush() -> None:
        """Check every pending iteration's metrics and record their mean over the interval."""
        nonlocal last, t_last, s_last
        if not pending:
            return
        host = expand_pending(jax.device_get(pending))
        pending.clear()
        for s, m in host:
            check_finite(s, {k: float(v) for k, v in m.items()}, ckpt.latest_step(), ckpt.directory)
        last = {k: float(v) for k, v in interval_means(host).items()}
        now = time.time()
        rate = (host[-1][0] - s_last) / max(now - t_last, 1e-9)
        t_last, s_last = now, host[-1][0]
        out.record(host[-1][0], {**last, "iters_per_s": rate})
        if bar is not None:
            bar.set_postfix({k: f"{last[k]:.4g}" for k in family.progress_keys() if k in last})

    bar = progress_bar(t.steps, start, config.name, is_main)
    interrupted = None
    intervals = event_intervals(config)
    done = start
    try:
        while done < t.steps:
            plan, k = next_block(family.schedule, done, t.iterations_per_call, intervals, t.steps)
            n = iteration_batches(plan)
            reals = block_batches([next(data_iter) for _ in range(k * n)], family.data_keys, k)
            state, metrics = run_block(exp.phases, plan, k, state, reals)
            done += k
            pending.append((done, k, metrics))
            bar.update(k)
            save_now, stop_now = stop.after_iteration(done, t)
            if done % t.log_every == 0 or save_now:
                flush()
            if done % t.sample_every == 0 or done == t.steps:
                family.write_grids(state, done, out)
            if save_now:  # before evaluating: a failing evaluation must not lose the checkpoint
                check_state_finite(state, done, ckpt.latest_step(), ckpt.directory)
                ckpt.save(done, state, data_iter, config_dict)
            if stop_now:
                interrupted = done
                break
            if config.eval.every and (done % config.eval.every == 0 or done == t.steps):
                result = family.evaluate(state, workdir)
                out.record(done, eval_record(result))
                if done == t.steps and is_main:
                    write_eval_summary(workdir)
            if done % t.sample_every == 0 or done == t.steps or (
                    config.eval.every and done % config.eval.every == 0):
                out.plot()
    finally:
        bar.close()
        out.close()
        ckpt.close()  # waits for the save in flight
    if interrupted is not None:
        raise Interrupted(interrupted, stop.signal_name, workdir)
    if is_main:
        evals = " and eval_summary.json" if config.eval.every else ""
        print(f"{config.name}: finished {t.steps - start} iterations (to step {t.steps}) in "
              f"{time.time() - t0:.0f} s; in {workdir}: samples/ (grids), plots/, metrics.jsonl{evals}, "
              f"checkpoints/.", flush=True)
    return last
