"""Run a function written for one trajectory's small arrays on "lanes": every array element becomes a vector
holding that element for a block of trajectories.

Why: Pallas' Triton lowering accepts only arrays with a power-of-two number of elements, while a right-hand
side such as Lorenz builds (3,)-arrays (``x, y, z = u``; ``jnp.array([...])``). Re-evaluating the traced
jaxpr of f with each (3,)-array held as a NumPy object array of three lane vectors of shape (B,) (B a power of
two) leaves only (B,)-shaped values, and it is also DiffEqGPU's layout: one thread (lane) per trajectory.

Supported: elementwise primitives, the structural ones a right-hand side (or its forward-mode Jacobian) uses
(slice, squeeze, reshape, broadcast_in_dim, stack, concatenate, split, transpose, reductions, dot_general without
batch dimensions, iota) and nested calls (pjit, custom_jvp/vjp). A primitive outside this set (a gather with a
traced index, a loop inside f) raises a TypeError naming it.
"""
import functools

import jax.numpy as jnp
import numpy as np

from .._core.jaxprs import is_literal

_ELEMENTWISE = {
    "abs", "acos", "acosh", "add", "add_any", "and", "asin", "asinh", "atan", "atan2", "atanh", "cbrt", "ceil", "clamp",
    "convert_element_type", "copy", "copy_p", "cos", "cosh", "digamma", "div", "eq", "erf", "erf_inv", "erfc", "exp",
    "exp2", "expm1", "floor", "ge", "gt", "integer_pow", "is_finite", "le", "lgamma", "log", "log1p", "logistic",
    "lt", "max", "min", "mul", "ne", "neg", "nextafter", "not", "or", "pow", "reduce_precision", "rem", "round",
    "rsqrt", "select_n", "sign", "sin", "sinh", "sqrt", "square", "sub", "tan", "tanh", "xor",
}


def as_lanes(value, dtype=None):
    """An object array whose elements are the scalars (or lane vectors) of ``value``."""
    arr = np.asarray(value) if not isinstance(value, np.ndarray) else value
    out = np.empty(arr.shape, dtype=object)
    for index in np.ndindex(arr.shape):
        out[index] = jnp.asarray(arr[index], dtype if dtype is not None else arr.dtype)
    return out


def evaluate(closed_jaxpr, *args):
    """Evaluate ``closed_jaxpr`` on object-array arguments (elements: scalars or (B,) lane vectors)."""
    jaxpr = closed_jaxpr.jaxpr
    consts = [as_lanes(np.asarray(c), v.aval.dtype) for c, v in zip(closed_jaxpr.consts, jaxpr.constvars)]
    return _eval(jaxpr, consts, list(args))


def _eval(jaxpr, consts, args):
    env = {}

    def read(v):
        if is_literal(v):
            return as_lanes(np.asarray(v.val), v.aval.dtype)
        return env[v]

    for v, x in zip(jaxpr.constvars, consts):
        env[v] = x
    for v, x in zip(jaxpr.invars, args):
        env[v] = x
    for eqn in jaxpr.eqns:
        ins = [read(v) for v in eqn.invars]
        outs = _apply(eqn, ins)
        if not eqn.primitive.multiple_results:
            outs = [outs]
        for v, x in zip(eqn.outvars, outs):
            env[v] = x
    return [read(v) for v in jaxpr.outvars]


def _elementwise(prim, params, ins):
    shape = np.broadcast_shapes(*(x.shape for x in ins))
    ins = [np.broadcast_to(x, shape) for x in ins]
    out = np.empty(shape, dtype=object)
    for index in np.ndindex(shape):
        xs = [x[index] for x in ins]
        lane = functools.reduce(lambda a, b: a if len(a) >= len(b) else b, (jnp.shape(x) for x in xs))
        out[index] = prim.bind(*(jnp.broadcast_to(x, lane) for x in xs), **params)
    return out


