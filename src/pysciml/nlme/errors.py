"""Residual error models: the variance of an observation given its prediction, with its parameters read by
name from the fixed effects. Standard deviations, as nlmixr2 writes them (NONMEM's σ² = sd²; for a NONMEM
``$SIGMA`` variance use ``Additive("s", variance=True)``).

``Exponential`` (log-normal) compares log(DV) with log(prediction) under an additive error on the log scale,
as NONMEM does with log-transformed data (its objective is that of the log data).
"""
import jax.numpy as jnp


class ErrorModel:
    names: tuple = ()
    log_scale = False

    def variance(self, params, f):
        raise NotImplementedError

    def transform(self, y):
        return jnp.log(y) if self.log_scale else y

    def sample(self, key, params, f):
        import jax
        eps = jax.random.normal(key, jnp.shape(f))
        if self.log_scale:
            return f * jnp.exp(jnp.sqrt(self.variance(params, f)) * eps)
        return f + jnp.sqrt(self.variance(params, f)) * eps


def _scale(params, name, variance):
    value = params[name]
    return value if variance else value * value


class Additive(ErrorModel):
    """y = f + ε, Var ε = sd² (``variance=True``: the parameter is the variance itself)."""

    def __init__(self, sd, *, variance=False):
        self.names, self.is_var = (sd,), variance

    def variance(self, params, f):
        return _scale(params, self.names[0], self.is_var) * jnp.ones_like(f)


class Proportional(ErrorModel):
    """y = f (1 + ε), Var = (sd·f)²."""

    def __init__(self, sd, *, variance=False):
        self.names, self.is_var = (sd,), variance

    def variance(self, params, f):
        return _scale(params, self.names[0], self.is_var) * f * f


class Combined(ErrorModel):
    """y = f + ε₁ + f ε₂, Var = add² + (prop·f)² (nlmixr2's combined2, NONMEM's two-EPS form)."""

    def __init__(self, add, prop, *, variance=False):
        self.names, self.is_var = (add, prop), variance

    def variance(self, params, f):
        return _scale(params, self.names[0], self.is_var) + _scale(params, self.names[1], self.is_var) * f * f


class Exponential(ErrorModel):
    """log y = log f + ε, Var ε = sd² (log-normal residuals)."""

    log_scale = True

    def __init__(self, sd, *, variance=False):
        self.names, self.is_var = (sd,), variance

    def variance(self, params, f):
        return _scale(params, self.names[0], self.is_var) * jnp.ones_like(f)
