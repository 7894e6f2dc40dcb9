"""Compilation of sympy equations into residual functions of a network.

Each occurrence of a dependent variable — u(x, y), a derivative of it, or either evaluated at fixed
values (u(0, y), ``u(x, y).diff(x).subs(x, 0)``) — becomes an "atom": which variable, which partial
derivative, at which fixed coordinates. Atoms are replaced by placeholder symbols, the rest of the
expression is turned into a jax.numpy function by `sympy.lambdify`, and at run time each atom is
computed by nested forward-mode AD (`derivative`).
"""
from dataclasses import dataclass

import jax.numpy as jnp
import sympy as sp
from sympy.core.function import AppliedUndef

from ..modeling.symbols import residual_expr  # one copy, shared with pysciml.modeling
from .derivatives import derivatives
from .terms import Term, pin


@dataclass(frozen=True)
class Atom:
    output: int          # index of the dependent variable
    directions: tuple    # derivative directions (indices of independent variables), () for the value
    fixed: tuple         # ((index, value), ...) coordinates pinned for this evaluation


def compile_equation(eq, label, kind, ivs, dvs, params):
    """A `Term` for one sympy equation. ``ivs``: Symbols; ``dvs``: function names; ``params``: Symbols."""
    expr = residual_expr(eq)
    atoms = {}
    _collect_atoms(expr, label, ivs, dvs, atoms)
    if not atoms:
        raise ValueError(f"{label} involves no dependent variable (sympy may have simplified a derivative "
                         f"with respect to a variable the function does not take to 0): {eq}")
    dummies = {node: sp.Dummy(f"a{i}") for i, node in enumerate(atoms)}
    reduced = expr.xreplace(dummies)
    unknown = reduced.free_symbols - set(ivs) - set(params) - set(dummies.values())
    if unknown:
        raise ValueError(f"{label} uses unknown symbol(s) {sorted(map(str, unknown))}; declare them in "
                         "independent_vars or parameters")
    pinned = {}
    for atom in atoms.values():
        pinned.update(atom.fixed)
    if kind == "bc" and not pinned:
        raise ValueError(f"{label} fixes no independent variable: a boundary or initial condition must "
                         "evaluate the dependent variables at a fixed value, e.g. u(0, y)")
    for atom in atoms.values():
        free_here = set(range(len(ivs))) - {i for i, _ in atom.fixed}
        clash = free_here & set(pinned)
        if clash:
            raise ValueError(f"{label} uses {[str(ivs[i]) for i in clash]} both fixed and free")
    bare = [str(ivs[i]) for i in pinned if ivs[i] in reduced.free_symbols]
    if bare:
        raise ValueError(f"{label} uses {bare} as a variable although it is fixed there")
    fn = sp.lambdify([list(dummies.values()), list(ivs), list(params)], reduced, modules=jnp)
    atom_list = list(atoms.values())
    names = [str(s) for s in params]

    groups = {}                                   # (fixed, order) -> distinct direction tuples
    for atom in atom_list:
        dirs = groups.setdefault((atom.fixed, len(atom.directions)), [])
        if atom.directions not in dirs:
            dirs.append(atom.directions)

    def residual(u, z, p):
        values = {}
        for (fixed, order), dirs in groups.items():
            stacked = derivatives(u, pin(z, fixed), dirs)
            for k, d in enumerate(dirs):
                values[(d, fixed)] = stacked[k]
        args = [values[(a.directions, a.fixed)][a.output] for a in atom_list]
        out = fn(args, [z[i] for i in range(len(ivs))], [p[n] for n in names])
        return jnp.asarray(out, dtype=z.dtype)

    free = tuple(i for i in range(len(ivs)) if i not in pinned)
    return Term(f"{label}: {sp.sstr(eq)}", kind, free, tuple(sorted(pinned.items())), residual)


def _collect_atoms(expr, label, ivs, dvs, atoms):
    if isinstance(expr, (sp.Subs, sp.Derivative, AppliedUndef)) and _applied(expr) is not None:
        atoms[expr] = _atom(expr, label, ivs, dvs)
        return
    for arg in expr.args:
        _collect_atoms(arg, label, ivs, dvs, atoms)


def _applied(expr):
    """The dependent-variable application inside an atom-shaped node, or None."""
    if isinstance(expr, sp.Subs):
        expr = expr.expr
    if isinstance(expr, sp.Derivative):
        expr = expr.expr
    return expr if isinstance(expr, AppliedUndef) else None


def _atom(expr, label, ivs, dvs):
    fixed = {}
    if isinstance(expr, sp.Subs):
        for var, value in zip(expr.variables, expr.point):
            fixed[_iv_index(var, label, ivs)] = _number(value, label, var)
        expr = expr.expr
    directions = ()
    if isinstance(expr, sp.Derivative):
        for var, count in expr.variable_count:
            directions += (_iv_index(var, label, ivs),) * int(count)
        expr = expr.expr
    name = str(expr.func)
    if name not in dvs:
        raise ValueError(f"{label} uses unknown dependent variable {name!r}; declared: {list(dvs)}")
    if len(expr.args) != len(ivs):
        raise ValueError(f"{label}: {name} takes {len(ivs)} arguments {[str(v) for v in ivs]}, "
                         f"got {len(expr.args)} in {expr}")
    for k, (arg, var) in enumerate(zip(expr.args, ivs)):
        if arg == var:
            continue
        if arg.free_symbols:
            raise ValueError(f"{label}: argument {k} of {name} must be {var} or a number, got {arg}")
        fixed[k] = _number(arg, label, var)
    return Atom(dvs.index(name), tuple(sorted(directions)), tuple(sorted(fixed.items())))


def _iv_index(var, label, ivs):
    if var not in ivs:
        raise ValueError(f"{label} differentiates with respect to unknown variable {var}; "
                         f"independent_vars: {[str(v) for v in ivs]}")
    return ivs.index(var)


def _number(value, label, var):
    try:
        return float(value)
    except TypeError:
        raise ValueError(f"{label}: {var} must be fixed at a number, got {value}") from None
