"""The checks `solve` makes on its input before anything compiles: options, tolerances, times, the
algorithm and controller, and the shapes the user's functions return.

Every check on values runs only when the values are concrete, so `solve` stays usable under `jax.jit`,
`jax.vmap` and `jax.jvp`. The output checks of f and jac trace them once per (function, state layout,
parameter layout): `_checked` remembers those already seen.
"""
import difflib
import inspect
import math
import warnings

import jax
import jax.numpy as jnp
import numpy as np

from .._core.trees import FlatSpec, is_concrete
from ..controllers import Controller, PIController
from ..solvers.base import Algorithm


# Keyword arguments of DifferentialEquations.jl's solve and what to write in pysciml (None: no counterpart).
JULIA_NAMES = {
    "reltol": "rtol", "abstol": "atol", "maxiters": "max_steps", "d_discontinuities": "tstops",
    "save_on": "save_everystep=False (with saveat=None: only the end points)",
    "save_end": None, "save_idxs": "index sol.u[:, idxs] after solving",
    "qmin": "controller=PIController(qmin=...)", "qmax": "controller=PIController(qmax=...)",
    "gamma": "controller=PIController(safety=...)", "beta1": "controller=PIController(beta1=...)",
    "beta2": "controller=PIController(beta2=...)", "qsteady_min": None, "qsteady_max": None,
    "u0": "prob.remake(u0=...)", "p": "prob.remake(p=...)", "tspan": "prob.remake(tspan=...)",
    "prob_func": "EnsembleProblem(prob, prob_func=...)", "output_func": "EnsembleProblem(prob, output_func=...)",
    "reduction": "EnsembleProblem(prob, reduction=...)", "seed": "EnsembleProblem(prob, key=seed)",
    "alg_hints": "an algorithm, e.g. Rodas5P() for a stiff problem", "internalnorm": None, "force_dtmin": None,
    "unstable_check": None, "isoutofdomain": None, "verbose": None, "progress": None, "alias_u0": None,
    "initializealg": None, "dense_errors": None, "timeseries_errors": None,
}


def unknown_options_message(unknown, options):
    """The TypeError text for keyword arguments `solve` does not know: the pysciml spelling of Julia
    keywords, a close match for typos, and the list of options."""
    parts = []
    for name in unknown:
        if name in JULIA_NAMES:
            hint = JULIA_NAMES[name]
            parts.append(f"'{name}' is DifferentialEquations.jl's spelling: in pysciml use {hint}" if hint else
                         f"'{name}' (a DifferentialEquations.jl option) has no pysciml counterpart")
        else:
            close = difflib.get_close_matches(name, list(options), n=1)
            parts.append(f"'{name}' is not an option" + (f" (did you mean '{close[0]}'?)" if close else ""))
    return ("solve() got an unexpected keyword argument: " + "; ".join(parts)
            + f". Options: {', '.join(options)} (see help(pysciml.solve)).")



def p_layout(p):
    return jax.tree_util.tree_structure(p), tuple(
        (jnp.shape(x), str(jnp.result_type(x))) for x in jax.tree_util.tree_leaves(p))


_checked: set = set()


def forget(*fns):
    """Drop the checks remembered for these functions: a function that closes over traced values must not
    stay referenced from this module-level set once its trace is over (a leaked tracer)."""
    _checked.difference_update([key for key in _checked if any(f is not None and any(f is x for x in key)
                                                                for f in fns)])


def check_jac_output(jac, spec, p_layout, p, t0):
    """jac(u, p, t) returns an (n, n) matrix. Checked once per (jac, state layout and dtype, parameter
    layout), like f (`_checked`): tracing the user's Jacobian costs milliseconds (about 3 ms at n = 100) on
    every solve otherwise."""
    key = ("jac", jac, spec, p_layout)
    try:
        if key in _checked:
            return
    except TypeError:   # an unhashable jac: check every time
        key = None
    n = spec.size
    flat = jax.ShapeDtypeStruct((n,), spec.dtype)
    out = jax.eval_shape(lambda v: jac(spec.unravel(v), p, jnp.asarray(t0, jnp.finfo(spec.dtype).dtype)), flat)
    shape = tuple(getattr(out, "shape", ()))
    if shape not in ((n, n),) and not (spec.is_single_array and shape == spec.shapes[0] * 2):
        raise ValueError(f"jac returned shape {shape}; expected ({n}, {n}) for {n} states: "
                         "jac(u, p, t) must return the matrix ∂f/∂u")
    if key is not None:
        _checked.add(key)



