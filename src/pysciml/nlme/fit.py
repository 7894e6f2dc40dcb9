"""`fit`: population estimation by FO, FOCE, FOCEI, Laplace or LaplaceI, and its result.

The objective of the whole population (one compiled program: the per-subject objectives vmapped over
subjects, the EBE search inside) and its exact gradient go to a quasi-Newton outer optimiser (scipy's BFGS)
on the free coordinates of the fixed effects, so bounds always hold. The EBEs of one evaluation are the
starting point of the next. The fit ends with Newton steps on the Hessian of the objective (central
differences of the exact gradient; NONMEM differentiates numerically too), which also gives the standard
errors: covariance 2·H⁻¹ (NONMEM's R matrix) or the sandwich R⁻¹SR⁻¹.

The objective value is NONMEM's: −2 log-likelihood without the constant n_obs·log(2π)
(`FitResult.ofv_with_constant` adds it back, i.e. the true −2LL).

Network weights (`NetworkWeights`, DeepNLME) are fixed effects like any other: their gradient comes from the
same reverse pass (or forward tangents for ODE dynamics) and the same implicit differentiation of the EBEs. What
is minimised is then OFV + the weights' prior penalty (`FitResult.objective`; `FitResult.ofv` stays −2LL).
Nothing forms a matrix in all free coordinates: the outer optimiser is scipy's L-BFGS-B (limited memory: a few
correction pairs, O(P) per iteration) instead of BFGS (a dense P×P inverse Hessian), there is no Newton polish,
and the standard errors come from the Hessian block of the other fixed effects only (differenced in those
coordinates, the weights held at their estimates: conditional on the weights, so smaller than marginal ones);
the weights get none (NaN).
"""
import time
import warnings
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np
import scipy.optimize

from .approx import FO, Method, subject_ofv
from .data import Population
from .model import Model

LOG_2PI = float(np.log(2.0 * np.pi))


def _check(model, population, method):
    if not isinstance(model, Model):
        raise TypeError(f"fit: model must be an nlme.Model; got {type(model).__name__}")
    if not isinstance(population, Population):
        raise TypeError(f"fit: population must be an nlme.Population; got {type(population).__name__}")
    if isinstance(method, type) and issubclass(method, Method):
        method = method()
    if not isinstance(method, Method):
        raise TypeError(f"fit: method must be nlme.FO(), FOCE(), FOCEI(), Laplace(), LaplaceI(), SAEM() or "
                        f"JointMAP(); got {method!r}")
    if population.n_censored and not method.conditional:
        raise ValueError(f"fit: the population has {population.n_censored} censored observation(s) (BLQ/CENS), whose "
                         "M3 likelihood needs a conditional method (FOCE, FOCEI, Laplace, LaplaceI); FO has none. "
                         "Use population.drop_censored() for M1")
    return method


def over_subjects(model, f):
    """f mapped over the leading axis of its arguments (the subjects): vmapped for closed-form models, a
    sequential `lax.map` for ODE models. An ODE solve is a while loop; batched by vmap, every carry and branch of
    its (and the EBE search's) loops becomes a select on the batch, which about doubled the compile time of an
    ODE model's objective (issue 16), while on a CPU core the subjects' solves run no faster side by side."""
    if model.forward_only:
        return lambda *args: jax.lax.map(lambda a: f(*a), args)
    return jax.vmap(f)


