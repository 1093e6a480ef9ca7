"""One small wrapper over orbax's CheckpointManager: state + data iterator + config.

Each checkpoint ``<dir>/<step>/`` holds three items: ``state`` (the ``jgan.state.State`` pytree),
``data`` (grain's iterator state, one file per process) and ``config`` (the resolved
config as JSON). A seed study's checkpoint holds one iterator per seed
(``data_0``, ``data_1``, ...; ``data_iterators`` = S). Saves are asynchronous; orbax writes to a temporary directory and renames
it when complete, so an interrupted save never replaces the last good checkpoint.
``close()`` waits for the save in flight.

Faults: a save that fails (a full disk) is one ``CheckpointError`` naming the newest intact
checkpoint. Before training resumes (``repair=True``), a step directory without orbax's
metadata (an interrupted copy) is moved aside to ``unfinished-<step>/`` with a warning, and a
checkpoint that cannot be read (a truncated or garbled file) is moved to ``corrupt-<step>/``
and the next older one restored, with a warning; nothing is deleted. Names with a '-' are
not step directories to orbax, so what is moved aside stays out of its way.

Checkpoints written before the family core (``GANState(step, rng, g, d, ema_params)``) are
restored into the gan family's ``State`` (``nets={'g', 'd'}``, ``ema['g']`` with the saved
params and, since the old EMA kept params only, G's batch statistics).
"""
from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import re
import sys
from typing import Any

import grain
import jax
import orbax.checkpoint as ocp


class CheckpointError(ValueError):
    """A checkpoint cannot be restored into the current run, or cannot be written."""


class _Damaged(Exception):
    """A checkpoint's files cannot be read (the message says which)."""


METADATA_FILE = "_CHECKPOINT_METADATA"  # written by orbax into every finished step directory


_ASYNC_READ_MODULES = (f"{os.sep}orbax{os.sep}", f"{os.sep}asyncio{os.sep}", f"{os.sep}tensorstore{os.sep}")


def _from_abandoned_read(exc: BaseException | None) -> bool:
    """Whether ``exc`` (and every exception it chains to) was raised only inside orbax, asyncio
    or tensorstore: a read of a damaged checkpoint that nobody awaits any more."""
    seen = 0
    while exc is not None and seen < 8:
        tb, files = exc.__traceback__, []
        while tb is not None:
            files.append(tb.tb_frame.f_code.co_filename)
            tb = tb.tb_next
        if not files or not all(any(m in f for m in _ASYNC_READ_MODULES) for f in files):
            return False
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return True