def check_rhs_output(f, spec, p_layout, p, t0):
    key = (f, spec, p_layout)
    try:
        if key in _checked:
            return
    except TypeError:   # an unhashable f: check every time
        key = None
    flat = jax.ShapeDtypeStruct((spec.size,), spec.dtype)
    try:
        out = jax.eval_shape(lambda v: f(spec.unravel(v), p, jnp.asarray(t0, jnp.finfo(spec.dtype).dtype)), flat)
    except (TypeError, IndexError, KeyError, AttributeError) as error:
        if p is None:   # the usual cause: f reads parameters the problem was not given
            raise TypeError(f"f(u, p, t) failed with p=None ({type(error).__name__}: {error}). The problem has no "
                            "parameters: pass them as ODEProblem(f, u0, tspan, p) or prob.remake(p=...)") from error
        raise
    if out is None:
        raise TypeError("f returned None: f(u, p, t) must return du/dt (out of place; JAX arrays cannot be "
                        "written in place as in Julia's f!(du, u, p, t)), e.g. `return jnp.array([...])`")
    got_leaves, got_tree = jax.tree_util.tree_flatten(out)
    got_shapes = tuple(tuple(x.shape) for x in got_leaves)
    if got_tree != spec.treedef or got_shapes != spec.shapes:
        expected = spec.shapes[0] if spec.is_single_array else jax.eval_shape(spec.unravel, flat)
        got = got_shapes[0] if len(got_shapes) == 1 and got_tree == jax.tree_util.tree_structure(0) else out
        raise ValueError(f"f returned shape {describe(got)} but u0 has shape {describe(expected)}: "
                         "f(u, p, t) must return du/dt with the same shape as u")
    for leaf in got_leaves:
        kind = jnp.dtype(leaf.dtype)
        if not jnp.issubdtype(kind, jnp.inexact) or (jnp.issubdtype(kind, jnp.complexfloating)
                                                      and not jnp.issubdtype(spec.dtype, jnp.complexfloating)):
            raise TypeError(f"f returned dtype {kind} for a {spec.dtype} state: f(u, p, t) must return "
                            f"floating-point values (shape {tuple(leaf.shape)})")
    if key is not None:
        _checked.add(key)


def describe(shape_or_tree):
    if isinstance(shape_or_tree, tuple):
        return str(shape_or_tree)
    return str(jax.tree_util.tree_map(lambda x: tuple(x.shape), shape_or_tree))


# --- argument checks ---------------------------------------------------------------------------------

def check_step_options(alg, adaptive, dt, max_steps, rtol, atol, dtmin, dtmax, spec, dtype, t0, t1):
    """The step-control options of a solve, checked and with their defaults: (adaptive, max_steps, rtol,
    atol, dt, dtmin, dtmax). Shared by every problem type's `solve`."""
    tdtype = jnp.finfo(dtype).dtype
    _warn_below_precision(rtol, dtype)
    adaptive = alg.adaptive if adaptive is None else bool(adaptive)
    if adaptive and not alg.adaptive:
        raise ValueError(f"alg: {alg!r} is a fixed-step method without an error estimate; pass dt=... "
                         "(it then runs with adaptive=False)" if dt is None else
                         f"adaptive: {alg!r} has no error estimate, so adaptive=True is impossible")
    if not adaptive and dt is None:
        raise ValueError(f"dt: a fixed-step solve (alg={alg!r}, adaptive=False) needs a step size dt")
    if not isinstance(max_steps, (int, np.integer)) or isinstance(max_steps, bool) or max_steps <= 0:
        raise ValueError(f"max_steps must be a positive integer; got {max_steps!r}")
    rtol = check_tolerance("rtol", rtol, spec, dtype)
    atol = check_tolerance("atol", atol, spec, dtype)
    _warn_unreachable_tolerance(alg, adaptive, rtol, dtype)
    dt = check_positive_scalar("dt", dt, tdtype, allow_none=True)
    dtmax = check_positive_scalar("dtmax", dtmax, tdtype, allow_none=True)
    dtmin = check_positive_scalar("dtmin", dtmin, tdtype, allow_none=True, allow_zero=True)
    dtmax = jnp.abs(t1 - t0) if dtmax is None else dtmax
    # No user bound: the loop's floor relative to the current t applies (controllers.step_floor).
    dtmin = jnp.zeros((), tdtype) if dtmin is None else dtmin
    return adaptive, int(max_steps), rtol, atol, dt, dtmin, dtmax


