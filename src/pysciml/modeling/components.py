"""Components: a component is a function returning an `ODESystem` whose unknowns and parameters carry its
name (``resistor.v``, ``resistor.R``) and whose ``connectors`` expose across (potential) and through
(flow) variables. `connect` ties connectors (across equal, through summing to zero, Kirchhoff's laws) and
`compose` flattens components and connections into one system; a connector left unconnected carries no
flow (through = 0), as in Modelica.

Components nest: ``compose(..., name="rc", connectors={"p": r.p, "n": c.n})`` is itself a component with
ports p and n; placed in another `compose`, its names gain its own as a prefix (``rc.resistor.v``), so two
instances of one subcircuit never clash, and ``model.rc.resistor.v`` reads through the hierarchy."""
import sympy as sp

from .events import ContinuousEvent, DiscreteEvent
from .symbols import Equation, is_unknown, name_of, parameter, variable
from .system import ODESystem


class Connector:
    """A named set of across and through variables, e.g. an electrical pin (v, i). ``name``: the connector's
    full name (``"resistor.p"``); ``across`` / ``through``: {short name: variable} (equal at a node / summing to
    zero there); ``kind``: connectors of one kind only connect to each other. Its variables read as attributes
    (``pin.v``).
    """

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

    def equations(self, flows=True):
        """Across equalities, and (flows=True) the flow balance Σ through = 0."""
        first = self.connectors[0]
        eqs = []
        for other in self.connectors[1:]:
            for a in first.across:
                eqs.append(Equation(first.across[a], other.across[a]))
        for f in first.through if flows else ():
            eqs.append(Equation(0, sp.Add(*[c.through[f] for c in self.connectors])))
        return eqs


def connect(*connectors):
    """Join two or more connectors of one kind (checked before anything is built). Returns a `Connection` for
    `compose`."""
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


def compose(systems, connections=(), name="model", connectors=None):
    """One flat system from the components ``systems`` and the ``connections`` made by `connect`;
    unconnected connectors get through = 0. ``name``: the composed system's name. ``connectors``: {port name: a
    connector of a member} exposed as this system's own ports (left open here, connected where this system is
    itself a member of a `compose`). Returns an `ODESystem` whose members read as attributes (``rlc.resistor.v``).
    """
    remap = {}                 # a nested system's ports, as the caller holds them -> renamed
    flat = []
    for s in systems:
        if getattr(s, "_composite", False):
            renamed = _namespaced(s)
            remap.update({id(s.connectors[k]): c for k, c in renamed.connectors.items()})
            s = renamed
        flat.append(s)
    systems = flat
    connections = [Connection([remap.get(id(c), c) for c in conn.connectors]) if isinstance(conn, Connection) else conn
                   for conn in connections]
    short = {}
    for s in systems:
        if not isinstance(s, ODESystem):
            raise TypeError(f"compose: expected component systems; got {type(s).__name__}")
        if s.name in short:
            raise ValueError(f"compose: two components are named {s.name!r}; names must be unique")
        short[s.name] = s
    eqs, observed, defaults, continuous, discrete = [], [], {}, [], []
    for s in systems:
        eqs += list(s.eqs)
        observed += list(s.observed)
        defaults.update(s.defaults)
        continuous += list(s.continuous_events)
        discrete += list(s.discrete_events)
    owned = {c.name for s in systems for c in s.connectors.values()}
    used, node_of = set(), {}
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
            node_of[c.name] = conn
    # A port on an inner node: its through variable is the node's inner flow sum, whose balance the outer
    # connection completes (port.i + outside currents = 0); a port on a free connector is that connector.
    ports, deferred = {}, set()
    for key, c in dict(connectors or {}).items():
        if not isinstance(c, Connector) or c.name not in owned:
            raise ValueError(f"compose: connectors[{key!r}] must be a connector of one of the components {list(short)}")
        conn = node_of.get(c.name)
        if conn is None:
            ports[key] = c
            continue
        if id(conn) in deferred:
            raise ValueError(f"compose: two ports of {name} sit on one node ({c.name}); expose one")
        deferred.add(id(conn))
        through = {f: variable(f"{key}.{f}") for f in c.through}
        eqs += [Equation(through[f], sp.Add(*[m.through[f] for m in conn.connectors])) for f in c.through]
        ports[key] = Connector(key, dict(c.across), through, c.kind)
    for conn in connections:
        eqs += conn.equations(flows=id(conn) not in deferred)
    exposed = {c.name for c in ports.values()}
    for s in systems:
        for c in s.connectors.values():
            if c.name not in used and c.name not in exposed:
                eqs += [Equation(v, 0) for v in c.through.values()]
    out = ODESystem(eqs, name=name, observed=observed, defaults=defaults, systems=short, connectors=ports,
                    continuous_events=continuous, discrete_events=discrete)
    out._composite = True          # its names gain its name as a prefix when it is nested (see `_namespaced`)
    return out


def _namespaced(system):
    """A composed system with every unknown, parameter and connector renamed ``<system.name>.<name>``."""
    prefix = system.name
    rename = {}
    for v in system.unknowns + tuple(e.lhs for e in system.observed):
        rename[v] = variable(f"{prefix}.{name_of(v)}")
    for prm in system.parameters:
        rename[prm] = parameter(f"{prefix}.{prm}")
    sub = lambda e: sp.sympify(e).xreplace(rename)

    def port(c):
        return Connector(f"{prefix}.{c.name}", {k: sub(v) for k, v in c.across.items()},
                         {k: sub(v) for k, v in c.through.items()}, c.kind)

    def affect(event):
        return {sub(k): sub(v) for k, v in event.affect}
    continuous = [ContinuousEvent(sub(e.condition), affect(e), direction=e.direction) for e in system.continuous_events]
    discrete = [DiscreteEvent(e.times if e.condition is None else sub(e.condition), affect(e))
                for e in system.discrete_events]
    inner = {}
    for key, member in system.systems.items():      # for attribute access (model.rc.resistor.v) only
        inner[key] = _renamed_view(member, sub, prefix)
    out = ODESystem([Equation(sub(e.lhs), sub(e.rhs)) for e in system.eqs], name=f"{prefix}",
                    observed=[Equation(sub(e.lhs), sub(e.rhs)) for e in system.observed],
                    defaults={sub(k): v for k, v in system.defaults.items()},
                    unknowns=[sub(v) for v in system.unknowns], parameters=[sub(v) for v in system.parameters],
                    connectors={k: port(c) for k, c in system.connectors.items()}, systems=inner,
                    continuous_events=continuous, discrete_events=discrete)
    out._nested = True
    return out


def _renamed_view(member, sub, prefix):
    """A member system's renamed copy (equations included) for reading its variables by attribute."""
    return ODESystem([Equation(sub(e.lhs), sub(e.rhs)) for e in member.eqs], name=f"{prefix}.{member.name}",
                     observed=[Equation(sub(e.lhs), sub(e.rhs)) for e in member.observed],
                     unknowns=[sub(v) for v in member.unknowns], parameters=[sub(v) for v in member.parameters],
                     connectors={k: Connector(f"{prefix}.{c.name}", {a: sub(v) for a, v in c.across.items()},
                                              {f: sub(v) for f, v in c.through.items()}, c.kind)
                                 for k, c in member.connectors.items()},
                     systems={k: _renamed_view(m, sub, prefix) for k, m in member.systems.items()})
