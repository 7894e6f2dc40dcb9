"""`refit`: the coefficients of a SINDy model's active terms fitted to the data through the ODE solve.

Sparse regression chooses the terms from derivative estimates (or a trained network's output), which carry
their own errors; the coefficients it returns inherit them, and a small coefficient error becomes a phase
error that grows along an extrapolated trajectory. The last step of the UDE workflow (Rackauckas et al.,
"Universal Differential Equations for Scientific Machine Learning", 2020, §2.1) therefore fits the
coefficients again, keeping the sparsity, by minimizing the misfit of the model's own trajectory to the
data: a small nonlinear least-squares problem (Levenberg–Marquardt, Jacobian by forward mode through
`solve`).

The sparsity pattern enters the compiled program as data (a mask on the full Ξ; a fixed coefficient has a
zero Jacobian column, so the damped step never moves it), so every candidate of a λ sweep is refitted by
one vmapped program, and later refits with the same library, right-hand side and data shapes reuse it.
"""
import dataclasses
import functools
import math
import warnings
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..optim import LevenbergMarquardt, least_squares
from ..problems import ODEProblem
from ..solve import solve
from ._checks import check_data
from .sweep import LambdaSweep, information_criteria


class Refit(NamedTuple):
    model: Any            # the SINDy model with the refitted coefficients (same active terms)
    u0: jax.Array         # the initial state used (fitted when fit_u0=True)
    loss: float           # mean squared misfit of the refitted trajectory to the data (inf if it fails)
    initial_loss: float   # the same for the coefficients given
    iterations: int       # Levenberg–Marquardt iterations
    converged: bool       # a tolerance of the optimizer was met
    aic: float            # information criteria of the trajectory fit (as `sindy.information_criteria`,
    aicc: float           # m = X.size residuals, k = active terms, plus n when u0 is fitted)
    bic: float


def refit(model, t, X, *, known=None, u0=None, fit_u0=False, alg=None, rtol=1e-8, atol=1e-8, max_steps=10_000,
          optimizer=LevenbergMarquardt(100)):
    """Refit the active (nonzero) coefficients of the fitted SINDy ``model`` to the samples ``X`` (N, n) at
    times ``t`` (N,) through the ODE solve; returns a `Refit`. Given a `LambdaSweep`, refits every candidate
    (one vmapped program) and returns a tuple of `Refit`, one per row: choose among them by ``bic``.

    The model's trajectory u' = known(u, None, t) + Ξ Θ(u) from ``u0`` (default X[0]) at t[0] is compared with
    X at every time; only the coefficients that are nonzero in ``model`` are free, the others stay zero.
    ``fit_u0=True`` fits the initial state as well (the noise of X[0] otherwise biases the coefficients).
    ``alg`` (default Tsit5), ``rtol``, ``atol``, ``max_steps``: the solve; ``optimizer``: a
    `pysciml.optim.LevenbergMarquardt` stage. A single model's refit warns when the optimizer stops without
    meeting a tolerance.
    """
    from ..solvers import Tsit5

    sweep = isinstance(model, LambdaSweep)
    base = model.best if sweep else model
    coefficients = jnp.asarray(model.coefficients if sweep else base._fitted())
    batch = coefficients if sweep else coefficients[None]
    n = batch.shape[1]
    X = check_data(X)
    if X.shape[1] != n:
        raise ValueError(f"X must have one column per state of the model ({n}); got shape {X.shape}")
    t = jnp.asarray(t, X.dtype)
    if t.shape != (X.shape[0],) or not bool(jnp.all(jnp.diff(t) > 0)):
        raise ValueError(f"t must be strictly increasing times of shape ({X.shape[0]},), one per row of X; got "
                         f"shape {t.shape}")
    if known is not None and not callable(known):
        raise TypeError(f"known must be callable as known(u, p, t) or None; got {type(known).__name__}")
    if not isinstance(optimizer, LevenbergMarquardt):
        raise TypeError(f"optimizer must be a pysciml.optim.LevenbergMarquardt(...); got {optimizer!r}")
    u0 = X[0] if u0 is None else jnp.asarray(u0, X.dtype)
    if u0.shape != (n,):
        raise ValueError(f"u0 must have shape ({n},); got {u0.shape}")
    masks = batch != 0
    if not sweep and not bool(jnp.any(masks)):
        raise ValueError("model has no active term to refit (all coefficients are zero)")

    run = _program(base.library, known, Tsit5() if alg is None else alg, rtol, atol, max_steps, optimizer,
                   bool(fit_u0))
    state, initial = run(batch, masks, u0, t, X)
    state, initial = jax.tree_util.tree_map(np.asarray, state), np.asarray(initial)
    m = X.size
    out = []
    for i in range(batch.shape[0]):
        xi, start = _unpack(state.x[i], masks[i], u0, fit_u0)
        loss = 2.0 * float(state.cost[i]) / m
        k = int(masks[i].sum()) + (n if fit_u0 else 0)
        aic, aicc, bic = (float(c) for c in information_criteria(loss * m, k, m)) if math.isfinite(loss) else \
            (math.inf,) * 3
        fitted = dataclasses.replace(base, coefficients=xi)
        out.append(Refit(fitted, start, loss, float(initial[i]), int(state.k[i]), bool(state.converged[i]),
                         aic, aicc, bic))
    if not sweep and not out[0].converged:
        warnings.warn(f"sindy.refit: Levenberg–Marquardt stopped after {out[0].iterations} iterations without "
                      f"meeting its tolerances (loss {out[0].initial_loss:.3e} -> {out[0].loss:.3e}); raise "
                      "optimizer.steps, or check the model's trajectory (a failed solve gives an infinite loss)",
                      RuntimeWarning, stacklevel=2)
    return tuple(out) if sweep else out[0]


def _unpack(v, mask, u0, fit_u0):
    size = mask.size
    xi = jnp.where(mask, jnp.reshape(v[:size], mask.shape), 0.0)
    return xi, (v[size:] if fit_u0 else u0)


def _program(library, known, alg, rtol, atol, max_steps, optimizer, fit_u0):
    try:
        return _cached_program(library, known, alg, rtol, atol, max_steps, optimizer, fit_u0)
    except TypeError:               # something unhashable: compile without caching
        return _cached_program.__wrapped__(library, known, alg, rtol, atol, max_steps, optimizer, fit_u0)


@functools.lru_cache(maxsize=8)
def _cached_program(library, known, alg, rtol, atol, max_steps, optimizer, fit_u0):
    """jit(vmap(one refit)) over (coefficients, masks); u0, t and X shared."""
    def rhs(u, xi, s):
        out = xi @ library.features(u)
        return out if known is None else known(u, None, s) + out

    def one(coefficients, mask, u0, t, X):
        def residual(v):
            xi, start = _unpack(v, mask, u0, fit_u0)
            prob = ODEProblem(rhs, start, (t[0], t[-1]), xi)
            return jnp.ravel(solve(prob, alg, rtol=rtol, atol=atol, saveat=t, max_steps=max_steps).u - X)

        v0 = jnp.concatenate([jnp.ravel(coefficients), u0 if fit_u0 else jnp.zeros(0, X.dtype)])
        first = residual(v0)
        return least_squares(residual, v0, optimizer), jnp.mean(first * first)

    return jax.jit(jax.vmap(one, in_axes=(0, 0, None, None, None)))
