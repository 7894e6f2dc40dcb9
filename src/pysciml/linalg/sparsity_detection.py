"""Jacobian sparsity by tracing: which outputs of f(u, p, t) can depend on which entries of u.

`jacobian_sparsity` traces f to a jaxpr and propagates, equation by equation, a boolean dependency
matrix D_x (size of x × n) for every floating-point value x: row e holds the entries of u that element e
of x depends on. The result is structural (it holds for every u, p and t), not a numerical probe:

- element-wise operations take the union of their operands' rows;
- data movement (slice, reshape, transpose, concatenate, pad, gather, dynamic_slice, scatter, ...) is
  replayed on arrays of element ids, which says where every output element comes from;
- scatter-add sends update elements to the positions found by its transpose (a gather) of the ids;
- reductions, cumulative ops and sort merge rows along their axes; `dot_general` merges along the
  contracted axes, skipping the zeros of an operand that is a constant of f (a fixed stoichiometry or
  stencil matrix keeps its sparsity);
- calls (jit, custom_jvp/vjp) are followed; `cond` takes the union of its branches (or the one branch
  of a constant index); `while` and `scan` iterate to a fixed point over their carries.

Values that depend only on constants of f are evaluated along the way, so index arrays built from
constants are known. Anything else (an unknown primitive, an index computed from u, p or t) falls back to
"every output element depends on every input element" with a warning: the pattern stays correct, only
less sparse.
"""
import warnings
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import scipy.sparse as sp
from jax.flatten_util import ravel_pytree

from .._core.jaxprs import is_closed_jaxpr, is_jaxpr, is_literal
from .sparsity import SparsityPattern

_ELEMENTWISE = frozenset("""
abs acos acosh add asin asinh atan atan2 atanh cbrt ceil clamp conj convert_element_type copy copy_p cos
cosh digamma div erf erf_inv erfc exp exp2 expm1 floor imag integer_pow is_finite lgamma log log1p logistic
max min mul neg nextafter pow real reduce_precision rem round rsqrt select_n sign sin sinh sqrt square
stop_gradient sub tan tanh
""".split())

_MOVEMENT = frozenset("""
broadcast_in_dim concatenate dynamic_slice dynamic_update_slice expand_dims gather pad reshape rev scatter
slice split squeeze stack transpose
""".split())

_REDUCTIONS = frozenset("reduce_sum reduce_max reduce_min reduce_prod".split())
_CUMULATIVE = frozenset("cumsum cumprod cummax cummin cumlogsumexp".split())
_SCATTER_ADD = frozenset(("scatter-add", "scatter_add", "scatter-sub", "scatter_sub"))


class _Info(NamedTuple):
    deps: object      # scipy csr (size × n) of dependencies on u, or None (none / not floating point)
    value: object     # when it depends on constants of f only: a numpy value or a `_Lazy` one; else None


class _Lazy:
    """The value of an output of an equation whose inputs are all constants, evaluated only when a rule
    needs it (each evaluation compiles a small XLA program)."""

    def __init__(self, eqn, ins):
        self.eqn, self.ins, self.results = eqn, ins, None

    def get(self, k):
        if self.results is None:
            args = [_value(i) for i in self.ins]
            self.results = [None] * len(self.eqn.outvars)
            if all(a is not None for a in args):
                try:
                    out = self.eqn.primitive.bind(*[jnp.asarray(a) for a in args], **self.eqn.params)
                    out = out if self.eqn.primitive.multiple_results else [out]
                    self.results = [np.asarray(v) for v in out]
                except Exception:
                    pass
        return self.results[k]


def _value(info):
    """The constant value of ``info`` (numpy), or None when it depends on u, p or t."""
    value = info.value
    if isinstance(value, tuple):          # (lazy, output index)
        return value[0].get(value[1])
    return value


def jacobian_sparsity(f, u0, p=None, t0=0.0):
    """The sparsity pattern of ∂f/∂u for f(u, p, t), found by tracing f once (no evaluation at u).

    Returns a boolean `scipy.sparse.csr_matrix` of shape (n, n) over the flattened state (n = number of
    entries of u0), usable as ``ODEProblem(..., jac_prototype=...)``. It depends on the shapes of u0, p
    and t0 only; a value-dependent branch contributes the union of its branches.
    """
    flat, unravel = ravel_pytree(u0)
    if not jnp.issubdtype(flat.dtype, jnp.inexact):
        flat = flat.astype(jnp.result_type(float))
    return detect_pattern(lambda x, p, t: ravel_pytree(f(unravel(x), p, t))[0], flat, p, t0).to_scipy()


