"""jgan.hostmem: with the policy on, repeated XLA:CPU executions stop faulting in fresh pages."""
import json
import os
import subprocess
import sys

import pytest

from jgan import hostmem
from conftest import ROOT

# One process per policy: glibc's settings cannot be undone inside a process. Each call
# allocates a 64 MiB output (above glibc's largest mmap threshold, 32 MiB) and frees it; the
# probe counts the minor page faults per call after ten warm-up calls.
_PROBE = """
import json, resource, sys, time
sys.path.insert(0, {root!r})
from jgan import hostmem
applied = hostmem.keep_freed_memory() if sys.argv[1] == "keep" else False
import jax, jax.numpy as jnp
f = jax.jit(lambda x: x * 2.0 + 1.0)
x = jnp.ones((16 * 1024 * 1024,), jnp.float32)
def call():
    y = f(x)
    y.block_until_ready()
    y.delete()
    time.sleep(0.1)  # XLA frees the buffer on one of its threads (late on a loaded machine)
for _ in range(10):
    call()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    call()
faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 10
print(json.dumps({{"applied": applied, "faults": faults}}))
"""


def _probe(policy: str) -> dict:
    out = subprocess.run([sys.executable, "-c", _PROBE.format(root=ROOT), policy], capture_output=True,
                         text=True, check=True, env={**os.environ, "JAX_PLATFORMS": "cpu"})
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not hostmem.supported(), reason="the policy is set through glibc's mallopt")
def test_keep_freed_memory_stops_refaulting():
    default, kept = _probe("release"), _probe("keep")
    assert kept["applied"] and not default["applied"]
    pages = 64 * 1024 * 1024 // os.sysconf("SC_PAGE_SIZE")
    # Defaults: the output block is mmap-ed afresh every call, so each of its pages faults.
    assert default["faults"] > 0.5 * pages, default
    # Kept: the freed block is reused.
    assert kept["faults"] < 0.2 * pages, kept


def test_keep_freed_memory_is_a_no_op_off_glibc(monkeypatch):
    monkeypatch.setattr(hostmem, "_applied", False)
    monkeypatch.setattr(hostmem, "supported", lambda: False)
    assert hostmem.keep_freed_memory() is False
