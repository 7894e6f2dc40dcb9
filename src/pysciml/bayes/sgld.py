"""Stochastic-gradient Langevin dynamics (Welling & Teh 2011): one gradient per draw, no accept/reject and no
trajectory building, the cheap sampler for UDEs with many network weights. The step size decays as
a·(b + t)^(−γ) (their schedule; γ ∈ (0.5, 1]), so draws are asymptotically exact; with a fixed step they
are biased by O(step). The gradient is the full-data gradient (a solve covers every observation time anyway).
"""
from dataclasses import dataclass

import blackjax
import jax
import jax.numpy as jnp
import numpy as np

from .posterior import Posterior


@dataclass(frozen=True)
class SGLD:
    """Stochastic gradient Langevin dynamics with step a·(b + t)^(−``gamma``) (0 ≤ gamma ≤ 1); ``thin`` keeps every
    thin-th draw after warmup."""
    a: float = 1e-3
    b: float = 1.0
    gamma: float = 0.55
    thin: int = 1

    def __post_init__(self):
        if self.a <= 0 or self.b <= 0 or not 0 <= self.gamma <= 1:
            raise ValueError(f"SGLD: need a > 0, b > 0 and 0 ≤ gamma ≤ 1; got a={self.a}, b={self.b}, "
                             f"gamma={self.gamma}")
        if not isinstance(self.thin, int) or self.thin < 1:
            raise ValueError(f"SGLD: thin must be a positive int; got {self.thin!r}")


def _sgld_fn(model, method, num_warmup, num_samples):
    key = ("sgld", method, num_warmup, num_samples)
    if key not in model._cache:
        def run(keys, positions, data):
            logdensity = model.logdensity_fn(data)
            sampler = blackjax.sgld(lambda x, _: jax.grad(logdensity)(x))

            def one(k, x):
                def step(x, kt):
                    k, t = kt
                    eps = method.a * (method.b + t) ** (-method.gamma)
                    x = sampler.step(k, x, None, eps)
                    return x, x

                total = num_warmup + num_samples * method.thin
                ts = jnp.arange(total, dtype=float)
                _, path = jax.lax.scan(step, x, (jax.random.split(k, total), ts))
                kept = path[num_warmup:][method.thin - 1::method.thin]
                return kept, jax.vmap(logdensity)(kept)
            return jax.vmap(one)(keys, positions)
        model._cache[key] = jax.jit(run)
    return model._cache[key]


def run_sgld(model, method, positions, key, num_warmup, num_samples):
    keys = jax.random.split(key, positions.shape[0])
    draws, lp = _sgld_fn(model, method, num_warmup, num_samples)(keys, positions, model.data)
    return Posterior(model, np.asarray(draws), {"lp": np.asarray(lp)}, "SGLD")