class _AbandonedReadRecords(logging.Filter):
    """asyncio's "exception was never retrieved" records for orbax's abandoned reads (a
    future that tensorstore failed carries no Python frames at all)."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        abandoned = "exception was never retrieved" in str(record.msg) and (
            exc is None or exc.__traceback__ is None or _from_abandoned_read(exc))
        return not abandoned


_abandoned_reads_silenced = False


def _silence_abandoned_reads() -> None:
    """After orbax failed to read a checkpoint, its other reads of that checkpoint still
    finish in tensorstore's threads and fail into an event loop orbax has closed: their
    tracebacks (``sys.unraisablehook``, the ``asyncio`` logger) would bury the one-line error
    and arrive at any time. From here on, drop exactly those (every frame in orbax, asyncio
    or tensorstore); anything else still reaches the previous hook."""
    global _abandoned_reads_silenced
    if _abandoned_reads_silenced:
        return
    _abandoned_reads_silenced = True
    previous = sys.unraisablehook

    def hook(unraisable):
        if not _from_abandoned_read(unraisable.exc_value):
            previous(unraisable)

    sys.unraisablehook = hook
    logging.getLogger("asyncio").addFilter(_AbandonedReadRecords())


@contextlib.contextmanager
def _abandoned_reads_held():
    """Hold back unraisable exceptions during a restore: if the restore fails, the abandoned
    reads' tracebacks are dropped (``_silence_abandoned_reads``); if it succeeds, whatever was
    held is passed on to the hook in place before."""
    previous, held = sys.unraisablehook, []
    sys.unraisablehook = held.append
    try:
        yield
    except BaseException:
        sys.unraisablehook = previous
        _silence_abandoned_reads()
        for u in held:
            sys.unraisablehook(u)
        raise
    sys.unraisablehook = previous
    for u in held:
        previous(u)


def warn(message: str) -> None:
    if jax.process_index() == 0:
        print(f"warning: {message}", file=sys.stderr, flush=True)


def saved_config(directory: str) -> tuple[int, dict] | None:
    """``(step, config)`` of the newest finished checkpoint in ``directory`` whose config file
    reads as JSON (a damaged one is for ``Checkpointer.restore`` to report); None if none.
    Reads the files only."""
    if not os.path.isdir(directory):
        return None
    steps = sorted((int(n) for n in os.listdir(directory) if n.isdigit()), reverse=True)
    for step in steps:
        if not os.path.exists(os.path.join(directory, str(step), METADATA_FILE)):
            continue
        try:
            with open(os.path.join(directory, str(step), "config", "metadata")) as f:
                return step, json.load(f)
        except (OSError, ValueError):
            continue
    return None


class Checkpointer:
    def __init__(self, directory: str, *, max_to_keep: int = 3, async_save: bool = True,
                 data_iterators: int = 1, repair: bool = False):
        """``repair``: move step directories orbax did not finish out of the way (and, in
        ``restore``, damaged checkpoints); for the training loop. Without it nothing in
        ``directory`` is moved."""
        self.directory = os.path.abspath(directory)
        self.repair = repair
        self.data_names = ["data"] if data_iterators == 1 else [f"data_{i}" for i in range(data_iterators)]
        self._pending: int | None = None  # the step of the save in flight
        self._failed = False
        if repair:
            self._sync("screen")  # every process lists the same directory before any move
            names = sorted(os.listdir(self.directory)) if os.path.isdir(self.directory) else []
            stray = [n for n in names if n.isdigit() and os.path.isdir(os.path.join(self.directory, n))
                     and not os.path.exists(os.path.join(self.directory, n, METADATA_FILE))]
            for name in stray:
                dest = self._set_aside(int(name), "unfinished")
                warn(f"{os.path.join(self.directory, name)} is not a finished checkpoint (no orbax "
                     f"{METADATA_FILE}); moved it to {dest} and resuming without it.")
            self._sync("screened")
        options = ocp.CheckpointManagerOptions(max_to_keep=max_to_keep,
                                               enable_async_checkpointing=async_save,
                                               create=True)
        self.manager = ocp.CheckpointManager(
            self.directory, options=options,
            item_handlers={"state": ocp.StandardCheckpointHandler(),
                           **{n: grain.checkpoint.CheckpointHandler() for n in self.data_names},
                           "config": ocp.JsonCheckpointHandler()})

    def _iterators(self, data_iterator) -> dict:
        its = data_iterator if isinstance(data_iterator, (list, tuple)) else [data_iterator]
        if len(its) != len(self.data_names):
            raise ValueError(f"{len(its)} data iterators for a checkpointer of {len(self.data_names)}")
        return dict(zip(self.data_names, its))

    def latest_step(self) -> int | None:
        return self.manager.latest_step()

    def all_steps(self) -> list[int]:
        return sorted(self.manager.all_steps())

    def _sync(self, name: str) -> None:
        if jax.process_count() > 1:
            from jax.experimental import multihost_utils
            multihost_utils.sync_global_devices(f"jgan_checkpoint_{name}")

    def _set_aside(self, step: int, why: str) -> str:
        """Move ``<dir>/<step>`` to ``<dir>/<why>-<step>[-k]`` (process 0; the caller syncs);
        returns the new path."""
        dest = os.path.join(self.directory, f"{why}-{step}")
        k = 1
        while os.path.exists(dest):
            k += 1
            dest = os.path.join(self.directory, f"{why}-{step}-{k}")
        if jax.process_index() == 0:
            os.rename(os.path.join(self.directory, str(step)), dest)
        return dest

    def _all_ok(self, ok: bool) -> bool:
        """Whether ``ok`` holds on every process (the same answer on all)."""
        if jax.process_count() == 1:
            return ok
        import numpy as np
        from jax.experimental import multihost_utils
        return bool(np.asarray(multihost_utils.process_allgather(np.array([ok], np.int32))).all())

    def _intact_steps(self, exclude: int | None = None) -> list[int]:
        """Finished step directories on disk (orbax's metadata present), oldest first."""
        if not os.path.isdir(self.directory):
            return []
        return sorted(int(n) for n in os.listdir(self.directory) if n.isdigit() and int(n) != exclude
                      and os.path.exists(os.path.join(self.directory, n, METADATA_FILE)))

    def _save_error(self, step: int | None, e: BaseException) -> CheckpointError:
        self._failed = True
        intact = self._intact_steps(exclude=step)
        cause = e
        while cause.__cause__ is not None and not isinstance(cause, OSError):
            cause = cause.__cause__
        if isinstance(cause, OSError) and cause.errno == errno.ENOSPC:
            detail, fix = "no space left on the device", "free some space"
        else:
            detail = f"{type(cause).__name__}: {(str(cause).splitlines() or [''])[0][:200]}"
            fix = "fix the cause"
        newest = (f"the newest intact checkpoint is step {intact[-1]}" if intact else
                  "no intact checkpoint has been written")
        return CheckpointError(f"could not write checkpoint {step} in {self.directory} ({detail}); "
                               f"{newest}: {fix} and run the same command to resume.")

    def save(self, step: int, state: Any, data_iterator: Any, config: dict) -> None:
        data = {n: grain.checkpoint.CheckpointSave(it) for n, it in self._iterators(data_iterator).items()}
        self.wait()  # a failed save in flight is reported with its own step
        self._pending = step
        try:
            self.manager.save(step, args=ocp.args.Composite(
                state=ocp.args.StandardSave(state), config=ocp.args.JsonSave(config), **data))
        except Exception as e:
            raise self._save_error(step, e) from None

    def restore(self, state_template: Any, data_iterator: Any | None = None,
                step: int | None = None) -> tuple[Any, dict]:
        """Restore ``step`` (default: latest) into the structure/shardings of ``state_template``;
        the data iterator is restored in place. Returns ``(state, config_dict)``.

        A damaged checkpoint is a ``CheckpointError`` naming the file; with ``repair`` (and no
        ``step`` asked for) it is moved aside and the next older checkpoint restored."""
        steps = [s for s in self.all_steps()  # unfinished directories (not repaired) are ignored
                 if os.path.exists(os.path.join(self.directory, str(s), METADATA_FILE))]
        if not steps:
            raise CheckpointError(f"no checkpoint in {self.directory}; train first with the same "
                                  f"--config and --workdir.")
        if step is not None and step not in steps:
            raise CheckpointError(f"there is no checkpoint {step} in {self.directory}; it holds steps "
                                  f"{', '.join(map(str, steps))}: pass one of them to --step, or omit "
                                  f"--step for the latest.")
        candidates = [step] if step is not None else steps[::-1]
        for s in candidates:
            try:
                restored, damage = self._restore_step(s, state_template, data_iterator), None
            except _Damaged as e:
                restored, damage = None, e
            if self._all_ok(damage is None):  # every process restored the same step
                return restored
            damage = damage or _Damaged("another process could not read it")
            older = max((t for t in steps if t < s), default=None)
            if not self.repair or step is not None:
                hint = (f"pass --step {older} for the next older one" if older is not None
                        else "no older checkpoint is left")
                raise CheckpointError(f"checkpoint {s} in {self.directory} is damaged ({damage}); "
                                      f"{hint}.")
            self._sync(f"restore_{s}")  # every process is done reading before the move
            dest = self._set_aside(s, "corrupt")
            self._sync(f"set_aside_{s}")
            self.manager.reload()
            if older is None:
                raise CheckpointError(f"checkpoint {s} in {self.directory} is damaged ({damage}) and no "
                                      f"older one is left; it was moved to {dest}; rerun to start "
                                      f"the run anew, or use another --workdir.")
            warn(f"checkpoint {s} in {self.directory} is damaged ({damage}); moved it to {dest} and "
                 f"resuming from checkpoint {older}.")
        raise AssertionError("unreachable")

    def _restore_step(self, step: int, state_template: Any, data_iterator: Any | None):
        try:
            metadata = self.manager.item_metadata(step)["state"]
            if metadata is None:
                raise ValueError("no state metadata")
        except Exception as e:
            raise _Damaged(self._damage(step, e)) from None
        legacy = _is_legacy(metadata)
        template = _legacy_view(state_template) if legacy else state_template
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, template)
        ours = sorted(tuple(x.shape) for x in jax.tree.leaves(abstract))
        theirs = sorted(tuple(x.shape) for x in jax.tree.leaves(metadata))
        if ours != theirs:
            raise CheckpointError(
                f"checkpoint {step} in {self.directory} does not match this config's model or "
                f"optimiser ({len(theirs)} arrays saved, {len(ours)} expected, or of other shapes); "
                f"use another --workdir or the config it was written with.")
        items = dict(state=ocp.args.StandardRestore(abstract), config=ocp.args.JsonRestore())
        if data_iterator is not None:
            items.update({n: grain.checkpoint.CheckpointRestore(it)
                          for n, it in self._iterators(data_iterator).items()})
        try:
            with _abandoned_reads_held():
                restored = self.manager.restore(step, args=ocp.args.Composite(**items))
        except Exception as e:  # the saved tree matches the template's: its files are at fault
            raise _Damaged(self._damage(step, e)) from None
        state = _from_legacy(restored.state, state_template) if legacy else restored.state
        return state, restored.config

    def _damage(self, step: int, e: BaseException) -> str:
        """Which file of checkpoint ``step`` is damaged, as far as can be told, and why."""
        root = os.path.join(self.directory, str(step))
        if not os.path.exists(os.path.join(root, METADATA_FILE)):
            return f"no {METADATA_FILE}: not a finished checkpoint"
        for dirpath, _, files in sorted(os.walk(root)):
            for name in sorted(files):
                path = os.path.join(dirpath, name)
                rel = os.path.relpath(path, root)
                if name in (METADATA_FILE, "_METADATA", "metadata", "_sharding") or \
                        name.endswith(".json") or os.path.basename(dirpath) == "array_metadatas":
                    try:
                        with open(path) as f:
                            json.load(f)
                    except (OSError, ValueError):
                        return f"{rel} is not valid JSON"
        text = " ".join(str(e).split())
        m = re.search(r'local file "([^"]+)"', text)
        where = os.path.relpath(m.group(1), root) if m else "its state arrays"
        detail = text.split(" See full TensorStore")[0][:160]
        return f"{where} cannot be read: {type(e).__name__}: {detail}"

    def wait(self) -> None:
        """Wait for the save in flight; a failure is a ``CheckpointError``."""
        try:
            self.manager.wait_until_finished()
        except Exception as e:
            raise self._save_error(self._pending, e) from None

    def close(self) -> None:
        try:
            if not self._failed:
                self.wait()
        finally:
            try:
                self.manager.close()
            except Exception:
                if not self._failed:
                    raise


def _is_legacy(state_metadata) -> bool:
    """Whether a checkpoint's state metadata is of a pre-family ``GANState``."""
    keys = set(state_metadata.keys())
    return "g" in keys and "nets" not in keys


def _legacy_view(state) -> dict:
    """The pre-family checkpoint layout of a gan-family ``State``."""
    ema = state.ema.get("g")
    return {"step": state.step, "rng": state.rng, "g": state.nets["g"], "d": state.nets["d"],
            "ema_params": None if ema is None else ema["params"]}


def _from_legacy(restored: dict, template):
    g = restored["g"]
    ema = dict(template.ema)
    if restored["ema_params"] is not None:
        ema["g"] = {"params": restored["ema_params"], "batch_stats": g.batch_stats}
    return template.replace(step=restored["step"], rng=restored["rng"],
                            nets={**template.nets, "g": g, "d": restored["d"]}, ema=ema)