def _compiled(model, method):
    """value_and_grad of the population objective for (model, method), compiled once per model and method and
    reused for every population of the same padded shape (the data are arguments, not constants).

    The free parameters come as one row per subject, U (N, P), each subject reading its own row: the gradient
    with respect to U then holds every subject's own gradient (for the sandwich estimator) and its column sums
    are the population gradient, from one reverse pass."""
    cache = model.__dict__.setdefault("_compiled", {})
    if method.name not in cache:
        space = model.space

        def total(U, etas, subjects):
            thetas = jax.vmap(space.from_free)(U)
            ofv_i, eta_hat, conv = over_subjects(model, lambda th, s, e: subject_ofv(model, method, th, s, e))(
                thetas, subjects, etas)
            return jnp.sum(ofv_i), (eta_hat, conv, ofv_i)

        def total_forward(U, etas, subjects):
            # forward mode (ODE dynamics): each subject's gradient by one tangent per free parameter
            def one(u, s, e):
                def f(w):
                    v, eta_hat, conv = subject_ofv(model, method, space.from_free(w), s, e)
                    return v, (v, eta_hat, conv)
                return jax.jacfwd(f, has_aux=True)(u)
            G, (ofv_i, eta_hat, conv) = over_subjects(model, one)(U, subjects, etas)
            return (jnp.sum(ofv_i), (eta_hat, conv, ofv_i)), G
        cache[method.name] = jax.jit(total_forward if model.forward_only else
                                     jax.value_and_grad(total, has_aux=True))
        cache[method.name + "/value"] = jax.jit(total)
    return cache[method.name]


class Objective:
    """The compiled population objective of (model, population, method); ``obj(params)`` evaluates it at
    natural parameter values (a dict; missing names take the model's initial values), like NONMEM's
    ``$EST MAXEVAL=0``. ``obj.evaluate(u, etas)`` -> (value, population gradient, per-subject gradients,
    EBEs, converged flags, per-subject values) at free coordinates ``u``."""

    def __init__(self, model, population, method):
        self.method = _check(model, population, method)
        model.check(population)
        self.model, self.population = model, population
        self._vg = _compiled(model, self.method)
        self.zero_etas = jnp.zeros((len(population), model.n_eta))

    def free(self, params=None):
        """The free coordinates of the natural values ``params`` (a dict; missing names take the model's
        initial values): returns the optimiser's vector."""
        space = self.model.space
        return space.to_free(space.arrays(space.initial(params)))

    def evaluate(self, u, etas):
        """The minimised objective (OFV plus the priors' penalty of network weights, `ParameterSpace.penalty`)
        and its gradient; the per-subject gradients and values are those of the OFV alone. ``u``: the free
        coordinates of the fixed effects; ``etas``: (N, q) starting points of the subjects' EBE searches (e.g. the
        previous evaluation's η̂). Returns (value, population gradient in ``u``, per-subject gradients (N, P),
        η̂ (N, q), per-subject converged flags, per-subject OFVs)."""
        space = self.model.space
        U = jnp.broadcast_to(jnp.asarray(u), (len(self.population), space.size))
        (value, (eta_hat, conv, ofv_i)), G = self._vg(U, etas, self.population.subjects)
        G = np.asarray(G)
        u = np.asarray(u, float)
        return (float(value) + float(space.penalty(u)), G.sum(axis=0) + 2.0 * space.precision * u, G, eta_hat,
                np.asarray(conv), np.asarray(ofv_i))

    def __call__(self, params=None, etas=None):
        """The objective value only (compiles no gradient: also for models whose dynamics do not support
        reverse-mode derivatives): the OFV plus the penalty of network weights' priors (0 without them)."""
        value = self.model._compiled[self.method.name + "/value"]
        u = self.free(params)
        U = jnp.broadcast_to(u, (len(self.population), self.model.space.size))
        return float(value(U, self.zero_etas if etas is None else etas, self.population.subjects)[0]) + float(
            self.model.space.penalty(np.asarray(u)))

    def hessian(self, u, etas, step=1e-4, coords=None):
        """Hessian in the free coordinates (only those indexed by ``coords``, the others held) by central
        differences of the exact gradient (symmetrised), at ``u`` with the EBE searches started from ``etas``;
        ``step``: the relative difference step (h = step·max(1, |u_j|)). Returns the (len(coords), len(coords))
        matrix."""
        u = np.asarray(u, float)
        coords = np.arange(u.size) if coords is None else np.asarray(coords)
        H = np.empty((coords.size, coords.size))
        for k, j in enumerate(coords):
            h = step * max(1.0, abs(u[j]))
            e = np.zeros(u.size); e[j] = h
            H[:, k] = (self.evaluate(u + e, etas)[1][coords] - self.evaluate(u - e, etas)[1][coords]) / (2 * h)
        return 0.5 * (H + H.T)


