"""`ODEProblem(system, u0, tspan, p)`: a system compiled to a plain `pysciml.ODEProblem`.

The right-hand side is generated JAX code (common subexpressions shared), the Jacobian is differentiated
symbolically and generated the same way, entry by entry on its exact sparsity pattern (the structurally
non-zero derivatives), which is handed to the stiff solvers as ``jac_prototype``. Algebraic equations give
a singular diagonal mass matrix (an index-1 DAE for Rodas/ESDIRK/Radau methods).
"""
import jax
import jax.numpy as jnp
import numpy as np
import sympy as sp

from .. import problems as _problems
from ..linalg import SparsityPattern
from .codegen import lambdify_array
from .events import lower_events
from .simplify import SimplifiedSystem, structural_simplify
from .symbols import _diff_monomial, is_unknown, name_of, t
from .system import ODESystem


class CompiledRHS:
    """f(u, p, t) of a compiled system, carrying what indexing a solution by symbol needs: ``system`` (the
    simplified system), ``unknowns`` (the order of u), ``parameters`` (the order of p), ``observed(name)``,
    and ``callback``: the system's events as pysciml callbacks (None without events), which ``ps.solve``
    applies with any callback it is given."""

    def __init__(self, system, f):
        self.system = system
        self.unknowns = tuple(system.unknowns)
        self.parameters = tuple(system.parameters)
        self.callback = lower_events(system, self.unknowns, self.parameters)
        self._f = jax.jit(f)     # eager calls (solve's output checks) dispatch once, not op by op
        self._observed = {}

    def __call__(self, u, p, t):
        return self._f(u, p, t)

    def symbolic_values(self, sol, key, us, ts):
        """The values of ``key`` (an unknown, observed variable, kept derivative, parameter, their names, or a
        list of them) at the states ``us`` (..., n) and times ``ts`` of ``sol``: what ``sol[key]`` and
        ``sol(t, idxs=key)`` return for a solution of this problem (`pysciml.ODESolution` asks its f). A
        parameter gives its value at the end of the solve (``sol.p_final``: after any event that set it, as
        ModelingToolkit's integrator holds it); ``sol.p`` keeps the values the solve started from."""
        if isinstance(key, (list, tuple)):
            return jnp.stack([self.symbolic_values(sol, k, us, ts) for k in key], axis=-1)
        var = self._lookup(key)
        if var in self.unknowns:
            return us[..., self.unknowns.index(var)]
        if var in {e.lhs for e in self.system.observed}:
            g = self.observed_function(var)
            return jax.vmap(lambda u, tt: g(u, sol.p, tt))(jnp.atleast_2d(us), jnp.atleast_1d(ts)).reshape(jnp.shape(ts))
        if var in set(self.parameters):
            # the value at the end of the solve: an event may have set it (sol.p holds the starting values)
            return getattr(sol, "p_final", sol.p)[list(self.parameters).index(var)]
        raise KeyError(f"sol[{key}]: not an unknown, observed variable or parameter of {self.system.name}")

    def _lookup(self, key):
        if isinstance(key, sp.Derivative) and is_unknown(key.expr):
            holder = self.system.derivative_states.get((key.expr, int(key.derivative_count)))
            if holder is not None:
                return holder
            raise KeyError(f"sol[{key}]: {name_of(key)} is not kept as a state; index its variable instead")
        if isinstance(key, str):
            return self.system._resolve(key, "sol[...]")
        return key

    def observed_function(self, var):
        """g(u, p, t) -> value of an observed variable (compiled on first use)."""
        if var not in self._observed:
            expr = {e.lhs: e.rhs for e in self.system.observed}[var]
            fn = lambdify_array([expr], self.unknowns, self.parameters)
            self._observed[var] = lambda u, p, tt: fn(u, p, tt)[0]
        return self._observed[var]


