"""Layer 5: the solution types users hold. `ODESolution`: saved times and states, dense output, return
code and statistics of one solve; `EventLog` and `SavedValues` (callbacks).

It is a pytree, so it can be returned from `jax.jit` and stacked by `jax.vmap` (ensembles). `solve`
builds it from the loop's outputs; the loop itself never sees it (its imports point down only).
"""
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ._core.retcode import ReturnCode, as_retcode
from ._core.trees import is_concrete
from .interpolation import interpolate_dense


def _symbols(rhs):
    """The symbol map of a solution's right-hand side (its user f, inside the flat wrapper)."""
    f = getattr(rhs, "f", rhs)
    if not hasattr(f, "symbolic_values"):
        raise TypeError("sol[...] / sol(t, idxs=...) index by symbol only solutions of problems built from a symbolic "
                        "system (pysciml.modeling.ODEProblem); index arrays with sol.u[:, i] or sol(t)[i]")
    return f


class EventLog(NamedTuple):
    """The continuous events of a solve (`sol.events`), in order: times ``t``, the position ``index`` of
    the callback in the set, the ``component`` of a vector callback (0 for a scalar one), the number ``n``
    logged, and ``count``, the firings of every callback in the set (discrete, preset, periodic included).
    Inside jit, t/index/component have max_events entries, valid up to n (NaN/−1 after). ``p``: the
    parameters at the end of the solve, after every affect that returned new ones (`Effect`)."""
    t: jnp.ndarray
    index: jnp.ndarray
    component: jnp.ndarray
    n: jnp.ndarray
    count: jnp.ndarray
    p: Any = None


class SavedValues(NamedTuple):
    """A SavingCallback's times ``t`` and values ``saveval`` (len(t), k) of its save_func."""
    t: jnp.ndarray
    saveval: jnp.ndarray


