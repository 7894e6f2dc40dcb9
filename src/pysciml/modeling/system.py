"""`ODESystem`: equations in unknowns x(t), their time derivatives and parameters, with observed
variables (y = expression, kept for output) and default values.

Unknowns and parameters are found in the equations unless given; everything is checked here, before
any compilation, so a stray symbol or an observed variable that is also solved for is reported by name.
"""
import sympy as sp

from .events import check_events
from .symbols import as_equation, is_unknown, name_of, t, unknowns_in


class ODESystem:
    """A system of differential(-algebraic) equations.

    eqs        `md.Eq` equations (or sympy Eq / expressions = 0): ``D(x) ~ f``, algebraic ``0 ~ g``, implicit
               ``m*D(v) ~ F``, higher derivatives ``D(x, 2) ~ -x``
    name       the system's name (components prefix their unknowns with it)
    observed   ``md.Eq(y, expression)``: y is computed from the solution, not solved for
    defaults   {unknown or parameter (or its name): value}, used when u0 or p leaves one out
    unknowns   the unknowns (default: every x(t) in eqs that is not observed)
    parameters the parameters (default: every other symbol but t); when given, any other symbol is an error
    connectors {name: connector} of a component (see `pysciml.modeling.components`)
    systems    subsystems by name (attribute access ``rlc.resistor``)
    continuous_events, discrete_events   `md.ContinuousEvent` / `md.DiscreteEvent` (see `events`), lowered
               to callbacks that ``ps.solve`` applies to the compiled problem
    """

    def __init__(self, eqs, name="system", observed=(), defaults=None, unknowns=None, parameters=None,
                 connectors=None, systems=None, continuous_events=(), discrete_events=()):
        if not isinstance(name, str) or not name:
            raise ValueError(f"ODESystem: name must be a non-empty string; got {name!r}")
        self.name = name
        if isinstance(eqs, (str, bytes)) or not hasattr(eqs, "__iter__"):
            raise TypeError(f"ODESystem: eqs must be a list of equations; got {type(eqs).__name__}")
        self.eqs = tuple(as_equation(e, f"equation {k}") for k, e in enumerate(eqs))
        self.observed = tuple(_observed(e, k) for k, e in enumerate(observed))
        observed_vars = [e.lhs for e in self.observed]
        if len(set(observed_vars)) != len(observed_vars):
            raise ValueError(f"ODESystem {name}: an observed variable is defined twice: "
                             f"{[name_of(v) for v in observed_vars]}")
        found = set().union(*(unknowns_in(e.lhs) | unknowns_in(e.rhs) for e in self.eqs)) if self.eqs else set()
        for e in self.observed:
            found |= unknowns_in(e.rhs)
        if unknowns is None:
            unknowns = sorted(found - set(observed_vars), key=sp.default_sort_key)
        else:
            unknowns = list(unknowns)
            for v in unknowns:
                if not is_unknown(v):
                    raise TypeError(f"ODESystem {name}: unknowns must be functions of t from md.variables; got {v!r}")
            stray = found - set(unknowns) - set(observed_vars)
            if stray:
                raise ValueError(f"ODESystem {name}: the equations use {sorted(map(name_of, stray))}, which are "
                                 "neither unknowns nor observed; add them to unknowns")
        both = set(unknowns) & set(observed_vars)
        if both:
            raise ValueError(f"ODESystem {name}: {sorted(map(name_of, both))} are both unknowns and observed; an "
                             "observed variable is computed from the others, not solved for")
        self.unknowns = tuple(unknowns)
        self.continuous_events, self.discrete_events, symbols, event_unknowns = check_events(
            continuous_events, discrete_events, name)
        stray = event_unknowns - set(unknowns) - set(observed_vars)
        if stray:
            raise ValueError(f"ODESystem {name}: events use {sorted(map(name_of, stray))}, which are neither unknowns "
                             "nor observed variables of the system")
        for e in self.eqs + self.observed:
            symbols |= (e.lhs.free_symbols | e.rhs.free_symbols)
        symbols.discard(t)
        if parameters is None:
            parameters = sorted(symbols, key=sp.default_sort_key)
        else:
            parameters = list(parameters)
            stray = symbols - set(parameters)
            if stray:
                raise ValueError(f"ODESystem {name}: undefined symbol(s) {sorted(map(str, stray))}: not among the "
                                 f"parameters {[str(p) for p in parameters]}")
        for prm in parameters:
            if not isinstance(prm, sp.Symbol):
                raise TypeError(f"ODESystem {name}: parameters must be symbols from md.parameters; got {prm!r}")
        self.parameters = tuple(parameters)
        self.defaults = {}
        for key, value in dict(defaults or {}).items():
            self.defaults[self._resolve(key, "defaults")] = value
        self.connectors = dict(connectors or {})
        self.systems = dict(systems or {})

    # --- lookup ----------------------------------------------------------------------------------
    def _by_name(self):
        """{name: unknown, observed variable or parameter}, built once (systems are not changed after
        construction)."""
        table = self.__dict__.get("_names")
        if table is None or len(table) < len(self.unknowns):
            table = {}
            for v in self.unknowns + tuple(e.lhs for e in self.observed) + self.parameters:
                table[name_of(v)] = v
            self.__dict__["_names"] = table
            self.__dict__["_known"] = set(table.values())
        return table

    def _resolve(self, key, label):
        """An unknown, observed variable or parameter of this system from itself or its name."""
        table = self._by_name()
        if isinstance(key, str):
            if key in table:
                return table[key]
            raise KeyError(f"{label}: {key!r} is not an unknown, observed variable or parameter of {self.name}; "
                           f"known names: {sorted(table)}")
        if key in self.__dict__["_known"]:
            return key
        raise KeyError(f"{label}: {key} is not an unknown, observed variable or parameter of {self.name}")

    def __getattr__(self, attr):
        if attr.startswith("_") or attr in ("eqs", "observed", "unknowns", "parameters", "defaults",
                                            "connectors", "systems", "name", "continuous_events", "discrete_events"):
            raise AttributeError(attr)
        if attr in self.connectors:
            return self.connectors[attr]
        if attr in self.systems:
            return self.systems[attr]
        table = self._by_name()
        for key in (f"{self.name}.{attr}", attr):
            if key in table:
                return table[key]
        raise AttributeError(f"{self.name} has no unknown, parameter, connector or subsystem {attr!r}")

    def __repr__(self):
        lines = [f"ODESystem {self.name}: {len(self.eqs)} equations, {len(self.unknowns)} unknowns, "
                 f"{len(self.parameters)} parameters"]
        lines += [f"  {e}" for e in self.eqs]
        lines += [f"  observed: {e}" for e in self.observed]
        return "\n".join(lines)


def _observed(eq, k):
    eq = as_equation(eq, f"observed {k}")
    if not is_unknown(eq.lhs):
        raise ValueError(f"observed {k}: the left side must be a variable x(t); got {eq.lhs}")
    if eq.lhs in unknowns_in(eq.rhs):
        raise ValueError(f"observed {k}: {name_of(eq.lhs)} is defined in terms of itself")
    return eq
