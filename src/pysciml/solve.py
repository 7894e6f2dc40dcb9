"""`solve`: the one entry point. Checks the input, picks the loop configuration, runs the compiled loop
and wraps the result in an `ODESolution`; outside jit it warns when a solve failed.

Every check on values runs before compilation and only when the values are concrete, so `solve` stays a
pure function usable under `jax.jit`, `jax.vmap` and `jax.jvp`. Compiled loops are cached per right-hand
side, method, controller and static options, so repeated solves (new p, u0, tspan) do not recompile.
"""
import difflib
import functools
import inspect
import math
import warnings

import jax
import jax.numpy as jnp
import numpy as np

from ._core.dtypes import state_dtype
from ._core.retcode import ReturnCode
from ._core.trees import FlatSpec, host_slice, is_concrete
from . import callbacks as _callbacks
from .controllers import Controller, PIController
from .integrate import LoopConfig, LoopInputs, integrate
from .interpolation import DenseOutput, interpolate_dense
from .solution import EventLog, ODESolution, SavedValues
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
def _solver_for(prob, *args, **kwargs):
    """The per-problem-type implementation of `solve` (registered with ``solve.register``)."""
    raise TypeError(f"solve: prob must be an ODEProblem, SplitODEProblem, DDEProblem or EnsembleProblem; got "
                    f"{type(prob).__name__}")


def solve(prob, alg=None, ensemble_alg=None, *, rtol=1e-3, atol=1e-6, dt=None, adaptive=None, saveat=None,
          save_everystep=None, save_start=True, dense=None, tstops=None, dtmin=None, dtmax=None,
          max_steps=DEFAULT_MAX_STEPS, controller=None, sensealg=None, callback=None,
          max_events=DEFAULT_MAX_EVENTS, track_discontinuities=True, trajectories=None, batch_size=None,
          **unknown):
    """Solve ``prob`` with ``alg``: ``solve(ODEProblem | SplitODEProblem | DDEProblem, alg=None, **options)``,
    ``solve(EnsembleProblem, alg, ensemble_alg, trajectories=N, **options)``. Returns an `ODESolution`
    (``sol.t``, ``sol.u``, ``sol(t)``, ``sol.retcode``, ``sol.stats``, ``sol.plot()``) or an `EnsembleSolution`.

    ``alg``: a method instance such as ``Tsit5()`` (a class or its name as a string also works); None picks
    one for the problem (`default_algorithm`: AutoTsit5(Rosenbrock23()), AutoVern7(Rodas5P()) below
    rtol 1e-6, AutoTsit5(KenCarp4()) above 50 states, Rodas5P() with a mass matrix; for DDEs
    MethodOfSteps(Tsit5())). ``ensemble_alg``: `EnsembleVmap()` (default) or `EnsembleSerial()`.

    =====================  ==========  ============================================================================
    option                 default     meaning
    =====================  ==========  ============================================================================
    rtol, atol             1e-3, 1e-6  relative / absolute tolerance; scalars or shaped like u0
    dt                     None        first step; required for fixed-step methods and adaptive=False
    adaptive               None        None: adaptive when the method has an error estimate
    saveat                 None        times to save at (1-D array), or a spacing (scalar) from t0
    save_everystep         None        save every accepted step (the default when saveat is None)
    save_start             True        include t0 in the saved points
    dense                  None        keep every step's stages so sol(t) works anywhere in the span
                                       (default: with save_everystep, when the stages fit in 512 MiB)
    tstops                 None        times the solver must step onto exactly
    dtmin, dtmax           None        step-size bounds (default: about 10 ulps of t, and |t1 − t0|)
    max_steps              10_000      most attempted steps (also the size of save-every-step buffers)
    controller             None        PIController() (default) or PIDController()
    sensealg               None        how jax.grad through this solve works (pysciml.sensitivity); default:
                                       forward mode up to 100 states + parameters, then DiscreteAdjoint()
                                       (explicit, Rosenbrock) or InterpolatingAdjoint() (Newton-based)
    callback               None        a callback or CallbackSet (pysciml.callbacks); ODEs only
    max_events             1_000       most continuous events logged per solve (then ReturnCode.MaxEvents)
    track_discontinuities  True        DDEs: step onto the breaking points of the lags
    trajectories           None        ensembles: number of members (required)
    batch_size             None        ensembles: members per compiled batch (default: all at once)
    =====================  ==========  ============================================================================

    Julia spellings are refused with the pysciml name (``reltol`` → ``rtol``, ``abstol`` → ``atol``,
    ``maxiters`` → ``max_steps``; see ``JULIA_NAMES``), as is an option that does not apply to the problem
    type. Outside jit a failed solve warns; ``sol.retcode`` says why. `solve` is a pure function: it works
    under `jax.jit`, `jax.vmap` and `jax.grad`, and compiled loops are reused across solves.
    """
    if unknown:
        raise TypeError(unknown_options_message(unknown))
    options = dict(rtol=rtol, atol=atol, dt=dt, adaptive=adaptive, saveat=saveat, save_everystep=save_everystep,
                   save_start=save_start, dense=dense, tstops=tstops, dtmin=dtmin, dtmax=dtmax,
                   max_steps=max_steps, controller=controller, sensealg=sensealg, callback=callback,
                   max_events=max_events, track_discontinuities=track_discontinuities,
                   trajectories=trajectories, batch_size=batch_size)
    implementation = _solver_for.dispatch(type(prob))
    accepted, any_keyword = _keywords_of(implementation)
    given = {name: value for name, value in options.items() if not _is_default(value, _SOLVE_DEFAULTS[name])}
    refused = [name for name in given if name not in accepted and not any_keyword]
    if refused:
        takes = sorted(accepted - {"prob", "alg", "ensemble_alg"})
        raise TypeError(f"solve: option(s) {', '.join(refused)} do not apply to {type(prob).__name__}; "
                        f"it takes {', '.join(takes)}")
    if ensemble_alg is not None:
        if "ensemble_alg" not in accepted:
            raise TypeError(f"solve: ensemble_alg={ensemble_alg!r} is for an EnsembleProblem; got a "
                            f"{type(prob).__name__} (to solve many members, wrap it: EnsembleProblem(prob, prob_func))")
        return implementation(prob, alg, ensemble_alg, **given)
    return implementation(prob, alg, **given)


