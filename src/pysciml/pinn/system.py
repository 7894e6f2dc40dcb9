"""`PDESystem`: equations, boundary/initial conditions, domains, variables, unknown parameters and data.

Equations and conditions are sympy equations or plain JAX functions; both are checked here, before
anything is compiled, so a misspelled variable, a condition outside the domain or a missing domain is
reported naming the part at fault.
"""
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .domains import as_interval
from .terms import Term


@dataclass(frozen=True)
class Condition:
    """A boundary/initial condition or equation written as a plain function ``residual(u, z, p)``.

    ``u(z)`` gives the dependent variables (n_dep,) at a full point z; ``p`` maps parameter names to
    values; the residual is a scalar or a vector that should vanish. ``on`` pins independent variables
    ({"x": 0.0} for the face x = 0; empty for an equation over the whole domain).
    """

    residual: Callable
    on: dict | None = None


@dataclass(frozen=True)
class Observations:
    """Measured values of some dependent variables at points (N, n_ivs): ``values`` (N, len(variables))."""

    points: object
    values: object
    variables: tuple | None = None


def _name(v):
    """The name of a symbol, a sympy function (applied or not) or a string."""
    if isinstance(v, str):
        return v
    if isinstance(v, type):                  # an unapplied sympy function such as Function("u")
        return v.__name__
    if getattr(v, "is_Function", False):     # an applied one, u(x, y)
        return str(v.func)
    return str(v)


class PDESystem:
    """A PDE (or ODE) system for a physics-informed network.

    equations            sympy ``Eq``/expressions, or `Condition` functions over the whole domain
    boundary_conditions  sympy equations at fixed values of some variables (Dirichlet u(0, y) = g,
                         Neumann ``u(x, y).diff(x).subs(x, 0)``, Robin combinations, periodic u(0, y) = u(1, y),
                         initial conditions u(x, 0) = f(x)), or `Condition` functions with ``on``
    domains              {variable: (lo, hi)} for every independent variable
    independent_vars     e.g. [x, y] (sympy Symbols or names)
    dependent_vars       e.g. [u] or [u(x, y)] (sympy functions or names)
    parameters           {symbol: initial guess} for unknown parameters learned jointly (inverse problems)
    observations         `Observations` of dependent variables, for inverse problems
    """

    def __init__(self, equations, boundary_conditions, domains, independent_vars, dependent_vars,
                 parameters=None, observations=None):
        self.iv_names = tuple(_name(v) for v in independent_vars)
        self.dv_names = tuple(_name(v) for v in dependent_vars)
        for label, names in (("independent_vars", self.iv_names), ("dependent_vars", self.dv_names)):
            if not names:
                raise ValueError(f"{label} must not be empty")
            if len(set(names)) != len(names):
                raise ValueError(f"{label} has repeated names: {names}")
        self.domains = self._domains(domains)
        parameters = dict(parameters or {})
        self.param_names = tuple(_name(k) for k in parameters)
        self.param_init = np.asarray([float(v) for v in parameters.values()], dtype=np.float64)
        equations, boundary_conditions = list(equations), list(boundary_conditions)
        if not equations:
            raise ValueError("equations must not be empty")
        self.terms = tuple(self._term(eq, f"equation {k}", "pde") for k, eq in enumerate(equations)) + \
            tuple(self._term(bc, f"boundary condition {k}", "bc") for k, bc in enumerate(boundary_conditions))
        for term in self.terms:
            for index, value in term.fixed:
                interval = self.domains[index]
                if not interval.contains(value):
                    raise ValueError(f"{term.name} is outside the domain: {self.iv_names[index]} = {value} "
                                     f"not in [{interval.lo}, {interval.hi}]")
        self.observations = self._observations(observations)

    @property
    def n_vars(self):
        return len(self.iv_names)

    @property
    def n_outputs(self):
        return len(self.dv_names)

    @property
    def lower(self):
        return np.array([d.lo for d in self.domains])

    @property
    def upper(self):
        return np.array([d.hi for d in self.domains])

    def _domains(self, domains):
        given = {_name(k): v for k, v in dict(domains).items()}
        unknown = set(given) - set(self.iv_names)
        if unknown:
            raise ValueError(f"domains names unknown variable(s) {sorted(unknown)}; independent_vars: "
                             f"{list(self.iv_names)}")
        missing = [v for v in self.iv_names if v not in given]
        if missing:
            raise ValueError(f"domains is missing the independent variable(s) {missing}")
        return tuple(as_interval(given[v], v) for v in self.iv_names)

    def _term(self, eq, label, kind):
        if isinstance(eq, Condition):
            return self._plain_term(eq, label, kind)
        if callable(eq) and not hasattr(eq, "free_symbols"):
            return self._plain_term(Condition(eq), label, kind)
        from .symbolic import compile_equation
        import sympy as sp
        ivs = [sp.Symbol(n) for n in self.iv_names]
        params = [sp.Symbol(n) for n in self.param_names]
        symbols = {s: sp.Symbol(s.name) for s in _free_symbols(eq)}
        eq = eq.xreplace(symbols)        # assumptions on the user's symbols must not hide them
        return compile_equation(eq, label, kind, ivs, list(self.dv_names), params)

    def _plain_term(self, cond, label, kind):
        on = {_name(k): float(v) for k, v in (cond.on or {}).items()}
        unknown = set(on) - set(self.iv_names)
        if unknown:
            raise ValueError(f"{label} fixes unknown variable(s) {sorted(unknown)}; independent_vars: "
                             f"{list(self.iv_names)}")
        if kind == "bc" and not on:
            raise ValueError(f"{label} fixes no independent variable: pass on={{variable: value}}")
        fixed = tuple(sorted((self.iv_names.index(k), v) for k, v in on.items()))
        free = tuple(i for i in range(self.n_vars) if i not in dict(fixed))
        name = getattr(cond.residual, "__name__", "residual")
        return Term(f"{label}: {name}", kind, free, fixed, cond.residual)

    def _observations(self, obs):
        if obs is None:
            return None
        points = np.asarray(obs.points, dtype=np.float64)
        values = np.asarray(obs.values, dtype=np.float64)
        variables = tuple(_name(v) for v in (obs.variables or self.dv_names))
        unknown = set(variables) - set(self.dv_names)
        if unknown:
            raise ValueError(f"observations name unknown dependent variable(s) {sorted(unknown)}")
        points = points.reshape(-1, 1) if points.ndim == 1 and self.n_vars == 1 else points
        values = values.reshape(-1, 1) if values.ndim == 1 else values
        if points.ndim != 2 or points.shape[1] != self.n_vars:
            raise ValueError(f"observations.points must have shape (N, {self.n_vars}), got {points.shape}")
        if values.shape != (points.shape[0], len(variables)):
            raise ValueError(f"observations.values must have shape ({points.shape[0]}, {len(variables)}), "
                             f"got {values.shape}")
        return Observations(points, values, tuple(self.dv_names.index(v) for v in variables))


def _free_symbols(eq):
    return getattr(eq, "free_symbols", set())