def detect_pattern(f_flat, u_flat, p, t0) -> SparsityPattern:
    """`jacobian_sparsity` for f on flat state vectors, as a `SparsityPattern`."""
    n = int(np.size(u_flat))
    abstract = jax.tree_util.tree_map(lambda x: jax.ShapeDtypeStruct(jnp.shape(x), jnp.result_type(x)),
                                      (u_flat, p, t0))
    closed = jax.make_jaxpr(f_flat)(*abstract)
    n_inputs = len(closed.jaxpr.invars)
    args = [_Info(sp.identity(n, np.float32, format="csr"), None)] + [_Info(None, None)] * (n_inputs - 1)
    (out,) = _run(closed.jaxpr, closed.consts, args, n)
    if out.deps is None or out.deps.shape[0] != n:
        if out.deps is None:
            return SparsityPattern(sp.csr_matrix((n, n), dtype=bool))
        raise ValueError(f"f returned {out.deps.shape[0]} values for {n} states")
    return SparsityPattern(out.deps)


# --- the interpreter ---------------------------------------------------------------------------------

def _run(jaxpr, consts, args, n):
    env = {}

    def read(v):
        if is_literal(v):
            return _Info(None, np.asarray(v.val))
        return env[v]

    for var, c in zip(jaxpr.constvars, consts):
        env[var] = _Info(None, np.asarray(c))
    for var, a in zip(jaxpr.invars, args):
        env[var] = a
    for eqn in jaxpr.eqns:
        outs = _equation(eqn, [read(v) for v in eqn.invars], n)
        for var, info in zip(eqn.outvars, outs):
            env[var] = info
    return [read(v) for v in jaxpr.outvars]


def _equation(eqn, ins, n):
    name = eqn.primitive.name
    if all(i.value is not None for i in ins) and not eqn.effects:
        lazy = _Lazy(eqn, ins)
        return [_Info(None, (lazy, k)) for k in range(len(eqn.outvars))]
    outs = [v.aval for v in eqn.outvars]
    if name == "cond":
        return _cond(eqn, ins, n)
    if name == "while":
        return _while(eqn, ins, n)
    if name == "scan":
        return _scan(eqn, ins, n)
    sub = _sub_jaxpr(eqn)
    if sub is not None:
        return _run(*sub, ins, n)
    if not any(_is_float(a) for a in outs):
        return [_Info(None, None) for _ in outs]
    if all(i.deps is None for i in ins):
        return [_Info(None, None) for _ in outs]
    if name in _MOVEMENT:
        moved = _movement(eqn, ins, n)
        return _everything(eqn, ins, n) if moved is None else [
            _Info(_normalized(d) if _is_float(a) else None, None) for d, a in zip(moved, outs)]
    (aval,) = outs if len(outs) == 1 else (None,)
    rule = None
    if name in _ELEMENTWISE:
        rule = _elementwise
    elif name in _SCATTER_ADD:
        rule = _scatter_add
    elif name in _REDUCTIONS:
        rule = _reduction
    elif name in _CUMULATIVE:
        rule = _cumulative
    elif name == "dot_general":
        rule = _dot_general
    elif name == "sort":
        return _sort(eqn, ins, n)
    deps = rule(eqn, ins, aval, n) if (rule is not None and aval is not None) else None
    if deps is None:
        return _everything(eqn, ins, n)
    return [_Info(_normalized(deps), None)]


# --- rules -------------------------------------------------------------------------------------------

def _elementwise(eqn, ins, aval, n):
    size = _size(aval)
    acc = None
    for info, var in zip(ins, eqn.invars):
        if info.deps is None or not _is_float(var.aval):
            continue
        d = info.deps
        if d.shape[0] == 1 and size != 1:
            d = _broadcast_rows(d, size)
        elif d.shape[0] != size:
            return None
        acc = d if acc is None else acc + d
    return acc


