"""Solutions indexed by symbol: ``sol[x]``, ``sol[resistor.v]``, ``sol[observed]``, ``sol(t, idxs=x)``.

`solve` is `pysciml.solve` with the result wrapped; `SymbolicSolution(sol, prob)` wraps a solution made
elsewhere (an ensemble member, a jitted solve)."""
import jax
import jax.numpy as jnp
import sympy as sp

from .symbols import is_unknown, name_of, t


class SymbolicSolution:
    """An `ODESolution` whose values can be read by unknown, observed variable, derivative state or name;
    every other attribute is the wrapped solution's."""

    def __init__(self, sol, prob):
        f = prob.f
        if not hasattr(f, "system"):
            raise TypeError("SymbolicSolution: prob must come from md.ODEProblem (its f carries the system)")
        self.sol, self.prob, self._f = sol, prob, f

    def __getattr__(self, attr):
        return getattr(self.sol, attr)

    def _lookup(self, key):
        system = self._f.system
        if isinstance(key, sp.Derivative) and is_unknown(key.expr):
            holder = system.derivative_states.get((key.expr, int(key.derivative_count)))
            if holder is not None:
                return holder
            raise KeyError(f"sol[{key}]: {name_of(key)} is not kept as a state; index its variable instead")
        if isinstance(key, str):
            return system._resolve(key, "sol[...]")
        return key

    def _values(self, key, us, ts):
        var = self._lookup(key)
        if var in self._f.unknowns:
            return us[..., self._f.unknowns.index(var)]
        observed = {e.lhs for e in self._f.system.observed}
        if var in observed:
            g = self._f.observed_function(var)
            p = self.sol.p
            return jax.vmap(lambda u, tt: g(u, p, tt))(jnp.atleast_2d(us), jnp.atleast_1d(ts)).reshape(jnp.shape(ts))
        if var in set(self._f.parameters):
            return self.sol.p[list(self._f.parameters).index(var)]
        raise KeyError(f"sol[{key}]: not an unknown, observed variable or parameter of {self._f.system.name}")

    def __getitem__(self, key):
        if isinstance(key, (list, tuple)):
            return jnp.stack([self[k] for k in key], axis=-1)
        return self._values(key, self.sol.u, self.sol.t)

    def __call__(self, t, idxs=None):
        u = self.sol(t)
        if idxs is None:
            return u
        if isinstance(idxs, (list, tuple)):
            return jnp.stack([self._values(k, u, jnp.asarray(t)) for k in idxs], axis=-1)
        return self._values(idxs, u, jnp.asarray(t))

    def __repr__(self):
        return f"SymbolicSolution({self.sol!r})"


def solve(prob, alg=None, *args, **kwargs):
    """`pysciml.solve` for a problem from md.ODEProblem; the solution is indexable by symbol."""
    # Imported here: modeling (layer 2) must not import the solve pipeline (layer 5) at import time; the
    # lasting fix is symbol indexing on ODESolution itself (it already keeps f, which carries the system).
    from ..solve import solve as _solve
    return SymbolicSolution(_solve(prob, alg, *args, **kwargs), prob)
