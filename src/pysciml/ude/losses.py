"""Losses for fitting f(u, p, t) to a sampled trajectory: each is a callable ``loss(params) -> scalar``.

- `TrajectoryLoss`: one solve from u0 through all data times, mean squared error (single shooting).
- `MultipleShooting`: the record cut into overlapping segments, each solved from its own fitted start
  (all segments in one vmapped solve), plus a penalty on the jumps between segments. Long or oscillating
  records, where single shooting stalls in a local minimum, become a set of short, well-posed fits.
- `Collocation`: no solve at all — f evaluated at smoothed states must match smoothed derivatives.
  Fast and rough: a pre-training stage.
- `LeastSquares`: any residual function r(params) as a loss.

Each is a least-squares loss: ``residuals(params)`` returns the vector r with loss(params) == mean(r²), which
a `LevenbergMarquardt` stage of `fit` uses (it needs r's Jacobian, not only the loss's gradient).
"""
import jax
import jax.numpy as jnp
import numpy as np

from ..problems import ODEProblem
from ..solve import solve
from ..solvers import Tsit5
from .smoothing import smoothed_derivatives


def _check_data(ts, data):
    ts = jnp.asarray(ts, dtype=jnp.float64)
    data = jnp.asarray(data, dtype=jnp.float64)
    if ts.ndim != 1 or ts.size < 2:
        raise ValueError(f"ts must be a 1-D array of at least 2 times, got shape {ts.shape}")
    if not bool(jnp.all(jnp.diff(ts) > 0)):
        raise ValueError("ts must be strictly increasing")
    if data.ndim != 2 or data.shape[0] != ts.size:
        raise ValueError(f"data must have shape (len(ts), n_states) = ({ts.size}, n), got {data.shape}")
    if not bool(jnp.all(jnp.isfinite(data))):
        raise ValueError("data must be finite (no NaN or inf)")
    return ts, data


def _check_f(f):
    if not callable(f):
        raise TypeError(f"f must be callable as f(u, p, t), got {type(f).__name__}")


class TrajectoryLoss:
    """mean((u(tᵢ; p) − dataᵢ)²) over the data times ``ts`` (1-D, increasing; ``data`` of shape (len(ts), n)),
    the solve of du/dt = ``f(u, p, t)`` starting at ``u0`` (default data[0]) at ts[0].

    ``solver`` (default `Tsit5`), ``rtol``, ``atol``, ``sensealg``, ``max_steps``: passed to `solve`.
    Calling the loss with parameters ``p`` returns the scalar loss.
    """

    def __init__(self, f, ts, data, u0=None, *, solver=None, rtol=1e-6, atol=1e-6, sensealg=None,
                 max_steps=10_000):
        _check_f(f)
        self.ts, self.data = _check_data(ts, data)
        self.u0 = self.data[0] if u0 is None else jnp.asarray(u0, dtype=jnp.float64)
        if self.u0.shape != self.data.shape[1:]:
            raise ValueError(f"u0 must have shape {self.data.shape[1:]} (one value per state), got {self.u0.shape}")
        self.f = f
        self.options = dict(rtol=rtol, atol=atol, sensealg=sensealg, max_steps=max_steps)
        self.solver = Tsit5() if solver is None else solver

    def predict(self, p, ts=None):
        """Returns the model's trajectory for parameters ``p`` at ``ts`` (default the data times), shape (len(ts),
        n)."""
        ts = self.ts if ts is None else jnp.asarray(ts, dtype=jnp.float64)
        prob = ODEProblem(self.f, self.u0, (self.ts[0], ts[-1]), p)
        return solve(prob, self.solver, saveat=ts, **self.options).u

    def residuals(self, p):
        """Returns u(tᵢ; p) − dataᵢ for parameters ``p``, flattened (mean of its squares = the loss)."""
        return jnp.ravel(self.predict(p) - self.data)

    def __call__(self, p):
        return jnp.mean(jnp.square(self.predict(p) - self.data))


