"""Sympy expressions to pure-JAX functions of (u, p, t) returning one array.

Two strategies, chosen by size:
- scalar: sympy's CSE over all outputs, one JAX scalar operation per node (small models: circuits,
  mechanics; shared subexpressions computed once);
- vectorised: every output is a sum of terms, and terms of the same shape (``k·A·B``: a parameter times
  two unknowns, whatever their indices) are evaluated together, gathering their unknowns and parameters
  by index arrays, then scatter-added into the outputs. A mass-action network of any size has a handful of
  term shapes, so the traced graph stays small (compile time independent of the number of species) and the
  run time is that of a hand-written vectorised f.
"""

import jax
import jax.numpy as jnp
import numpy as np
import sympy as sp

from .symbols import t

VECTORISE_FROM = 24       # outputs from which the vectorised strategy is used (when it groups terms)


def plain_symbols(things, prefix):
    """Fresh symbols standing for unknowns x(t) (or parameters) in generated code."""
    return [sp.Symbol(f"{prefix}{i}") for i in range(len(things))]


def lambdify_array(exprs, unknowns, parameters, strategy="auto"):
    """A function f(u, p, t) -> 1-D array of ``exprs``, with u[i] = unknowns[i], p[j] = parameters[j].
    strategy: 'scalar', 'vectorized' or 'auto' (vectorised for many outputs with few term shapes)."""
    us = plain_symbols(unknowns, "u")
    ps = plain_symbols(parameters, "p")
    mapping = dict(zip(unknowns, us))
    mapping.update(zip(parameters, ps))
    body = [sp.sympify(e).xreplace(mapping) for e in exprs]
    stray = set().union(*(e.free_symbols for e in body)) - set(us) - set(ps) - {t} if body else set()
    if stray:
        raise ValueError(f"code generation: undefined symbol(s) {sorted(map(str, stray))}")
    n = len(body)
    if n == 0:
        def empty(u, p, tt):
            return jnp.zeros((0,), jnp.result_type(u))
        return empty
    if strategy == "vectorized" or (strategy == "auto" and n >= VECTORISE_FROM):
        grouped = _term_groups(body, us, ps)
        n_terms = sum(len(g[3]) for g in grouped[0].values())
        if strategy == "vectorized" or len(grouped[0]) * 4 <= n_terms:
            return _vectorized(grouped, n)
    return _scalar(body, us, ps)


def _scalar(body, us, ps):
    # Flat arguments: unpacking a traced array of more than 100 entries inside generated code fails in
    # JAX, and one `unstack` per vector is a single operation in the trace.
    raw = sp.lambdify(us + ps + [t], body, modules=[jnp], cse=True, docstring_limit=0)

    def fn(u, p, tt):
        dtype = jnp.result_type(u)
        args = list(jnp.unstack(jnp.asarray(u))) + (list(jnp.unstack(jnp.asarray(p))) if ps else [])
        return jnp.stack([jnp.asarray(v, dtype) for v in raw(*args, tt)])
    return fn


def _term_groups(body, us, ps):
    """{template: (template, U placeholders, P placeholders, [(u indices, p indices)])} of the distinct
    additive terms (coefficient aside) of all outputs, each with its unknowns/parameters replaced by
    placeholders in order of first appearance, and the scatter list [(output, coefficient, group, term)].
    A term shared by several outputs (a reaction rate in every species it changes) is evaluated once."""
    u_index = {s: i for i, s in enumerate(us)}
    p_index = {s: i for i, s in enumerate(ps)}
    groups, seen, scatter = {}, {}, []
    for row, expr in enumerate(body):
        for term in sp.Add.make_args(sp.expand_mul(expr) if expr.is_Mul else expr):
            if term == 0:
                continue
            coeff, rest = term.as_coeff_Mul()
            found = seen.get(rest)
            if found is None:
                order_u, order_p = [], []
                for node in sp.preorder_traversal(rest):
                    if node in u_index and node not in order_u:
                        order_u.append(node)
                    elif node in p_index and node not in order_p:
                        order_p.append(node)
                holders_u = [sp.Symbol(f"U{k}") for k in range(len(order_u))]
                holders_p = [sp.Symbol(f"P{k}") for k in range(len(order_p))]
                template = rest.xreplace(dict(zip(order_u, holders_u)) | dict(zip(order_p, holders_p)))
                key = sp.srepr(template)
                entry = groups.setdefault(key, (template, holders_u, holders_p, []))
                entry[3].append(([u_index[v] for v in order_u], [p_index[v] for v in order_p]))
                found = seen[rest] = (key, len(entry[3]) - 1)
            scatter.append((row, float(coeff), found))
    return groups, scatter


def _vectorized(grouped, n):
    groups, scatter = grouped
    parts, offset, start = [], 0, {}
    for key, (template, holders_u, holders_p, terms) in groups.items():
        fn = sp.lambdify(holders_u + holders_p + [t], template, modules=[jnp], docstring_limit=0)
        u_idx = np.array([ui for ui, _ in terms], np.int32).reshape(len(terms), len(holders_u)).T
        p_idx = np.array([pi for _, pi in terms], np.int32).reshape(len(terms), len(holders_p)).T
        parts.append((fn, len(terms), u_idx, p_idx))
        start[key] = offset
        offset += len(terms)
    scatter = sorted(scatter, key=lambda e: e[0])
    rows = np.array([r for r, _, _ in scatter], np.int32)
    coeffs = np.array([c for _, c, _ in scatter])
    which = np.array([start[key] + k for _, _, (key, k) in scatter], np.int32)

    def f(u, p, tt):
        dtype = jnp.result_type(u)
        values = []
        for fn, count, u_idx, p_idx in parts:
            args = [u[i] for i in u_idx] + [p[j] for j in p_idx]
            v = fn(*args, tt) if args else fn(tt)
            values.append(jnp.broadcast_to(jnp.asarray(v, dtype), (count,)))
        terms = jnp.concatenate(values) if len(values) > 1 else values[0]
        return jax.ops.segment_sum(terms[which] * coeffs, rows, num_segments=n, indices_are_sorted=True)
    return f