def ODEProblem(system, u0=None, tspan=None, p=None, jac=False, sparse=False, guesses=None):
    """Compile ``system`` (an `ODESystem` or `ReactionSystem`; simplified here if not already) into a
    `pysciml.ODEProblem` over ``tspan``, which it returns.

    u0, p: {unknown, parameter or its name: value}; values missing here come from the system's defaults,
    and any still missing is an error naming them. An algebraic unknown without a value starts at 0 (the
    solver makes it consistent). ``guesses``: {unknown: value} where the structural simplification judges its
    choices. jac=True: analytic Jacobian; sparse=True: its exact sparsity pattern as ``jac_prototype`` (for
    ``linsolve=SparseGMRES()``, colored Jacobians). ``prob.p`` is a vector in the order of ``prob.f.parameters``;
    `parameter_vector` builds one from a dict for ``prob.remake(p=...)``.
    """
    if hasattr(system, "to_ode_system"):
        system = system.to_ode_system()
    if not isinstance(system, ODESystem):
        raise TypeError(f"md.ODEProblem: expected an ODESystem or ReactionSystem; got {type(system).__name__}")
    if tspan is None:
        raise ValueError("md.ODEProblem: tspan=(t0, t1) is required")
    given_u0 = _keyed(u0, "u0")
    given_p = _keyed(p, "p")
    original = system.original if isinstance(system, SimplifiedSystem) else system
    guesses = dict(guesses or {})
    for key, value in given_u0.items():
        guesses[original._resolve(key, "u0")] = value
    simple = structural_simplify(system, guesses=guesses)
    u_vec = _values(simple, original, given_u0, "u0")
    p_vec = parameter_vector(simple, given_p)
    unknowns, params = simple.unknowns, simple.parameters
    exprs = list(simple.rhs) + list(simple.residuals)
    f = CompiledRHS(simple, lambdify_array(exprs, unknowns, params))
    kwargs = {}
    n = len(unknowns)
    if jac or sparse:
        rows, cols, entries = jacobian_entries(exprs, unknowns)
        if sparse:
            kwargs["jac_prototype"] = SparsityPattern(_coo(rows, cols, n))
        if jac:
            # the non-zeros are written straight into the flattened matrix by the generated code's one scatter
            flat = lambdify_array(entries, unknowns, params, positions=np.asarray(rows, np.int64) * n + np.asarray(cols, np.int64),
                                  size=n * n)

            @jax.jit
            def jacobian(u, p, tt):
                return flat(u, p, tt).reshape(n, n)
            kwargs["jac"] = jacobian
    if simple.residuals:
        kwargs["mass_matrix"] = jnp.diag(jnp.asarray([1.0] * simple.n_differential + [0.0] * len(simple.residuals)))
    return _problems.ODEProblem(f, u_vec, tspan, p_vec, **kwargs)


def jacobian_entries(exprs, unknowns):
    """Rows, columns and expressions of the structurally non-zero ∂expr_i/∂unknown_j, row by row with
    sorted columns (the order of `SparsityPattern`)."""
    # Differentiate with respect to plain symbols (much faster in sympy than functions of t), and only the
    # additive terms that contain the unknown.
    plain = [sp.Dummy(f"u{j}") for j in range(len(unknowns))]
    to_plain, back = dict(zip(unknowns, plain)), dict(zip(plain, unknowns))
    column = {s: j for j, s in enumerate(plain)}
    rows, cols, entries = [], [], []
    for i, e in enumerate(exprs):
        terms = sp.Add.make_args(sp.sympify(e).xreplace(to_plain))
        by_column = {}
        for term in terms:
            for s in term.free_symbols:
                if s in column:
                    by_column.setdefault(column[s], []).append(term)
        for j in sorted(by_column):
            d = sp.Add(*[_diff_monomial(term, plain[j]) for term in by_column[j]])
            if d != 0:
                rows.append(i)
                cols.append(j)
                entries.append(d.xreplace(back))
    return rows, cols, entries


def _atoms(e):
    return {a for a in sp.sympify(e).atoms(sp.Function) if is_unknown(a)}


def _coo(rows, cols, n):
    import scipy.sparse
    return scipy.sparse.csr_matrix((np.ones(len(rows), bool), (rows, cols)), shape=(n, n))


def _keyed(values, label):
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise TypeError(f"md.ODEProblem: {label} must be a dict {{symbol or name: value}}; got "
                        f"{type(values).__name__}")
    return values


