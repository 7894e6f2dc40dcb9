"""Symbols of a model: the independent variable `t`, unknowns as sympy functions of t, parameters as
sympy symbols, `D` = d/dt and `Eq` (an equation that sympy never evaluates to True/False).

Unknowns are applied sympy functions ``x(t)``, so differentiating an equation in time (index reduction)
is sympy's own ``diff``; their names may carry a component path (``resistor.v``).
"""
import sympy as sp
from sympy.core.function import AppliedUndef

t = sp.Symbol("t", real=True)


def _split(names):
    if isinstance(names, str):
        parts = names.replace(",", " ").split()
    else:
        parts = list(names)
    for name in parts:
        if not isinstance(name, str) or not name:
            raise ValueError(f"names must be non-empty strings; got {name!r}")
    return parts


def variable(name):
    """One unknown ``name(t)``."""
    return sp.Function(name, real=True)(t)


def parameter(name):
    """One parameter symbol."""
    return sp.Symbol(name, real=True)


def variables(names):
    """Unknowns as functions of `t` from ``names`` (space- or comma-separated): ``x, y = variables("x y")``.
    Returns a tuple of unknowns (a single name gives one unknown).
    """
    out = tuple(variable(n) for n in _split(names))
    return out[0] if len(out) == 1 else out


def parameters(names):
    """Parameter symbols from ``names`` (space- or comma-separated): ``a, b = parameters("a b")``. Returns a
    tuple of symbols (a single name gives one symbol).
    """
    out = tuple(parameter(n) for n in _split(names))
    return out[0] if len(out) == 1 else out


def D(expr, order=1):
    """Returns the derivative d^order/dt^order of ``expr`` (``D(x)`` for an unknown x; ``D(x, 2)`` for the second
    derivative)."""
    return sp.diff(sp.sympify(expr), t, order)


class Equation:
    """lhs = rhs, kept unevaluated (sympy's Eq turns ``x = x`` into True). ``residual`` is lhs − rhs."""

    __slots__ = ("lhs", "rhs")

    def __init__(self, lhs, rhs):
        self.lhs, self.rhs = sp.sympify(lhs), sp.sympify(rhs)

    @property
    def residual(self):
        return self.lhs - self.rhs

    def xreplace(self, mapping):
        """Returns the equation with symbols replaced on both sides by ``mapping`` (sympy's xreplace)."""
        return Equation(self.lhs.xreplace(mapping), self.rhs.xreplace(mapping))

    def __repr__(self):
        return f"{sp.sstr(self.lhs)} ~ {sp.sstr(self.rhs)}"


def Eq(lhs, rhs=0):
    """Returns the `Equation` lhs = rhs (an expression alone means expression = 0)."""
    return Equation(lhs, rhs)


def as_equation(eq, label="equation"):
    """An `Equation` from an `Equation`, a sympy Eq or an expression (= 0)."""
    if isinstance(eq, Equation):
        return eq
    if isinstance(eq, sp.Equality):
        return Equation(eq.lhs, eq.rhs)
    if isinstance(eq, (bool, sp.logic.boolalg.BooleanAtom)):
        raise ValueError(f"{label} is the constant {eq}: sympy evaluated it; write md.Eq(lhs, rhs), which stays "
                         "unevaluated")
    try:
        return Equation(sp.sympify(eq), 0)
    except (sp.SympifyError, TypeError) as err:
        raise TypeError(f"{label}: expected md.Eq(lhs, rhs) or a sympy expression; got {type(eq).__name__}") from err


def residual_expr(eq):
    """lhs − rhs of an equation (an expression is taken as = 0). Shared with `pysciml.pinn`."""
    if isinstance(eq, Equation):
        return eq.residual
    return eq.lhs - eq.rhs if isinstance(eq, sp.Equality) else sp.sympify(eq)


def is_unknown(expr):
    """True for an unknown x(t) (an applied undefined function of t alone)."""
    return isinstance(expr, AppliedUndef) and expr.args == (t,)


def name_of(v):
    """The name of an unknown x(t), a derivative, a parameter symbol or a string."""
    if isinstance(v, str):
        return v
    if is_unknown(v):
        return v.func.__name__
    if isinstance(v, sp.Derivative) and is_unknown(v.expr):
        return f"D{'' if v.derivative_count == 1 else v.derivative_count}({v.expr.func.__name__})"
    if isinstance(v, sp.Symbol):
        return v.name
    raise TypeError(f"expected an unknown, a parameter or a name; got {v!r}")


def unknowns_in(expr):
    """The unknowns x(t) in an expression."""
    return {a for a in expr.atoms(AppliedUndef) if is_unknown(a)}


def derivatives_in(expr):
    """The derivatives D^k x in an expression, as {(x, k)}."""
    out = set()
    for d in expr.atoms(sp.Derivative):
        if not is_unknown(d.expr) or set(d.variables) != {t}:
            raise ValueError(f"only time derivatives of unknowns are supported; got {d}")
        out.add((d.expr, int(d.derivative_count)))
    return out


def rename(expr_or_eq, mapping):
    """Replace unknowns (by name) in an expression or equation; mapping: {old unknown: new unknown}."""
    return expr_or_eq.xreplace(mapping)


def diff_terms(expr, s):
    """∂expr/∂s for a symbol s, term by term, with a fast path for monomials c·s^n·(rest free of s) (sympy's
    general diff is slow on the thousands of terms of a large network)."""
    out = []
    for term in sp.Add.make_args(expr):
        if s not in term.free_symbols:
            continue
        out.append(_diff_monomial(term, s))
    return sp.Add(*out)


def _diff_monomial(term, s):
    factors = sp.Mul.make_args(term)
    hits = [k for k, f in enumerate(factors) if s in f.free_symbols]
    if len(hits) == 1:
        f = factors[hits[0]]
        rest = factors[:hits[0]] + factors[hits[0] + 1:]
        if f == s:
            return sp.Mul(*rest)
        if f.is_Pow and f.base == s and f.exp.is_number:
            return sp.Mul(f.exp, s ** (f.exp - 1), *rest)
    return term.diff(s)
