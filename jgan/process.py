"""Per-process set-up before the first computation: host memory and ``jax.distributed``."""
from __future__ import annotations

import jax
import ml_collections

from jgan import hostmem


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
