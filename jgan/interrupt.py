"""Stopping a run cleanly on SIGINT / SIGTERM (Ctrl-C, a preemptible VM, a cluster scheduler).

``StopRequest`` installs handlers for SIGINT and SIGTERM that only record the request: the
loop finishes the compiled call in flight, asks :meth:`StopRequest.agree` whether to stop
(every process of a multi-process run gets the same answer, so all stop after the same
iteration), writes a checkpoint at that step and exits with :data:`EXIT_INTERRUPTED`. A
second SIGINT aborts at once (``KeyboardInterrupt``). The previous handlers are restored on
exit from the ``with`` block.
"""
from __future__ import annotations

import signal
import threading
import time

import numpy as np

EXIT_INTERRUPTED = 75  # EX_TEMPFAIL: "temporary failure; retry": run the same command to resume


class Interrupted(Exception):
    """The run stopped on a signal after checkpointing ``step``."""

    def __init__(self, step: int, signal_name: str, workdir: str):
        super().__init__(f"interrupted ({signal_name}) at step {step}; checkpoint saved in {workdir}; "
                         f"run the same command to resume.")
        self.step, self.signal_name = step, signal_name


class StopRequest:
    def __init__(self):
        self.signal_name: str | None = None
        self._previous = {}
        self._last_save = time.time()

    def __enter__(self) -> "StopRequest":
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def _handle(self, signum, frame) -> None:
        if self.signal_name is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C: abort now
        self.signal_name = signal.Signals(signum).name

    @property
    def requested(self) -> bool:
        return self.signal_name is not None

    def agree(self, save_due: bool = False) -> tuple[bool, bool]:
        """``(stop, save)``: whether any process has been asked to stop, and whether any
        process finds a (time-based) checkpoint due; the same answers on every process."""
        import jax
        if jax.process_count() == 1:
            return self.requested, save_due
        from jax.experimental import multihost_utils
        flags = np.asarray(multihost_utils.process_allgather(
            np.array([self.requested, save_due], np.int32))).reshape(-1, 2)
        stop, save = bool(flags[:, 0].any()), bool(flags[:, 1].any())
        if stop and self.signal_name is None:
            self.signal_name = "a signal to another process"
        return stop, save

    def after_iteration(self, done: int, t) -> tuple[bool, bool]:
        """``(save, stop)`` after iteration ``done`` of a loop with train config ``t``: save at
        ``t.checkpoint_every``, the last step, ``t.checkpoint_every_minutes`` since the last
        save (the clock restarts whenever ``save`` is returned) or a stop request."""
        minutes = t.checkpoint_every_minutes
        stop, timed = self.agree(bool(minutes) and time.time() - self._last_save >= 60 * minutes)
        save = done % t.checkpoint_every == 0 or done == t.steps or timed or stop
        if save:
            self._last_save = time.time()
        return save, stop
