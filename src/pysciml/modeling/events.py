"""Symbolic events, lowered to `pysciml.callbacks` when a system is compiled.

    ball = md.ODESystem([md.Eq(md.D(x), v), md.Eq(md.D(v), -g)],
                        continuous_events=[md.ContinuousEvent(md.Eq(x, 0), [md.Eq(v, -e * v)], direction="down")])

- `ContinuousEvent(condition, affect)`: when ``condition`` (an expression, or ``md.Eq(a, b)`` for a − b)
  crosses zero, the affect equations ``target ~ expression`` set unknowns or parameters; every right side
  is evaluated with the values just before the event (ModelingToolkit's ``Pre``), all at once.
- `DiscreteEvent(condition, affect)`: ``condition`` a relation (``x > 2``, ``t >= 5``; checked at the end
  of every accepted step, as `DiscreteCallback`) or times (a number or a list: `PresetTimeCallback`, the
  solver steps onto them).
Targets must stay unknowns of the simplified system (or parameters): an eliminated variable cannot be set.
A parameter an event sets is read back at the end of the solve as ``sol[k]`` or ``sol.p_final`` (``sol.p``
keeps the values the solve started from).
"""
import numpy as np
import sympy as sp

from .symbols import as_equation, is_unknown, name_of, t, unknowns_in

_DIRECTIONS = ("both", "up", "down")
_RELATIONS = (sp.StrictGreaterThan, sp.GreaterThan, sp.StrictLessThan, sp.LessThan)


def _affects(affect, owner):
    items = list(affect.items()) if isinstance(affect, dict) else \
        [(e.lhs, e.rhs) for e in (as_equation(a, f"{owner} affect") for a in (affect if isinstance(affect, (list, tuple)) else [affect]))]
    if not items:
        raise ValueError(f"{owner}: affect must set at least one unknown or parameter")
    out = []
    for target, value in items:
        target, value = sp.sympify(target), sp.sympify(value)
        if not (is_unknown(target) or isinstance(target, sp.Symbol)) or target == t:
            raise ValueError(f"{owner}: an affect's left side must be an unknown x(t) or a parameter; got {target}")
        out.append((target, value))
    targets = [k for k, _ in out]
    if len(set(targets)) != len(targets):
        raise ValueError(f"{owner}: an affect sets {[name_of(k) for k in targets]}: each target once")
    return tuple(out)


class ContinuousEvent:
    """Affect when ``condition`` crosses zero (direction 'both', 'up' (− → +) or 'down'). ``affect``: the
    new values, as equations or a dict {unknown or parameter: expression of the values before the event}.
    """

    def __init__(self, condition, affect, direction="both"):
        if isinstance(condition, (list, tuple)):      # ModelingToolkit writes [x ~ 0]
            if len(condition) != 1:
                raise ValueError("ContinuousEvent: give one condition per event (a list of one, or an expression)")
            condition = condition[0]
        self.condition = as_equation(condition, "ContinuousEvent condition").residual
        if direction not in _DIRECTIONS:
            raise ValueError(f"ContinuousEvent: direction must be one of {_DIRECTIONS}; got {direction!r}")
        self.direction = direction
        self.affect = _affects(affect, "ContinuousEvent")

    def expressions(self):
        """Returns the symbolic expressions the event uses (condition, affected symbols and their new values), to
        check and compile them."""
        return [self.condition] + [v for _, v in self.affect] + [k for k, _ in self.affect]


class DiscreteEvent:
    """Affect at the end of every accepted step where the relation ``condition`` holds (x > 1, t >= 2), or at
    given times (a number or a list). ``affect``: the new values, as equations or a dict {unknown or parameter:
    expression of the values before the event}.
    """

    def __init__(self, condition, affect):
        self.times = None
        if isinstance(condition, _RELATIONS):
            self.condition = condition
        elif isinstance(condition, sp.Basic) or isinstance(condition, bool):
            raise TypeError(f"DiscreteEvent: condition must be a relation (x > 1, t >= 2) or times; got {condition}")
        else:
            times = np.atleast_1d(np.asarray(condition, dtype=float))
            if times.ndim != 1 or not np.all(np.isfinite(times)):
                raise ValueError(f"DiscreteEvent: times must be a number or a 1-D list of finite numbers; got {condition!r}")
            self.condition, self.times = None, times
        self.affect = _affects(affect, "DiscreteEvent")

    def expressions(self):
        """Returns the symbolic expressions the event uses (condition, affected symbols and their new values), to
        check and compile them."""
        cond = [] if self.condition is None else [self.condition.lhs - self.condition.rhs]
        return cond + [v for _, v in self.affect] + [k for k, _ in self.affect]


