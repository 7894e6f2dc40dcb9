"""Quick approximations: the posterior mode (MAP), a Gaussian around it (Laplace), and mean-field variational
inference. All work in the unconstrained space θ, so a Laplace or variational Gaussian in θ is a skewed
distribution of positive or bounded parameters (a log-normal for a log-transformed one).
"""
import warnings
from dataclasses import dataclass

import blackjax
import jax
import jax.numpy as jnp
import numpy as np
import optax

from .posterior import Posterior


@dataclass(frozen=True)
class MAP:
    """Posterior mode by L-BFGS (optax, zoom line search) on −log density in θ; stops when the gradient's
    max-norm is below ``gtol`` or after ``max_steps`` iterations."""
    max_steps: int = 500
    gtol: float = 1e-6

    def __post_init__(self):
        if not isinstance(self.max_steps, int) or self.max_steps < 1:
            raise ValueError(f"MAP: max_steps must be a positive int; got {self.max_steps!r}")


@dataclass(frozen=True)
class MAPResult:
    """The result of `find_map`: theta, the mode in the unconstrained coordinates θ; values, name ->
    constrained value at the mode; logdensity, the log posterior density there; steps, L-BFGS iterations;
    converged, whether the gradient became small.
    """
    theta: np.ndarray      # the mode in θ
    values: dict           # name -> constrained value at the mode
    logdensity: float
    steps: int
    converged: bool


def _map_fn(model, method):
    key = ("map", method)
    if key not in model._cache:
        def run(theta0, data):
            logdensity = model.logdensity_fn(data)
            neg = lambda x: -logdensity(x)
            opt = optax.lbfgs()
            value_and_grad = optax.value_and_grad_from_state(neg)

            def body(carry):
                x, state, _, i = carry
                value, grad = value_and_grad(x, state=state)
                updates, state = opt.update(grad, state, x, value=value, grad=grad, value_fn=neg)
                return optax.apply_updates(x, updates), state, jnp.max(jnp.abs(grad)), i + 1

            def cond(carry):
                return (carry[3] < method.max_steps) & (carry[2] > method.gtol)

            x, _, gmax, steps = jax.lax.while_loop(cond, body, (theta0, opt.init(theta0), jnp.inf, 0))
            value, grad = jax.value_and_grad(neg)(x)
            return x, -value, jnp.max(jnp.abs(grad)), steps
        model._cache[key] = jax.jit(run)
    return model._cache[key]


def find_map(model, method=MAP(), init=None):
    """The posterior mode of ``model`` (a `Model`) by ``method`` (a `MAP`: L-BFGS options), started from
    ``init`` (a dict of values or θ; default: the problem's parameters). Returns a `MAPResult`; warns when L-BFGS
    stops before the gradient is small.
    """
    theta0 = _theta0(model, init)
    x, lp, gmax, steps = _map_fn(model, method)(theta0, model.data)
    converged = bool(gmax <= method.gtol * 10) and bool(np.isfinite(lp))
    if not converged:
        warnings.warn(f"find_map: stopped after {int(steps)} L-BFGS steps with gradient max-norm {float(gmax):.2e} "
                      f"(log density {float(lp):.6g}); raise MAP(max_steps=...) or start elsewhere (init=...)",
                      UserWarning, stacklevel=2)
    return MAPResult(np.asarray(x), {k: np.asarray(v) for k, v in model.values(x).items()}, float(lp), int(steps),
                     converged)


def _theta0(model, init):
    if init is None:
        theta0 = model.unconstrain()
    elif isinstance(init, dict):
        theta0 = model.unconstrain(init)
    else:
        theta0 = jnp.asarray(init, dtype=float)
        if theta0.shape != (model.dim,):
            raise ValueError(f"init: expected a dict of values or θ of shape ({model.dim},); got {theta0.shape}")
    if not np.isfinite(float(model.logdensity(theta0))):
        raise ValueError("init: the log density is −∞ at the starting point (the solve fails or the data are "
                         "impossible there); start elsewhere with init={name: value}")
    return theta0


@dataclass(frozen=True)
class Laplace:
    """Gaussian approximation N(θ̂, H⁻¹) at the mode θ̂ (found with ``map``). ``hessian="exact"``: H is the
    Hessian of −log density by central differences of the exact gradient (``fd_step`` relative), so any sensealg
    serves. ``hessian="gauss-newton"``: H = JᵀJ/σ² + the prior's exact Hessian, J the Jacobian of the predictions
    (by reverse mode through the solve) — positive definite even where a network's mode is flat or not quite
    reached (the usual Laplace for neural networks); for a Gaussian likelihood with a known sigma."""
    map: MAP = MAP()
    fd_step: float = 1e-5
    hessian: str = "exact"

    def __post_init__(self):
        if self.hessian not in ("exact", "gauss-newton"):
            raise ValueError(f"Laplace: hessian must be 'exact' or 'gauss-newton'; got {self.hessian!r}")