@dataclass
class FitResult:
    """Estimates and diagnostics of a fit (see `fit`).

    ``method``: the method's name; ``ofv``: −2 log-likelihood without the n·log 2π constant (NONMEM's OFV);
    ``ofv_with_constant``: with it; ``params``: the natural values (Ω as a matrix); ``names``: the names of the
    reported entries; ``estimates``: those entries (θ, variances/covariances of Ω, error parameters); ``se``:
    their standard errors from 2·H⁻¹ (NONMEM's $COV MATRIX=R); ``se_sandwich``: from R⁻¹SR⁻¹; ``rse``:
    100·se/|estimate|; ``eta``: the EBEs (N, q); ``shrinkage``: 1 − sd(η̂)/ω per η, in %; ``converged``,
    ``message``: whether the fit converged and why not; ``n_obs``: observations used; ``n_evaluations``:
    objective evaluations; ``time_s``: wall time; ``tables``: PRED, IPRED, IWRES, WRES/CWRES (N, M) and the
    mask (see `diagnostics`); ``objective``: the minimised value, ofv + penalty (JointMAP: its joint
    objective); ``penalty``: Σ w²/prior_sd² of network weights (`NetworkWeights`) at the estimates."""
    method: str
    ofv: float
    ofv_with_constant: float
    params: dict                    # natural values (Ω as a matrix)
    names: list                     # names of the reported entries
    estimates: np.ndarray           # reported entries (θ, the variances/covariances of Ω, error parameters)
    se: np.ndarray                  # from 2·H⁻¹ (NONMEM's $COV MATRIX=R)
    se_sandwich: np.ndarray         # R⁻¹SR⁻¹
    rse: np.ndarray                 # 100·se/|estimate|
    eta: np.ndarray                 # EBEs (N, q)
    shrinkage: np.ndarray           # 1 − sd(η̂)/ω, per η (in %)
    converged: bool
    message: str
    n_obs: int
    n_evaluations: int
    time_s: float
    tables: dict = field(repr=False, default_factory=dict)   # PRED, IPRED, IWRES, WRES/CWRES (N, M), mask
    objective: float = np.nan       # the minimised value: ofv + penalty (JointMAP: its joint objective)
    penalty: float = 0.0            # Σ w²/prior_sd² of network weights (NetworkWeights) at the estimates

    def summary(self):
        """A printable report: returns a string with the OFV, convergence, and one line per estimate (estimate,
        SE, RSE %, sandwich SE; network weights summarised), then the η shrinkages."""
        lines = [f"{self.method}: OFV {self.ofv:.4f} (−2LL without n·log2π; with it {self.ofv_with_constant:.4f}), "
                 f"{self.n_obs} observations, converged={self.converged}, {self.n_evaluations} evaluations, "
                 f"{self.time_s:.2f} s" + (f"; minimised objective {self.objective:.4f} (penalty {self.penalty:.4g})"
                                           if self.penalty or self.method == "JointMAP" else ""),
                 f"{'parameter':<18}{'estimate':>12}{'SE':>12}{'RSE%':>9}{'SE(sandwich)':>14}"]
        weights = {}
        for n, e, s, r, w in zip(self.names, self.estimates, self.se, self.rse, self.se_sandwich):
            base = n.split("[")[0]
            if isinstance(self.params.get(base), (tuple, list, dict)):     # a network's weights: one line
                weights[base] = weights.get(base, 0) + 1
                continue
            lines.append(f"{n:<18}{e:>12.5g}{s:>12.4g}{r:>9.2f}{w:>14.4g}")
        for base, count in weights.items():
            lines.append(f"{base:<18}{count} network weights (prior penalty {self.penalty:.4g})")
        lines.append("η shrinkage (%): " + ", ".join(f"{s:.2f}" for s in self.shrinkage))
        return "\n".join(lines)


