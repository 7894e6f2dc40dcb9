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
    """y = f + ε, Var ε = sd². ``sd``: the name of the fixed effect holding the standard deviation;
    ``variance=True``: that parameter is the variance itself (NONMEM's σ²)."""

    def __init__(self, sd, *, variance=False):
        self.names, self.is_var = (sd,), variance

    def variance(self, params, f):
        """The residual variance of observations predicted as ``f`` (an array), with the standard deviation (or
        variance) read by name from ``params`` (dict of natural fixed-effect values). Returns an array shaped like
        ``f``: sd² everywhere."""
        return _scale(params, self.names[0], self.is_var) * jnp.ones_like(f)


class Proportional(ErrorModel):
    """y = f (1 + ε), Var = (sd·f)². ``sd``: the name of the fixed effect holding the proportional standard
    deviation; ``variance=True``: that parameter is the variance sd² itself."""

    def __init__(self, sd, *, variance=False):
        self.names, self.is_var = (sd,), variance

    def variance(self, params, f):
        """The residual variance of observations predicted as ``f`` (an array), with the standard deviation (or
        variance) read by name from ``params`` (dict of natural fixed-effect values). Returns an array shaped like
        ``f``: sd²·f²."""
        return _scale(params, self.names[0], self.is_var) * f * f


class Combined(ErrorModel):
    """y = f + ε₁ + f ε₂, Var = add² + (prop·f)² (nlmixr2's combined2, NONMEM's two-EPS form). ``add``, ``prop``:
    the names of the fixed effects holding the additive and proportional standard deviations; ``variance=True``:
    both parameters are variances."""

    def __init__(self, add, prop, *, variance=False):
        self.names, self.is_var = (add, prop), variance

    def variance(self, params, f):
        """The residual variance of observations predicted as ``f`` (an array), with the standard deviation (or
        variance) read by name from ``params`` (dict of natural fixed-effect values). Returns an array shaped like
        ``f``: add² + prop²·f²."""
        return _scale(params, self.names[0], self.is_var) + _scale(params, self.names[1], self.is_var) * f * f


class Exponential(ErrorModel):
    """log y = log f + ε, Var ε = sd² (log-normal residuals). ``sd``: the name of the fixed effect holding the
    standard deviation on the log scale; ``variance=True``: that parameter is the variance itself."""

    log_scale = True

    def __init__(self, sd, *, variance=False):
        self.names, self.is_var = (sd,), variance

    def variance(self, params, f):
        """The residual variance of observations predicted as ``f`` (an array), with the standard deviation (or
        variance) read by name from ``params`` (dict of natural fixed-effect values). Returns an array shaped like
        ``f``: sd² everywhere, on the log scale."""
        return _scale(params, self.names[0], self.is_var) * jnp.ones_like(f)