def check_events(continuous, discrete, name):
    """The events as tuples of `ContinuousEvent` / `DiscreteEvent`, and the symbols and unknowns they use."""
    continuous, discrete = tuple(continuous or ()), tuple(discrete or ())
    for e in continuous:
        if not isinstance(e, ContinuousEvent):
            raise TypeError(f"ODESystem {name}: continuous_events must hold md.ContinuousEvent; got {type(e).__name__}")
    for e in discrete:
        if not isinstance(e, DiscreteEvent):
            raise TypeError(f"ODESystem {name}: discrete_events must hold md.DiscreteEvent; got {type(e).__name__}")
    symbols, unknowns = set(), set()
    for e in continuous + discrete:
        for expr in e.expressions():
            symbols |= expr.free_symbols
            unknowns |= unknowns_in(expr)
    symbols.discard(t)
    return continuous, discrete, symbols, unknowns


def lower_events(simple, unknowns, parameters):
    """The system's events as one `CallbackSet` on the compiled state/parameter vectors (None without events).
    Observed variables in conditions and right sides are replaced by what they are computed from."""
    from .. import callbacks as cb
    from .codegen import lambdify_array
    continuous, discrete = simple.continuous_events, simple.discrete_events
    if not continuous and not discrete:
        return None
    observed = {e.lhs: e.rhs for e in simple.observed}
    expand = lambda expr: sp.sympify(expr).xreplace(observed)
    u_index = {v: i for i, v in enumerate(unknowns)}
    p_index = {v: i for i, v in enumerate(parameters)}

    def affect_function(event):
        u_at, p_at = [], []
        for target, _ in event.affect:
            if target in u_index:
                u_at.append(u_index[target])
            elif target in p_index:
                p_at.append(p_index[target])
            else:
                raise ValueError(f"ODESystem {simple.name}: an event sets {name_of(target)}, which structural "
                                 "simplification eliminated (it is computed from the states); set a state instead: "
                                 f"{[name_of(s) for s in simple.states]}")
        values = [expand(v) for k, v in event.affect if k in u_index] + [expand(v) for k, v in event.affect if k in p_index]
        new = lambdify_array(values, unknowns, parameters)
        u_at, p_at = np.asarray(u_at, np.int32), np.asarray(p_at, np.int32)

        def affect(u, p, tt):
            v = new(u, p, tt)            # every right side from the values before the event
            u_new = u.at[u_at].set(v[:u_at.size]) if u_at.size else u
            if not p_at.size:
                return u_new
            return cb.Effect(u_new, p.at[p_at].set(v[u_at.size:].astype(p.dtype)))
        return affect

    out = []
    for event in continuous:
        g = lambdify_array([expand(event.condition)], unknowns, parameters)
        out.append(cb.ContinuousCallback(lambda u, p, tt, g=g: g(u, p, tt)[0], affect_function(event),
                                         direction=event.direction))
    for event in discrete:
        if event.times is not None:
            out.append(cb.PresetTimeCallback(event.times, affect_function(event)))
            continue
        rel = event.condition
        g = lambdify_array([expand(rel.lhs - rel.rhs)], unknowns, parameters)
        test = {sp.StrictGreaterThan: lambda x: x > 0, sp.GreaterThan: lambda x: x >= 0,
                sp.StrictLessThan: lambda x: x < 0, sp.LessThan: lambda x: x <= 0}[type(rel)]
        out.append(cb.DiscreteCallback(lambda u, p, tt, g=g, test=test: test(g(u, p, tt)[0]), affect_function(event)))
    return cb.CallbackSet(*out)
