"""An experiment built from a config: its family, its compiled phases and its state.

``build(config)`` validates the config, builds the family (no data is opened), the device
mesh, the data-parallel phases and the initial state, replicated on the mesh.
``abstract_state(config)`` gives the state's shapes and shardings from the config alone
(``jax.eval_shape``), which is all restoring a checkpoint for sampling or evaluation needs.
"""
from __future__ import annotations

import dataclasses
import os

import jax
import ml_collections
from jax.sharding import NamedSharding, PartitionSpec as P

from jgan import config as config_lib
from jgan import families
from jgan.checkpoint import CheckpointError, Checkpointer
from jgan.family import Family
from jgan.axes import DATA
from jgan.state import State
from jgan.steps import Phases, compile_phases, make_mesh


@dataclasses.dataclass
class Experiment:
    config: ml_collections.ConfigDict
    family: Family
    phases: Phases
    state: State          # freshly initialised, replicated on the mesh


def make_family(config: ml_collections.ConfigDict, mesh: jax.sharding.Mesh | None = None) -> Family:
    """Validate ``config`` (core and family fields) and build its family. With a ``mesh``,
    also check that the global batch splits over the devices of its ``data`` axis (all of
    them on a 1D mesh; a seed study's ``(seed, data)`` mesh splits each seed's batch over
    ``data`` only)."""
    config_lib.validate(config)
    family = families.make(config)
    if mesh is not None:
        n = mesh.shape[DATA]
        multiple = n * family.batch_multiple()
        if config.train.batch_size % multiple:
            extra = f" times {family.batch_multiple_reason()}" if family.batch_multiple() > 1 else ""
            where = f"{n} devices" if n == mesh.size else f"{n} devices of the mesh's data axis {dict(mesh.shape)}"
            raise config_lib.ConfigError(
                f"config.train.batch_size={config.train.batch_size} is not divisible by the "
                f"{where}{extra}; use a multiple of {multiple}.")
    return family


def build(config: ml_collections.ConfigDict, *, mesh: jax.sharding.Mesh | None = None,
          donate: bool = True) -> Experiment:
    """Family, jitted data-parallel phases and the initial state (step 0, replicated)."""
    mesh = mesh or make_mesh()
    family = make_family(config, mesh)
    phases = compile_phases(family.phases(), mesh, donate=donate)
    return Experiment(config, family, phases, phases.replicate(family.init_state()))


def abstract_state(family: Family, mesh: jax.sharding.Mesh | None = None) -> State:
    """The family's state as ``jax.ShapeDtypeStruct`` leaves, replicated on ``mesh``."""
    mesh = mesh or make_mesh()
    sharding = NamedSharding(mesh, P())
    shapes = jax.eval_shape(family.init_state)
    return jax.tree.map(lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=sharding), shapes)


def restore(config: ml_collections.ConfigDict, workdir: str, step: int | None = None,
            mesh: jax.sharding.Mesh | None = None) -> tuple[Family, State]:
    """``(family, state)`` of checkpoint ``step`` (default: latest) in ``workdir``, for
    sampling and evaluation: shapes from the config (``jax.eval_shape``), no data opened."""
    family = make_family(config)
    directory = os.path.join(workdir, "checkpoints")
    if not os.path.isdir(directory):  # before orbax, which would create the folder
        raise CheckpointError(f"no checkpoint in {os.path.abspath(directory)}; train first with the same "
                              f"--config and --workdir.")
    ckpt = Checkpointer(directory)
    try:
        state, _ = ckpt.restore(abstract_state(family, mesh), step=step)
    finally:
        ckpt.close()
    return family, state