def _movement(eqn, ins, n):
    """Replay the data movement on element ids (float64, exact below 2**53; 0 = no source): the
    dependency matrices of all outputs, or None when that is impossible."""
    operands, stacked, offset = [], [], 0
    for info, var in zip(ins, eqn.invars):
        if _is_float(var.aval):
            size = _size(var.aval)
            ids = offset + 1 + np.arange(size, dtype=np.float64)
            operands.append(ids.reshape(var.aval.shape))
            stacked.append(_rows(info.deps, size, n))
            offset += size
        elif _value(info) is not None:
            operands.append(_value(info))
        else:
            return None                          # indices that depend on u, p or t
    outs = _numpy_movement(eqn, operands)
    if outs is None:
        try:
            outs = eqn.primitive.bind(*[jnp.asarray(o) for o in operands], **eqn.params)
        except Exception:
            return None
    stacked = sp.vstack(stacked, format="csr")
    result = []
    for out in (outs if eqn.primitive.multiple_results else [outs]):
        out = np.asarray(out).reshape(-1)
        valid = np.isfinite(out) & (out >= 1)
        positions = np.nonzero(valid)[0]
        select = sp.csr_matrix((np.ones(positions.size, np.float32),
                                (positions, out[positions].astype(np.int64) - 1)), shape=(out.size, offset))
        result.append(select @ stacked)
    return result


def _scatter_add(eqn, ins, aval, n):
    """operand + updates sent to their positions: the transpose of the scatter (a gather) of the output
    ids tells each update element where it lands."""
    (op_info, idx_info, upd_info), (_, _, upd_var) = ins, eqn.invars
    if _value(idx_info) is None:
        return None
    size = _size(aval)
    indices = jnp.asarray(_value(idx_info))
    zeros = jnp.zeros(aval.shape, jnp.float64)
    try:
        _, pullback = jax.vjp(lambda upd: eqn.primitive.bind(zeros, indices, upd, **eqn.params),
                              jnp.zeros(upd_var.aval.shape, jnp.float64))
        (dest,) = pullback(jnp.asarray(1.0 + np.arange(size, dtype=np.float64).reshape(aval.shape)))
    except Exception:
        return None
    dest = np.asarray(dest).reshape(-1)
    valid = np.nonzero(np.isfinite(dest) & (dest >= 1))[0]
    send = sp.csr_matrix((np.ones(valid.size, np.float32), (dest[valid].astype(np.int64) - 1, valid)),
                         shape=(size, dest.size))
    return _rows(op_info.deps, size, n) + send @ _rows(upd_info.deps, dest.size, n)


def _reduction(eqn, ins, aval, n):
    (info,), (var,) = ins, eqn.invars
    shape = var.aval.shape
    keep = [d for d in range(len(shape)) if d not in eqn.params["axes"]]
    coords = np.unravel_index(np.arange(_size(var.aval)), shape)
    target = np.ravel_multi_index([coords[d] for d in keep], [shape[d] for d in keep]) if keep else \
        np.zeros(_size(var.aval), np.int64)
    return _selection(target, _size(aval)) @ _rows(info.deps, _size(var.aval), n)


def _cumulative(eqn, ins, aval, n):
    length = aval.shape[eqn.params["axis"]]
    mask = np.tril(np.ones((length, length), bool))
    return _along_axis(ins[0], aval, eqn.params["axis"], mask.T if eqn.params["reverse"] else mask, n)


def _sort(eqn, ins, n):
    """Every sorted output mixes all elements along the sort axis of every operand."""
    axis = eqn.params["dimension"]
    aval = eqn.outvars[0].aval
    length = aval.shape[axis]
    full = np.ones((length, length), bool)
    acc = None
    for info in ins:
        if info.deps is not None:
            d = _along_axis(info, aval, axis, full, n)
            acc = d if acc is None else acc + d
    return [_Info(_normalized(acc) if _is_float(v.aval) else None, None) for v in eqn.outvars]


