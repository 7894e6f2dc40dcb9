"""XLA:CPU's size limit for compiling a small `lax.while_loop` into one kernel, raised before JAX starts.

Since JAX 0.4.32 XLA:CPU runs a program as a sequence of "thunks", one per fused kernel, and a while loop
dispatches each kernel of its body once per iteration, a fixed cost of the order of 0.1 µs per kernel. A loop
whose body accesses fewer than ``xla_cpu_small_while_loop_byte_threshold`` bytes (1 kB by default) is instead
compiled whole, as one kernel. Loops of many small kernels per iteration pay mostly that fixed cost: the jump
simulator's pooled lanes run 1.25-1.3x faster compiled whole (benchmarks/results/jumps_loop_probe.txt), its
one-trajectory loop ~8x. pysciml raises the limit to `THRESHOLD` when it is imported, unless

- the user set ``xla_backend_extra_options`` in ``XLA_FLAGS`` (their choice stands),
- ``PYSCIML_XLA_DEFAULTS=0`` is set, or
- a JAX backend has already started: XLA reads its flags once, when the first backend starts, so ``import
  pysciml`` before running any JAX computation to get the faster loops (results are the same either way).

The setting applies to every program of the process; it changes how loops are compiled, not what they compute.
"""
import os
import re

OPTION = "xla_cpu_small_while_loop_byte_threshold"
THRESHOLD = 1 << 20      # bytes accessed by one iteration of a loop body (XLA's cost analysis)
_state = {"threshold": None}


def _backend_started():
    try:
        from jax._src import xla_bridge
        return bool(xla_bridge.backends_are_initialized())
    except (ImportError, AttributeError):      # JAX moved it: assume the worst, leave the flags alone
        return True


def configure(environ=os.environ):
    """Raise XLA:CPU's small-loop limit in ``XLA_FLAGS`` (see the module's docstring for when it does not)."""
    flags = environ.get("XLA_FLAGS", "")
    chosen = re.search(rf"{OPTION}=(\d+)", flags)
    if chosen:
        _state["threshold"] = int(chosen.group(1))
    if "xla_backend_extra_options" in flags or environ.get("PYSCIML_XLA_DEFAULTS", "1") == "0" or _backend_started():
        return
    environ["XLA_FLAGS"] = f"{flags} --xla_backend_extra_options={OPTION}={THRESHOLD}".strip()
    _state["threshold"] = THRESHOLD


def small_loop_threshold():
    """XLA:CPU's small-loop limit in bytes in this process, as far as pysciml knows: its own setting or the one
    in the user's ``XLA_FLAGS``; XLA's default (1 kB) otherwise."""
    return _state["threshold"] if _state["threshold"] is not None else 1024
