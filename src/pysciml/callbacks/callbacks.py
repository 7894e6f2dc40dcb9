"""The callbacks a user passes as ``solve(..., callback=...)``: what to watch and what to do.

Every function is pure. ``condition(u, p, t)`` reads the state; ``affect(u, p, t)`` returns the new state,
or an `Effect` to also change the parameters or stop the solve (`terminate`). The solve stops only when an
affect asks for it: events never terminate by default.

Each callback splits into a static part (its functions and options, hashable, part of the compiled
program) and its data (times, spacings, tolerances: arrays that may be traced, e.g. per ensemble member);
see `plan`.
"""
import math
from typing import Any, NamedTuple

import jax.numpy as jnp
import numpy as np

from .._core.trees import is_concrete


class Effect(NamedTuple):
    """What an affect returns when it does more than replace the state: the new state ``u``, new
    parameters ``p`` (same structure and dtypes as before; None keeps them) and ``terminate`` (a bool, may be
    traced) to stop the solve with `ReturnCode.Terminated` after this event.
    """
    u: Any
    p: Any = None
    terminate: Any = False


def terminate(u, p=None):
    """The affect's result that stops the solve at this event: returns ``Effect(u, p, True)``
    (state ``u``, optional new parameters ``p``; None keeps them).
    """
    return Effect(u, p, True)


_DIRECTIONS = {"both": 0, "up": 1, "down": -1, 0: 0, 1: 1, -1: -1}
_ROOTFINDS = ("illinois", "bisection")


def _check_callable(name, owner, fn, optional=False):
    if fn is None and optional:
        return
    if not callable(fn):
        raise TypeError(f"{owner}: {name} must be callable; got {fn!r}")


def _check_direction(owner, direction):
    try:
        return _DIRECTIONS[direction]
    except (KeyError, TypeError):
        raise ValueError(f"{owner}: direction must be 'both', 'up' or 'down' (or 0, 1, -1); got {direction!r}") from None


def _check_count(owner, name, value, minimum):
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{owner}: {name} must be an integer ≥ {minimum}; got {value!r}")
    return int(value)


def _check_save_positions(owner, save_positions):
    try:
        before, after = (bool(x) for x in save_positions)
    except (TypeError, ValueError):
        raise ValueError(f"{owner}: save_positions must be a pair of bools (before, after); got {save_positions!r}") from None
    return before, after


def _check_positive(owner, name, value):
    if jnp.ndim(value) != 0:
        raise ValueError(f"{owner}: {name} must be a scalar; got shape {jnp.shape(value)}")
    if is_concrete(value):
        v = float(value)
        if not math.isfinite(v) or v <= 0:
            raise ValueError(f"{owner}: {name} must be a positive finite number; got {value!r}")
    return value


def _check_times(owner, name, times):
    if jnp.ndim(times) > 1:
        raise ValueError(f"{owner}: {name} must be a scalar or a 1-D array of times; got shape {jnp.shape(times)}")
    times = jnp.atleast_1d(jnp.asarray(times))
    if times.shape[0] == 0:
        raise ValueError(f"{owner}: {name} must hold at least one time")
    if not jnp.issubdtype(times.dtype, jnp.number) or jnp.issubdtype(times.dtype, jnp.complexfloating):
        raise TypeError(f"{owner}: {name} must be real numbers; got dtype {times.dtype}")
    if is_concrete(times) and not np.all(np.isfinite(np.asarray(times))):
        raise ValueError(f"{owner}: {name} must be finite")
    return times


# --- the static parts of each kind, as the loop sees them (hashable: part of the compiled loop's key) -----

class ContinuousStatic(NamedTuple):
    kind: str                 # "continuous"
    condition: object
    affect: object            # on up-crossings (and down-crossings without affect_neg)
    affect_neg: object
    direction: float          # crossings counted: +1 up, −1 down, 0 both
    rootfind: str
    save_positions: tuple     # (before, after)
    interp_points: int        # condition evaluations inside each step when looking for crossings
    length: int | None        # components of a vector condition (None: a scalar condition)


class DiscreteStatic(NamedTuple):
    kind: str                 # "discrete"
    condition: object
    affect: object
    save_positions: tuple


class PresetStatic(NamedTuple):
    kind: str                 # "preset"
    affect: object
    save_positions: tuple


class PeriodicStatic(NamedTuple):
    kind: str                 # "periodic"
    affect: object
    save_positions: tuple


class SteadyStatic(NamedTuple):
    kind: str                 # "steady"


