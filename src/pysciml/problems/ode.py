"""`ODEProblem`: du/dt = f(u, p, t) on tspan = (t0, t1) from u0, immutable, with `remake`.

A problem is a JAX pytree (u0, tspan and p are its leaves, f is static), so it can be passed through
`jax.jit` and `jax.vmap` like an array.
"""
import dataclasses
import math
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from .._core.trees import is_concrete
from ..linalg.sparsity import as_sparsity_pattern


def problem_pytree(dynamic, static):
    """Class decorator for frozen-dataclass problems: a JAX pytree whose ``dynamic`` fields are leaves and
    ``static`` fields auxiliary data, with `remake` (a copy with some fields replaced). Returns the decorator,
    which registers the class and returns it."""
    names = dynamic + static

    def decorate(cls):
        def tree_flatten(self):
            return tuple(getattr(self, n) for n in dynamic), tuple(getattr(self, n) for n in static)

        def tree_unflatten(cls_, aux, children):
            # Skip validation: inside transformations the leaves may be tracers or placeholders.
            obj = object.__new__(cls_)
            for name, value in zip(names, (*children, *aux)):
                object.__setattr__(obj, name, value)
            return obj

        def remake(self, **changes):
            """A copy of the problem with the fields named in ``changes`` replaced (e.g. ``prob.remake(p=new_p)``;
            the original is unchanged). Returns the new problem, of the same class; a `TypeError` names an unknown
            field.
            """
            unknown = set(changes) - set(names)
            if unknown:
                raise TypeError(f"remake: unknown field(s) {sorted(unknown)}; expected {', '.join(names)}")
            return dataclasses.replace(self, **changes)

        cls.tree_flatten, cls.tree_unflatten, cls.remake = tree_flatten, classmethod(tree_unflatten), remake
        return jax.tree_util.register_pytree_node_class(cls)

    return decorate


@problem_pytree(dynamic=("u0", "tspan", "p", "mass_matrix"), static=("f", "jac", "jac_prototype"))
@dataclasses.dataclass(frozen=True)
class ODEProblem:
    """An initial value problem M du/dt = f(u, p, t), u(t0) = u0, for t from tspan[0] to tspan[1].

    f: pure JAX function returning an array (or pytree) shaped like u0. u0: an array or a pytree of arrays
    (integers are promoted to float64; float32 states are solved in float32); a list or tuple of numbers,
    such as ``[1.0, 1.0]``, is an array, while a list or tuple of arrays is a pytree state. tspan: (t0, t1), t1 < t0
    integrates backwards. p: parameters of any pytree form (or None). jac: optional ∂f/∂u as
    jac(u, p, t) -> (n, n) array (n = number of states) for implicit methods; by default forward-mode AD.
    mass_matrix: M in M du/dt = f(u, p, t), an (n, n) array; a singular M makes an index-1 DAE (zero rows
    are algebraic equations), solved by the Rosenbrock and ESDIRK methods.
    jac_prototype: the sparsity pattern of ∂f/∂u over the flattened state: an (n, n) numpy/jax array (its
    non-zeros) or scipy.sparse matrix, or 'auto' to detect it by tracing f (`pysciml.linalg.jacobian_sparsity`).
    Implicit methods then form J with one forward-mode product per column color; with
    ``linsolve='sparse'`` no dense n×n matrix is built.
    """
    f: Callable
    u0: Any
    tspan: tuple
    p: Any = None
    jac: Callable | None = None
    mass_matrix: Any = None
    jac_prototype: Any = None

    def __post_init__(self):
        if not callable(self.f):
            raise TypeError(f"ODEProblem: f must be callable as f(u, p, t); got {type(self.f).__name__}")
        check_rhs_signature(self.f)
        if self.jac is not None and not callable(self.jac):
            raise TypeError(f"ODEProblem: jac must be callable as jac(u, p, t); got {type(self.jac).__name__}")
        object.__setattr__(self, "tspan", check_tspan(self.tspan))
        object.__setattr__(self, "u0", as_state(self.u0))
        check_u0(self.u0)
        object.__setattr__(self, "jac_prototype", _check_jac_prototype(self.jac_prototype, self.u0))


