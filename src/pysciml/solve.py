"""`solve`: the one entry point. Checks the input, picks the loop configuration, runs the compiled loop
and wraps the result in an `ODESolution`; outside jit it warns when a solve failed.

Every check on values runs before compilation and only when the values are concrete, so `solve` stays a
pure function usable under `jax.jit`, `jax.vmap` and `jax.jvp`. Compiled loops are cached per right-hand
side, method, controller and static options, so repeated solves (new p, u0, tspan) do not recompile.
"""
import functools
import math
import warnings

import jax
import jax.numpy as jnp
import numpy as np

from ._core.dtypes import state_dtype
from ._core.retcode import ReturnCode
from ._core.trees import FlatSpec, is_concrete
from . import callbacks as _callbacks
from .controllers import PIController, PIDController
from .integrate import DenseOutput, LoopConfig, LoopInputs, ODESolution, integrate
from .integrate.solution import EventLog, SavedValues, interpolate_dense
from .linalg import consistent_initial_state
from .linalg.sparsity_detection import detect_pattern
from .problems import ODEProblem, SplitFunction, SplitODEProblem
from .problems.ode import check_tspan, check_u0
from .sensitivity import SolveContext, check_sensealg, default_sensealg, differentiable_solve
from .solvers.base import Algorithm

DEFAULT_MAX_STEPS = 10_000
DEFAULT_MAX_EVENTS = 1_000     # continuous events logged per solve (a static buffer of that size)
_DENSE_MEMORY_LIMIT = 1 << 29   # bytes of stage storage above which dense output must be asked for


TIGHT_RTOL = 1e-6           # below this the default pairs Vern7 with Rodas5P
LARGE_SYSTEM = 50           # above this many states the default's stiff method reuses Jacobians (KenCarp4)


def default_algorithm(n_states, rtol, has_mass):
    """The method used when ``alg`` is None, chosen like DifferentialEquations.jl's default: an explicit
    method that switches to a stiff one when the problem turns out stiff (`AutoSwitch`), so non-stiff
    problems run at explicit speed and stiff ones do not stall. Vern7/Rodas5P for tight tolerances,
    Tsit5/Rodas5P otherwise, Tsit5/KenCarp4 for large systems; Rodas5P for mass matrices (DAEs).
    The stiff half is Rodas5P, not DifferentialEquations.jl's Rosenbrock23, even at loose tolerances: on
    the stiff IVP test set (benchmarks/testset.py) the order-2 Rosenbrock23 meets −log10(rtol) − 1.5 digits
    only with its steps controlled at rtol^(3/2) (tolerance proportionality; with rtol itself it reported
    Success 1.5 to 2.5 digits short), which costs it 5 to 40 times the steps of Rodas5P. Pass an algorithm explicitly to skip the stiffness checks (Tsit5 is about 1.5x faster
    on problems known to be non-stiff)."""
    from .solvers import AutoTsit5, AutoVern7, KenCarp4, Rodas5P

    if has_mass:
        return Rodas5P()
    if n_states > LARGE_SYSTEM:
        return AutoTsit5(KenCarp4())
    tight = is_concrete(rtol) and float(jnp.min(rtol)) < TIGHT_RTOL
    return AutoVern7(Rodas5P()) if tight else AutoTsit5(Rodas5P())


@functools.singledispatch
def solve(prob, *args, **kwargs):
    """Solve a problem: `solve(ODEProblem | SplitODEProblem, alg=None, **options)` or
    `solve(EnsembleProblem, alg, ensemble_alg, ...)`."""
    raise TypeError(f"solve: prob must be an ODEProblem, SplitODEProblem or EnsembleProblem; got "
                    f"{type(prob).__name__}")