def fit(model, population, method, init=None, *, maxiter=500, gtol=1e-6, se=True, verbose=False, log=None,
        resume=None):
    """Estimate the fixed effects of ``model`` on ``population`` by ``method`` (`FO`, `FOCE`, `FOCEI`,
    `Laplace`, `LaplaceI`, `SAEM`, `JointMAP`), starting from the domains' initial values overridden by ``init`` (dict of
    natural values). Returns a `FitResult`; warns (naming the subjects) when an EBE search does not converge or
    the Hessian is not positive definite.

    ``verbose``: one progress line per objective evaluation (OFV, largest gradient entry, elapsed time).
    ``log``: a file to which every evaluation is appended (evaluation number, OFV, free coordinates), flushed
    as it goes, so a long fit that is interrupted loses nothing; ``resume``: such a file, whose best point
    (lowest OFV) is the starting point instead of ``init``. ``maxiter``, ``gtol``: the outer quasi-Newton
    optimiser's iteration limit and gradient tolerance (scipy's BFGS, or L-BFGS-B with network weights); ``se``:
    whether to compute standard errors (the Hessian by differences of the gradient; False skips that cost)."""
    start = time.perf_counter()
    if getattr(method, "stochastic", False) or (isinstance(method, type) and getattr(method, "stochastic", False)):
        from .saem import fit_saem
        return fit_saem(model, population, _check(model, population, method), init)
    if getattr(method, "joint", False):
        from .jointmap import fit_joint_map
        return fit_joint_map(model, population, _check(model, population, method), init)
    obj = Objective(model, population, method)
    method = obj.method
    space = model.space
    free = np.asarray(obj.free(init))
    if resume is not None:
        free = _best_logged(resume, free.size)
    state = {"etas": obj.zero_etas, "n": 0}
    sink = open(log, "a") if log is not None else None
    value0 = obj.evaluate(free, state["etas"])[0]
    if not np.isfinite(value0):
        raise ValueError(f"fit: the objective is not finite at the initial estimates ({value0}); check the "
                         "initial values, the dosing and that predictions are positive for proportional/log errors")

    def fun(u):
        v, g, _, eta_hat, _, _ = obj.evaluate(u, state["etas"])
        state["n"] += 1
        if np.isfinite(v) and np.all(np.isfinite(g)):
            state["etas"] = eta_hat
        else:
            return 1e30, np.zeros_like(u)
        if verbose:
            print(f"{state['n']:5d}  OFV {v:.6f}  |g| {np.max(np.abs(g)):.2e}  {time.perf_counter() - start:8.1f} s",
                  flush=True)
        if sink is not None:
            sink.write(" ".join([str(state["n"]), repr(float(v))] + [repr(float(x)) for x in u]) + "\n")
            sink.flush()
        return v, g

    if space.has_network:
        # limited memory (20 correction pairs): no P×P matrix for many weights; ftol off so that only the
        # gradient or maxiter ends it
        res = scipy.optimize.minimize(fun, free, jac=True, method="L-BFGS-B",
                                      options={"maxiter": maxiter, "gtol": gtol, "ftol": 1e-15, "maxcor": 20})
    else:
        res = scipy.optimize.minimize(fun, free, jac=True, method="BFGS", options={"maxiter": maxiter,
                                                                                  "gtol": gtol})
    u = res.x
    # Newton polish on the differenced Hessian: fast local convergence from where BFGS stopped (not for network
    # weights: a dense Hessian in all of them)
    H = None
    for _ in range(0 if space.has_network else 4):
        v, g = fun(u)
        H = obj.hessian(u, state["etas"])
        try:
            step = np.linalg.solve(H, -g)
        except np.linalg.LinAlgError:
            break
        if not np.all(np.isfinite(step)) or np.max(np.abs(g)) < 1e-9:
            break
        v_new, _ = fun(u + step)
        if v_new <= v:
            u = u + step
        else:
            break
    if sink is not None:
        sink.close()
    value, grad, G_i, eta_hat, conv, ofv_i = obj.evaluate(u, state["etas"])
    converged = bool(np.max(np.abs(grad)) < 1e-3)
    note = None if converged else (f"outer optimisation stopped with |gradient| {np.max(np.abs(grad)):.2e} "
                                   f"({res.message})")
    return result(obj, u, state["etas"], method.name, converged, note, se, state["n"], start)