def _dot_general(eqn, ins, aval, n):
    (lhs, rhs), (lvar, rvar) = ins, eqn.invars
    (lc, rc), (lb, rb) = eqn.params["dimension_numbers"]
    lfree = [d for d in range(lvar.aval.ndim) if d not in lc and d not in lb]
    rfree = [d for d in range(rvar.aval.ndim) if d not in rc and d not in rb]
    lshape, rshape = lvar.aval.shape, rvar.aval.shape
    B = int(np.prod([lshape[d] for d in lb], dtype=np.int64))
    I = int(np.prod([lshape[d] for d in lfree], dtype=np.int64))
    K = int(np.prod([lshape[d] for d in lc], dtype=np.int64))
    J = int(np.prod([rshape[d] for d in rfree], dtype=np.int64))
    # Original flat index of every operand element, arranged as (B, I, K) and (B, K, J).
    lids = np.arange(_size(lvar.aval)).reshape(lshape).transpose([*lb, *lfree, *lc]).reshape(B, I, K)
    rids = np.arange(_size(rvar.aval)).reshape(rshape).transpose([*rb, *rc, *rfree]).reshape(B, K, J)

    def nonzero(info, perm, shape3):
        value = _value(info) if info.deps is None else None
        if value is None:
            return np.ones(shape3, bool)
        return (np.asarray(value) != 0).transpose(perm).reshape(shape3)

    acc = sp.csr_matrix((B * I * J, n), dtype=np.float32)
    if lhs.deps is not None:        # out[b,i,j] <- lhs[b,i,k] where rhs[b,k,j] != 0
        bb, kk, jj = np.nonzero(nonzero(rhs, [*rb, *rc, *rfree], (B, K, J)))
        ii = np.arange(I)[:, None]
        rows = (bb * I * J + jj)[None, :] + ii * J
        cols = lids[bb[None, :], ii, kk[None, :]]
        acc = acc + _pairs(rows, cols, B * I * J, _size(lvar.aval)) @ _rows(lhs.deps, _size(lvar.aval), n)
    if rhs.deps is not None:        # out[b,i,j] <- rhs[b,k,j] where lhs[b,i,k] != 0
        bb, ii, kk = np.nonzero(nonzero(lhs, [*lb, *lfree, *lc], (B, I, K)))
        jj = np.arange(J)[:, None]
        rows = (bb * I * J + ii * J)[None, :] + jj
        cols = rids[bb[None, :], kk[None, :], jj]
        acc = acc + _pairs(rows, cols, B * I * J, _size(rvar.aval)) @ _rows(rhs.deps, _size(rvar.aval), n)
    return acc


def _cond(eqn, ins, n):
    index, operands = ins[0], ins[1:]
    branches = eqn.params["branches"]
    if _value(index) is not None:
        branches = [branches[int(np.clip(_value(index), 0, len(branches) - 1))]]
    results = [_run(b.jaxpr, b.consts, operands, n) for b in branches]
    return [_union_infos(outs) for outs in zip(*results)]


def _while(eqn, ins, n):
    cn, bn = eqn.params["cond_nconsts"], eqn.params["body_nconsts"]
    body = eqn.params["body_jaxpr"]
    consts, carry = ins[cn:cn + bn], [_Info(i.deps, None) for i in ins[cn + bn:]]
    return _fixed_point(lambda c: _run(body.jaxpr, body.consts, consts + c, n), carry, n)


def _scan(eqn, ins, n):
    nc, ncarry, length = eqn.params["num_consts"], eqn.params["num_carry"], eqn.params["length"]
    body = eqn.params["jaxpr"]
    consts, carry, xs = ins[:nc], [_Info(i.deps, None) for i in ins[nc:nc + ncarry]], ins[nc + ncarry:]
    # Each iteration sees one slice of xs: conservatively, the union of all slices.
    x_infos = [_Info(None if i.deps is None else _normalized(_merge_leading(i.deps, length)), None) for i in xs]
    ys_avals = [v.aval for v in eqn.outvars[ncarry:]]
    ys = [None] * len(ys_avals)

    def step(c):
        outs = _run(body.jaxpr, body.consts, consts + c + x_infos, n)
        for k, y in enumerate(outs[ncarry:]):
            if y.deps is not None:
                ys[k] = y.deps if ys[k] is None else _normalized(ys[k] + y.deps)
        return outs[:ncarry]

    final = _fixed_point(step, carry, n)
    stacked = [_Info(None if d is None else _normalized(sp.vstack([d] * length, format="csr")), None)
               for d in ys]
    return final + stacked


def _fixed_point(step, carry, n, max_rounds=64):
    for _ in range(max_rounds):
        new = [_union_infos((c, o)) for c, o in zip(carry, step(carry))]
        if all(_same(a.deps, b.deps) for a, b in zip(carry, new)):
            return new
        carry = new
    raise RuntimeError("jacobian_sparsity: the dependency propagation through a loop did not settle")


def _everything(eqn, ins, n):
    _warn_once(eqn.primitive.name)
    merged = None
    for info in ins:
        if info.deps is not None and info.deps.shape[0]:
            row = _normalized(sp.csr_matrix(info.deps.sum(axis=0)))
            merged = row if merged is None else merged + row
    return [_Info(None if merged is None or not _is_float(v.aval) else
                  _normalized(_broadcast_rows(merged, _size(v.aval))), None) for v in eqn.outvars]


