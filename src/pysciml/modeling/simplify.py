"""`structural_simplify`: from the equations a user writes to the semi-explicit index-1 form the solvers
take, M du/dt = f(u, p, t) with M = diag(1 … 1, 0 … 0).

1. Observed variables are substituted; alias equations (a = b, a = −b, a = constant) are eliminated and
   kept as observed; trivial equations (0 = 0) are dropped; an equation with no unknown left is an error.
2. Structure check: equation and unknown counts, then a perfect matching of equations to unknowns
   (else the system is structurally singular, and the unmatched equations/unknowns are named).
3. Pantelides' algorithm (SIAM J. Sci. Stat. Comput. 9, 1988) differentiates the equations that a
   matching on the highest derivatives cannot assign, until it can: index reduction.
4. Dummy derivatives (Mattsson & Söderlind, SIAM J. Sci. Comput. 14, 1993): for every level of
   differentiated equations, as many highest derivatives as equations become algebraic unknowns, chosen by
   column-pivoted QR of the equations' Jacobian at the default/guess point, so the pivot is large there.
5. Causalization with tearing: equations linear in one unknown (a derivative or an algebraic variable,
   with a coefficient free of the other unknowns) are solved for it and substituted; what is left are the
   residual equations of the remaining algebraic unknowns (0 = g), the DAE's algebraic part.
"""
import sys as _sys
from collections import defaultdict

import numpy as np
import sympy as sp

from .symbols import Equation, derivatives_in, diff_terms, is_unknown, name_of, t, unknowns_in, variable
from .system import ODESystem


class SimplifiedSystem(ODESystem):
    """An `ODESystem` in the form D(s) = f (``states``, the first ``n_differential`` unknowns; f = ``rhs``) and
    0 = g (``algebraic`` unknowns after them; g = ``residuals``), with every eliminated variable kept as
    ``observed``. ``original``: the system it was simplified from. ``derivative_states`` maps (unknown, k) to
    the unknown that holds its k-th derivative, where one was introduced. Built by `structural_simplify`.
    """

    def __init__(self, original, states, algebraic, rhs, residuals, observed, derivative_states):
        eqs = [Equation(sp.Derivative(s, t), f) for s, f in zip(states, rhs)] + \
              [Equation(0, g) for g in residuals]
        params = [p for p in original.parameters]
        super().__init__(eqs, name=original.name, observed=[Equation(v, e) for v, e in observed.items()],
                         defaults={}, unknowns=list(states) + list(algebraic), parameters=params,
                         connectors=original.connectors, systems=original.systems,
                         continuous_events=original.continuous_events, discrete_events=original.discrete_events)
        self.defaults = dict(original.defaults)
        self.original = original
        self.n_differential = len(states)
        self.rhs = tuple(rhs)
        self.residuals = tuple(residuals)
        self.derivative_states = dict(derivative_states)

    @property
    def states(self):
        return self.unknowns[:self.n_differential]

    @property
    def algebraic(self):
        return self.unknowns[self.n_differential:]


def structural_simplify(system, guesses=None, tearing=True):
    """Returns the system in semi-explicit index-1 form as a `SimplifiedSystem` (see the module docstring).
    ``guesses``: {unknown or name: value} where the dummy-derivative choice is judged (default: the system's
    defaults). tearing=False solves only for the derivatives, keeping every algebraic unknown (and its equation)
    in the DAE. A `SimplifiedSystem` is returned as it is.
    """
    if isinstance(system, SimplifiedSystem):
        return system
    if not isinstance(system, ODESystem):
        raise TypeError(f"structural_simplify: expected an ODESystem; got {type(system).__name__}")
    _sys.setrecursionlimit(max(_sys.getrecursionlimit(), 10_000))
    point = dict(system.defaults)
    for key, value in dict(guesses or {}).items():
        point[system._resolve(key, "guesses")] = value
    observed = _resolve_chain({e.lhs: e.rhs for e in system.observed})
    eqs = [_doit(e.residual.xreplace(observed)) for e in system.eqs]
    unknowns = list(system.unknowns)
    eqs, aliases = _eliminate_aliases(eqs, unknowns, frozenset(point))
    eqs = _drop_trivial(eqs, system)
    unknowns = [u for u in unknowns if u not in aliases]
    _check_structure(eqs, unknowns, system.name)
    graph = _pantelides(eqs, unknowns, system.name)
    eqs, dummies = _dummy_derivatives(graph, system.parameters, point)
    states, algebraic, eqs, derivative_symbols, derivative_states = _first_order(eqs, unknowns, dummies)
    solved, residuals, remaining = _causalize(eqs, states, algebraic, derivative_symbols, system, tearing)
    rhs = [solved.pop(derivative_symbols[s]) for s in states]
    final_observed = {}
    for v, e in list(aliases.items()) + list(observed.items()):
        final_observed[v] = _doit(e.xreplace(solved))
    for v, e in solved.items():
        if is_unknown(v):
            final_observed[v] = e
    for (x, k), holder in derivative_states.items():
        final_observed.pop(holder, None)
    out = SimplifiedSystem(system, states, remaining, rhs, residuals, final_observed, derivative_states)
    for v, e in aliases.items():      # a value given for an eliminated alias ±x becomes x's value
        coeff, target = sp.sympify(e).as_coeff_Mul()
        if v in point and is_unknown(target) and coeff in (1, -1) and target not in out.defaults:
            out.defaults[target] = coeff * point[v]
    return out