def _best_logged(path, size):
    """The free coordinates with the lowest OFV in a `fit` log (lines: evaluation, OFV, coordinates)."""
    best, best_v = None, np.inf
    with open(path) as fh:
        for i, line in enumerate(fh):
            parts = line.split()
            if len(parts) != size + 2:
                raise ValueError(f"fit: resume file {path}, line {i + 1}: expected {size + 2} numbers (evaluation, "
                                 f"OFV and {size} free coordinates of this model); got {len(parts)}")
            v = float(parts[1])
            if np.isfinite(v) and v < best_v:
                best, best_v = np.array([float(x) for x in parts[2:]]), v
    if best is None:
        raise ValueError(f"fit: resume file {path} holds no finite evaluation")
    return best


def result(obj, u, etas, name, converged, note, se, n_evaluations, start, stacklevel=3):
    """The `FitResult` at free coordinates ``u``: the objective of ``obj`` there, its EBEs, standard errors from
    its Hessian (and sandwich), shrinkage and diagnostic tables; ``note`` (or EBE failures) become warnings."""
    model, population, method, space = obj.model, obj.population, obj.method, obj.model.space
    value, grad, G_i, eta_hat, conv, ofv_i = obj.evaluate(u, etas)
    theta = space.from_free(jnp.asarray(u))
    estimates = np.asarray(space.natural_vector(theta))
    names = space.entry_names()
    messages = []
    bad = [population.ids[i] for i in np.flatnonzero(~np.asarray(conv))]
    if bad:
        messages.append(f"EBE search did not converge for subject(s) {bad}")
    converged = converged and not bad
    if note and not bad:
        messages.append(note)
    se_r = se_s = np.full(estimates.shape, np.nan)
    # network weights: the Hessian block of the other free coordinates only (conditional on the weights)
    coords = np.flatnonzero(~space.network)
    if se and coords.size:
        H = obj.hessian(u, eta_hat, coords=coords)
        J = np.asarray(jax.jacfwd(lambda w: space.natural_vector(space.from_free(w)))(jnp.asarray(u)))[:, coords]
        G_i = G_i[:, coords]
        try:
            if np.any(np.linalg.eigvalsh(0.5 * (H + H.T)) <= 0):
                raise np.linalg.LinAlgError
            Rinv = np.linalg.inv(0.5 * H)          # −log L = OFV/2: R = H/2
            cov_r = J @ Rinv @ J.T
            g_i = 0.5 * G_i                        # (N, P): ∇(−log L_i)
            cov_s = J @ (Rinv @ (g_i.T @ g_i) @ Rinv) @ J.T
            se_r, se_s = np.sqrt(np.diag(cov_r)), np.sqrt(np.diag(cov_s))
            weights = np.concatenate([np.full(np.size(space.domains[n].natural_entries(theta[n])),
                                              space.domains[n].network) for n in space.names])
            se_r, se_s = np.where(weights, np.nan, se_r), np.where(weights, np.nan, se_s)
        except np.linalg.LinAlgError:
            messages.append("the Hessian of the objective is not positive definite: no standard errors")
    for m in messages:
        warnings.warn(f"fit ({name}): {m}", RuntimeWarning, stacklevel=stacklevel)
    omega = np.asarray(model.omega(theta))
    eta = np.asarray(eta_hat)
    shrink = 100.0 * (1.0 - np.std(eta, axis=0, ddof=1) / np.sqrt(np.diagonal(omega))) if method.conditional \
        else np.full(model.n_eta, np.nan)
    tables = diagnostics(model, population, theta, eta_hat)
    n_obs = population.total_obs - population.n_censored     # censored terms are probabilities: no log 2π
    penalty = float(space.penalty(np.asarray(u, float)))
    ofv = value - penalty
    return FitResult(name, ofv, ofv + n_obs * LOG_2PI, jax.tree_util.tree_map(np.asarray, theta),
                     names, estimates, se_r, se_s, 100.0 * se_r / np.abs(estimates), eta, shrink, converged,
                     "; ".join(messages) or "converged", n_obs, n_evaluations, time.perf_counter() - start, tables,
                     objective=value, penalty=penalty)


