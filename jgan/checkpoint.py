"""One small wrapper over orbax's CheckpointManager: state + data iterator + config.

Each checkpoint ``<dir>/<step>/`` holds three items: ``state`` (the ``jgan.state.State`` pytree),
``data`` (grain's iterator state, one file per process) and ``config`` (the resolved
config as JSON). A seed study's checkpoint holds one iterator per seed
(``data_0``, ``data_1``, ...; ``data_iterators`` = S). Saves are asynchronous; orbax writes to a temporary directory and renames
it when complete, so an interrupted save never replaces the last good checkpoint.
``close()`` waits for the save in flight.

Checkpoints written before the family core (``GANState(step, rng, g, d, ema_params)``) are
restored into the gan family's ``State`` (``nets={'g', 'd'}``, ``ema['g']`` with the saved
params and, since the old EMA kept params only, G's batch statistics).
"""
from __future__ import annotations

import os
from typing import Any

import grain
import jax
import orbax.checkpoint as ocp


class CheckpointError(ValueError):
    """A checkpoint cannot be restored into the current run."""


class Checkpointer:
    def __init__(self, directory: str, *, max_to_keep: int = 3, async_save: bool = True,
                 data_iterators: int = 1):
        self.directory = os.path.abspath(directory)
        self.data_names = ["data"] if data_iterators == 1 else [f"data_{i}" for i in range(data_iterators)]
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
        return list(self.manager.all_steps())

    def save(self, step: int, state: Any, data_iterator: Any, config: dict) -> None:
        data = {n: grain.checkpoint.CheckpointSave(it) for n, it in self._iterators(data_iterator).items()}
        self.manager.save(step, args=ocp.args.Composite(
            state=ocp.args.StandardSave(state), config=ocp.args.JsonSave(config), **data))

    def restore(self, state_template: Any, data_iterator: Any | None = None,
                step: int | None = None) -> tuple[Any, dict]:
        """Restore ``step`` (default: latest) into the structure/shardings of ``state_template``;
        the data iterator is restored in place. Returns ``(state, config_dict)``."""
        step = self.latest_step() if step is None else step
        if step is None:
            raise CheckpointError(f"no checkpoint in {self.directory}; train first with the same "
                                  f"--config and --workdir.")
        legacy = self._is_legacy(step)
        template = _legacy_view(state_template) if legacy else state_template
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, template)
        items = dict(state=ocp.args.StandardRestore(abstract), config=ocp.args.JsonRestore())
        if data_iterator is not None:
            items.update({n: grain.checkpoint.CheckpointRestore(it)
                          for n, it in self._iterators(data_iterator).items()})
        try:
            restored = self.manager.restore(step, args=ocp.args.Composite(**items))
        except (ValueError, KeyError, TypeError) as e:
            raise CheckpointError(
                f"checkpoint {step} in {self.directory} does not match this config's model or "
                f"optimiser ({str(e).splitlines()[0][:200]}); use another --workdir or the "
                f"config it was written with.") from e
        state = _from_legacy(restored.state, state_template) if legacy else restored.state
        return state, restored.config

    def _is_legacy(self, step: int) -> bool:
        try:
            keys = set(self.manager.item_metadata(step)["state"].keys())
        except Exception:  # no readable metadata: let the restore report it
            return False
        return "g" in keys and "nets" not in keys

    def wait(self) -> None:
        self.manager.wait_until_finished()

    def close(self) -> None:
        self.manager.wait_until_finished()
        self.manager.close()


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