# --- 1. aliases and trivial equations --------------------------------------------------------------------
def _doit(expr):
    """Evaluate derivatives of expressions (D(−x) after an alias substitution), leaving D(x) alone."""
    pending = [d for d in expr.atoms(sp.Derivative) if not is_unknown(d.expr)]
    return expr.xreplace({d: d.doit() for d in pending}) if pending else expr


def _resolve_chain(mapping):
    """Substitute a mapping into itself until no key appears on a right side (observed chains)."""
    for _ in range(len(mapping) + 1):
        new = {k: v.xreplace(mapping) for k, v in mapping.items()}
        if new == mapping:
            return new
        mapping = new
    raise ValueError(f"observed variables are defined in a cycle: {sorted(map(name_of, mapping))}")


def _bare_unknowns(expr):
    """Unknowns that appear undifferentiated."""
    derivs = list(expr.atoms(sp.Derivative))
    stripped = expr.xreplace({d: sp.Dummy() for d in derivs}) if derivs else expr
    return unknowns_in(stripped)


def _keep_score(v, differentiated, preferred):
    name = name_of(v)
    return (v in differentiated, v in preferred, -name.count("."), name)


def _alias(expr, differentiated, preferred=frozenset()):
    """(variable, replacement) when expr = 0 is an alias or a constant assignment, else None."""
    terms = sp.Add.make_args(expr)
    if len(terms) > 2 or expr.has(sp.Derivative):
        return None
    signed = []
    constant = sp.Integer(0)
    for term in terms:
        coeff, rest = term.as_coeff_Mul()
        if is_unknown(rest) and coeff in (1, -1):
            signed.append((coeff, rest))
        elif not unknowns_in(term) and not term.has(t):
            constant += term
        else:
            return None
    if len(signed) == 2:
        (ca, a), (cb, b) = signed
        if a == b:
            return None
        # eliminate the less natural state: keep a differentiated unknown, then one with a value, then the
        # one higher in the component tree (fewer dots: mass.s rather than damper.flange_b.s)
        if _keep_score(a, differentiated, preferred) > _keep_score(b, differentiated, preferred):
            a, ca, b, cb = b, cb, a, ca
        return a, (-cb / ca) * b
    if len(signed) == 1:
        c, a = signed[0]
        if a in differentiated:
            return None
        return a, -constant / c
    return None


def _eliminate_aliases(eqs, unknowns, preferred=frozenset()):
    eqs = list(eqs)
    aliases = {}
    while True:
        differentiated = {x for e in eqs if e is not None for (x, _) in derivatives_in(e)}
        batch, touched = {}, set()
        for i, e in enumerate(eqs):
            if e is None:
                continue
            found = _alias(e, differentiated, preferred)
            if found is None:
                continue
            var, repl = found
            involved = {var} | unknowns_in(repl)
            if involved & touched:
                continue
            touched |= involved
            batch[var] = repl
            eqs[i] = None
        if not batch:
            break
        eqs = [None if e is None else _doit(e.xreplace(batch)) for e in eqs]
        aliases = {k: v.xreplace(batch) for k, v in aliases.items()}
        aliases.update(batch)
    return [e for e in eqs if e is not None], aliases


def _drop_trivial(eqs, system):
    kept = []
    for e in eqs:
        e = sp.expand(e) if e.is_Add and len(e.args) <= 4 and not e.has(sp.Derivative) else e
        if e == 0:
            continue
        if not unknowns_in(e):
            raise ValueError(f"ODESystem {system.name}: after eliminating aliases an equation involves no unknown: "
                             f"0 = {e}; the system is inconsistent or over-determined")
        kept.append(e)
    return kept


