"""Stopping a run cleanly on SIGINT / SIGTERM (Ctrl-C, a preemptible VM, a cluster scheduler).

``StopRequest`` installs handlers for SIGINT and SIGTERM that only record the request: the
loop finishes the compiled call in flight, asks :meth:`StopRequest.agree` whether to stop
(every process of a multi-process run gets the same answer, so all stop after the same
iteration), writes a checkpoint at that step and exits with :data:`EXIT_INTERRUPTED`. A
second SIGINT aborts at once (:func:`abort`: exit 130 without unwinding). The previous handlers
are restored on exit from the ``with`` block.

Why the abort does not raise ``KeyboardInterrupt``: a second Ctrl-C typically lands while the
first one's checkpoint is being written, inside orbax's save threads and asyncio loop. Raised
there, the exception left a process that never exited (a CI run), one killed by SIGABRT, and
asyncio "Event loop is closed" tracebacks (1 and 2 of 30 tries with the second Ctrl-C 0-50 ms
after the first). Orbax writes each checkpoint into a temporary directory and renames it when
complete, so a save cut short is never taken for a checkpoint: the latest complete one is kept.
"""
from __future__ import annotations

import os
import signal
import sys
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


def aborted_message(name: str, workdir: str) -> str:
    return f"{name}: aborted; the latest complete checkpoint in {workdir} is kept."


def abort(message: str) -> None:
    """Print ``message`` to stderr and exit with status 130 (128 + SIGINT) at once, without
    unwinding the stack or waiting for other threads (a save in flight is dropped)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001  (a stream the interrupted code was writing to)
            pass
    os.write(2, f"\n{message}\n".encode())
    os._exit(130)


class StopRequest:
    """``abort_message``: what a second Ctrl-C prints before :func:`abort`."""

    def __init__(self, abort_message: str = "aborted; the latest complete checkpoint is kept."):
        self.signal_name: str | None = None
        self.abort_message = abort_message
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
            abort(self.abort_message)  # a second Ctrl-C
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
