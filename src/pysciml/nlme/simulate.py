"""`simulate`: draw η ~ N(0, Ω) per subject and residual errors, at the population's observation times."""
import jax
import jax.numpy as jnp
import numpy as np

from .data import Population


def simulate(model, population, params, key, *, residual=True):
    """A new `Population` whose DV are simulated from ``model`` at natural parameter values ``params`` (a dict;
    missing names take the model's initial values). ``key``: the JAX random key the random effects and the
    residual errors are drawn from. Returns ``(population, eta)``; ``residual=False`` gives the individual
    predictions without residual error."""
    if not isinstance(population, Population):
        raise TypeError(f"simulate: population must be an nlme.Population; got {type(population).__name__}")
    model.check(population)
    theta = model.space.arrays(model.space.initial(params))
    Omega = model.omega(theta)
    k_eta, k_eps = jax.random.split(key)
    N = len(population)
    eta = jax.random.normal(k_eta, (N, model.n_eta)) @ jnp.linalg.cholesky(Omega).T
    keys = jax.random.split(k_eps, N)

    cache = model.__dict__.setdefault("_compiled", {})
    name = f"simulate{residual}"
    if name not in cache:     # compiled once per model: parameters, data and keys are arguments
        def one(th, subject, e, k):
            f = model.predict(th, e, subject)
            return model.error.sample(k, th, f) if residual else f
        cache[name] = jax.jit(jax.vmap(one, in_axes=(None, 0, 0, 0)))
    dv = cache[name](theta, population.subjects, eta, keys)
    return population.with_dv(dv), np.asarray(eta)
