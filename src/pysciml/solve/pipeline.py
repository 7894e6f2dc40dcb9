"""The one solve pipeline: options → loop configuration → run → solution → warnings.

`solve` (the public front) refuses unknown options and options that do not apply, and dispatches on the
problem's type to the function registered for it (``solve.register``, all in `pysciml.solve`'s
``__init__``). That function (`ode.solve_ode`, `dde.solve_dde`) supplies only what differs between problem
types: the right-hand side on flat states and the loop's configuration and inputs, as a `Run`, built from
the shared pieces here (`start`, `saving`) and in `checks`. `run` then does the rest for every type: the
loop through the sensitivity method, dense output, saveat interpolation, trimming, the solution and the
failure warning.

Compiled loops are cached per right-hand side, method, controller and static options (`compiled_loop`),
so repeated solves (new p, u0, tspan) do not recompile.
"""
import functools
import inspect
import math
import warnings
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .._core.dtypes import state_dtype
from .._core.retcode import ReturnCode
from .._core.trees import FlatSpec, host_slice, is_concrete
from .. import callbacks as _callbacks
from ..integrate import integrate
from ..integrate.lanes import bound_axis
from ..interpolation import DenseOutput, interpolate_dense
from ..solution import EventLog, ODESolution, SavedValues
from ..problems.ode import check_tspan, check_u0
from ..sensitivity import SolveContext, differentiable_solve
from ..solvers.base import ExplicitRungeKutta
from .closure import hoist
from .checks import check_saveat, saveat_starts_at_t0, unknown_options_message
from .defaults import DEFAULT_MAX_EVENTS, DEFAULT_MAX_STEPS


@functools.singledispatch
def _solver_for(prob, *args, **kwargs):
    """The per-problem-type implementation of `solve` (registered with ``solve.register``)."""
    raise TypeError(f"solve: prob must be an ODEProblem, SplitODEProblem, DDEProblem, SDEProblem, JumpProblem or "
                    f"EnsembleProblem; got "
                    f"{type(prob).__name__}")


def solve(prob, alg=None, ensemble_alg=None, *, rtol=1e-3, atol=1e-6, dt=None, adaptive=None, saveat=None,
          save_everystep=None, save_start=True, dense=None, tstops=None, dtmin=None, dtmax=None,
          max_steps=DEFAULT_MAX_STEPS, controller=None, sensealg=None, callback=None,
          max_events=DEFAULT_MAX_EVENTS, track_discontinuities=True, trajectories=None, batch_size=None,
          key=None, **unknown):
    """Solve ``prob`` with ``alg``: ``solve(ODEProblem | SplitODEProblem | DDEProblem, alg=None, **options)``,
    ``solve(EnsembleProblem, alg, ensemble_alg, trajectories=N, **options)``. Returns an `ODESolution`
    (``sol.t``, ``sol.u``, ``sol(t)``, ``sol.retcode``, ``sol.stats``, ``sol.plot()``) or an `EnsembleSolution`.

    ``alg``: a method instance such as ``Tsit5()`` (a class or its name as a string also works); None picks
    one for the problem (`default_algorithm`: AutoTsit5(Rodas5P()), AutoVern7(Rodas5P()) below
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
    dense                  None        sol(t) works anywhere in the span: explicit Runge–Kutta methods
                                       recompute a step's stages when it is read (nothing more is stored),
                                       others keep every step's stages (default: with save_everystep,
                                       when those stages fit in 512 MiB)
    tstops                 None        times the solver must step onto exactly
    dtmin, dtmax           None        step-size bounds (default: about 10 ulps of t, and |t1 − t0|)
    max_steps              10_000      most attempted steps (also the size of save-every-step buffers)
    controller             None        PIController() (default) or PIDController()
    sensealg               None        how jax.grad through this solve works (pysciml.sensitivity); default:
                                       forward mode up to 100 states + parameters, then DiscreteAdjoint()
                                       (explicit, Rosenbrock) or InterpolatingAdjoint() (Newton-based)
    callback               None        a callback or CallbackSet (pysciml.callbacks); ODEs and SDEs
    max_events             1_000       most continuous events logged per solve (then ReturnCode.MaxEvents)
    track_discontinuities  True        DDEs: step onto the breaking points of the lags
    trajectories           None        ensembles: number of members (required)
    batch_size             None        ensembles: members per compiled batch (default: all at once)
    key                    None        SDEs: the jax.random key of the Brownian path (ensembles: member i
                                       gets jax.random.fold_in(key, i))
    =====================  ==========  ============================================================================

    Julia spellings are refused with the pysciml name (``reltol`` → ``rtol``, ``abstol`` → ``atol``,
    ``maxiters`` → ``max_steps``; see ``JULIA_NAMES``), as is an option that does not apply to the problem
    type. Outside jit a failed solve warns; ``sol.retcode`` says why. `solve` is a pure function: it works
    under `jax.jit`, `jax.vmap` and `jax.grad`, and compiled loops are reused across solves.
    ``solve.register(ProblemType)`` adds a problem type (see `pysciml.solve`).
    """
    if unknown:
        raise TypeError(unknown_options_message(unknown, _SOLVE_DEFAULTS))
    options = dict(rtol=rtol, atol=atol, dt=dt, adaptive=adaptive, saveat=saveat, save_everystep=save_everystep,
                   save_start=save_start, dense=dense, tstops=tstops, dtmin=dtmin, dtmax=dtmax,
                   max_steps=max_steps, controller=controller, sensealg=sensealg, callback=callback,
                   max_events=max_events, track_discontinuities=track_discontinuities,
                   trajectories=trajectories, batch_size=batch_size, key=key)
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


