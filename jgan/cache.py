"""The project-level cache: what every run of jgan may reuse, whatever its workdir.

``$JGAN_CACHE_DIR`` when set, else ``$XDG_CACHE_HOME/jgan``, else ``~/.cache/jgan``. It holds
the FID Inception weights (when downloaded there) and the MNIST classifier that digit
evaluation trains on first use (``jgan.eval.classifier.cached_mnist_classifier_dir``). An
environment variable rather than a config field: the cache is shared by every experiment and
run, so it belongs to the machine, not to one config (a config that wants its own classifier
names it with ``eval.classifier_workdir``).
"""
from __future__ import annotations

import os

CACHE_ENV_VAR = "JGAN_CACHE_DIR"


def cache_dir() -> str:
    """The cache directory (not created here)."""
    env = os.environ.get(CACHE_ENV_VAR)
    if env:
        return os.path.abspath(os.path.expanduser(env))
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(xdg, "jgan")