# --- 2. structure --------------------------------------------------------------------------------------
def _match(eq_vars, n_vars):
    """Maximum bipartite matching (augmenting paths); eq_vars[i]: candidate variable indices of equation i.
    Returns var -> equation (or None)."""
    assign = [None] * n_vars

    def augment(i, seen):
        for j in eq_vars[i]:
            if j in seen:
                continue
            seen.add(j)
            if assign[j] is None or augment(assign[j], seen):
                assign[j] = i
                return True
        return False

    for i in range(len(eq_vars)):
        augment(i, set())
    return assign


def _check_structure(eqs, unknowns, name):
    index = {u: j for j, u in enumerate(unknowns)}
    eq_vars = []
    for e in eqs:
        present = unknowns_in(e)
        stray = present - set(index)
        if stray:
            raise ValueError(f"ODESystem {name}: {sorted(map(name_of, stray))} appear in equations but are not unknowns")
        eq_vars.append([index[u] for u in present])
    unused = [name_of(u) for u, j in index.items() if not any(j in ev for ev in eq_vars)]
    if unused:
        raise ValueError(f"ODESystem {name}: the unknown(s) {unused} appear in no equation: nothing determines them")
    if len(eqs) != len(unknowns):
        raise ValueError(f"ODESystem {name}: {len(eqs)} equations for {len(unknowns)} unknowns "
                         f"({[name_of(u) for u in unknowns]}) after eliminating aliases; the system must be square")
    assign = _match(eq_vars, len(unknowns))
    unmatched_vars = [name_of(unknowns[j]) for j, i in enumerate(assign) if i is None]
    if unmatched_vars:
        matched_eqs = {i for i in assign if i is not None}
        unmatched_eqs = [str(eqs[i]) for i in range(len(eqs)) if i not in matched_eqs]
        raise ValueError(f"ODESystem {name} is structurally singular: no equation determines {unmatched_vars}, "
                         f"while {unmatched_eqs} (= 0) compete for the others")


# --- 3. Pantelides ---------------------------------------------------------------------------------------
class _Graph:
    """Equations and variables (x, k) = k-th derivative of x, with A (variable -> its derivative) and
    B (equation -> its derivative) as in Pantelides' paper."""

    def __init__(self, eqs, unknowns):
        self.vars, self.index, self.A = [], {}, []
        order = defaultdict(int)
        for e in eqs:
            for x, k in derivatives_in(e):
                order[x] = max(order[x], k)
        for x in unknowns:
            for k in range(order[x] + 1):
                self._add_var(x, k)
        self.eqs, self.B, self.inc, self.level, self.parent = [], [], [], [], []
        for e in eqs:
            self._add_eq(e, 0, None)

    def _add_var(self, x, k):
        j = len(self.vars)
        self.vars.append((x, k))
        self.index[(x, k)] = j
        self.A.append(None)
        if k > 0:
            self.A[self.index[(x, k - 1)]] = j
        return j

    def _incidence(self, e):
        out = {(x, 0) for x in _bare_unknowns(e)} | derivatives_in(e)
        for x, k in sorted(out, key=lambda v: v[1]):
            for kk in range(1, k + 1):
                if (x, kk) not in self.index:
                    self._add_var(x, kk)
        return {self.index[v] for v in out}

    def _add_eq(self, e, level, parent):
        self.eqs.append(e)
        self.B.append(None)
        self.level.append(level)
        self.parent.append(parent)
        self.inc.append(self._incidence(e))
        return len(self.eqs) - 1

    def differentiate(self, i):
        new = self._add_eq(_doit(sp.diff(self.eqs[i], t)), self.level[i] + 1, i)
        self.B[i] = new
        return new


def _pantelides(eqs, unknowns, name):
    g = _Graph(eqs, unknowns)
    assign = [None] * len(g.vars)
    n_original = len(eqs)
    limit = 20 * n_original + 20

    for k in range(n_original):
        i = k
        while True:
            vcolor, ecolor = set(), set()
            assign.extend([None] * (len(g.vars) - len(assign)))

            def augment(i):
                ecolor.add(i)
                for j in g.inc[i]:
                    if g.A[j] is None and assign[j] is None:
                        assign[j] = i
                        return True
                for j in g.inc[i]:
                    if g.A[j] is None and j not in vcolor:
                        vcolor.add(j)
                        if augment(assign[j]):
                            assign[j] = i
                            return True
                return False

            if augment(i):
                break
            if len(g.eqs) > limit:
                raise ValueError(f"ODESystem {name} is structurally singular: index reduction cannot assign "
                                 f"equation 0 = {g.eqs[k]}")
            for j in vcolor:
                x, order = g.vars[j]
                g._add_var(x, order + 1)
            for l in sorted(ecolor):
                g.differentiate(l)
            assign.extend([None] * (len(g.vars) - len(assign)))
            for j in vcolor:
                assign[g.A[j]] = g.B[assign[j]]
            i = g.B[i]
    return g