def _reduce(ins, axes, op):
    x = ins[0]
    moved = np.moveaxis(x, axes, tuple(range(len(axes))))
    flat = moved.reshape((-1,) + moved.shape[len(axes):])
    out = np.empty(flat.shape[1:], dtype=object)
    for index in np.ndindex(out.shape):
        out[index] = functools.reduce(op, [flat[(k,) + index] for k in range(flat.shape[0])])
    return out


def _apply(eqn, ins):
    name, params = eqn.primitive.name, eqn.params
    if name in _ELEMENTWISE:
        return _elementwise(eqn.primitive, params, ins)
    x = ins[0] if ins else None
    if name == "broadcast_in_dim":
        shape, dims = params["shape"], params["broadcast_dimensions"]
        expanded = x.reshape([x.shape[dims.index(d)] if d in dims else 1 for d in range(len(shape))])
        return np.broadcast_to(expanded, shape).copy()
    if name == "reshape":
        return x.reshape(params["new_sizes"])
    if name == "squeeze":
        return np.squeeze(x, axis=tuple(params["dimensions"]))
    if name == "expand_dims":
        return np.expand_dims(x, tuple(params["dimensions"]))
    if name == "slice":
        strides = params["strides"] or (1,) * x.ndim
        return x[tuple(slice(a, b, s) for a, b, s in zip(params["start_indices"], params["limit_indices"], strides))]
    if name == "stack":
        return np.stack(ins, axis=params["axis"])
    if name == "split":       # (forward-mode Jacobians split their basis and results)
        bounds = np.cumsum(params["sizes"])[:-1]
        return np.split(x, bounds, axis=params["axis"])
    if name == "concatenate":
        return np.concatenate(ins, axis=params["dimension"])
    if name == "transpose":
        return np.transpose(x, params["permutation"])
    if name == "reduce_sum":
        return _reduce(ins, tuple(params["axes"]), lambda a, b: a + b)
    if name == "reduce_prod":
        return _reduce(ins, tuple(params["axes"]), lambda a, b: a * b)
    if name == "reduce_max":
        return _reduce(ins, tuple(params["axes"]), jnp.maximum)
    if name == "reduce_min":
        return _reduce(ins, tuple(params["axes"]), jnp.minimum)
    if name == "dot_general":
        (contract_a, contract_b), (batch_a, batch_b) = params["dimension_numbers"]
        if batch_a or batch_b:
            raise TypeError("EnsembleGPUKernel: dot_general with batch dimensions in f is not supported in the kernel")
        return np.asarray(np.tensordot(ins[0], ins[1], axes=(tuple(contract_a), tuple(contract_b))), dtype=object)
    if name == "iota":
        # a constant: numpy, not lax.iota (which would be traced inside the kernel)
        values = np.arange(params["shape"][params["dimension"]], dtype=np.dtype(params["dtype"]))
        arr = values.reshape([-1 if d == params["dimension"] else 1 for d in range(len(params["shape"]))])
        return as_lanes(np.broadcast_to(arr, params["shape"]), params["dtype"])
    if name in ("pjit", "jit", "closed_call", "core_call"):
        inner = params.get("jaxpr", params.get("call_jaxpr"))
        return evaluate(inner, *ins) if hasattr(inner, "jaxpr") else _eval(inner, [], ins)
    if name in ("custom_jvp_call", "custom_vjp_call", "custom_vjp_call_jaxpr"):
        inner = params.get("call_jaxpr", params.get("fun_jaxpr"))
        n_consts = params.get("num_consts", 0) if name == "custom_vjp_call_jaxpr" else 0
        return evaluate(inner, *ins[n_consts:]) if n_consts else evaluate(inner, *ins)
    raise TypeError(f"EnsembleGPUKernel: the right-hand side uses the primitive {name!r}, which the kernel cannot "
                    "split into per-trajectory lanes; use EnsembleVmap for this problem")