class SavingStatic(NamedTuple):
    kind: str                 # "saving"
    save_func: object


class Callback:
    """Base of every callback."""

    def data(self):
        """The callback's array data (may be traced): returns it, or None when it has none."""
        return None


class ContinuousCallback(Callback):
    """An event where ``condition(u, p, t)`` (a scalar) crosses zero.

    The crossing is checked on every accepted step at its ends and at ``interp_points`` interior points of
    the step's dense output (the earliest crossing in a step wins), then located by a bracketing root
    finder (``rootfind='illinois'`` or ``'bisection'``) on the interpolant to near machine precision in t.
    The solver steps exactly onto the event time, applies ``affect`` (upcrossings, g: − → +) or
    ``affect_neg`` (downcrossings; default: ``affect``), and restarts cleanly from the new state.
    ``direction``: 'both' (default), 'up' or 'down' restricts which crossings count. ``save_positions``:
    in save-every-step mode the state is always saved just before the event (the end of a step); the
    second flag adds the state just after it (required with dense output).
    """

    def __init__(self, condition, affect, affect_neg=None, *, direction="both", rootfind="illinois",
                 save_positions=(True, True), interp_points=4):
        owner = type(self).__name__
        _check_callable("condition", owner, condition)
        _check_callable("affect", owner, affect, optional=True)
        _check_callable("affect_neg", owner, affect_neg, optional=True)
        if affect is None and affect_neg is None:
            raise ValueError(f"{owner}: give affect and/or affect_neg (functions returning the new state)")
        self.condition, self.affect = condition, affect
        self.affect_neg = affect if affect_neg is None else affect_neg
        self.direction = _check_direction(owner, direction)
        if rootfind not in _ROOTFINDS:
            raise ValueError(f"{owner}: rootfind must be one of {_ROOTFINDS}; got {rootfind!r}")
        self.rootfind = rootfind
        self.save_positions = _check_save_positions(owner, save_positions)
        self.interp_points = _check_count(owner, "interp_points", interp_points, 0)

    def static(self):
        """Returns the callback's static part (its functions and options, hashable: part of the compiled program) as
        a `ContinuousStatic` named tuple."""
        return ContinuousStatic("continuous", self.condition, self.affect, self.affect_neg, self.direction,
                                self.rootfind, self.save_positions, self.interp_points, None)

    def __repr__(self):
        return f"ContinuousCallback({getattr(self.condition, '__name__', self.condition)!r})"


class VectorContinuousCallback(ContinuousCallback):
    """Many events at once: ``condition(u, p, t)`` returns ``len`` values, each watched like a
    `ContinuousCallback`; ``affect(u, p, t, index)`` receives the index of the component that fired (the
    earliest crossing in a step), ``affect_neg`` (same signature) handles downcrossings (default: ``affect``).
    The solution's event log records that index as ``component``. Other keyword options (``direction``,
    ``rootfind``, ``save_positions``, ``interp_points``) are `ContinuousCallback`'s.
    """

    def __init__(self, condition, affect, len, affect_neg=None, **options):   # noqa: A002 (Julia's name)
        super().__init__(condition, affect, affect_neg, **options)
        self.length = _check_count(type(self).__name__, "len", len, 1)

    def static(self):
        """Returns the callback's static part (its functions and options, hashable: part of the compiled program) as a
        `ContinuousStatic` named tuple.
        Its ``length`` is the number of components watched.
        """
        return super().static()._replace(length=self.length)


class DiscreteCallback(Callback):
    """``affect(u, p, t)`` applied after every accepted step at whose end ``condition(u, p, t)`` is true.

    ``save_positions`` = (before, after): save the state just before and/or just after the affect (in
    save-every-step mode).
    """

    def __init__(self, condition, affect, *, save_positions=(True, True)):
        owner = type(self).__name__
        _check_callable("condition", owner, condition)
        _check_callable("affect", owner, affect)
        self.condition, self.affect = condition, affect
        self.save_positions = _check_save_positions(owner, save_positions)

    def static(self):
        """Returns the callback's static part (its functions and options, hashable: part of the compiled program) as
        a `DiscreteStatic` named tuple."""
        return DiscreteStatic("discrete", self.condition, self.affect, self.save_positions)


