"""SAEM: stochastic approximation EM with an MCMC E-step (Kuhn & Lavielle, Comput Stat Data Anal 2005, 49:1020;
Delyon, Lavielle & Moulines, Ann Stat 1999, 27:94), as in Monolix and nlmixr2.

Each iteration k
  1. E-step by simulation: a few Metropolis–Hastings sweeps per subject and chain draw its individual parameters
     φ_i from p(φ_i | y_i; θ_k): proposals from the prior N(μ, Ω), joint random walks and one-component random
     walks, the walk scales adapted towards 40% acceptance (Monolix's kernels; all vmapped over chains and
     subjects);
  2. stochastic approximation of the sufficient statistics s₁ = E φ, s₂ = E φφᵀ with step γ_k (1 during the
     n_burn exploration iterations, then 1/(k − n_burn));
  3. M-step: μ = s₁, Ω = s₂ − μμᵀ (in closed form), and the other fixed effects (residual error, fixed effects
     without η) by Newton steps maximising the likelihood of the current draws, averaged by the same γ_k.
During exploration Ω's diagonal may shrink by at most 5% an iteration (simulated annealing, as Monolix and
nlmixr2 do), which keeps the chains exploring while μ is still far off.

The closed-form M-step needs each η to be *mu-referenced*: the individual parameters depend on a fixed effect
μ_j and η_j only through μ_j + η_j (``exp(tcl + eta[1])``, ``ka + eta[0]``); the pairs are found by probing
``pre``. The iterations run as compiled chunks (a `lax.scan` each); between chunks the progress is printed and
the state is kept, so a fit can be resumed with more iterations (``SAEM(..., resume=result)``).

The reported objective is the FOCEI objective at the SAEM estimates (nlmixr2 reports "OBJF by FOCEi
approximation" too), with the EBEs, standard errors and diagnostics of that objective.
"""
import math
import time
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from .approx import Method, _pieces, data_terms
from .parameters import Real


class SAEM(Method):
    """``SAEM(n_burn=200, n_em=300, n_chains=3, kernels=(2, 2, 2), seed=0, chunk=50, verbose=False)``:
    nlmixr2's defaults (nBurn 200, nEm 300, 3 chains, 2 sweeps of each kernel). ``resume``: a previous SAEM
    `FitResult` whose final state continues for ``n_em`` more smoothing iterations. ``newton_steps``: the
    damped Newton steps per iteration of the M-step for the parameters without a sufficient statistic (error
    parameters, fixed effects not mu-referenced)."""
    name = "SAEM"
    interaction = True
    stochastic = True

    def __init__(self, n_burn=200, n_em=300, n_chains=3, kernels=(2, 2, 2), seed=0, chunk=50, verbose=False,
                 resume=None, newton_steps=4):
        for label, v in (("n_burn", n_burn), ("n_em", n_em), ("n_chains", n_chains), ("chunk", chunk)):
            if not (isinstance(v, int) and v >= (0 if label in ("n_burn", "n_em") else 1)):
                raise ValueError(f"SAEM: {label} must be a non-negative integer; got {v!r}")
        if len(kernels) != 3 or any(not isinstance(k, int) or k < 0 for k in kernels):
            raise ValueError(f"SAEM: kernels must be three non-negative integers; got {kernels!r}")
        if resume is not None and getattr(resume, "saem_state", None) is None:
            raise ValueError("SAEM: resume must be the FitResult of an SAEM fit")
        self.n_burn, self.n_em, self.n_chains, self.kernels = n_burn, n_em, n_chains, tuple(kernels)
        self.seed, self.chunk, self.verbose, self.resume, self.newton_steps = seed, chunk, verbose, resume, newton_steps

    def __repr__(self):
        return f"SAEM(n_burn={self.n_burn}, n_em={self.n_em}, n_chains={self.n_chains})"


