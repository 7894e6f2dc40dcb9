"""The loop as one lane of a vmapped batch with a named axis (`EnsembleVmap`).

Under a plain `jax.vmap`, a while loop whose condition differs between trajectories runs until the last one
is done, and after every iteration JAX selects between the new and the old value of *every* carried array for
every trajectory. A loop that saves carries its save buffers, so each step would read and write all of them
(for 100 saves of a small system, several times the cost of the step itself), and the writes at
trajectory-dependent rows become scatters over the whole buffer.

When the batch's axis is named, the loop can do better: its condition is reduced over the axis (`lax.pmax`,
one unbatched flag, so JAX adds no selects), and the body itself keeps finished trajectories unchanged: it
selects only the small state and writes the saves through the step's own ``accept`` mask, a few rows per
trajectory. `EnsembleVmap` names its axis and marks the trace with `lane_axis`; `solve` asks `bound_axis` and
compiles the loop for lanes of that axis (`LoopConfig.lanes`).
"""
import contextlib
import threading

from jax import lax

_marked = threading.local()


@contextlib.contextmanager
def lane_axis(name):
    """Within this block, solves traced inside ``jax.vmap(..., axis_name=name)`` run as lanes of that axis."""
    previous = getattr(_marked, "name", None)
    _marked.name = name
    try:
        yield
    finally:
        _marked.name = previous


def bound_axis():
    """The marked axis name when it is bound at this point of the trace (a part traced later, e.g. a backward
    pass outside the vmap, sees none), else None."""
    name = getattr(_marked, "name", None)
    if name is None:
        return None
    try:
        lax.psum(0, name)
    except NameError:
        return None
    return name