@solve.register(SplitODEProblem)   # f = f1 + f2 as a SplitFunction: IMEX methods use the parts (see _flat_rhs)
@solve.register(ODEProblem)
def _solve_ode(prob: ODEProblem, alg=None, *, rtol=1e-3, atol=1e-6, dt=None, adaptive=None, saveat=None,
               save_everystep=None, save_start=True, dense=None, tstops=None, dtmin=None, dtmax=None,
               max_steps=DEFAULT_MAX_STEPS, controller=None, sensealg=None, callback=None,
               max_events=DEFAULT_MAX_EVENTS) -> ODESolution:
    """Integrate ``prob`` with ``alg`` (default: chosen for the problem, see `default_algorithm`).

    rtol, atol: relative and absolute tolerances, scalars or shaped like u0. dt: first step (required for
    fixed-step methods and adaptive=False). saveat: times to save at (array), or a spacing (scalar).
    save_everystep: save every accepted step (default when saveat is None). dense: keep the stages of
    every step so sol(t) works anywhere (default with save_everystep). tstops: times the solver must step
    onto exactly. dtmin, dtmax: step size bounds. max_steps: limit on attempted steps (also the size of the
    save-every-step buffers). controller: `PIController()` (default) or `PIDController()`.
    sensealg: how gradients through this solve are computed (see `pysciml.sensitivity`); by default
    forward mode for up to 100 states + parameters, above that `DiscreteAdjoint()` for explicit and
    Rosenbrock methods and `InterpolatingAdjoint()` for Newton-based ones.
    callback: a callback or `CallbackSet` (see `pysciml.callbacks`); max_events: the most continuous events
    one solve may log (beyond it the solve stops with ReturnCode.MaxEvents). With callbacks, gradients use
    ForwardDiffSensitivity (the continuous adjoints refuse them).
    """
    alg = _check_algorithm(alg)
    controller = _check_controller(controller)
    t0, t1 = check_tspan(prob.tspan)
    check_u0(prob.u0)
    dtype = state_dtype(*jax.tree_util.tree_leaves(prob.u0))
    tdtype = jnp.finfo(dtype).dtype
    spec = FlatSpec.of(prob.u0, dtype)
    if alg is None:
        alg = default_algorithm(spec.size, _check_tolerance("rtol", rtol, spec, dtype), prob.mass_matrix is not None)
    rhs = _flat_rhs(prob.f, spec, prob.p, t0, prob.jac, _sparsity(prob, spec, alg, t0))
    u0 = spec.ravel(prob.u0)
    mass = _check_mass_matrix(prob.mass_matrix, spec, alg)
    t0, t1 = jnp.asarray(t0, tdtype), jnp.asarray(t1, tdtype)
    direction = _direction(t0, t1)

    adaptive, max_steps, rtol, atol, dt, dtmin, dtmax = check_step_options(
        alg, adaptive, dt, max_steps, rtol, atol, dtmin, dtmax, spec, dtype, t0, t1)
    saveat = _check_saveat(saveat, t0, t1, direction, tdtype)
    if not isinstance(max_events, (int, np.integer)) or isinstance(max_events, bool) or max_events <= 0:
        raise ValueError(f"max_events must be a positive integer; got {max_events!r}")
    event_plan, callback_data = _callbacks.plan(callback, spec, int(max_events))
    if event_plan is not None:
        _callbacks.check_outputs(callback, spec, prob.p, t0)
        preset = _callbacks.preset_times(callback, tdtype)
        if preset is not None:
            tstops = preset if tstops is None else _concatenate_times(tstops, preset, tdtype)
    tstops = _check_tstops(tstops, t0, t1, direction, tdtype)

    save_everystep = saveat is None if save_everystep is None else bool(save_everystep)
    if saveat is not None and save_everystep:
        raise ValueError("save_everystep=True and saveat are exclusive: give one of them")
    stage_bytes = max_steps * alg.n_stages * spec.size * np.dtype(dtype).itemsize
    if dense is None:
        dense = saveat is None and save_everystep and stage_bytes <= _DENSE_MEMORY_LIMIT
    if dense and stage_bytes > 4 * _DENSE_MEMORY_LIMIT:
        raise ValueError(f"dense=True would store {stage_bytes / 2**30:.1f} GiB of stages (max_steps={max_steps} "
                         f"× {alg.n_stages} stages × {spec.size} states); pass saveat=..., lower "
                         "max_steps, or set dense=False")
    mode = "steps" if (save_everystep or dense) else ("saveat" if saveat is not None else "ends")
    cfg = LoopConfig(adaptive=adaptive, save=mode, dense=bool(dense), max_steps=max_steps,
                     has_tstops=tstops is not None, given_dt=dt is not None, events=event_plan)
    check_sensealg(sensealg, mode, mass is not None, alg, has_callbacks=event_plan is not None)
    if sensealg is None and event_plan is not None:
        from .sensitivity import ForwardDiffSensitivity
        sensealg = ForwardDiffSensitivity()
    if sensealg is None:
        sensealg = default_sensealg(spec.size, prob.p, mode, mass is not None, alg)
    if mass is not None:
        u0 = consistent_initial_state(rhs, u0, prob.p, t0, mass)
    inputs = LoopInputs(u0=u0, t0=t0, t1=t1, p=prob.p, rtol=rtol, atol=atol,
                        dt=jnp.zeros((), tdtype) if dt is None else dt, dtmin=dtmin, dtmax=dtmax,
                        saveat=saveat if mode == "saveat" else None, tstops=tstops, mass=mass,
                        callback_data=callback_data)
    out = differentiable_solve(sensealg, SolveContext(rhs, alg, controller, cfg, _compiled_loop), inputs)

    ts, us, n_saved = out.ts, out.us, out.n_saved
    concrete = is_concrete(ts, n_saved)
    dense_output = None
    if cfg.dense:
        # Kept at full buffer size (valid steps counted by n_steps) so sol(t) compiles once per shape.
        dense_output = DenseOutput(ts, us, out.stages, n_saved - 1)
        if saveat is not None:
            ts, us = saveat, interpolate_dense(alg, rhs, prob.p, dense_output, saveat)
            n_saved = jnp.asarray(saveat.shape[0])
    if concrete:
        n = int(n_saved)
        ts, us = ts[:n], us[:n]
    if not save_start and saveat is None:
        ts, us = ts[1:], us[1:]
    events, saved_values = _event_outputs(out, callback_data, event_plan, concrete)
    sol = ODESolution(ts, us, out.retcode, out.stats, dense_output, prob.p, f=rhs, alg=alg, spec=spec,
                      events=events, saved_values=saved_values)
    if concrete and is_concrete(out.retcode) and not sol.success:
        _warn_failure(sol, rhs, prob.p, out.t_final, t0)
    return sol