# --- 4. dummy derivatives ---------------------------------------------------------------------------------
def _dummy_derivatives(g, parameters, point):
    """Equations with the chosen dummy derivatives replaced by new algebraic unknowns; returns (eqs,
    {(x, k): unknown})."""
    eqs = list(g.eqs)
    if not any(b is not None for b in g.B):
        return eqs, {}
    rng = np.random.default_rng(1993)
    values = {}
    for p in parameters:
        values[p] = float(point.get(p, 0.5 + rng.random()))
    for (x, k) in g.vars:
        node = x if k == 0 else sp.Derivative(x, (t, k))
        values[node] = float(point[x]) if (k == 0 and x in point) else 0.5 + rng.random()
    chosen_all = []
    level_eqs = [i for i in range(len(eqs)) if g.B[i] is None and g.level[i] >= 1]
    candidates = sorted({j for i in level_eqs for j in g.inc[i] if g.A[j] is None and g.vars[j][1] >= 1})
    while level_eqs:
        nodes = [sp.Derivative(g.vars[j][0], (t, g.vars[j][1])) for j in candidates]
        if len(nodes) < len(level_eqs):
            raise ValueError("index reduction failed: fewer candidate dummy derivatives than differentiated equations")
        H = np.array([[float(sp.diff(eqs[i], node).xreplace(values).evalf()) if node in _derivs(eqs[i]) else 0.0
                       for node in nodes] for i in level_eqs])
        # Prefer derivatives of unknowns without a given value as dummies (they become algebraic), so
        # the unknowns the user set initial values for stay states.
        H = H * np.array([1e-3 if g.vars[j][0] in point else 1.0 for j in candidates])[None, :]
        import scipy.linalg
        _, r, perm = scipy.linalg.qr(H, pivoting=True)
        m = len(level_eqs)
        if abs(r[m - 1, m - 1]) <= 1e-10 * max(1.0, abs(r[0, 0])):
            raise ValueError("index reduction failed: the differentiated equations are singular in their highest "
                             "derivatives at the default/guess point; give other guesses")
        chosen = [candidates[c] for c in perm[:m]]
        chosen_all += chosen
        level_eqs = [g.parent[i] for i in level_eqs if g.level[i] >= 2]
        candidates = sorted({g.index[(g.vars[j][0], g.vars[j][1] - 1)] for j in chosen if g.vars[j][1] >= 2})
    dummies = {}
    for j in chosen_all:
        x, k = g.vars[j]
        dummies[(x, k)] = variable(f"{name_of(x)}ˍ{'t' * k}")
    mapping = {sp.Derivative(x, (t, k)): v for (x, k), v in dummies.items()}
    # replace highest orders first: xreplace matches whole Derivative nodes, so one pass suffices
    return [e.xreplace(mapping) for e in eqs], dummies


def _derivs(e):
    return e.atoms(sp.Derivative)


# --- 5. first-order form and causalization --------------------------------------------------------------
def _first_order(eqs, unknowns, dummies):
    """States (each unknown below its highest remaining derivative), algebraic unknowns, equations in
    plain symbols for derivatives, {state: derivative symbol}, {(x, k): state holding D^k x}."""
    order = defaultdict(int)
    for e in eqs:
        for x, k in derivatives_in(e):
            order[x] = max(order[x], k)
    states, algebraic, derivative_symbols, derivative_states = [], [], {}, {}
    mapping = {}
    extra = []
    for x in unknowns:
        K = order.get(x, 0)
        if K == 0:
            algebraic.append(x)
            continue
        chain = [x] + [variable(f"{name_of(x)}ˍ{'t' * k}") for k in range(1, K)]
        for k in range(1, K):
            derivative_states[(x, k)] = chain[k]
            mapping[sp.Derivative(x, (t, k))] = chain[k]
        for k, s in enumerate(chain):
            derivative_symbols[s] = sp.Symbol(f"D({name_of(s)})")
            states.append(s)
            if k + 1 < K:
                extra.append(derivative_symbols[s] - chain[k + 1])
        mapping[sp.Derivative(x, (t, K))] = derivative_symbols[chain[-1]]
    algebraic += list(dummies.values())
    out = [e.xreplace(mapping) for e in eqs] + extra
    return states, algebraic, out, derivative_symbols, derivative_states