@jax.tree_util.register_pytree_node_class
class ODESolution:
    """Result of `solve`.

    t: saved times, shape (N,). u: saved states, shape (N, *u0.shape) (a pytree of such arrays for a
    pytree u0). sol(t): the state at any time in the span, with the method's own interpolant (needs dense
    output: the default when neither saveat nor save_everystep=False is given). retcode: a `ReturnCode`
    (an int array inside jit). stats: f evaluations ``nf``, steps ``nsteps``, ``naccept``, ``nreject``.
    Inside jit, save-every-step buffers have max_steps + 1 entries, padded with the final time and state.
    With callbacks: ``events`` (an `EventLog`) and ``saved_values`` (one `SavedValues` per SavingCallback).

    Built by `solve` (users do not construct it): ``u_flat`` is the saved states flattened to (N, n) (``u``
    unflattens them with ``spec``, the pytree layout of u0), ``p`` the parameters, ``f`` the flat right-hand side,
    ``alg`` the method (its interpolant serves ``sol(t)``), ``dense`` the stored steps (None without dense output),
    ``hoisted`` the values f closed over from a running trace, which ``f`` reads beside ``p`` (`solve.closure`;
    None for ordinary solves).
    """

    def __init__(self, t, u_flat, retcode, stats, dense, p, *, f, alg, spec, events=None, saved_values=None,
                 hoisted=None):
        self.t = t
        self._u_flat = u_flat
        # Traced return code and counters travel as one integer array (see `_pack`); unpacked when read.
        self._counters = _pack(retcode, stats)
        self._code, self._stats = (None, None) if self._counters is not None else (retcode, stats)
        self.dense = dense
        self.p = p
        self.f = f          # the flat right-hand side f(u_flat, p, t)
        self.alg = alg
        self.spec = spec
        self.events = events
        self.saved_values = saved_values
        self._hoisted = hoisted   # the values f closes over from a trace, read by f beside p (`solve.closure`)

    # --- pytree protocol -------------------------------------------------------------------------
    def tree_flatten(self):
        # Under jit the every-step solution's t/u are the dense output's step times/states: one leaf each,
        # not two (a jitted function would otherwise return, and XLA copy, each max_steps-sized buffer twice).
        shared = self.dense is not None and self.dense.ts is self.t and self.dense.us is self._u_flat
        dense = self.dense._replace(ts=None, us=None) if shared else self.dense
        if self._counters is not None:
            keys, counters = self._counters
            codes = (counters, None)
        else:
            keys, codes = None, (self._code, self._stats)
        children = (self.t, self._u_flat, *codes, dense, self.p, self.events, self.saved_values, self._hoisted)
        return children, (self.f, self.alg, self.spec, shared, keys)

    @classmethod
    def tree_unflatten(cls, aux, children):
        t, u_flat, code, stats, dense, p, events, saved_values, hoisted = children
        f, alg, spec, shared, keys = aux
        if shared:
            dense = dense._replace(ts=t, us=u_flat)
        sol = cls.__new__(cls)
        ODESolution.__init__(sol, t, u_flat, None if keys is not None else code, stats, dense, p, f=f, alg=alg,
                             spec=spec, events=events, saved_values=saved_values, hoisted=hoisted)
        if keys is not None:   # still packed (no array operation here: unflattening is on every jit return)
            sol._counters, sol._code, sol._stats = (keys, code), None, None
        return sol

    # --- public view ------------------------------------------------------------------------------
    @property
    def u(self) -> Any:
        return self.spec.unravel(self._u_flat)

    @property
    def _retcode(self):
        if self._code is None:
            self._code = self._counters[1][..., 0]
        return self._code

    @property
    def stats(self):
        """f evaluations ``nf``, steps ``nsteps``, ``naccept``, ``nreject`` and the method's own counters."""
        if self._stats is None:
            keys, counters = self._counters
            self._stats = {k: counters[..., i + 1] for i, k in enumerate(keys)}
        return self._stats

    @property
    def retcode(self):
        return as_retcode(self._retcode)

    @property
    def success(self):
        code = self._retcode
        ok = (code == ReturnCode.Success) | (code == ReturnCode.Terminated)
        return bool(ok) if is_concrete(code) and jnp.ndim(code) == 0 else ok

    @property
    def p_final(self):
        """The parameters at the end of the solve: ``p`` as the last event's affect left it (an `Effect`
        with new p), like Julia's ``integrator.p`` after the solve; ``sol.p`` stays the parameters the solve
        started from (those its dense output and ``sol(t)`` use)."""
        logged = None if self.events is None else self.events.p
        return self.p if logged is None else logged

    @property
    def _f_p(self):
        """The parameters as ``f`` takes them."""
        return self.p if self._hoisted is None else (self.p, self._hoisted)

    __iter__ = None     # __getitem__ indexes by symbol, not by position: not a sequence

    def __getitem__(self, key):
        """``sol[x]``: a variable over ``sol.t``, by symbol or name, for a problem whose f carries a symbol
        map (`pysciml.modeling`: unknowns, observed variables, parameters)."""
        return _symbols(self.f).symbolic_values(self, key, self.u, self.t)

    def __call__(self, t, idxs=None) -> Any:
        """The state at time(s) ``t`` (scalar or 1-D array) from the dense output; ``idxs``: only the
        variable(s) named, as in ``sol[...]``.

        ``t`` must lie in the span the solver covered, from tspan[0] to the last accepted step (tspan[1],
        or the time a callback terminated the solve): the interpolant does not extrapolate. Outside jit a
        time outside that span raises ValueError (as DifferentialEquations.jl does); inside jit, where
        values cannot be inspected, those entries are NaN.
        """
        if self.dense is None:
            raise ValueError(
                "this solution has no dense output (saveat or save_everystep=False was given); "
                "solve again with dense=True to evaluate sol(t) between saved points")
        t = jnp.asarray(t, self.t.dtype)
        if jnp.ndim(t) > 1:
            raise ValueError(f"sol(t): t must be a scalar or a 1-D array; got shape {t.shape}")
        times = jnp.atleast_1d(t)
        ts, n = self.dense.ts, self.dense.n_steps
        if is_concrete(times, ts, n):   # checked on the host (no extra compilation per len(t))
            _check_inside_span(np.asarray(times), np.asarray(ts), int(n))
            values = interpolate_dense(self.alg, self.f, self._f_p, self.dense, times)
        else:
            values = interpolate_dense(self.alg, self.f, self._f_p, self.dense, times)
            values = jnp.where(_inside_span(jnp, times, ts, n)[:, None], values, jnp.nan)
        u = self.spec.unravel(values[0] if jnp.ndim(t) == 0 else values)
        return u if idxs is None else _symbols(self.f).symbolic_values(self, idxs, u, t)

    def __repr__(self):
        code = self.retcode
        name = code.name if isinstance(code, ReturnCode) else "traced"
        return f"ODESolution(retcode={name}, alg={self.alg!r}, t: {tuple(np.shape(self.t))}, u: {_shapes(self.u)})"

    def plot(self, ax=None, labels=None, **kwargs):
        """Plot every component against t (the dense curve when available) on ``ax`` (default: the current
        matplotlib axes), labelled by ``labels`` (default u[0], u[1], …); other keywords go to ``ax.plot``.
        Returns the matplotlib axes.
        """
        import matplotlib.pyplot as plt

        ax = ax if ax is not None else plt.gca()
        if self.dense is not None:
            ts = jnp.linspace(self.t[0], self.t[-1], 500)
            us = interpolate_dense(self.alg, self.f, self._f_p, self.dense, ts)
        else:
            ts, us = self.t, self._u_flat
        us = np.asarray(us)
        for j in range(us.shape[1]):
            label = labels[j] if labels is not None else f"u[{j}]"
            ax.plot(np.asarray(ts), us[:, j], label=label, **kwargs)
        ax.set_xlabel("t")
        ax.legend()
        return ax


