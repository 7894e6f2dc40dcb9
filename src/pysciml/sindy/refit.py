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

`forward` chooses the terms on the trajectory as well: forward selection, each round refitting every model
with one more term and keeping the one with the lowest information criterion. Where the models proposed by
sparse regression on derivative estimates (or on a network's output) hold spurious terms at every λ, the
trajectory's likelihood still tells the terms apart. (Backward elimination from all the terms fares worse
here: on a short record the full model is nearly unidentifiable, and it drops true terms early.)
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
from .sweep import LambdaSweep, extended_bic, information_criteria


class Refit(NamedTuple):
    """The result of `refit` (and each step of `forward`): model: the SINDy model with the refitted
    coefficients (same active terms); u0: the initial state used (fitted when fit_u0=True); loss: the mean
    squared misfit of the refitted trajectory to the data (inf if it fails); initial_loss: the same for the
    coefficients given; iterations: Levenberg–Marquardt iterations; converged: a tolerance of the optimizer was
    met; aic, aicc, bic: information criteria of the trajectory fit (as `information_criteria`, m = X.size
    residuals, k = active terms, plus n when u0 is fitted); ebic: extended BIC, bic + 2 log C(P, k) for k active
    among the model's P coefficients (`extended_bic`), the one to choose by after a search over terms.
    """
    model: Any            # the SINDy model with the refitted coefficients (same active terms)
    u0: jax.Array         # the initial state used (fitted when fit_u0=True)
    loss: float           # mean squared misfit of the refitted trajectory to the data (inf if it fails)
    initial_loss: float   # the same for the coefficients given
    iterations: int       # Levenberg–Marquardt iterations
    converged: bool       # a tolerance of the optimizer was met
    aic: float            # information criteria of the trajectory fit (as `sindy.information_criteria`,
    aicc: float           # m = X.size residuals, k = active terms, plus n when u0 is fitted)
    bic: float
    ebic: float           # extended BIC: bic + 2 log C(P, k) for k active among the model's P coefficients
                          # (`sindy.extended_bic`); the one to choose by after a search over terms


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
    sweep = isinstance(model, LambdaSweep)
    base = model.best if sweep else model
    batch = np.asarray(model.coefficients) if sweep else np.asarray(base._fitted())[None]
    t, X, u0 = _check(batch.shape[1], t, X, known, u0, optimizer)
    if not sweep and not batch.any():
        raise ValueError("model has no active term to refit (all coefficients are zero)")
    out = _refit_batch(base, batch, t, X, known, u0, fit_u0, (alg, rtol, atol, max_steps, optimizer))
    if not sweep and not out[0].converged:
        warnings.warn(f"sindy.refit: Levenberg–Marquardt stopped after {out[0].iterations} iterations without "
                      f"meeting its tolerances (loss {out[0].initial_loss:.3e} -> {out[0].loss:.3e}); raise "
                      "optimizer.steps, or check the model's trajectory (a failed solve gives an infinite loss)",
                      RuntimeWarning, stacklevel=2)
    return out if sweep else out[0]


