"""`JointMAP`: the fixed effects (network weights included) and every subject's η fitted together as one mode,

    J(θ, η₁…η_N) = Σ_i l_i(η_i; θ) + N·log det Ω + Σ precision·u²,

l_i being the subject's conditional objective with interaction (`approx.conditional_objective`: Σ_j r²/R + log R,
Beal's M3 terms for censored values, + ηᵀΩ⁻¹η), i.e. −2 log p(y, η | θ) without constants plus the prior penalty
of network weights. No inner optimisation, no Laplace determinant: one smooth objective in P + N·q unknowns,
minimised by pysciml's staged driver (`optim.minimize`; by default L-BFGS with 50 correction pairs, run until a
line search finds no further decrease, i.e. to the round-off floor), all subjects vmapped in one compiled
program. The joint Hessian is far from the identity (a network's hidden units against the typical values: its
eigenvalues spanned 0.3 to 4.5e5 in the tests' model), so a first-order method alone (Adam) would take very many
steps; an ``Adam(...)`` stage before L-BFGS helps only for a start far from any minimum. This is DeepPumas's JointMAP and the fast route for networks with many weights; its estimates are a
good start for FOCE(I) (``fit(model, pop, FOCEI(), init=jm.params)``).

Ω is held fixed (at ``init`` or its domain's initial value): the joint mode in Ω is degenerate (Ω → 0 with all
η → 0 sends N·log det Ω, hence J, to −∞), as it is for every joint-mode (h-likelihood) fit of variance
components. The residual error parameters and all other fixed effects are estimated; ``fix=`` holds more.

Models whose dynamics differentiate only in forward mode (ODE) get their gradient per subject by forward
tangents in (u, η_i) (P + q of them), assembled into the reverse-mode gradient the driver asks for
(`jax.custom_vjp`).
"""
import time
import warnings
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from ..optim import LBFGS, Adam
from ..optim.driver import Objective as DriverObjective, minimize
from .approx import FOCEI, Method, conditional_objective


class JointMAP(Method):
    """``JointMAP(optimizers=(LBFGS(5000, memory=50),), fix=(), ofv=None, progress=False, gtol=1e-4)``.

    ``optimizers``: the `pysciml.optim` stages run in order on (free coordinates, η). ``fix``: names of fixed
    effects held at their initial values besides Ω (always held, see the module docstring). ``ofv``: a method
    (`FOCE`, `FOCEI`, `Laplace`, ...) whose objective, EBEs and standard errors are reported at the JointMAP
    estimates (one more compilation; Ω is not re-estimated, so this is that method's objective at the JointMAP
    point, not at its own optimum); None reports none (``ofv``, ``se``: NaN) and the joint modes as η. ``gtol``: the
    fit counts as converged when the largest entry of J's gradient in the estimated coordinates and η is below it
    (J is −2 log density: 1e-4 is far below its statistical resolution)."""
    name = "JointMAP"
    interaction = True
    joint = True

    def __init__(self, optimizers=None, fix=(), ofv=None, progress=False, gtol=1e-4):
        self.optimizers = (LBFGS(5000, memory=50),) if optimizers is None else (
            tuple(optimizers) if isinstance(optimizers, (list, tuple)) else (optimizers,))
        for stage in self.optimizers:
            if not isinstance(stage, (Adam, LBFGS)):
                raise TypeError(f"JointMAP: optimizers must be pysciml.optim Adam(...) or LBFGS(...) stages; got "
                                f"{stage!r}")
        if isinstance(fix, str):
            fix = (fix,)
        self.fix = tuple(fix)
        if ofv is not None and (not isinstance(ofv, Method) or not hasattr(ofv, "exact_hessian")
                                or getattr(ofv, "joint", False) or getattr(ofv, "stochastic", False)):
            raise TypeError(f"JointMAP: ofv must be None or FO(), FOCE(), FOCEI(), Laplace(), LaplaceI(); got {ofv!r}")
        if not (np.isscalar(gtol) and gtol > 0):
            raise ValueError(f"JointMAP: gtol must be a positive number; got {gtol!r}")
        self.ofv, self.progress, self.gtol = ofv, bool(progress), float(gtol)

    def __repr__(self):
        return f"JointMAP(optimizers={self.optimizers}, fix={self.fix}, ofv={self.ofv!r})"


def joint_objective(model, u, etas, subjects):
    """J at full free coordinates ``u`` and η (N, q): Σ_i l_i(η_i) + N·log det Ω + penalty (traced)."""
    space = model.space
    per_subject = _per_subject(model)
    if model.forward_only:
        data = _forward_sum(per_subject)(u, etas, subjects)
    else:
        data = jnp.sum(jax.vmap(per_subject, in_axes=(None, 0, 0))(u, subjects, etas))
    Omega = model.omega(space.from_free(u))
    return data + etas.shape[0] * jnp.linalg.slogdet(Omega)[1] + space.penalty(u)


def _per_subject(model):
    return lambda u, s, e: conditional_objective(model, FOCEI(), model.space.from_free(u), s)(e)


