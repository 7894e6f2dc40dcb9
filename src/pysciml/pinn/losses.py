"""The PINN objective: the network as a field u(z), per-term losses on point sets, and their weighted sum."""
from dataclasses import dataclass
from typing import Callable

import jax
import jax.numpy as jnp


@dataclass(frozen=True)
class Field:
    """u(z, theta): the network on inputs mapped from the domain box to [-1, 1]ⁿ (when ``normalize``),
    then ``output_transform(z, u)`` (hard constraints, output scaling)."""

    apply: Callable
    lower: tuple
    upper: tuple
    normalize: bool = True
    output_transform: Callable | None = None

    def __call__(self, z, theta):
        lo, hi = jnp.asarray(self.lower, z.dtype), jnp.asarray(self.upper, z.dtype)
        zin = 2 * (z - lo) / (hi - lo) - 1 if self.normalize else z
        out = self.apply(zin, theta["net"])
        return out if self.output_transform is None else self.output_transform(z, out)


def parameter_dict(names, values):
    return {name: values[k] for k, name in enumerate(names)}


def term_residuals(term, field, theta, points, param_names):
    """Residuals of ``term`` at points (N, n_vars): (N,) or (N, m)."""
    u = lambda z: field(z, theta)
    p = parameter_dict(param_names, theta["p"])
    return jax.vmap(lambda z: term.residual(u, z, p))(points)


def term_losses(terms, field, param_names, observations, theta, batch):
    """Loss of each term: weighted mean of squared residuals; then the observation misfit, if any."""
    out = []
    for term, (points, weights) in zip(terms, batch):
        r = term_residuals(term, field, theta, points, param_names)
        sq = jnp.sum(jnp.square(r).reshape(r.shape[0], -1), axis=1)
        out.append(jnp.sum(weights * sq) / jnp.sum(weights))
    if observations is not None:
        predicted = jax.vmap(lambda z: field(z, theta))(jnp.asarray(observations.points))
        misfit = predicted[:, jnp.array(observations.variables)] - jnp.asarray(observations.values)
        out.append(jnp.mean(jnp.square(misfit)))
    return jnp.stack(out)
