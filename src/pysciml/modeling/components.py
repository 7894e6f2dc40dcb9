"""Components: a component is a function returning an `ODESystem` whose unknowns and parameters carry its
name (``resistor.v``, ``resistor.R``) and whose ``connectors`` expose across (potential) and through
(flow) variables. `connect` ties connectors (across equal, through summing to zero, Kirchhoff's laws) and
`compose` flattens components and connections into one system; a connector left unconnected carries no
flow (through = 0), as in Modelica."""
import sympy as sp

from .symbols import Equation, variable
from .system import ODESystem


class Connector:
    """A named set of across and through variables, e.g. an electrical pin (v, i)."""

    def __init__(self, name, across, through, kind):
        self.name, self.across, self.through, self.kind = name, dict(across), dict(through), kind

    def __getattr__(self, attr):
        if attr in ("name", "across", "through", "kind") or attr.startswith("_"):
            raise AttributeError(attr)
        if attr in self.across:
            return self.across[attr]
        if attr in self.through:
            return self.through[attr]
        raise AttributeError(f"connector {self.name} has no variable {attr!r}")

    @property
    def variables(self):
        return list(self.across.values()) + list(self.through.values())

    def __repr__(self):
        return f"{self.kind}({self.name})"


def connector(kind, name, across, through):
    """A connector ``name`` of kind ``kind`` with across/through variables named ``name.<var>``."""
    return Connector(name, {a: variable(f"{name}.{a}") for a in across},
                     {f: variable(f"{name}.{f}") for f in through}, kind)


class Connection:
    """Connectors joined at one node; `equations` gives across equalities and the flow balance."""

    def __init__(self, connectors):
        self.connectors = tuple(connectors)

    def equations(self):
        first = self.connectors[0]
        eqs = []
        for other in self.connectors[1:]:
            for a in first.across:
                eqs.append(Equation(first.across[a], other.across[a]))
        for f in first.through:
            eqs.append(Equation(0, sp.Add(*[c.through[f] for c in self.connectors])))
        return eqs


def connect(*connectors):
    """Join two or more connectors of one kind (checked before anything is built)."""
    if len(connectors) < 2:
        raise ValueError(f"connect: needs at least two connectors; got {len(connectors)}")
    for c in connectors:
        if not isinstance(c, Connector):
            raise TypeError(f"connect: expected connectors (e.g. resistor.p); got {c!r}")
    kinds = {c.kind for c in connectors}
    if len(kinds) > 1:
        raise ValueError(f"connect: cannot connect different kinds of connectors: {[repr(c) for c in connectors]}")
    names = [c.name for c in connectors]
    if len(set(names)) != len(names):
        raise ValueError(f"connect: a connector appears twice: {names}")
    return Connection(connectors)


def component(name, eqs, connectors=(), params=None, defaults=None, observed=()):
    """An `ODESystem` for a component: ``params`` {short name: symbol}, ``defaults`` {symbol: value}."""
    return ODESystem(eqs, name=name, observed=observed, defaults=defaults,
                     connectors={c.name.split(".")[-1]: c for c in connectors})


def compose(systems, connections=(), name="model"):
    """One flat system from components and `connect` results; unconnected connectors get through = 0."""
    systems = list(systems)
    short = {}
    for s in systems:
        if not isinstance(s, ODESystem):
            raise TypeError(f"compose: expected component systems; got {type(s).__name__}")
        if s.name in short:
            raise ValueError(f"compose: two components are named {s.name!r}; names must be unique")
        short[s.name] = s
    eqs, observed, defaults = [], [], {}
    for s in systems:
        eqs += list(s.eqs)
        observed += list(s.observed)
        defaults.update(s.defaults)
    owned = {c.name for s in systems for c in s.connectors.values()}
    used = set()
    for conn in connections:
        if not isinstance(conn, Connection):
            raise TypeError(f"compose: connections must come from md.connect; got {type(conn).__name__}")
        for c in conn.connectors:
            if c.name not in owned:
                raise ValueError(f"compose: connector {c.name} belongs to none of the components {list(short)}")
            if c.name in used:
                raise ValueError(f"compose: connector {c.name} is connected twice; list all connectors of one "
                                 "node in one md.connect(...)")
            used.add(c.name)
        eqs += conn.equations()
    for s in systems:
        for c in s.connectors.values():
            if c.name not in used:
                eqs += [Equation(v, 0) for v in c.through.values()]
    return ODESystem(eqs, name=name, observed=observed, defaults=defaults, systems=short)