def _forward_sum(per_subject):
    """Σ_i per_subject(u, s_i, η_i) with a reverse-mode rule built from forward tangents per subject."""
    @jax.custom_vjp
    def total(u, etas, subjects):
        return jnp.sum(jax.vmap(per_subject, in_axes=(None, 0, 0))(u, subjects, etas))

    def fwd(u, etas, subjects):
        def one(s, e):
            f = lambda w, x: per_subject(w, s, x)
            value = f(u, e)
            gu, ge = jax.jacfwd(f, argnums=(0, 1))(u, e)
            return value, gu, ge
        values, gu, ge = jax.vmap(one)(subjects, etas)
        zeros = jax.tree_util.tree_map(
            lambda x: np.zeros(x.shape, jax.dtypes.float0) if not jnp.issubdtype(x.dtype, jnp.inexact)
            else jnp.zeros_like(x), subjects)
        return jnp.sum(values), (jnp.sum(gu, axis=0), ge, zeros)

    def bwd(res, ct):
        gu, ge, zeros = res
        return ct * gu, ct * ge, zeros

    total.defvjp(fwd, bwd)
    return total


@dataclass(frozen=True, eq=False)
class _JointLoss(DriverObjective):
    """J as the driver's objective: params (estimated free coordinates, η), ctx (all free coordinates, the
    estimated ones' indices, subjects). Hashed by identity, kept on the model: the driver's compiled stages are
    reused by every later fit of that model with the same shapes."""
    model: object

    def loss(self, params, ctx):
        u_est, etas = params
        u0, index, subjects = ctx
        return joint_objective(self.model, u0.at[index].set(u_est), etas, subjects), None


def fit_joint_map(model, population, method, init=None):
    """JointMAP estimation (see the module docstring); returns a `FitResult` whose ``objective`` is J at the
    estimates and ``eta`` the joint modes (or, with ``method.ofv``, that method's objective, EBEs and SEs)."""
    from .fit import FitResult, Objective, diagnostics, result
    start = time.perf_counter()
    model.check(population)
    space = model.space
    held = {model.omega_name, *method.fix}
    for n in method.fix:
        if n not in space.domains:
            raise ValueError(f"JointMAP: fix names {n!r}, which is not a fixed effect of the model ({space.names})")
    u0 = np.asarray(space.to_free(space.arrays(space.initial(init))))
    estimated = np.ones(space.size, bool)
    for n in held:
        estimated[space.slices[n]] = False
    index = np.flatnonzero(estimated)
    N, q = len(population), model.n_eta
    cache = model.__dict__.setdefault("_compiled", {})
    if "jointmap" not in cache:
        loss = _JointLoss(model)
        grad = jax.jit(jax.value_and_grad(lambda p, c: loss.loss(p, c)[0]))
        cache["jointmap"] = (loss, grad)
    loss, value_and_grad = cache["jointmap"]
    ctx = (jnp.asarray(u0), jnp.asarray(index), population.subjects)
    params = (jnp.asarray(u0[index]), jnp.zeros((N, q)))
    run = minimize(loss, params, method.optimizers, ctx=ctx, progress=method.progress)
    u_est, etas = run.best_params
    u = u0.copy()
    u[index] = np.asarray(u_est)
    value, (g_u, g_eta) = value_and_grad((jnp.asarray(u[index]), etas), ctx)
    g = np.concatenate([np.ravel(np.asarray(g_u)), np.ravel(np.asarray(g_eta))])
    # gradient of J (≈ 2·log-density units) small against the scale of J's curvature: |g|∞ below gtol
    converged = bool(np.isfinite(float(value)) and np.max(np.abs(g)) < method.gtol)
    note = None if converged else (f"the joint optimisation stopped with |gradient| {np.max(np.abs(g)):.2e} after "
                                   f"{run.iterations} iterations ({'; '.join(s['reason'] for s in run.stages)}); "
                                   "give more steps or another stage")
    if method.ofv is not None:
        obj = Objective(model, population, method.ofv)
        fit = result(obj, u, etas, "JointMAP", converged, note, True, run.iterations, start, stacklevel=4)
        fit.objective = float(value)
        return fit
    if note:
        warnings.warn(f"fit (JointMAP): {note}", RuntimeWarning, stacklevel=3)
    theta = space.from_free(jnp.asarray(u))
    estimates = np.asarray(space.natural_vector(theta))
    eta = np.asarray(etas)
    omega = np.asarray(model.omega(theta))
    shrink = 100.0 * (1.0 - np.std(eta, axis=0, ddof=1) / np.sqrt(np.diagonal(omega)))
    nan = np.full(estimates.shape, np.nan)
    n_obs = population.total_obs - population.n_censored
    return FitResult("JointMAP", np.nan, np.nan, jax.tree_util.tree_map(np.asarray, theta), space.entry_names(),
                     estimates, nan, nan, nan, eta, shrink, converged, note or "converged", n_obs, run.iterations,
                     time.perf_counter() - start, diagnostics(model, population, theta, etas),
                     objective=float(value), penalty=float(space.penalty(u)))