def mu_referenced(model, population, theta0, delta=0.05):
    """For each η_j, the name of the scalar fixed effect μ_j that enters ``pre`` only as μ_j + η_j (found by
    probing: shifting μ_j by δ and η_j by −δ leaves every individual parameter unchanged, shifting μ_j alone
    does not). Raises if some η has none."""
    cov = jax.tree_util.tree_map(lambda x: x[0], population.subjects.covariates)
    rng = np.random.default_rng(0)
    eta = jnp.asarray(0.1 * rng.standard_normal(model.n_eta))
    th = model.space.arrays(theta0)
    base = model.pre(th, eta, cov)
    flat = lambda d: np.concatenate([np.ravel(np.asarray(d[k], float)) for k in sorted(d)])
    ref = flat(base)
    candidates = [n for n, d in model.space.domains.items() if isinstance(d, Real) and n != model.omega_name
                  and n not in model.error.names]
    names = []
    for j in range(model.n_eta):
        found = None
        for n in candidates:
            if n in names:
                continue
            shifted = dict(th, **{n: th[n] + delta})
            same = flat(model.pre(shifted, eta.at[j].add(-delta), cov))
            moved = flat(model.pre(shifted, eta, cov))
            if np.allclose(same, ref, rtol=1e-10, atol=1e-12) and not np.allclose(moved, ref, rtol=1e-8):
                found = n
                break
        if found is None:
            raise ValueError(f"SAEM: η[{j}] is not mu-referenced: pre must use it as (fixed effect + η[{j}]), e.g. "
                             f"exp(tcl + eta[{j}]) or th['ka'] + eta[{j}], so that the M-step has a closed form; "
                             f"fixed effects tried: {candidates}")
        names.append(found)
    return names


@dataclass
class _Layout:
    mu_names: list
    other_names: list
    diagonal: bool


def _layout(model, mu_names):
    from .parameters import DiagonalCov
    other = [n for n in model.space.names if n not in mu_names and n != model.omega_name]
    return _Layout(mu_names, other, isinstance(model.space.domains[model.omega_name], DiagonalCov))


def _assemble(model, lay, mu, Omega, w):
    """θ (natural values) from μ (q,), Ω and the free coordinates w of the other fixed effects."""
    theta = {n: mu[j] for j, n in enumerate(lay.mu_names)}
    theta[model.omega_name] = Omega
    offset = 0
    for n in lay.other_names:
        d = model.space.domains[n]
        theta[n] = d.from_free(w[offset:offset + d.size])
        offset += d.size
    return theta


def _loglik(model, theta, subject, eta):
    """log p(y_i | η) without constants (interaction: R at the individual prediction)."""
    f, ft, R, y, observed, c = _pieces(model, theta, subject)
    fe = f(eta)
    return -0.5 * jnp.sum(data_terms(y - ft(fe), R(fe), observed, c))