solve.register = _solver_for.register
solve.dispatch = _solver_for.dispatch
_SOLVE_DEFAULTS = {name: param.default for name, param in inspect.signature(solve).parameters.items()
                   if param.kind == param.KEYWORD_ONLY}


def _is_default(value, default):
    """True when an option was left at its default (so it need not apply to the problem type). Identity for
    None and objects; equality only for plain Python scalars, never for arrays or tracers."""
    if value is default:
        return True
    return (type(value) is type(default) and isinstance(value, (bool, int, float, str)) and value == default)


@functools.lru_cache(maxsize=None)
def _keywords_of(implementation):
    params = inspect.signature(implementation).parameters.values()
    names = frozenset(p.name for p in params if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD))
    return names, any(p.kind == p.VAR_KEYWORD for p in params)


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


def unknown_options_message(unknown):
    """The TypeError text for keyword arguments `solve` does not know: the pysciml spelling of Julia
    keywords, a close match for typos, and the list of options."""
    parts = []
    for name in unknown:
        if name in JULIA_NAMES:
            hint = JULIA_NAMES[name]
            parts.append(f"'{name}' is DifferentialEquations.jl's spelling: in pysciml use {hint}" if hint else
                         f"'{name}' (a DifferentialEquations.jl option) has no pysciml counterpart")
        else:
            close = difflib.get_close_matches(name, list(_SOLVE_DEFAULTS), n=1)
            parts.append(f"'{name}' is not an option" + (f" (did you mean '{close[0]}'?)" if close else ""))
    return ("solve() got an unexpected keyword argument: " + "; ".join(parts)
            + f". Options: {', '.join(_SOLVE_DEFAULTS)} (see help(pysciml.solve)).")


@_solver_for.register(SplitODEProblem)   # f = f1 + f2 as a SplitFunction: IMEX methods use the parts (see _flat_rhs)
@_solver_for.register(ODEProblem)
def _solve_ode(prob: ODEProblem, alg=None, *, rtol=1e-3, atol=1e-6, dt=None, adaptive=None, saveat=None,
               save_everystep=None, save_start=True, dense=None, tstops=None, dtmin=None, dtmax=None,
               max_steps=DEFAULT_MAX_STEPS, controller=None, sensealg=None, callback=None,
               max_events=DEFAULT_MAX_EVENTS) -> ODESolution:
    """`solve` for ODE and split ODE problems (the options are described in `solve`'s table). With callbacks,
    gradients use ForwardDiffSensitivity (the continuous adjoints refuse them)."""
    alg = _check_algorithm(alg)
    controller = _check_controller(controller)
    tspan = t0, t1 = check_tspan(prob.tspan)
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
    drop_t0 = not save_start and _saveat_starts_at_t0(saveat, tspan)
    saveat = _check_saveat(saveat, tspan, tdtype)
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
    first = 1 if not save_start and (saveat is None or drop_t0) else 0
    if concrete:   # trimmed on the host: an eager slice would compile once per step count
        n = int(n_saved)
        ts, us = host_slice(ts, first, n), host_slice(us, first, n)
    elif first:
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
        times, index, component = (host_slice(x, 0, k) for x in (times, index, component))
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
    except (TypeError, ValueError):   # not numbers: _check_tolerance reports it
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
    if not isinstance(controller, Controller):
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


def _check_saveat(saveat, tspan, dtype):
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


def _saveat_starts_at_t0(saveat, tspan):
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