# --- the shared front: what every problem type checks the same way ------------------------------------

class Start(NamedTuple):
    """The problem's span and state layout, checked: ``tspan`` as given (concrete when the user's is, for
    checks), (t0, t1) as arrays of the time dtype, the flat-state layout and dtypes."""
    tspan: tuple
    t0: jnp.ndarray
    t1: jnp.ndarray
    spec: FlatSpec
    dtype: object
    tdtype: object


def start(prob) -> Start:
    tspan = t0, t1 = check_tspan(prob.tspan)
    check_u0(prob.u0)
    dtype = state_dtype(*jax.tree_util.tree_leaves(prob.u0))
    tdtype = jnp.finfo(dtype).dtype
    spec = FlatSpec.of(prob.u0, dtype)
    return Start(tspan, jnp.asarray(t0, tdtype), jnp.asarray(t1, tdtype), spec, dtype, tdtype)


def saving(saveat, save_start, tspan, tdtype):
    """(saveat as an array of times or None, number of leading saved points to drop): save_start=False
    drops t0 from the saved steps, or from saveat when it begins there (as in DifferentialEquations.jl)."""
    drop_t0 = not save_start and saveat_starts_at_t0(saveat, tspan)
    first = 1 if not save_start and (saveat is None or drop_t0) else 0
    return check_saveat(saveat, tspan, tdtype), first


# --- run: loop → solution → warnings -------------------------------------------------------------------

class Run(NamedTuple):
    """What a problem type hands the pipeline: the loop to run and how to present its result."""
    rhs: object               # the right-hand side on flat states (hashable: it keys the compile cache)
    alg: object
    controller: object
    cfg: object               # integrate.LoopConfig
    inputs: object            # integrate.LoopInputs
    sensealg: object          # the sensitivity method gradients follow
    spec: FlatSpec            # the user's state layout
    p: object                 # the problem's parameters (for sol(t) and the failure hint)
    saveat: object = None     # requested times, interpolated from dense output when cfg.dense
    first: int = 0            # leading saved points to drop (save_start=False)
    replay: bool = False      # dense output whose stages are recomputed when read (the loop stores none)
    initialized: object = None  # a DAE's consistent initialization converged (bool array), None: not a DAE


def compiled_loop(rhs, alg, controller, cfg):
    # Traced inside an ensemble's named batch (`integrate.lanes`), the loop is compiled as a lane of it: a
    # program of its own (jit's trace cache does not see the marker).
    return _compiled_loop(rhs, alg, controller, cfg._replace(lanes=bound_axis()))


@functools.lru_cache(maxsize=256)
def _compiled_loop(rhs, alg, controller, cfg):
    return jax.jit(functools.partial(integrate, rhs, alg, controller, cfg))


compiled_loop.cache_info = _compiled_loop.cache_info      # the cache's statistics (tests check its hits)
compiled_loop.cache_clear = _compiled_loop.cache_clear