def _concatenate_times(tstops, preset, dtype):
    """The user's tstops and the preset callback times in one array (numpy while both are concrete)."""
    if is_concrete(tstops, preset):
        return np.concatenate([np.atleast_1d(np.asarray(tstops, dtype)), preset])
    return jnp.concatenate([jnp.atleast_1d(jnp.asarray(tstops, dtype)), jnp.asarray(preset, dtype)])


def _event_outputs(out, callback_data, plan, concrete):
    """The event log and SavingCallback values of a solve with callbacks (trimmed to the events that
    happened when concrete), or (None, None)."""
    if plan is None:
        return None, None
    index, component, n, counts = out.event_info
    times = out.event_t
    if concrete and is_concrete(n):
        k = int(n)
        times, index, component = times[:k], index[:k], component[:k]
    events = EventLog(times, index, component, n, counts)
    saving = [i for i, cb in enumerate(plan.callbacks) if cb[0] == "saving"]
    saved = tuple(SavedValues(jnp.asarray(callback_data[i], times.dtype), values)
                  for i, values in zip(saving, out.saved))
    return events, saved


# --- compiled pieces --------------------------------------------------------------------------------

class _FlatRHS:
    """f on flat state vectors: unravel → f → ravel (a reshape for array states), with the user's
    Jacobian, if any, as ``jac`` on flat vectors and the Jacobian's sparsity pattern, if known, as
    ``sparsity``. Hashable by (f, jac, spec, sparsity)."""

    def __init__(self, f, spec: FlatSpec, user_jac=None, sparsity=None):
        self.f, self.spec, self.user_jac, self.sparsity = f, spec, user_jac, sparsity
        self.jac = None if user_jac is None else self._flat_jac

    def __call__(self, u, p, t):
        return self.spec.ravel(self.f(self.spec.unravel(u), p, t))

    def _flat_jac(self, u, p, t):
        n = self.spec.size
        return jnp.reshape(jnp.asarray(self.user_jac(self.spec.unravel(u), p, t), self.spec.dtype), (n, n))

    def __eq__(self, other):
        return (isinstance(other, _FlatRHS) and self.f is other.f and self.user_jac is other.user_jac
                and self.spec == other.spec and self.sparsity == other.sparsity)

    def __hash__(self):
        return hash((id(self.f), id(self.user_jac), self.spec, self.sparsity))