def diagnostics(model, population, theta, etas):
    """PRED, IPRED, IWRES, WRES (FO linearisation at η = 0) and CWRES (linearisation at η̂), each (N, M);
    censored observations (CENS ≠ 0) have PRED and IPRED but no residuals (NaN), and are left out of the others'
    linearised covariance.
    (The weighted residuals use the Cholesky factor of the linearised covariance; NONMEM's default is its
    symmetric eigenvalue square root, which rotates the residuals within a subject.)

    ``model``, ``population``: as in `fit`; ``theta``: the fixed effects (dict of natural values as arrays);
    ``etas``: the EBEs (N, q). Returns a dict of NumPy arrays: PRED, IPRED, IWRES, WRES, CWRES, the
    observation mask, CENS, TIME and DV (each (N, M))."""
    cache = model.__dict__.setdefault("_compiled", {})
    if "diagnostics" not in cache:
        cache["diagnostics"] = jax.jit(lambda th, subjects, etas: over_subjects(
            model, lambda s, e: _diagnostics_one(model, th, s, e))(subjects, etas))
    pred, ipred, iwres, wres, cwres = cache["diagnostics"](theta, population.subjects, jnp.asarray(etas))
    return {"PRED": np.asarray(pred), "IPRED": np.asarray(ipred), "IWRES": np.asarray(iwres),
            "WRES": np.asarray(wres), "CWRES": np.asarray(cwres), "mask": np.asarray(population.subjects.obs_mask),
            "CENS": np.asarray(population.subjects.cens * population.subjects.obs_mask),
            "TIME": np.asarray(population.subjects.obs_time), "DV": np.asarray(population.subjects.dv)}


def _diagnostics_one(model, theta, subject, eta_hat):
    censored = (subject.obs_mask > 0) & (subject.cens != 0)
    mask = subject.obs_mask * (1.0 - censored)
    y = model.error.transform(jnp.where(mask > 0, subject.dv, 1.0))
    Omega = model.omega(theta)
    zero = jnp.zeros_like(eta_hat)

    def at(e):
        # the transformed predictions (every observation: censored ones have PRED and IPRED too), their
        # η-Jacobian and the residual variances, from one differentiated prediction (one solve for ODE models)
        def transformed(e_):
            f = model.predict(theta, e_, subject)
            ft = model.error.transform(jnp.where(subject.obs_mask > 0, f, 1.0))
            return ft, (ft, f)
        G, (ft, f) = jax.jacfwd(transformed, has_aux=True)(e)
        return ft, jnp.where(mask[:, None] > 0, G, 0.0), jnp.where(mask > 0, model.error.variance(theta, f), 1.0)

    # both points through one trace (batched), instead of a solve per quantity
    ft, G, R = jax.vmap(at)(jnp.stack([zero, eta_hat]))

    def weighted(k, e, shift):
        V = G[k] @ Omega @ G[k].T + jnp.diag(R[k])
        L = jnp.linalg.cholesky(V)
        r = jnp.where(mask > 0, y - ft[k] + (G[k] @ e if shift else 0.0), 0.0)   # (where: no NaN from padding)
        return jax.scipy.linalg.solve_triangular(L, r, lower=True) * mask

    iwres = jnp.where(mask > 0, (y - ft[1]) / jnp.sqrt(R[1]), 0.0)
    nan = lambda x: jnp.where(censored, jnp.nan, x)
    return ft[0], ft[1], nan(iwres), nan(weighted(0, zero, False)), nan(weighted(1, eta_hat, True))