def forward(model, t, X, *, criterion="bic", known=None, u0=None, fit_u0=False, alg=None, rtol=1e-8, atol=1e-8,
            max_steps=10_000, optimizer=LevenbergMarquardt(100)):
    """Forward selection through the solve among the active terms of the fitted SINDy ``model`` (the candidate
    terms: e.g. the densest model of a λ sweep), each model's trajectory compared with the samples ``X`` (N, n)
    at times ``t`` (N,); returns the path, a tuple of `Refit` with 1, 2, ... terms, each the best by
    ``criterion`` of the models one term larger than the previous one, until the criterion stops decreasing
    (the last entry is then one worse than the one before). Choose with ``min(path, key=lambda r: r.bic)``.

    ``criterion``: "aic", "aicc", "bic" or "ebic" (of the trajectory fit, see `Refit`; "ebic" charges for the
    search, see `extended_bic`). ``known(u, None, t)``: a known part of the right-hand side; ``u0`` (default
    X[0]) and ``fit_u0``; ``alg`` (default Tsit5), ``rtol``, ``atol``, ``max_steps``: the solve; ``optimizer``: a
    `pysciml.optim.LevenbergMarquardt` stage — all as for `refit`. Each round is one vmapped, compiled refit of
    every candidate, padded to a fixed batch so that one compilation serves all rounds. A new term starts from
    zero, the others from the previous round's values.
    """
    if criterion not in ("aic", "aicc", "bic", "ebic"):
        raise ValueError(f"criterion must be one of 'aic', 'aicc', 'bic', 'ebic'; got {criterion!r}")
    pool = np.asarray(model._fitted()) != 0
    t, X, u0 = _check(pool.shape[0], t, X, known, u0, optimizer)
    width = int(pool.sum())
    if width == 0:
        raise ValueError("model has no active term to choose from (all coefficients are zero)")
    solver = (alg, rtol, atol, max_steps, optimizer)
    xi, mask, start, best, path = np.zeros(pool.shape), np.zeros(pool.shape, bool), u0, math.inf, []
    while True:
        free = np.flatnonzero(pool & ~mask)
        if free.size == 0:
            break
        masks = np.repeat(mask[None], width, axis=0)
        for row, index in enumerate(free):
            masks[row].flat[index] = True
        masks[free.size:] = masks[free.size - 1]                       # padding: repeats of the last one
        fits = _refit_batch(model, np.repeat(xi[None], width, axis=0), t, X, known, start, fit_u0, solver, masks)
        chosen = min(range(free.size), key=lambda i: getattr(fits[i], criterion))
        if not math.isfinite(fits[chosen].loss):
            break
        path.append(fits[chosen])
        value = getattr(fits[chosen], criterion)
        if value >= best:
            break
        best, mask = value, masks[chosen]
        xi, start = np.asarray(fits[chosen].model.coefficients), (fits[chosen].u0 if fit_u0 else u0)
    return tuple(path)


def _check(n, t, X, known, u0, optimizer):
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
    return t, X, u0


def _refit_batch(base, batch, t, X, known, u0, fit_u0, solver, masks=None):
    """Refit every coefficient matrix of ``batch`` (k, n, p) of the model ``base``, the entries of ``masks``
    (default: the nonzero ones) free: a tuple of k `Refit`."""
    from ..solvers import Tsit5

    alg, rtol, atol, max_steps, optimizer = solver
    masks = batch != 0 if masks is None else masks
    run = _program(base.library, known, Tsit5() if alg is None else alg, rtol, atol, max_steps, optimizer,
                   bool(fit_u0))
    state, initial = run(jnp.asarray(batch), jnp.asarray(masks), u0, t, X)
    state, initial = jax.tree_util.tree_map(np.asarray, state), np.asarray(initial)
    m, n = X.size, batch.shape[1]
    out = []
    for i in range(batch.shape[0]):
        xi, start = _unpack(state.x[i], masks[i], u0, fit_u0)
        loss = 2.0 * float(state.cost[i]) / m
        k = int(masks[i].sum()) + (n if fit_u0 else 0)
        aic, aicc, bic = (float(c) for c in information_criteria(loss * m, k, m)) if math.isfinite(loss) else \
            (math.inf,) * 3
        ebic = extended_bic(bic, int(masks[i].sum()), masks[i].size) if math.isfinite(loss) else math.inf
        out.append(Refit(dataclasses.replace(base, coefficients=jnp.asarray(xi)), jnp.asarray(start), loss,
                         float(initial[i]), int(state.k[i]), bool(state.converged[i]), aic, aicc, bic, ebic))
    return tuple(out)


def _unpack(v, mask, u0, fit_u0):
    size = mask.size
    where = jnp.where if isinstance(v, jax.Array) else np.where
    xi = where(mask, v[:size].reshape(mask.shape), 0.0)
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
