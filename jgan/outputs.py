"""What a run writes besides checkpoints: metrics, TensorBoard, plots, grids, progress bar.

One ``Outputs`` per workdir (a training run, or one seed of a seed study):

    metrics.jsonl          one JSON record per ``log_every`` iterations (and evaluations)
    tensorboard/           TensorBoard event files (same scalars)
    samples/*.png          sample grids (the family decides what they show)
    plots/losses.png       the family's loss / D-output / gradient-norm panels
    plots/eval.png         evaluation curves (records ``eval/...``)

Only the process that writes (process 0) touches files. A resumed run truncates
``metrics.jsonl`` to the restored step, so the file reads as if the run had never stopped.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
from typing import Callable, Sequence

from jgan import viz


class WorkdirError(OSError):
    """The workdir cannot be written."""


def prepare_workdir(workdir: str) -> None:
    """Create ``workdir`` if needed and check that files can be written in it (before any
    work); a problem is a ``WorkdirError`` sentence naming ``--workdir``."""
    try:
        os.makedirs(workdir, exist_ok=True)
        probe = os.path.join(workdir, f".jgan_write_test_{socket.gethostname()}_{os.getpid()}")
        with open(probe, "w") as f:
            f.write("ok")
        os.remove(probe)
    except OSError as e:
        what = ("is a file, not a directory" if os.path.isfile(workdir) else
                f"cannot be written ({e.strerror or e})")
        raise WorkdirError(f"--workdir {workdir} {what}; pass a directory you can write to.") from None


@contextlib.contextmanager
def workdir_lock(workdir: str, enabled: bool = True):
    """Hold an exclusive lock on ``workdir`` (``flock`` of ``workdir/.jgan_lock``, released
    when the block ends or the process dies) so that two runs never write one workdir: their
    checkpoints, ``metrics.jsonl`` and grids would interleave. A second run gets a
    ``WorkdirError`` naming the holder. ``enabled=False`` (processes other than 0) is a no-op."""
    if not enabled:
        yield
        return
    path = os.path.join(workdir, ".jgan_lock")
    f = open(path, "a+")
    try:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "another process"
            raise WorkdirError(f"--workdir {workdir} is in use by another jgan run ({holder}); wait for it "
                               f"to finish or pass another --workdir.") from None
        f.seek(0)
        f.truncate()
        f.write(f"pid {os.getpid()} on {socket.gethostname()}")
        f.flush()
        yield
    finally:
        f.close()  # releases the lock


class Outputs:
    def __init__(self, workdir: str, start_step: int, enabled: bool, *, title: str = "",
                 panels: Sequence[Sequence[str]] = (), tensorboard: bool = True,
                 drop_eval: bool = False):
        """``drop_eval``: also drop ``eval/`` records on resume (seed studies evaluate once,
        at the end, and write that record again)."""
        self.workdir, self.enabled, self.title, self.panels = workdir, enabled, title, list(panels)
        self.metrics_path = os.path.join(workdir, "metrics.jsonl")
        self.writer = None
        if not enabled:
            return
        os.makedirs(workdir, exist_ok=True)
        records = [r for r in viz.read_jsonl(self.metrics_path) if r["step"] <= start_step and not (
            drop_eval and any(k.startswith("eval/") for k in r))]
        with open(self.metrics_path, "w") as f:  # drop records written after the checkpoint
            f.writelines(json.dumps(r) + "\n" for r in records)
        if tensorboard:
            from tensorboardX import SummaryWriter
            self.writer = SummaryWriter(os.path.join(workdir, "tensorboard"), purge_step=start_step + 1)

    def record(self, step: int, metrics: dict[str, float]) -> None:
        if not self.enabled:
            return
        with open(self.metrics_path, "a") as f:
            f.write(json.dumps({"step": step, **metrics}) + "\n")
        if self.writer is not None:
            for k, v in metrics.items():
                if isinstance(v, (int, float)):  # not the provenance of an evaluation
                    self.writer.add_scalar(k, v, step)

    def save_grid(self, name: str, write: Callable[[str], None], step: int | None = None) -> None:
        """``write(path)`` for ``samples/<name>`` (process 0 only). With ``step``, a PNG also
        gets a caption (its ``Title`` text chunk: experiment and step) and goes to TensorBoard
        as an image under ``samples/<name without the step>``."""
        if not self.enabled:
            return
        path = os.path.join(self.workdir, "samples", name)
        write(path)
        if step is None or not path.endswith(".png"):
            return
        from PIL import Image, PngImagePlugin
        with Image.open(path) as img:
            img.load()
        info = PngImagePlugin.PngInfo()
        info.add_text("Title", f"{self.title} step {step}".strip())
        img.save(path, pnginfo=info)
        if self.writer is not None:
            import numpy as np
            array = np.asarray(img.convert("RGB"))
            tag = name.split(f"step_{step:07d}")[0].rstrip("_") or "grid"
            self.writer.add_image(f"samples/{tag}", array, step, dataformats="HWC")

    def plot(self) -> None:
        if not self.enabled:
            return
        records = viz.read_jsonl(self.metrics_path)
        eval_keys = sorted({k for r in records for k in r if k.startswith("eval/")})
        if eval_keys:
            viz.save_curves(records, [(k,) for k in eval_keys],
                            os.path.join(self.workdir, "plots", "eval.png"), title=self.title)
        if self.panels:
            viz.save_curves(records, self.panels, os.path.join(self.workdir, "plots", "losses.png"),
                            title=self.title)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


# metrics where lower is better; the others (accuracy, PSNR, SSIM, IS, precision, recall,
# modes, ...) are better higher. Baselines and counts have no "best".
LOWER_IS_BETTER = ("fid", "kid", "l1", "cycle_l1", "modes/reverse_kl", "modes/kl", "class_kl", "class_max")
NO_BEST = ("copy_input/", "target/", "num_examples", "_std", "_count", "encoder_init/", "pixels/", "real/",
           "stage/")


def eval_record(result: dict) -> dict:
    """A family's evaluation result -> its ``metrics.jsonl`` record: each number as
    ``eval/<name>``, the provenance (what the numbers were computed from) as
    ``eval_provenance``."""
    rec = {f"eval/{k}": v for k, v in result.items() if k != "provenance"}
    if "provenance" in result:
        rec["eval_provenance"] = result["provenance"]
    return rec


def better(name: str) -> str | None:
    """``'lower'`` or ``'higher'``: which way a metric improves; None for baselines, counts
    and standard deviations (no "best")."""
    if any(tag in name for tag in NO_BEST):
        return None
    lower = name in LOWER_IS_BETTER or name.rsplit("/", 1)[-1] in LOWER_IS_BETTER  # 'a2b/fid'
    return "lower" if lower else "higher"


def eval_summary(records: list[dict]) -> dict[str, dict]:
    """Per evaluation metric of a run's ``eval/...`` records: the final value and step, the
    best value during training and its step, and ``better`` ('lower' / 'higher': which way
    the metric improves; ``best`` absent for baselines and counts). ``provenance``: that of
    the final evaluation, when recorded."""
    evals = [r for r in records if any(k.startswith("eval/") for k in r)]
    out: dict[str, dict] = {}
    for key in sorted({k for r in evals for k in r if k.startswith("eval/")}):
        name = key[len("eval/"):]
        pts = [(r["step"], r[key]) for r in evals if isinstance(r.get(key), (int, float))]
        if not pts:
            continue
        entry = {"final": pts[-1][1], "final_step": pts[-1][0], "evaluations": len(pts)}
        direction = better(name)
        if direction is not None:
            pick = min if direction == "lower" else max
            step, value = pick(pts, key=lambda p: p[1])
            entry.update(best=value, best_step=step, better=direction)
        prov = [r["eval_provenance"] for r in evals if key in r and "eval_provenance" in r]
        if prov:
            entry["provenance"] = prov[-1]
        out[name] = entry
    return out


def write_eval_summary(workdir: str) -> dict[str, dict]:
    """``eval_summary.json`` from the workdir's ``metrics.jsonl`` (final and best values)."""
    summary = eval_summary(viz.read_jsonl(os.path.join(workdir, "metrics.jsonl")))
    if summary:
        with open(os.path.join(workdir, "eval_summary.json"), "w") as f:
            json.dump(summary, f, indent=2)
    return summary


def progress_bar(total: int, initial: int, desc: str, enabled: bool):
    """The tqdm bar of a run (ETA, iterations/s; postfix = current losses)."""
    from tqdm.auto import tqdm
    return tqdm(total=total, initial=initial, desc=desc, unit="it", dynamic_ncols=True,
                disable=not enabled, mininterval=1.0)