def _chunk_fn(model, lay, method, length):
    n1, n2, n3 = method.kernels
    q = model.n_eta
    bounds = [(model.space.domains[n].lower, model.space.domains[n].upper) for n in lay.mu_names]
    lo = jnp.asarray([b[0] for b in bounds]); hi = jnp.asarray([b[1] for b in bounds])
    forward = model.forward_only

    def loglik_all(theta, subjects, eta):          # eta (C, N, q) -> (C, N)
        per = jax.vmap(lambda s, e: _loglik(model, theta, s, e))
        return jax.vmap(lambda e: per(subjects, e))(eta)

    def mstep_objective(w, mu, Omega, subjects, eta):
        ll = loglik_all(_assemble(model, lay, mu, Omega, w), subjects, eta)
        return -2.0 * jnp.mean(jnp.sum(ll, axis=1))

    def newton(w, mu, Omega, subjects, eta):
        obj = lambda x: mstep_objective(x, mu, Omega, subjects, eta)
        grad = jax.jacfwd(obj) if forward else jax.grad(obj)

        def step(x, _):
            g, H = grad(x), jax.jacfwd(grad)(x)
            wv, V = jnp.linalg.eigh(0.5 * (H + H.T))
            wv = jnp.maximum(jnp.abs(wv), 1e-8 * jnp.maximum(jnp.max(jnp.abs(wv)), 1e-12))
            p = -V @ ((V.T @ g) / wv)
            p = p / jnp.maximum(1.0, jnp.max(jnp.abs(p)))       # at most a unit step on the free scale
            xn = x + p
            return jnp.where(jnp.isfinite(obj(xn)) & (obj(xn) <= obj(x)), xn, x), None
        return jax.lax.scan(step, w, None, length=method.newton_steps)[0] if w.size else w

    def mcmc(key, theta, subjects, eta, scale2, scale3):
        Omega = theta[model.omega_name]
        L = jnp.linalg.cholesky(Omega)
        Oinv = jnp.linalg.inv(Omega)
        sd = jnp.sqrt(jnp.diagonal(Omega))
        prior = lambda e: -0.5 * jnp.einsum("...i,ij,...j->...", e, Oinv, e)
        ll = loglik_all(theta, subjects, eta)

        def accept(key, eta, ll, proposal, log_ratio_extra):
            ll_new = loglik_all(theta, subjects, proposal)
            log_alpha = ll_new - ll + log_ratio_extra(proposal, eta)
            ok = jnp.log(jax.random.uniform(key, ll.shape)) < log_alpha
            ok = ok & jnp.isfinite(ll_new)
            return jnp.where(ok[..., None], proposal, eta), jnp.where(ok, ll_new, ll), jnp.mean(ok)

        def k1(carry, key):
            eta, ll = carry
            ka, kb = jax.random.split(key)
            prop = jax.random.normal(ka, eta.shape) @ L.T
            eta, ll, _ = accept(kb, eta, ll, prop, lambda a, b: 0.0)     # prior proposal: likelihood ratio
            return (eta, ll), None

        def k2(carry, key):
            eta, ll = carry
            ka, kb = jax.random.split(key)
            prop = eta + scale2 * sd * jax.random.normal(ka, eta.shape)
            eta, ll, rate = accept(kb, eta, ll, prop, lambda a, b: prior(a) - prior(b))
            return (eta, ll), rate

        def k3(carry, key):
            eta, ll = carry
            rates = []
            for j in range(q):                       # q is small and static: one sweep per component
                ka, kb, key = jax.random.split(key, 3)
                step = jnp.zeros(q).at[j].set(scale3[j] * sd[j])
                prop = eta + step * jax.random.normal(ka, eta.shape[:-1] + (1,))
                eta, ll, rate = accept(kb, eta, ll, prop, lambda a, b: prior(a) - prior(b))
                rates.append(rate)
            return (eta, ll), jnp.stack(rates)

        k_1, k_2, k_3 = jax.random.split(key, 3)
        carry = (eta, ll)
        carry, _ = jax.lax.scan(k1, carry, jax.random.split(k_1, n1)) if n1 else (carry, None)
        carry, r2 = jax.lax.scan(k2, carry, jax.random.split(k_2, n2)) if n2 else (carry, jnp.full(1, 0.4))
        carry, r3 = jax.lax.scan(k3, carry, jax.random.split(k_3, n3)) if n3 else (carry, jnp.full((1, q), 0.4))
        eta, ll = carry
        # Monolix's adaptation: scales grow when accepting more than 40%, shrink when less
        scale2 = scale2 * (1.0 + 0.4 * (jnp.mean(r2) - 0.4))
        scale3 = scale3 * (1.0 + 0.4 * (jnp.mean(r3, axis=0) - 0.4))
        return eta, scale2, scale3, jnp.sum(ll, axis=1).mean()

    def iteration(state, k, subjects, n_burn):
        phi, mu, Omega, w, s1, s2, scale2, scale3, key = state
        key, sub = jax.random.split(key)
        theta = _assemble(model, lay, mu, Omega, w)
        eta, scale2, scale3, ll = mcmc(sub, theta, subjects, phi - mu, scale2, scale3)
        phi = eta + mu
        gamma = jnp.where(k < n_burn, 1.0, 1.0 / (k - n_burn + 1.0))
        flat = phi.reshape(-1, q)
        s1 = s1 + gamma * (jnp.mean(flat, axis=0) - s1)
        s2 = s2 + gamma * (flat.T @ flat / flat.shape[0] - s2)
        mu_new = jnp.clip(s1, jnp.where(jnp.isfinite(lo), lo + 1e-10 * (1 + jnp.abs(lo)), -jnp.inf),
                          jnp.where(jnp.isfinite(hi), hi - 1e-10 * (1 + jnp.abs(hi)), jnp.inf))
        Omega_new = s2 - jnp.outer(mu_new, mu_new)
        if lay.diagonal:
            Omega_new = jnp.diag(jnp.diagonal(Omega_new))
        Omega_new = 0.5 * (Omega_new + Omega_new.T)
        # annealing: during exploration the variances shrink by at most 5% an iteration
        d_new = jnp.where(k < n_burn, jnp.maximum(jnp.diagonal(Omega_new), 0.95 * jnp.diagonal(Omega)),
                          jnp.diagonal(Omega_new))
        d_new = jnp.maximum(d_new, 1e-10)
        Omega_new = Omega_new - jnp.diag(jnp.diagonal(Omega_new)) + jnp.diag(d_new)
        w_new = newton(w, mu_new, Omega_new, subjects, phi - mu_new)
        w = w + gamma * (w_new - w)
        return (phi, mu_new, Omega_new, w, s1, s2, scale2, scale3, key), (mu_new, jnp.diagonal(Omega_new), w, ll)

    def run(state, k0, subjects, n_burn):
        return jax.lax.scan(lambda st, k: iteration(st, k, subjects, n_burn), state, k0 + jnp.arange(length))

    return jax.jit(run)