_PRECISION_FACTOR = 4   # rtol below this many machine epsilons: the error estimate is rounding noise


def _warn_below_precision(rtol, dtype):
    """Warn (before solving) when rtol is below what the state's floating-point type can resolve: the
    local error estimates are then rounding noise, the step size collapses and the solve ends in MaxIters.
    The raw (not yet converted) rtol is inspected, so the warning also comes under jit for a constant rtol."""
    leaves = jax.tree_util.tree_leaves(rtol)
    if not leaves or not is_concrete(*leaves):
        return
    try:
        smallest = min(float(np.min(np.asarray(leaf))) for leaf in leaves)
    except (TypeError, ValueError):   # not numbers: check_tolerance reports it
        return
    eps = float(jnp.finfo(dtype).eps)
    if 0 < smallest < _PRECISION_FACTOR * eps:
        name = jnp.dtype(dtype).name
        advice = ("solve in float64 (u0 = jnp.asarray(u0, jnp.float64)) or " if jnp.finfo(dtype).bits < 64 else "")
        warnings.warn(
            f"rtol={smallest:g} is below the precision of {name} (machine epsilon {eps:.3g}): the error "
            f"estimates would be rounding noise and the solve would crawl until max_steps. {advice.capitalize()}"
            f"use rtol >= {10 * eps:.0e} for {name}.", UserWarning, stacklevel=5)


# Below this many rounding units, a scaled local error estimate is dominated by rounding: steps shrink
# until dtmin or max_steps end the solve.
_RESOLVABLE_ROUNDING_UNITS = 100


def _warn_unreachable_tolerance(alg, adaptive, rtol, dtype):
    """Warn when a low-order method's step control (rtol^e, `Algorithm.tolerance_exponent`) asks for a
    relative accuracy the float type cannot resolve: the solve will end with DtLessThanMin or MaxIters,
    and a higher-order method reaches that rtol."""
    e = getattr(alg, "tolerance_exponent", 1.0)
    if not adaptive or e == 1.0 or not is_concrete(rtol):
        return
    smallest = float(jnp.min(jnp.where(rtol > 0, rtol, jnp.inf)))
    floor = _RESOLVABLE_ROUNDING_UNITS * float(jnp.finfo(dtype).eps)
    if math.isfinite(smallest) and smallest ** e < floor:
        warnings.warn(f"rtol={smallest:g} is too tight for {alg!r}: an order-{alg.order} method controls its "
                      f"steps with rtol^{e:g} = {smallest ** e:.1e} (tolerance proportionality), below "
                      f"{_RESOLVABLE_ROUNDING_UNITS} rounding units of {jnp.dtype(dtype).name}; expect DtLessThanMin "
                      f"or MaxIters. Use a higher-order method (Rodas5P, RadauIIA5) for this rtol.",
                      RuntimeWarning, stacklevel=4)


def _algorithm_names():
    from .. import solvers
    return {name.lower(): name for name in solvers.__all__
            if isinstance(getattr(solvers, name), type) and issubclass(getattr(solvers, name), Algorithm)
            and not inspect.isabstract(getattr(solvers, name))
            and name not in ("ExplicitRK", "Rosenbrock", "Esdirk")}