def _numpy_movement(eqn, operands):
    """The common data-movement primitives in numpy (free, where binding would compile); None for others."""
    name, prm = eqn.primitive.name, eqn.params
    x = operands[0]
    if name == "reshape" and prm.get("dimensions") is None:
        return np.reshape(x, prm["new_sizes"])
    if name == "transpose":
        return np.transpose(x, prm["permutation"])
    if name == "slice":
        strides = prm["strides"] or (1,) * x.ndim
        return x[tuple(slice(a, b, c) for a, b, c in zip(prm["start_indices"], prm["limit_indices"], strides))]
    if name == "squeeze":
        return np.squeeze(x, tuple(prm["dimensions"]))
    if name == "expand_dims":
        return np.expand_dims(x, tuple(prm["dimensions"]))
    if name == "rev":
        return np.flip(x, tuple(prm["dimensions"]))
    if name == "concatenate":
        return np.concatenate(operands, prm["dimension"])
    if name == "stack":
        return np.stack(operands, prm["axis"])
    if name == "split":
        return np.split(x, np.cumsum(prm["sizes"])[:-1], prm["axis"])
    if name in ("copy", "copy_p"):
        return x
    if name == "broadcast_in_dim":
        shape, dims = prm["shape"], prm["broadcast_dimensions"]
        expanded = np.reshape(x, [x.shape[dims.index(d)] if d in dims else 1 for d in range(len(shape))])
        return np.broadcast_to(expanded, shape)
    return None


# --- helpers -----------------------------------------------------------------------------------------

def _sub_jaxpr(eqn):
    """(jaxpr, consts) of a call-like primitive (jit, custom_jvp_call, custom_vjp_call, checkpoint)."""
    for key in ("jaxpr", "call_jaxpr", "fun_jaxpr"):
        sub = eqn.params.get(key)
        if is_closed_jaxpr(sub) and len(sub.jaxpr.invars) == len(eqn.invars):
            return sub.jaxpr, sub.consts
        if is_jaxpr(sub) and len(sub.invars) == len(eqn.invars):
            return sub, []
    return None


def _along_axis(info, aval, axis, mask, n):
    """Output element (…, k, …) depends on input elements (…, m, …) with mask[k, m]."""
    shape = aval.shape
    pre = int(np.prod(shape[:axis], dtype=np.int64))
    post = int(np.prod(shape[axis + 1:], dtype=np.int64))
    select = sp.kron(sp.identity(pre, format="csr"), sp.kron(sp.csr_matrix(mask.astype(np.float32)),
                                                            sp.identity(post, format="csr")), format="csr")
    return select @ _rows(info.deps, _size(aval), n)


def _union_infos(infos):
    deps = [i.deps for i in infos if i.deps is not None]
    if not deps:
        return _Info(None, None)
    acc = deps[0]
    for d in deps[1:]:
        acc = acc + d
    return _Info(_normalized(acc), None)


def _same(a, b):
    if a is None or b is None:
        return a is None and b is None
    return a.shape == b.shape and a.nnz == b.nnz and (a != b).nnz == 0


def _merge_leading(deps, length):
    rows_per = deps.shape[0] // max(length, 1)
    return _selection(np.arange(deps.shape[0]) % max(rows_per, 1), max(rows_per, 1)) @ deps


def _selection(target, size):
    return sp.csr_matrix((np.ones(target.size, np.float32), (target, np.arange(target.size))),
                         shape=(size, target.size))


def _pairs(rows, cols, n_rows, n_cols):
    rows, cols = np.broadcast_arrays(rows, cols)
    return sp.csr_matrix((np.ones(rows.size, np.float32), (rows.ravel(), cols.ravel())), shape=(n_rows, n_cols))


def _rows(deps, size, n):
    return sp.csr_matrix((size, n), dtype=np.float32) if deps is None else deps


def _broadcast_rows(row, size):
    return sp.csr_matrix(np.ones((size, 1), np.float32)) @ row


def _normalized(m):
    m = sp.csr_matrix(m, dtype=np.float32)
    m.sum_duplicates()
    m.data[:] = 1.0
    return m


def _size(aval):
    return int(np.prod(aval.shape, dtype=np.int64))


def _is_float(aval):
    return hasattr(aval, "dtype") and jnp.issubdtype(aval.dtype, jnp.inexact)


_warned: set = set()


def _warn_once(name):
    if name not in _warned:
        _warned.add(name)
        warnings.warn(f"jacobian_sparsity: the primitive '{name}' is not analysed; assuming each of its "
                      "outputs depends on all of its inputs (the pattern stays valid but denser)", stacklevel=3)