@functools.lru_cache(maxsize=256)
def _compiled_loop(rhs, alg, controller, cfg):
    return jax.jit(functools.partial(integrate, rhs, alg, controller, cfg))


def _flat_rhs(f, spec, p, t0, jac=None, sparsity=None):
    """Check once per (f, state layout, parameter layout) that f (and jac) return the right shapes. A split
    f becomes a `SplitFunction` of flat parts (``jac`` and the sparsity pattern go to the stiff part)."""
    if isinstance(f, SplitFunction):
        parts = []
        for name, part, part_jac, part_sparsity in (("f1", f.stiff, jac, sparsity), ("f2", f.nonstiff, None, None)):
            try:
                parts.append(_flat_rhs(part, spec, p, t0, part_jac, part_sparsity))
            except (TypeError, ValueError) as error:
                raise type(error)(f"SplitODEProblem {name}: {error}") from None
        return SplitFunction(*parts)
    _check_rhs_output(f, spec, _p_layout(p), p, t0)
    if jac is not None:
        _check_jac_output(jac, spec, p, t0)
    return _FlatRHS(f, spec, jac, sparsity)


def _p_layout(p):
    return jax.tree_util.tree_structure(p), tuple(
        (jnp.shape(x), str(jnp.result_type(x))) for x in jax.tree_util.tree_leaves(p))


def _linear_solver(alg):
    """The linear-solver strategy of ``alg`` (or of its stiff half, for switching methods), or None."""
    return getattr(alg, "linsolve", None) or getattr(getattr(alg, "stiff", None), "linsolve", None)


_detected: dict = {}


def _sparsity(prob, spec, alg, t0):
    """The problem's Jacobian sparsity pattern: as given, or detected by tracing f when it is 'auto' or
    when the method's linear solver needs one; detection is cached per (f, state and parameter layout)."""
    prototype = getattr(prob, "jac_prototype", None)   # (SplitODEProblem has none)
    linsolve = _linear_solver(alg)
    if prototype is None and not getattr(linsolve, "needs_sparsity", False):
        return None
    if prototype is not None and prototype != "auto":
        return prototype
    key = (prob.f, spec, _p_layout(prob.p))
    try:
        if key in _detected:
            return _detected[key]
    except TypeError:   # an unhashable f: detect every time
        key = None
    u = jax.ShapeDtypeStruct((spec.size,), spec.dtype)
    pattern = detect_pattern(_FlatRHS(prob.f, spec), u, prob.p, jnp.asarray(t0, jnp.finfo(spec.dtype).dtype))
    if key is not None:
        _detected[key] = pattern
    return pattern


def _check_jac_output(jac, spec, p, t0):
    n = spec.size
    flat = jax.ShapeDtypeStruct((n,), spec.dtype)
    out = jax.eval_shape(lambda v: jac(spec.unravel(v), p, jnp.asarray(t0, jnp.finfo(spec.dtype).dtype)), flat)
    shape = tuple(getattr(out, "shape", ()))
    if shape not in ((n, n),) and not (spec.is_single_array and shape == spec.shapes[0] * 2):
        raise ValueError(f"jac returned shape {shape}; expected ({n}, {n}) for {n} states: "
                         "jac(u, p, t) must return the matrix ∂f/∂u")


_checked: set = set()


def _check_rhs_output(f, spec, p_layout, p, t0):
    key = (f, spec, p_layout)
    try:
        if key in _checked:
            return
    except TypeError:   # an unhashable f: check every time
        key = None
    flat = jax.ShapeDtypeStruct((spec.size,), spec.dtype)
    out = jax.eval_shape(lambda v: f(spec.unravel(v), p, jnp.asarray(t0, jnp.finfo(spec.dtype).dtype)), flat)
    got_leaves, got_tree = jax.tree_util.tree_flatten(out)
    got_shapes = tuple(tuple(x.shape) for x in got_leaves)
    if got_tree != spec.treedef or got_shapes != spec.shapes:
        expected = spec.shapes[0] if spec.is_single_array else jax.eval_shape(spec.unravel, flat)
        got = got_shapes[0] if len(got_shapes) == 1 and got_tree == jax.tree_util.tree_structure(0) else out
        raise ValueError(f"f returned shape {_describe(got)} but u0 has shape {_describe(expected)}: "
                         "f(u, p, t) must return du/dt with the same shape as u")
    for leaf in got_leaves:
        kind = jnp.dtype(leaf.dtype)
        if not jnp.issubdtype(kind, jnp.inexact) or (jnp.issubdtype(kind, jnp.complexfloating)
                                                      and not jnp.issubdtype(spec.dtype, jnp.complexfloating)):
            raise TypeError(f"f returned dtype {kind} for a {spec.dtype} state: f(u, p, t) must return "
                            f"floating-point values (shape {tuple(leaf.shape)})")
    if key is not None:
        _checked.add(key)