def check_algorithm(alg):
    """The algorithm instance (None stays None: `default_algorithm` then picks one for the problem)."""
    if alg is None:
        return None
    if isinstance(alg, str):
        from .. import solvers
        known = _algorithm_names()
        name = known.get(alg.lower())
        if name is None:
            raise ValueError(f"alg: unknown algorithm {alg!r}; known: {sorted(known.values())}")
        return getattr(solvers, name)()
    if isinstance(alg, type) and issubclass(alg, Algorithm):
        return alg()
    if not isinstance(alg, Algorithm):
        raise TypeError(f"alg: expected an algorithm such as pysciml.Tsit5(); got {alg!r}")
    return alg


def check_controller(controller):
    if controller is None:
        return PIController()
    if not isinstance(controller, Controller):
        raise TypeError(f"controller: expected PIController(...) or PIDController(...); got {controller!r}")
    return controller


def check_mass_matrix(mass, spec, alg):
    """The mass matrix as an (n, n) array of the state dtype; only implicit methods accept one."""
    if mass is None:
        return None
    n = spec.size
    if jnp.shape(mass) != (n, n):
        raise ValueError(f"mass_matrix must have shape ({n}, {n}) for {n} states; got {jnp.shape(mass)}")
    if not getattr(alg, "supports_mass_matrix", False):
        raise ValueError(f"mass_matrix: {alg!r} cannot solve M du/dt = f; use a stiff method that can, such as "
                         "Rodas5P(), KenCarp4() or RadauIIA5()")
    matrix = jnp.asarray(mass, spec.dtype)
    if is_concrete(matrix) and not np.all(np.isfinite(np.asarray(matrix))):
        raise ValueError("mass_matrix must be finite")
    linsolve = alg.linear_solver
    if getattr(linsolve, "diagonal_mass_only", False) and is_concrete(matrix) and np.any(
            np.asarray(matrix) != np.diag(np.diagonal(np.asarray(matrix)))):
        raise ValueError(f"mass_matrix: linsolve={linsolve!r} supports diagonal mass matrices only; use "
                         "linsolve='lu' or 'krylov'")
    return matrix


def direction(t0, t1):
    return jnp.where(t1 >= t0, 1.0, -1.0).astype(t0.dtype)


def check_tolerance(name, value, spec, dtype):
    real = jnp.finfo(dtype).dtype
    leaves = jax.tree_util.tree_leaves(value)
    if len(leaves) == 1 and jnp.ndim(leaves[0]) == 0:
        tol = jnp.asarray(leaves[0], real)
    else:
        try:
            shapes = tuple(tuple(jnp.shape(x)) for x in leaves)
            same = jax.tree_util.tree_structure(value) == spec.treedef and shapes == spec.shapes
        except Exception:
            same = False
        if not same:
            raise ValueError(f"{name} must be a positive scalar or shaped like u0 {describe(spec.shapes[0] if spec.is_single_array else spec.shapes)}; "
                             f"got shape {describe(jax.tree_util.tree_map(jnp.shape, value))}")
        tol = FlatSpec(spec.treedef, spec.shapes, real).ravel(value)
    if is_concrete(tol):
        arr = np.asarray(tol)
        if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
            raise ValueError(f"{name} must be positive and finite; got {value!r}")
    return tol


def check_positive_scalar(name, value, dtype, allow_none=False, allow_zero=False):
    if value is None and allow_none:
        return None
    if jnp.ndim(value) != 0:
        raise ValueError(f"{name} must be a scalar; got shape {jnp.shape(value)}")
    arr = jnp.abs(jnp.asarray(value, dtype))
    if is_concrete(value):
        v = float(value)
        if not math.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
            raise ValueError(f"{name} must be a finite {'non-negative' if allow_zero else 'non-zero'} number; got {value!r}")
    return arr