def run(r: Run) -> ODESolution:
    """Run the loop for ``r`` (through its sensitivity method) and wrap the result in an `ODESolution`;
    outside jit, warn when the solve failed."""
    rhs, cfg, inputs = r.rhs, r.cfg, r.inputs
    hoisted = hoist(rhs, inputs.p, inputs.u0, inputs.t0, cfg.events)
    if hoisted is not None:   # f closes over traced values: they travel beside p (see `closure`)
        rhs, q, events = hoisted
        cfg, inputs = cfg._replace(events=events), inputs._replace(p=q)
    out = differentiable_solve(r.sensealg, SolveContext(rhs, r.alg, r.controller, cfg, compiled_loop), inputs)
    if hoisted is not None and out.p_final is not None:
        out = out._replace(p_final=out.p_final[0])
    ts, us, n_saved = out.ts, out.us, out.n_saved
    concrete = is_concrete(ts, n_saved)
    dense_output = None
    if r.cfg.dense or r.replay:
        # Kept at full buffer size (valid steps counted by n_steps) so sol(t) compiles once per shape.
        dense_output = DenseOutput(ts, us, out.stages if r.cfg.dense else None, n_saved - 1)
        if r.saveat is not None and r.cfg.dense:
            ts, us = r.saveat, interpolate_dense(r.alg, rhs, r.p if hoisted is None else inputs.p, dense_output,
                                                 r.saveat)
            n_saved = jnp.asarray(r.saveat.shape[0])
    if concrete:   # trimmed on the host: an eager slice would compile once per step count
        n = int(n_saved)
        ts, us = host_slice(ts, r.first, n), host_slice(us, r.first, n)
    elif r.first:
        ts, us = ts[r.first:], us[r.first:]
    events, saved_values = _event_outputs(out, r.inputs.callback_data, r.cfg.events, concrete)
    if events is not None and out.p_final is not None:
        # the loop's parameters are the problem's p, or (p, extra data) for SDEs (noise) and DDEs (lags)
        events = events._replace(p=out.p_final if r.inputs.p is r.p else out.p_final[0])
    # with hoisted closed-over values, sol(t) runs the hoisted f on (p, those values): nothing traced stays
    # in the solution's static part, so it can leave a jit and be evaluated afterwards
    retcode = out.retcode
    if r.initialized is not None:
        retcode = jnp.where(r.initialized, retcode, jnp.asarray(ReturnCode.InitializationFailure, retcode.dtype))
    sol = ODESolution(ts, us, retcode, out.stats, dense_output, r.p, f=r.rhs if hoisted is None else rhs,
                      alg=r.alg, spec=r.spec, events=events, saved_values=saved_values,
                      hoisted=None if hoisted is None else inputs.p[1])
    if concrete and is_concrete(retcode) and not sol.success:
        _warn_failure(sol, r.rhs, r.p, out.t_final, r.inputs.t0)
    return sol


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
    saving = [i for i, _ in plan.of_kind("saving")]
    saved = tuple(SavedValues(jnp.asarray(callback_data[i], times.dtype), values)
                  for i, values in zip(saving, out.saved))
    return events, saved


# --- failure report ------------------------------------------------------------------------------------

def _warn_failure(sol, rhs, p, t_final, t0):
    code = sol.retcode
    text = f"solve stopped at t = {float(t_final):.6g} with {code.name}: {code.message}"
    if code == ReturnCode.MaxIters and isinstance(sol.alg, ExplicitRungeKutta):
        hint = _stiffness_hint(sol, rhs, p, t_final, t0)
        if hint:
            text += " " + hint
    warnings.warn(text, RuntimeWarning, stacklevel=5)


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


def plan_callbacks(callback, spec, max_events, p, t0, tstops, tdtype):
    """The solve's callbacks as the loop runs them: (event plan or None, their traced data, tstops with the
    callbacks' preset times added). Checks max_events and the callbacks' outputs before compiling."""
    if not isinstance(max_events, (int, np.integer)) or isinstance(max_events, bool) or max_events <= 0:
        raise ValueError(f"max_events must be a positive integer; got {max_events!r}")
    event_plan, callback_data = _callbacks.plan(callback, spec, int(max_events))
    if event_plan is not None:
        _callbacks.check_outputs(callback, spec, p, t0)
        preset = _callbacks.preset_times(callback, tdtype)
        if preset is not None:
            tstops = preset if tstops is None else _concatenate_times(tstops, preset, tdtype)
    return event_plan, callback_data, tstops


def _concatenate_times(tstops, preset, dtype):
    """The user's tstops and the preset callback times in one array (numpy while both are concrete)."""
    if is_concrete(tstops, preset):
        return np.concatenate([np.atleast_1d(np.asarray(tstops, dtype)), preset])
    return jnp.concatenate([jnp.atleast_1d(jnp.asarray(tstops, dtype)), jnp.asarray(preset, dtype)])

