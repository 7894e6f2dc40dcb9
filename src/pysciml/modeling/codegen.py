"""Sympy expressions to pure-JAX functions of (u, p, t): common subexpressions eliminated once
(`sympy.cse`), the unknowns and parameters bound to plain symbols, the result one array."""
import jax.numpy as jnp
import numpy as np
import sympy as sp

from .symbols import t


def plain_symbols(things, prefix):
    """Fresh symbols standing for unknowns x(t) (or parameters) in generated code."""
    return [sp.Symbol(f"{prefix}{i}") for i in range(len(things))]


def lambdify_array(exprs, unknowns, parameters):
    """A function f(u, p, t) -> array of ``exprs`` (1-D), with u[i] = unknowns[i], p[j] = parameters[j].

    The unknowns (sympy applied functions or symbols) are replaced by plain symbols first so the generated
    code indexes flat vectors; sympy's CSE runs over all outputs together."""
    us = plain_symbols(unknowns, "u")
    ps = plain_symbols(parameters, "p")
    mapping = dict(zip(unknowns, us))
    mapping.update(zip(parameters, ps))
    body = [sp.sympify(e).xreplace(mapping) for e in exprs]
    stray = set().union(*(e.free_symbols for e in body)) - set(us) - set(ps) - {t} if body else set()
    if stray:
        raise ValueError(f"code generation: undefined symbol(s) {sorted(map(str, stray))}")
    raw = sp.lambdify([us, ps, t], body, modules=[jnp], cse=True, docstring_limit=0)
    n = len(body)
    if n == 0:
        def empty(u, p, tt):
            return jnp.zeros((0,), jnp.result_type(u))
        return empty

    def fn(u, p, tt):
        dtype = jnp.result_type(u)
        return jnp.stack([jnp.asarray(v, dtype) for v in raw(u, p if len(ps) else np.zeros(0), tt)])
    fn.n_outputs = n
    return fn