def check_saveat(saveat, tspan, dtype):
    """saveat as a 1-D array of times (a scalar is a spacing from t0). ``tspan`` is the problem's own (t0, t1)
    (not yet converted to arrays, which inside jit would be tracers), so a spacing and the range checks work
    under an outer jit too, e.g. in a vmapped ensemble."""
    if saveat is None:
        return None
    t0, t1 = tspan
    if jnp.ndim(saveat) == 0:
        if not is_concrete(saveat, t0, t1):
            raise ValueError("saveat: a scalar spacing needs a concrete tspan; pass an array of times instead")
        spacing = float(saveat)
        if not math.isfinite(spacing) or spacing <= 0:
            raise ValueError(f"saveat: a scalar saveat is a spacing and must be positive; got {saveat!r}")
        a, b = float(t0), float(t1)
        n = int(math.floor(abs(b - a) / spacing * (1 + 1e-12)))
        times = a + math.copysign(spacing, b - a) * np.arange(n + 1)
        if abs(times[-1] - b) > 1e-12 * max(abs(a), abs(b), spacing):
            times = np.append(times, b)
        times[-1] = b if abs(times[-1] - b) <= 1e-12 * max(abs(a), abs(b), spacing) else times[-1]
        return jnp.asarray(times, dtype)
    if jnp.ndim(saveat) != 1 or jnp.shape(saveat)[0] == 0:
        raise ValueError(f"saveat must be a non-empty 1-D array of times (or a scalar spacing); got shape {jnp.shape(saveat)}")
    if is_concrete(saveat, t0, t1):
        arr, a, b = np.asarray(saveat, dtype), float(t0), float(t1)
        d = 1.0 if b > a else -1.0
        if not np.all(np.isfinite(arr)):
            raise ValueError("saveat must hold finite times")
        slack = 1e-12 * max(abs(a), abs(b), 1.0)
        if np.any(d * (arr - a) < -slack) or np.any(d * (arr - b) > slack):
            raise ValueError(f"saveat times must lie within tspan ({a}, {b}); got values from {arr.min()} to {arr.max()}")
        if np.any(d * np.diff(arr) < 0):
            raise ValueError(f"saveat must be sorted in the direction of integration ({'increasing' if d > 0 else 'decreasing'})")
    return jnp.asarray(saveat, dtype)


def saveat_starts_at_t0(saveat, tspan):
    """Whether the saveat times begin at t0 (so that save_start=False drops that first point, as in
    DifferentialEquations.jl). Decided before tracing; a traced saveat cannot be inspected, so it is refused
    with save_start=False."""
    if saveat is None:
        return False
    if jnp.ndim(saveat) == 0:
        return True   # a spacing: the grid starts at t0
    t0 = tspan[0]
    if not is_concrete(saveat, t0):
        raise ValueError("save_start=False with a traced saveat: whether saveat begins at t0 cannot be known "
                         "at trace time; leave t0 out of saveat instead")
    first, start = float(np.asarray(saveat)[0]), float(t0)
    return abs(first - start) <= 1e-12 * max(abs(start), 1.0)


def check_tstops(tstops, t0, t1, direction, dtype):
    if tstops is None:
        return None
    if jnp.ndim(tstops) > 1:
        raise ValueError(f"tstops must be a 1-D array of times; got shape {jnp.shape(tstops)}")
    times = jnp.atleast_1d(jnp.asarray(tstops, dtype))
    if is_concrete(times, t0, t1):
        arr, a, b, d = np.asarray(times), float(t0), float(t1), float(direction)
        if not np.all(np.isfinite(arr)):
            raise ValueError("tstops must hold finite times")
        inside = np.unique(arr[(d * (arr - a) > 0) & (d * (b - arr) > 0)])
        inside = inside if d > 0 else inside[::-1]
        return jnp.asarray(inside, dtype) if inside.size else None
    # Traced: order them and clamp into the span; stops at the ends are harmless zero-length landings.
    ordered = direction * jnp.sort(direction * times)
    lo, hi = jnp.minimum(t0, t1), jnp.maximum(t0, t1)
    return jnp.clip(ordered, lo, hi)