def _values(simple, original, given, label):
    """The state vector: given values, then defaults; algebraic unknowns default to 0."""
    by_unknown = {}
    for key, value in given.items():
        var = original._resolve(key, label) if not isinstance(key, str) or key in original._by_name() \
            else simple._resolve(key, label)
        by_unknown[var] = value
    observed = {e.lhs: e.rhs for e in simple.observed}
    states = set(simple.unknowns)
    misplaced = [v for v in by_unknown if v not in states and v in observed]
    for v in list(misplaced):       # a value for an alias of an unknown is that unknown's value
        coeff, target = sp.sympify(observed[v]).as_coeff_Mul()
        if target in states and coeff in (1, -1) and target not in by_unknown:
            by_unknown[target] = float(by_unknown[v]) * float(coeff)
            misplaced.remove(v)
    params = [k for k in by_unknown if k in set(simple.parameters)]
    if params:
        raise ValueError(f"md.ODEProblem: {label} gives the parameter(s) {[name_of(k) for k in params]}; pass them in p")
    out, missing = [], []
    for k, v in enumerate(simple.unknowns):
        if v in by_unknown:
            out.append(_number(by_unknown[v], label, v))
        elif v in simple.defaults:
            out.append(_number(simple.defaults[v], label, v))
        elif k >= simple.n_differential or _introduced(simple, v):
            out.append(0.0)
        else:
            missing.append(name_of(v))
    if missing:
        raise ValueError(f"md.ODEProblem: {label} is missing initial value(s) for {missing} (no default either)")
    if misplaced:
        _check_consistent(simple, misplaced, by_unknown, out, observed, label)
    return jnp.asarray(out, dtype=jnp.float64)


def _check_consistent(simple, misplaced, by_unknown, out, observed, label):
    """A value given for a variable the simplified system computes must agree with what it computes."""
    point = dict(zip(simple.unknowns, out))
    point.update({prm: simple.defaults[prm] for prm in simple.parameters if prm in simple.defaults})
    for v in misplaced:
        expr = sp.sympify(observed[v]).xreplace(point).xreplace({t: 0})
        given = float(by_unknown[v])
        if expr.free_symbols:
            continue            # depends on a parameter without a default: cannot check here
        value = float(expr)
        if abs(value - given) > 1e-8 * max(1.0, abs(value)):
            raise ValueError(f"md.ODEProblem: {label} gives {name_of(v)} = {given}, but the simplified system computes "
                             f"{name_of(v)} = {observed[v]} = {value} from the states; give values for the states "
                             f"{[name_of(s) for s in simple.states]} only, or consistent ones")


def _introduced(simple, v):
    return v in simple.derivative_states.values()


def parameter_vector(system, values=None):
    """Returns the parameter vector of a (simplified) ``system``, in the order of ``system.parameters``, from
    ``values`` {parameter or name: value} and the system's defaults; errors name any missing or unknown key.
    """
    values = _keyed(values, "p")
    by_param = {}
    for key, value in values.items():
        var = system._resolve(key, "p")
        if var not in set(system.parameters):
            raise ValueError(f"md.ODEProblem: p gives {name_of(var)}, which is not a parameter; set unknowns in u0")
        by_param[var] = value
    out, missing = [], []
    for prm in system.parameters:
        if prm in by_param:
            out.append(_number(by_param[prm], "p", prm))
        elif prm in system.defaults:
            out.append(_number(system.defaults[prm], "p", prm))
        else:
            missing.append(name_of(prm))
    if missing:
        raise ValueError(f"md.ODEProblem: p is missing value(s) for the parameter(s) {missing} (no default either)")
    return jnp.asarray(out, dtype=jnp.float64)


def _number(value, label, var):
    if isinstance(value, sp.Basic):
        if value.free_symbols:
            raise ValueError(f"md.ODEProblem: {label}: the value of {name_of(var)} must be a number; got {value}")
        value = float(value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"md.ODEProblem: {label}: the value of {name_of(var)} must be a number; got {value!r}") from None
    if not np.isfinite(number):
        raise ValueError(f"md.ODEProblem: {label}: the value of {name_of(var)} must be finite; got {number}")
    return number