def fit_saem(model, population, method, init=None):
    """SAEM estimation (see the module docstring); returns a `FitResult` whose ``history`` holds μ, diag Ω, the
    other fixed effects' free coordinates and the mean log-likelihood per iteration, and ``saem_state`` the
    state to resume from."""
    from .fit import Objective, result
    from .approx import FOCEI
    start = time.perf_counter()
    model.check(population)
    if model.space.has_network:
        raise ValueError("fit: SAEM's M-step takes Newton steps on every fixed effect without η (a dense Hessian in "
                         "them); fit a model with network weights by FO, FOCE(I), Laplace(I) or JointMAP")
    theta0 = model.space.initial(init)
    mu_names = mu_referenced(model, population, theta0)
    lay = _layout(model, mu_names)
    q, N, C = model.n_eta, len(population), method.n_chains
    cache = model.__dict__.setdefault("_compiled", {})
    if method.resume is not None:
        state, k_start, history, n_burn = method.resume.saem_state
        history = list(history)
        total = k_start + method.n_em
    else:
        n_burn = method.n_burn
        mu = jnp.asarray([float(theta0[n]) for n in mu_names])
        Omega = jnp.asarray(theta0[model.omega_name], float)
        w = jnp.concatenate([model.space.domains[n].to_free(jnp.asarray(theta0[n], float))
                             for n in lay.other_names]) if lay.other_names else jnp.zeros(0)
        phi = jnp.broadcast_to(mu, (C, N, q))
        state = (phi, mu, Omega, w, mu, Omega + jnp.outer(mu, mu), jnp.asarray(0.4), jnp.full(q, 0.4),
                 jax.random.key(method.seed))
        k_start, history = 0, []
        total = method.n_burn + method.n_em
    # one compiled chunk of `length` iterations (a divisor of the run, so no iteration is wasted), reused for
    # every chunk and every later fit of this model with the same settings
    length = max(1, math.gcd(total - k_start, method.chunk))
    key_c = ("saem", tuple(mu_names), method.kernels, C, length, method.newton_steps)
    if key_c not in cache:
        cache[key_c] = _chunk_fn(model, lay, method, length)
    run = cache[key_c]
    k = k_start
    while k < total:
        state, trace = run(state, k, population.subjects, n_burn)
        history.append(jax.tree_util.tree_map(np.asarray, trace))
        k += length
        if method.verbose and (k - k_start) % method.chunk < length:
            mu_k, om_k, _, ll_k = history[-1]
            print(f"SAEM {min(k, total):5d}/{total}  loglik {ll_k[-1]:.3f}  μ {np.round(mu_k[-1], 4)}  "
                  f"diag Ω {np.round(om_k[-1], 4)}", flush=True)
    phi, mu, Omega, w = state[:4]
    theta = _assemble(model, lay, mu, Omega, w)
    u = np.asarray(model.space.to_free(theta))
    obj = Objective(model, population, FOCEI())
    # EBEs (and the objective) at the SAEM estimates, started from the mean of the draws
    etas = jnp.mean(phi, axis=0) - mu
    fit = result(obj, u, etas, "SAEM", True, None, True, total, start, stacklevel=4)
    fit.history = {k: np.concatenate([h[i] for h in history]) for i, k in
                   enumerate(("mu", "omega_diag", "other_free", "loglik"))}
    fit.saem_state = (state, total, history, n_burn)
    fit.mu_names = mu_names
    return fit
