"""The static description of a solve's callbacks (`EventPlan`, part of the compiled loop's configuration)
and their traced data, built once per solve by `plan`."""
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .._core.trees import is_concrete

from .callbacks import flatten


class EventPlan(NamedTuple):
    """Hashable: the callbacks' static parts in the user's order (``callbacks``), the state layout (``spec``,
    the FlatSpec of the state: callbacks see the user's layout) and the event budget (``max_events``)."""
    callbacks: tuple         # each Callback.static()
    spec: object             # FlatSpec of the state (callbacks see the user's layout)
    max_events: int

    def of_kind(self, kind):
        """The callbacks of one ``kind`` ("continuous", "discrete", ...): returns a list of (position in the
        set, static tuple)."""
        return [(i, cb) for i, cb in enumerate(self.callbacks) if cb.kind == kind]

    @property
    def components(self):
        """(callback position, component within it) of every continuous condition component, in order."""
        out = []
        for i, cb in self.of_kind("continuous"):
            out.extend((i, j) for j in range(cb.length or 1))
        return out


def plan(callback, spec, max_events):
    """Returns (EventPlan, data) for ``callback``, or (None, None) when there is none. ``data`` holds each
    callback's arrays (None where it has none); ``spec``: the FlatSpec of the state; ``max_events``: the event
    budget of the solve."""
    callbacks = flatten(callback)
    if not callbacks:
        return None, None
    return EventPlan(tuple(cb.static() for cb in callbacks), spec, max_events), tuple(cb.data() for cb in callbacks)


def preset_times(callback, dtype):
    """Every PresetTimeCallback time in ``callback`` (a callback or set), concatenated in ``dtype`` (for the
    solver's tstops): returns the array (NumPy when concrete), or None when there is none."""
    from .callbacks import PresetTimeCallback
    times = [cb.times for cb in flatten(callback) if isinstance(cb, PresetTimeCallback)]
    if not times:
        return None
    if is_concrete(times):      # stay concrete under jit, so the stops are filtered and sorted once
        return np.concatenate([np.asarray(x, dtype) for x in times])
    return jnp.concatenate([jnp.asarray(x, dtype) for x in times])


def check_outputs(callback, spec, p, t0):
    """Trace every condition, affect and save function once on (u0, p, t0) so a wrong shape is reported
    before compilation, naming the callback and the function. ``spec``: the FlatSpec of the state (u0 is its
    zero state). Returns None; raises the error with the callback's name."""
    from .callbacks import Effect
    u = spec.unravel(jnp.zeros((spec.size,), spec.dtype))
    t = jnp.zeros((), jnp.finfo(spec.dtype).dtype) + t0
    for cb in flatten(callback):
        kind, name = cb.static().kind, type(cb).__name__

        def shape_of(fn, *extra):
            try:
                return jax.eval_shape(lambda uu, pp, tt: fn(uu, pp, tt, *extra), u, p, t)
            except Exception as error:
                raise type(error)(f"{name}: {getattr(fn, '__name__', fn)} failed on (u0, p, t0): {error}") from None

        def check_state(fn, *extra):
            out = shape_of(fn, *extra)
            new_u = out.u if isinstance(out, Effect) else out
            if isinstance(out, Effect) and out.p is not None:
                if jax.tree_util.tree_structure(out.p) != jax.tree_util.tree_structure(p) or any(
                        jnp.shape(a) != jnp.shape(b) for a, b in zip(jax.tree_util.tree_leaves(out.p),
                                                                   jax.tree_util.tree_leaves(p))):
                    raise ValueError(f"{name}: the affect returned parameters of another structure or shape than p")
            if jax.tree_util.tree_structure(new_u) != spec.treedef or tuple(
                    tuple(x.shape) for x in jax.tree_util.tree_leaves(new_u)) != spec.shapes:
                raise ValueError(f"{name}: the affect must return a state shaped like u0 ({spec.shapes}) or an "
                                 f"Effect(u, p, terminate); got {jax.tree_util.tree_map(lambda x: x.shape, out)}")

        if kind == "continuous":
            length = cb.static().length
            out = shape_of(cb.condition)
            expected = () if length is None else (length,)
            if tuple(getattr(out, "shape", (None,))) != expected:
                raise ValueError(f"{name}: condition(u, p, t) must return "
                                 f"{'a scalar' if length is None else f'{length} values (len={length})'}; got "
                                 f"shape {getattr(out, 'shape', out)}")
            extra = () if length is None else (jnp.zeros((), jnp.int32),)
            for fn in {cb.affect, cb.affect_neg} - {None}:
                check_state(fn, *extra)
        elif kind == "discrete":
            out = shape_of(cb.condition)
            if tuple(getattr(out, "shape", (None,))) != ():
                raise ValueError(f"{name}: condition(u, p, t) must return a scalar bool; got {out}")
            check_state(cb.affect)
        elif kind in ("preset", "periodic"):
            check_state(cb.affect)
        elif kind == "saving":
            out = shape_of(cb.save_func)
            if not hasattr(out, "shape") or len(out.shape) > 1:
                raise ValueError(f"{name}: save_func(u, p, t) must return a scalar or a 1-D array; got {out}")