def _pack(retcode, stats):
    """(stats keys, [retcode, *stats values] stacked on a last axis) when all are traced integer arrays of one
    shape and dtype, else None. A jitted function returning a solution returns each array leaf separately,
    about 1.3 µs apiece on CPU (as much as a few steps of a small ODE): the return code and counters (five
    or more scalars) then cost one leaf. Concrete values stay as they are (stacking them would be an
    eager operation)."""
    if not isinstance(stats, dict) or not stats:
        return None
    values = [retcode, *stats.values()]
    if not any(isinstance(v, jax.core.Tracer) for v in values):
        return None
    first = values[0]
    if not all(isinstance(v, (jax.Array, np.ndarray)) and jnp.issubdtype(v.dtype, jnp.integer) and
               v.dtype == first.dtype and v.shape == first.shape for v in values):
        return None
    return tuple(stats), jnp.stack(values, axis=-1)


def _inside_span(xp, times, ts, n):
    """Mask of ``times`` inside the span covered by the steps ts[0..n] (end points included, with a few ulps
    of slack), with numpy or jax.numpy as ``xp``."""
    start, end = ts[0], ts[xp.clip(n, 0, ts.shape[0] - 1)]
    lo, hi = xp.minimum(start, end), xp.maximum(start, end)
    slack = 8 * xp.finfo(ts.dtype).eps * xp.maximum(xp.maximum(xp.abs(lo), xp.abs(hi)), 1.0)
    return (times >= lo - slack) & (times <= hi + slack)


def _check_inside_span(times, ts, n):
    inside = _inside_span(np, times, ts, n)
    if not np.all(inside):
        start, end = ts[0], ts[min(max(n, 0), ts.shape[0] - 1)]
        raise ValueError(
            f"sol(t): t = {times[~inside][0]:.6g} lies outside the solution's span [{start:.6g}, {end:.6g}]; "
            "the dense output does not extrapolate. Solve over a longer tspan to evaluate there "
            "(inside jit such times give NaN).")


def _shapes(tree):
    return jax.tree_util.tree_map(lambda x: tuple(np.shape(x)), tree)


@jax.tree_util.register_pytree_node_class
class SDESolution(ODESolution):
    """Result of solving an `SDEProblem`: an `ODESolution` (sol(t) interpolates linearly between steps)
    with ``W``, the Brownian path at the saved times, shape (len(t), m) (W(t0) = 0 unless the path is a
    user's `NoiseGrid`). Built by `solve` from the `ODESolution` fields (t, u_flat, retcode, stats, dense,
    p, f, alg, spec, events, saved_values: see there) and W."""

    def __init__(self, t, u_flat, retcode, stats, dense, p, *, f, alg, spec, events=None, saved_values=None,
                 W=None):
        super().__init__(t, u_flat, retcode, stats, dense, p, f=f, alg=alg, spec=spec, events=events,
                         saved_values=saved_values)
        self.W = W

    @classmethod
    def of(cls, sol: ODESolution, W):
        """Returns the `SDESolution` with the fields of ``sol`` and the path ``W``."""
        out = cls.__new__(cls)
        out.__dict__.update(sol.__dict__)   # the counters as they are (packed or not)
        out.W = W
        return out

    def tree_flatten(self):
        children, aux = super().tree_flatten()
        return children + (self.W,), aux

    @classmethod
    def tree_unflatten(cls, aux, children):
        return cls.of(ODESolution.tree_unflatten(aux, children[:-1]), children[-1])

    def __repr__(self):
        return "SDE" + super().__repr__()[3:-1] + f", W: {tuple(np.shape(self.W))})"
