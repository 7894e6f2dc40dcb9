"""Time derivatives of sampled trajectories, the left-hand side that SINDy regresses on Θ(X).

`FiniteDifference` (second order, any increasing time grid), `SmoothedFiniteDifference` (Savitzky–Golay
smoothing, then the same differences; for noisy data) and `derivatives_from` (exact derivatives from a
known or learned right-hand side f(u, p, t), e.g. the network term of a trained UDE).
"""
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from ._checks import check_data, check_times


@dataclasses.dataclass(frozen=True)
class FiniteDifference:
    """Second-order three-point differences: central in the interior, one-sided at both ends, with the
    weights of the quadratic through three neighbouring samples, so non-uniform grids are exact for
    quadratics too. Call as ``d(X, t)`` with t the sample times (N,) or a uniform spacing dt."""

    def __call__(self, X, t):
        X = check_data(X)
        t = check_times(t, X.shape[0], minimum=3)
        return _three_point(X, t)


@jax.jit
def _three_point(X, t):
    h = jnp.diff(t)
    h1, h2 = h[:-1, None], h[1:, None]                      # spacings left and right of each interior point
    interior = (-h2 / (h1 * (h1 + h2)) * X[:-2] + (h2 - h1) / (h1 * h2) * X[1:-1]
                + h1 / (h2 * (h1 + h2)) * X[2:])
    a, b = h[0], h[1]                                        # first three samples
    first = (-(2 * a + b) / (a * (a + b)) * X[0] + (a + b) / (a * b) * X[1] - a / (b * (a + b)) * X[2])
    a, b = h[-2], h[-1]                                      # last three samples
    last = ((2 * b + a) / (b * (a + b)) * X[-1] - (a + b) / (a * b) * X[-2] + b / (a * (a + b)) * X[-3])
    return jnp.concatenate([first[None], interior, last[None]])


@dataclasses.dataclass(frozen=True)
class SmoothedFiniteDifference:
    """Savitzky–Golay smoothing (a least-squares polynomial of degree ``order`` over ``window`` samples;
    the edge samples take the polynomial fitted to the first or last window, as scipy's mode='interp'),
    then `FiniteDifference`. Needs a uniform time grid."""
    window: int = 11
    order: int = 3

    def __post_init__(self):
        if not isinstance(self.window, (int, np.integer)) or self.window < 3 or self.window % 2 == 0:
            raise ValueError(f"SmoothedFiniteDifference: window must be an odd integer >= 3; got {self.window!r}")
        if not isinstance(self.order, (int, np.integer)) or not 0 <= self.order < self.window:
            raise ValueError(f"SmoothedFiniteDifference: order must be an integer in [0, window); got {self.order!r}")

    def smoothing_matrix(self) -> np.ndarray:
        """Returns S (window, window): S @ x[window] is the polynomial fit evaluated at every sample of the window."""
        half = self.window // 2
        V = np.vander(np.arange(-half, half + 1, dtype=float), self.order + 1, increasing=True)
        return V @ np.linalg.pinv(V)

    def smooth(self, X):
        """Returns the smoothed samples of X (N, n) (Savitzky–Golay: a local polynomial fit), same shape as X."""
        X = check_data(X)
        if X.shape[0] < self.window:
            raise ValueError(f"X: SmoothedFiniteDifference(window={self.window}) needs at least {self.window} "
                             f"samples; got {X.shape[0]}")
        return _savgol(X, jnp.asarray(self.smoothing_matrix(), X.dtype))

    def __call__(self, X, t):
        X = check_data(X)
        t = check_times(t, X.shape[0], minimum=3, uniform=True)
        return _three_point(self.smooth(X), t)


@jax.jit
def _savgol(X, S):
    w = S.shape[0]
    half = w // 2
    centre = S[half]
    windows = jnp.stack([X[i:X.shape[0] - w + 1 + i] for i in range(w)])   # (w, N - w + 1, n)
    interior = jnp.tensordot(centre, windows, axes=1)
    return jnp.concatenate([S[:half] @ X[:w], interior, S[half + 1:] @ X[-w:]])


def derivatives_from(f, X, t, p=None):
    """Exact derivatives f(u, p, t) at every sample: returns an (N, n) array from X (N, n) and t (N,) (or a
    spacing dt, taking t = 0, dt, 2 dt, ...). f is any pure JAX right-hand side, e.g. a trained UDE's network
    term; p its parameters.
    """
    if not callable(f):
        raise TypeError(f"f must be callable as f(u, p, t); got {type(f).__name__}")
    X = check_data(X)
    t = check_times(t, X.shape[0], minimum=1)
    out = jax.vmap(lambda u, s: jnp.asarray(f(u, p, s)))(X, t)
    if out.shape != X.shape:
        raise ValueError(f"f: f(u, p, t) must return an array shaped like u ({X.shape[1]},); got "
                         f"{out.shape[1:]}")
    return out