class MultipleShooting:
    """Segments of ``segment`` data points (consecutive segments share their end point), each solved from
    its own start; loss = mean squared data error + ``continuity`` · mean squared jump between a segment's
    end and the next segment's start. ``f(u, p, t)``: the model; ``ts``, ``data``: the record (len(ts),) and
    (len(ts), n); ``solver`` (default `Tsit5`), ``rtol``, ``atol``, ``sensealg``, ``max_steps``: passed to
    `solve` (all segments in one vmapped solve).

    The loss takes ``{"model": p, "starts": (n_segments, n)}``; `init(p)` starts every segment at its
    first data point.
    """

    def __init__(self, f, ts, data, segment=10, *, continuity=100.0, solver=None, rtol=1e-6, atol=1e-6,
                 sensealg=None, max_steps=10_000):
        _check_f(f)
        self.ts, self.data = _check_data(ts, data)
        n = self.ts.size
        if not isinstance(segment, int) or not 2 <= segment <= n:
            raise ValueError(f"segment must be an int number of points in [2, len(ts)={n}], got {segment!r}")
        if not continuity >= 0:
            raise ValueError(f"continuity must be >= 0, got {continuity!r}")
        # starts every (segment - 1) points; the last segment ends at the last point (it may overlap more)
        first = list(range(0, n - segment, segment - 1)) + [n - segment]
        self.index = jnp.asarray(np.asarray(first)[:, None] + np.arange(segment))      # (n_segments, segment)
        self.f, self.continuity = f, continuity
        self.options = dict(rtol=rtol, atol=atol, sensealg=sensealg, max_steps=max_steps)
        self.solver = Tsit5() if solver is None else solver

    @property
    def n_segments(self):
        return self.index.shape[0]

    def init(self, p):
        """Returns the parameters for this loss: ``{'model': p, 'starts': ...}``, every segment starting on its first
        data point."""
        return {"model": p, "starts": self.data[self.index[:, 0]]}

    def predict(self, params):
        """Returns each segment's trajectory at its data times for ``params`` (``{'model', 'starts'}``), shape
        (n_segments, segment, n)."""
        def one(u0, times):
            prob = ODEProblem(self.f, u0, (times[0], times[-1]), params["model"])
            return solve(prob, self.solver, saveat=times, **self.options).u
        return jax.vmap(one)(params["starts"], self.ts[self.index])

    def _parts(self, params):
        pred = self.predict(params)
        misfit = pred - self.data[self.index]
        ends, next_starts = pred[:-1, -1], params["starts"][1:]
        # a segment whose end point is also the next one's start must meet it; an overlapping last segment
        # is tied to the data point where it starts instead (its own fitted start)
        jump = ends - next_starts if self.n_segments > 1 else jnp.zeros((1, self.data.shape[1]))
        joins = (self.index[:-1, -1] == self.index[1:, 0])[:, None] if self.n_segments > 1 else True
        return misfit, jnp.where(joins, jump, 0.0)

    def residuals(self, params):
        """Returns the data misfits and continuity jumps at ``params``, flattened and weighted so that mean(r²) is
        the loss."""
        misfit, jump = self._parts(params)
        total = misfit.size + jump.size
        return jnp.concatenate([jnp.ravel(misfit) * np.sqrt(total / misfit.size),
                                jnp.ravel(jump) * np.sqrt(self.continuity * total / jump.size)])

    def __call__(self, params):
        misfit, jump = self._parts(params)
        return jnp.mean(jnp.square(misfit)) + self.continuity * jnp.mean(jnp.square(jump))


class Collocation:
    """mean((f(ûᵢ, p, tᵢ) − dûᵢ)²) at the data times ``ts``, û and dû from kernel-smoothed ``data``
    (`smoothed_derivatives`: local quadratic regression with bandwidth ``bandwidth`` and weight ``kernel``).
    No solve: ``f(u, p, t)`` is only evaluated at the smoothed states.
    """

    def __init__(self, f, ts, data, *, bandwidth=None, kernel="triweight"):
        _check_f(f)
        ts, data = _check_data(ts, data)
        values, slopes = smoothed_derivatives(np.asarray(ts), np.asarray(data), bandwidth, kernel)
        self.f, self.ts = f, ts
        self.states, self.derivatives = jnp.asarray(values), jnp.asarray(slopes)

    def residuals(self, p):
        """Returns f(ûᵢ, p, tᵢ) − dûᵢ for parameters ``p``, flattened (mean of its squares = the loss)."""
        return jnp.ravel(jax.vmap(lambda u, t: self.f(u, p, t))(self.states, self.ts) - self.derivatives)

    def __call__(self, p):
        return jnp.mean(jnp.square(self.residuals(p)))


class LeastSquares:
    """``residuals(params) -> array`` as a least-squares loss, mean(r²), for `fit` (any stage, including
    `LevenbergMarquardt`). Weight the entries of r to weight the terms (√w·r has loss w·r²)."""

    def __init__(self, residuals):
        if not callable(residuals):
            raise TypeError(f"residuals must be callable as residuals(params) -> array, got "
                            f"{type(residuals).__name__}")
        self._residuals = residuals

    def residuals(self, params):
        """Returns ``residuals(params)`` (the user's function) flattened to a vector."""
        return jnp.ravel(self._residuals(params))

    def __call__(self, params):
        return jnp.mean(jnp.square(self.residuals(params)))