class PresetTimeCallback(Callback):
    """``affect(u, p, t)`` at the given ``times`` (e.g. doses): the times are added to the solver's
    tstops, so it steps exactly onto them; a time equal to the start of the span is applied to the initial
    state before the first step. ``save_positions`` = (before, after): save the state just before and/or
    just after each affect.
    """

    def __init__(self, times, affect, *, save_positions=(True, True)):
        owner = type(self).__name__
        _check_callable("affect", owner, affect)
        self.times = _check_times(owner, "times", times)
        self.affect = affect
        self.save_positions = _check_save_positions(owner, save_positions)

    def static(self):
        """Returns the callback's static part (its functions and options, hashable: part of the compiled program) as
        a `PresetStatic` named tuple."""
        return PresetStatic("preset", self.affect, self.save_positions)

    def data(self):
        """Returns the preset times, a 1-D array (may be traced, e.g. per ensemble member)."""
        return self.times


class PeriodicCallback(Callback):
    """``affect(u, p, t)`` every ``dt`` after the start (t0 + dt, t0 + 2dt, …), stepping exactly onto
    those times (they are computed as t0 + k·dt, so they do not drift). ``save_positions`` = (before, after):
    save the state just before and/or just after each affect.
    """

    def __init__(self, affect, dt, *, save_positions=(True, True)):
        owner = type(self).__name__
        _check_callable("affect", owner, affect)
        self.dt = _check_positive(owner, "dt", dt)
        self.affect = affect
        self.save_positions = _check_save_positions(owner, save_positions)

    def static(self):
        """Returns the callback's static part (its functions and options, hashable: part of the compiled program) as
        a `PeriodicStatic` named tuple."""
        return PeriodicStatic("periodic", self.affect, self.save_positions)

    def data(self):
        """Returns the period ``dt`` as a scalar array (may be traced)."""
        return jnp.asarray(self.dt)


class TerminateSteadyState(Callback):
    """Stop the solve (`ReturnCode.Terminated`) after the first accepted step at whose end
    |f(u, p, t)| ≤ abstol + reltol·|u| in every component (one extra f evaluation per step)."""

    def __init__(self, abstol=1e-8, reltol=1e-6):
        owner = type(self).__name__
        self.abstol = _check_positive(owner, "abstol", abstol)
        self.reltol = _check_positive(owner, "reltol", reltol)

    def static(self):
        """Returns the callback's static part (its functions and options, hashable: part of the compiled program) as
        a `SteadyStatic` named tuple."""
        return SteadyStatic("steady")

    def data(self):
        """Returns the tolerances ``(abstol, reltol)`` as scalar arrays (may be traced)."""
        return jnp.asarray(self.abstol), jnp.asarray(self.reltol)


class SavingCallback(Callback):
    """Save ``save_func(u, p, t)`` (an array) at the times ``saveat`` from the steps' dense output,
    without saving the state itself; the values come back as ``sol.saved_values`` (one `SavedValues`
    per SavingCallback). At an event time the value before the event is saved."""

    def __init__(self, save_func, saveat):
        owner = type(self).__name__
        _check_callable("save_func", owner, save_func)
        self.save_func = save_func
        self.saveat = _check_times(owner, "saveat", saveat)

    def static(self):
        """Returns the callback's static part (its functions and options, hashable: part of the compiled program) as
        a `SavingStatic` named tuple."""
        return SavingStatic("saving", self.save_func)

    def data(self):
        """Returns the save times ``saveat``, a 1-D array (may be traced)."""
        return self.saveat


class CallbackSet(Callback):
    """Several callbacks in one (nested sets are flattened). Affects applied at the same step end run in
    the order: continuous events, preset times, periodic, discrete, steady state."""

    def __init__(self, *callbacks):
        flat = []
        for cb in callbacks:
            if isinstance(cb, CallbackSet):
                flat.extend(cb.callbacks)
            elif isinstance(cb, Callback):
                flat.append(cb)
            elif cb is not None:
                raise TypeError(f"CallbackSet: expected callbacks such as ContinuousCallback(...); got {cb!r}")
        self.callbacks = tuple(flat)


def flatten(callback):
    """The callbacks of ``callback`` (a callback, a CallbackSet, a list/tuple of them, or None) as a tuple."""
    if callback is None:
        return ()
    if isinstance(callback, (list, tuple)):
        callback = CallbackSet(*callback)
    if isinstance(callback, CallbackSet):
        return callback.callbacks
    if isinstance(callback, Callback):
        return (callback,)
    raise TypeError(f"callback: expected a callback such as pysciml.ContinuousCallback(condition, affect) or a "
                    f"CallbackSet; got {callback!r}")
