"""One small wrapper over orbax's CheckpointManager: state + data iterator + config.

Each checkpoint ``<dir>/<step>/`` holds three items: ``state`` (the GANState pytree),
``data`` (grain's iterator state, one file per process) and ``config`` (the resolved
config as JSON). Saves are asynchronous; orbax writes to a temporary directory and renames
it when complete, so an interrupted save never replaces the last good checkpoint.
``close()`` waits for the save in flight.
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
    def __init__(self, directory: str, *, max_to_keep: int = 3, async_save: bool = True):
        self.directory = os.path.abspath(directory)
        options = ocp.CheckpointManagerOptions(max_to_keep=max_to_keep,
                                               enable_async_checkpointing=async_save,
                                               create=True)
        self.manager = ocp.CheckpointManager(
            self.directory, options=options,
            item_handlers={"state": ocp.StandardCheckpointHandler(),
                           "data": grain.checkpoint.CheckpointHandler(),
                           "config": ocp.JsonCheckpointHandler()})

    def latest_step(self) -> int | None:
        return self.manager.latest_step()

    def all_steps(self) -> list[int]:
        return list(self.manager.all_steps())

    def save(self, step: int, state: Any, data_iterator: Any, config: dict) -> None:
        self.manager.save(step, args=ocp.args.Composite(
            state=ocp.args.StandardSave(state),
            data=grain.checkpoint.CheckpointSave(data_iterator),
            config=ocp.args.JsonSave(config)))

    def restore(self, state_template: Any, data_iterator: Any | None = None,
                step: int | None = None) -> tuple[Any, dict]:
        """Restore ``step`` (default: latest) into the structure/shardings of ``state_template``;
        the data iterator is restored in place. Returns ``(state, config_dict)``."""
        step = self.latest_step() if step is None else step
        if step is None:
            raise CheckpointError(f"no checkpoint in {self.directory}; train first with the same "
                                  f"--config and --workdir.")
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, state_template)
        items = dict(state=ocp.args.StandardRestore(abstract), config=ocp.args.JsonRestore())
        if data_iterator is not None:
            items["data"] = grain.checkpoint.CheckpointRestore(data_iterator)
        try:
            restored = self.manager.restore(step, args=ocp.args.Composite(**items))
        except (ValueError, KeyError, TypeError) as e:
            raise CheckpointError(
                f"checkpoint {step} in {self.directory} does not match this config's model or "
                f"optimiser ({str(e).splitlines()[0][:200]}); use another --workdir or the "
                f"config it was written with.") from e
        return restored.state, restored.config

    def wait(self) -> None:
        self.manager.wait_until_finished()

    def close(self) -> None:
        self.manager.wait_until_finished()
        self.manager.close()