def _check_gauss_newton(model):
    from .likelihoods import Gaussian
    if not isinstance(model.likelihood, Gaussian) or model.likelihood.noise_priors():
        raise ValueError("Laplace(hessian='gauss-newton') needs a Gaussian likelihood with a known sigma; use "
                         "hessian='exact'")


def _hessian_fn(model, method):
    key = ("laplace-hessian", method)
    if key not in model._cache and method.hessian == "gauss-newton":      # (laplace checked the model)
        def run(x, data):
            predict = lambda th: model.predict(*model.constrain(th)[:2])[0]
            jac = jax.jacrev(predict)(x)                              # (times, *obs, dim)
            w = jnp.broadcast_to(1.0 / model.likelihood.sigma ** 2, data.shape)
            jac = jac.reshape(-1, x.shape[0])
            prior_hess = -jax.hessian(lambda th: model.constrain(th)[3])(x)
            return jac.T @ (w.reshape(-1, 1) * jac) + prior_hess
        model._cache[key] = jax.jit(run)
    if key not in model._cache:
        def run(x, data):
            grad = jax.grad(model.logdensity_fn(data))
            h = method.fd_step * jnp.maximum(1.0, jnp.abs(x))
            eye = jnp.diag(h)
            g_plus = jax.vmap(lambda e: grad(x + e))(eye)
            g_minus = jax.vmap(lambda e: grad(x - e))(eye)
            hess = -(g_plus - g_minus) / (2 * h[:, None])
            return 0.5 * (hess + hess.T)
        model._cache[key] = jax.jit(run)
    return model._cache[key]


def laplace(model, method=Laplace(), num_samples=1000, key=0, init=None):
    """`Posterior` of ``num_samples`` draws from the Laplace approximation (one chain); ``post.info`` holds the
    mode, the covariance in θ and the MAP result."""
    if method.hessian == "gauss-newton":
        _check_gauss_newton(model)          # before the MAP search compiles anything
    mode = find_map(model, method.map, init)
    hess = np.asarray(_hessian_fn(model, method)(jnp.asarray(mode.theta), model.data))
    eigval, eigvec = np.linalg.eigh(hess)
    if not np.all(eigval > 0):
        warnings.warn(f"laplace: the Hessian at the mode is not positive definite (smallest eigenvalue "
                      f"{eigval.min():.3g}): the mode is not a strict maximum or the parameters are not identified; "
                      "its non-positive directions get unit variance", UserWarning, stacklevel=2)
        eigval = np.where(eigval > 0, eigval, 1.0)
    cov = (eigvec / eigval) @ eigvec.T
    key = jax.random.key(key) if isinstance(key, int) else key
    z = np.asarray(jax.random.normal(key, (num_samples, model.dim)))
    draws = mode.theta + z @ (eigvec / np.sqrt(eigval)).T
    return Posterior(model, draws[None], {}, "Laplace", info={"mode": mode, "cov": cov, "hessian": hess,
                                                        "hessian_method": method.hessian})


@dataclass(frozen=True)
class MeanFieldVI:
    """Mean-field Gaussian in θ fitted by maximising the ELBO (BlackJAX ``meanfield_vi``: reparametrised
    gradients with the sticking-the-landing estimator) with Adam for ``num_steps`` steps, ``mc_samples`` draws
    per gradient; the learning rate decays from ``learning_rate`` to 1% of it (cosine), so the last iterates
    settle instead of jittering by a learning rate's worth."""
    num_steps: int = 2000
    learning_rate: float = 0.02
    mc_samples: int = 8


def _vi_fn(model, method, num_samples):
    key = ("mfvi", method, num_samples)
    if key not in model._cache:
        def run(k, theta0, data):
            vi = blackjax.meanfield_vi(model.logdensity_fn(data), optax.adam(optax.cosine_decay_schedule(
                method.learning_rate, method.num_steps, alpha=0.01)),
                                       num_samples=method.mc_samples)
            state = vi.init(theta0)._replace(mu=theta0)    # BlackJAX starts the mean at zero
            k_fit, k_draw = jax.random.split(k)

            def body(state, k):
                state, info = vi.step(k, state)
                return state, info.elbo
            state, elbo = jax.lax.scan(body, state, jax.random.split(k_fit, method.num_steps))
            return vi.sample(k_draw, state, num_samples), state.mu, state.rho, elbo
        model._cache[key] = jax.jit(run)
    return model._cache[key]


def mean_field_vi(model, method=MeanFieldVI(), num_samples=1000, key=0, init=None):
    """`Posterior` of draws from the fitted mean-field Gaussian; ``post.info``: mu, sd (in θ) and the ELBO trace."""
    theta0 = _theta0(model, init)
    key = jax.random.key(key) if isinstance(key, int) else key
    draws, mu, rho, elbo = _vi_fn(model, method, num_samples)(key, theta0, model.data)
    return Posterior(model, np.asarray(draws)[None], {}, "MeanFieldVI",
                     info={"mu": np.asarray(mu), "sd": np.exp(np.asarray(rho)), "elbo": np.asarray(elbo)})