def check_rhs_signature(f, name="f", form="f(u, p, t)"):
    """Refuse right-hand sides that cannot be called as f(u, p, t): Julia's in-place f!(du, u, p, t) (four
    required arguments) and functions of fewer arguments (e.g. f(u, t)). Callables whose signature cannot be
    read are accepted (the output check in `solve` still runs). ``name``: the argument's name in the error
    message; ``form``: the call form it must accept, e.g. "g(u, p, t)". Returns None; raises TypeError with
    the fix."""
    import inspect

    try:
        params = list(inspect.signature(f).parameters.values())
    except (TypeError, ValueError):
        return
    if any(p.kind == p.VAR_POSITIONAL for p in params):
        return
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    required = [p for p in positional if p.default is p.empty]
    if len(required) == 4:
        raise TypeError(
            f"{name} takes four arguments ({', '.join(p.name for p in required)}): that is Julia's in-place form "
            f"{name}!(du, u, p, t). pysciml's {name} is out of place, {form} -> du/dt: return the derivative, "
            "e.g. `return jnp.array([a * x - b * x * y, ...])` (JAX arrays cannot be written in place)")
    if len(positional) < 3:
        raise TypeError(f"{name} must accept three arguments, {form}; it takes "
                        f"({', '.join(p.name for p in positional)}). Add the unused ones, e.g. "
                        f"`def {name}(u, p, t)` for a problem without parameters")


def check_tspan(tspan):
    """tspan as a (t0, t1) tuple; concrete values must be finite and distinct (ValueError otherwise). Returns
    the tuple."""
    if isinstance(tspan, (str, bytes)) or not hasattr(tspan, "__len__") or len(tspan) != 2:
        raise ValueError(f"tspan must be two numbers (t0, t1); got {tspan!r}")
    t0, t1 = tspan
    for name, value in (("t0", t0), ("t1", t1)):
        if jnp.ndim(value) != 0:
            raise ValueError(f"tspan: {name} must be a scalar; got shape {jnp.shape(value)}")
        if is_concrete(value):
            v = np.asarray(value)
            if not np.issubdtype(v.dtype, np.number) or np.iscomplexobj(v) or not math.isfinite(float(v)):
                raise ValueError(f"tspan must be two finite real numbers; got {name} = {value!r}")
    if is_concrete(t0, t1) and float(t0) == float(t1):
        raise ValueError(f"tspan must have t0 != t1; got t0 = t1 = {float(t0)}")
    return (t0, t1)


def as_state(u0):
    """u0 with lists and tuples of plain numbers made arrays: ``[1.0, 1.0]`` is the state vector
    ``jnp.array([1.0, 1.0])`` (as in Julia), and nested lists of numbers make a matrix. A list or tuple that
    holds arrays stays a pytree state (e.g. ``(position_array, velocity_array)``), as do dicts. Returns the
    state."""
    if isinstance(u0, (list, tuple)) and _numbers_only(u0):
        return jnp.asarray(u0)
    return u0


def _numbers_only(seq):
    if len(seq) == 0:
        return False
    return all(_numbers_only(x) if isinstance(x, (list, tuple)) else
               isinstance(x, (int, float, complex, np.number)) and not isinstance(x, bool) for x in seq)


def check_u0(u0):
    """u0 must be numeric leaves; concrete values must be finite. Returns None; raises ValueError (empty or
    non-finite) or TypeError (non-numeric)."""
    leaves = jax.tree_util.tree_leaves(u0)
    if not leaves:
        raise ValueError("u0 must be an array or a pytree with at least one array; got an empty structure")
    for leaf in leaves:
        if not is_concrete(leaf):
            continue
        arr = np.asarray(leaf)
        if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
            raise TypeError(f"u0 must hold numbers; got dtype {arr.dtype}")
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"u0 must be finite; it holds NaN or Inf: {arr}")


def _check_jac_prototype(prototype, u0):
    """None, 'auto', or a `SparsityPattern` checked against the number of states."""
    if prototype is None or (isinstance(prototype, str) and prototype == "auto"):
        return prototype
    if isinstance(prototype, str):
        raise ValueError(f"jac_prototype: expected a sparsity pattern or 'auto'; got {prototype!r}")
    n = sum(int(np.size(leaf)) for leaf in jax.tree_util.tree_leaves(u0))
    return as_sparsity_pattern(prototype, n)