def _describe(shape_or_tree):
    if isinstance(shape_or_tree, tuple):
        return str(shape_or_tree)
    return str(jax.tree_util.tree_map(lambda x: tuple(x.shape), shape_or_tree))


# --- argument checks ---------------------------------------------------------------------------------

def check_step_options(alg, adaptive, dt, max_steps, rtol, atol, dtmin, dtmax, spec, dtype, t0, t1):
    """The step-control options of a solve, checked and with their defaults: (adaptive, max_steps, rtol,
    atol, dt, dtmin, dtmax). Shared by every problem type's `solve`."""
    tdtype = jnp.finfo(dtype).dtype
    adaptive = alg.adaptive if adaptive is None else bool(adaptive)
    if adaptive and not alg.adaptive:
        raise ValueError(f"alg: {alg!r} is a fixed-step method without an error estimate; pass dt=... "
                         "(it then runs with adaptive=False)" if dt is None else
                         f"adaptive: {alg!r} has no error estimate, so adaptive=True is impossible")
    if not adaptive and dt is None:
        raise ValueError(f"dt: a fixed-step solve (alg={alg!r}, adaptive=False) needs a step size dt")
    if not isinstance(max_steps, (int, np.integer)) or isinstance(max_steps, bool) or max_steps <= 0:
        raise ValueError(f"max_steps must be a positive integer; got {max_steps!r}")
    rtol = _check_tolerance("rtol", rtol, spec, dtype)
    atol = _check_tolerance("atol", atol, spec, dtype)
    _warn_unreachable_tolerance(alg, adaptive, rtol, dtype)
    dt = _check_positive_scalar("dt", dt, tdtype, allow_none=True)
    dtmax = _check_positive_scalar("dtmax", dtmax, tdtype, allow_none=True)
    dtmin = _check_positive_scalar("dtmin", dtmin, tdtype, allow_none=True, allow_zero=True)
    dtmax = jnp.abs(t1 - t0) if dtmax is None else dtmax
    # No user bound: the loop's floor relative to the current t applies (controllers.step_floor).
    dtmin = jnp.zeros((), tdtype) if dtmin is None else dtmin
    return adaptive, int(max_steps), rtol, atol, dt, dtmin, dtmax


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
    from . import solvers
    return {name.lower(): name for name in solvers.__all__
            if isinstance(getattr(solvers, name), type) and issubclass(getattr(solvers, name), Algorithm)
            and getattr(getattr(solvers, name), "family", "abstract") != "abstract"
            and name not in ("ExplicitRK", "Rosenbrock", "Esdirk")}


def _check_algorithm(alg):
    """The algorithm instance (None stays None: `default_algorithm` then picks one for the problem)."""
    if alg is None:
        return None
    if isinstance(alg, str):
        from . import solvers
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


def _check_controller(controller):
    if controller is None:
        return PIController()
    if not isinstance(controller, (PIController, PIDController)):
        raise TypeError(f"controller: expected PIController(...) or PIDController(...); got {controller!r}")
    return controller


def _check_mass_matrix(mass, spec, alg):
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
    linsolve = _linear_solver(alg)
    if getattr(linsolve, "diagonal_mass_only", False) and is_concrete(matrix) and np.any(
            np.asarray(matrix) != np.diag(np.diagonal(np.asarray(matrix)))):
        raise ValueError(f"mass_matrix: linsolve={linsolve!r} supports diagonal mass matrices only; use "
                         "linsolve='lu' or 'krylov'")
    return matrix


def _direction(t0, t1):
    return jnp.where(t1 >= t0, 1.0, -1.0).astype(t0.dtype)