def _causalize(eqs, states, algebraic, derivative_symbols, system, tearing=True):
    """Solve equations for the derivatives and as many algebraic unknowns as can be solved explicitly;
    returns ({solved: expression in states and remaining unknowns}, residuals, remaining algebraic)."""
    sym = {u: sp.Dummy(name_of(u)) for u in list(states) + list(algebraic)}
    back = {s: u for u, s in sym.items()}
    derivs = {d: s for s, d in derivative_symbols.items()}
    dsyms = set(derivative_symbols.values())
    remaining = set(derivative_symbols.values()) | {sym[a] for a in algebraic}
    eqs = [e.xreplace(sym) for e in eqs]
    unknown_of = [e.free_symbols & remaining for e in eqs]
    occurs = defaultdict(set)
    for i, u in enumerate(unknown_of):
        for v in u:
            occurs[v].add(i)
    active = set(range(len(eqs)))
    params = set(system.parameters)
    solved = []

    def solution(i, v, const_only):
        if not tearing and v not in dsyms:
            return None
        e = eqs[i]
        c = diff_terms(e, v)
        if c == 0 or v in c.free_symbols or (c.free_symbols & remaining):
            return None
        if const_only and not (c.free_symbols <= params):
            return None
        rest = e.xreplace({v: 0})
        return -rest if c == 1 else (rest if c == -1 else -rest / c)

    def eliminate(i, v, expr):
        expr = sp.sympify(expr)
        solved.append((v, expr))
        active.discard(i)
        remaining.discard(v)
        new = expr.free_symbols & remaining
        for k in occurs.pop(v, set()):
            if k == i or k not in active:
                continue
            eqs[k] = eqs[k].xreplace({v: expr})
            unknown_of[k] = (unknown_of[k] - {v}) | new
            for w in new:
                occurs[w].add(k)
            if len(unknown_of[k]) == 1:
                work.append(k)

    work = [i for i in active if len(unknown_of[i]) == 1]
    while True:
        while work:
            i = work.pop()
            if i not in active or len(unknown_of[i]) != 1:
                continue
            (v,) = unknown_of[i]
            expr = solution(i, v, const_only=False)
            if expr is not None:
                eliminate(i, v, expr)
        # tearing: a derivative, then an algebraic unknown, with a constant coefficient first
        done = False
        for const_only, want_deriv in ((True, True), (True, False), (False, True), (False, False)):
            for i in sorted(active):
                for v in sorted(unknown_of[i], key=str):
                    if (v in dsyms) != want_deriv:
                        continue
                    expr = solution(i, v, const_only)
                    if expr is not None:
                        eliminate(i, v, expr)
                        done = True
                        break
                if done:
                    break
            if done:
                break
        if not done and not work:
            break
    left = [derivs[d] for d in remaining if d in dsyms]
    if left:
        raise ValueError(f"ODESystem {system.name}: cannot solve for the derivative(s) of "
                         f"{sorted(map(name_of, left))}: the equations are not linear in them with a coefficient "
                         "free of the other unknowns")
    residuals = [eqs[i] for i in sorted(active)]
    rest = sorted(remaining, key=str)
    if len(residuals) != len(rest):
        raise ValueError(f"ODESystem {system.name}: {len(residuals)} algebraic equations are left for "
                         f"{len(rest)} algebraic unknowns {[str(r) for r in rest]}")
    index = {v: j for j, v in enumerate(rest)}
    assign = _match([[index[v] for v in r.free_symbols & set(rest)] for r in residuals], len(rest))
    if any(a is None for a in assign):
        raise ValueError(f"ODESystem {system.name}: the algebraic equations {residuals} are structurally singular "
                         f"in {[str(r) for r in rest]}")
    final = {}
    for v, expr in reversed(solved):
        final[v] = expr.xreplace(final)
    out = {}
    for v, expr in final.items():
        key = back.get(v, v)
        out[key] = expr.xreplace(back)
    remaining_unknowns = [back[v] for v in rest]
    return out, [r.xreplace(back) for r in residuals], remaining_unknowns