def _check_tolerance(name, value, spec, dtype):
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
            raise ValueError(f"{name} must be a positive scalar or shaped like u0 {_describe(spec.shapes[0] if spec.is_single_array else spec.shapes)}; "
                             f"got shape {_describe(jax.tree_util.tree_map(jnp.shape, value))}")
        tol = FlatSpec(spec.treedef, spec.shapes, real).ravel(value)
    if is_concrete(tol):
        arr = np.asarray(tol)
        if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
            raise ValueError(f"{name} must be positive and finite; got {value!r}")
    return tol


def _check_positive_scalar(name, value, dtype, allow_none=False, allow_zero=False):
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


def _check_saveat(saveat, t0, t1, direction, dtype):
    if saveat is None:
        return None
    if jnp.ndim(saveat) == 0:
        if not is_concrete(saveat, t0, t1):
            raise ValueError("saveat: a scalar spacing needs a concrete tspan; pass an array of times instead")
        spacing = float(saveat)
        if not math.isfinite(spacing) or spacing <= 0:
            raise ValueError(f"saveat: a scalar saveat is a spacing and must be positive; got {saveat!r}")
        a, b = float(t0), float(t1)
        n = int(math.floor(abs(b - a) / spacing * (1 + 1e-12)))
        times = a + float(direction) * spacing * np.arange(n + 1)
        if abs(times[-1] - b) > 1e-12 * max(abs(a), abs(b), spacing):
            times = np.append(times, b)
        times[-1] = b if abs(times[-1] - b) <= 1e-12 * max(abs(a), abs(b), spacing) else times[-1]
        return jnp.asarray(times, dtype)
    if jnp.ndim(saveat) != 1 or jnp.shape(saveat)[0] == 0:
        raise ValueError(f"saveat must be a non-empty 1-D array of times (or a scalar spacing); got shape {jnp.shape(saveat)}")
    times = jnp.asarray(saveat, dtype)
    if is_concrete(times, t0, t1):
        arr, a, b, d = np.asarray(times), float(t0), float(t1), float(direction)
        if not np.all(np.isfinite(arr)):
            raise ValueError("saveat must hold finite times")
        slack = 1e-12 * max(abs(a), abs(b), 1.0)
        if np.any(d * (arr - a) < -slack) or np.any(d * (arr - b) > slack):
            raise ValueError(f"saveat times must lie within tspan ({a}, {b}); got values from {arr.min()} to {arr.max()}")
        if np.any(d * np.diff(arr) < 0):
            raise ValueError(f"saveat must be sorted in the direction of integration ({'increasing' if d > 0 else 'decreasing'})")
    return times


def _check_tstops(tstops, t0, t1, direction, dtype):
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


# --- failure report ------------------------------------------------------------------------------------

def _warn_failure(sol, rhs, p, t_final, t0):
    code = sol.retcode
    text = f"solve stopped at t = {float(t_final):.6g} with {code.name}: {code.message}"
    if code == ReturnCode.MaxIters and getattr(sol.alg, "family", "") == "explicit":
        hint = _stiffness_hint(sol, rhs, p, t_final, t0)
        if hint:
            text += " " + hint
    warnings.warn(text, RuntimeWarning, stacklevel=4)


def _stiffness_hint(sol, rhs, p, t_final, t0):
    """Estimate |λ_max| of ∂f/∂u at the last state by power iteration with Jacobian–vector products."""
    u = sol._u_flat[-1]
    v = jax.random.normal(jax.random.key(0), u.shape, u.dtype)
    v = v / jnp.linalg.norm(v)
    rho = 0.0
    f_at = lambda x: rhs(x, p, t_final)
    for _ in range(30):
        w = jax.jvp(f_at, (u,), (v,))[1]
        rho = float(jnp.linalg.norm(w))
        if not math.isfinite(rho) or rho == 0.0:
            return ""
        v = w / rho
    n_accept = int(sol.stats["naccept"])
    mean_step = abs(float(t_final) - float(t0)) / max(n_accept, 1)
    boundary = sol.alg.tableau.stability_boundary   # explicit methods only (checked by the caller)
    if rho * mean_step > 0.5 * boundary:
        return (f"The problem looks stiff: ∂f/∂u has an eigenvalue of magnitude ≈ {rho:.3g}, which limits "
                f"{sol.alg!r} to steps of about {boundary / rho:.3g} (mean step taken: {mean_step:.3g}). "
                "Use a stiff (implicit) method.")
    return ""
