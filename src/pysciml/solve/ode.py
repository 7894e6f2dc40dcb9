"""`solve(ODEProblem | SplitODEProblem, alg, ...)`: what ODEs add to the pipeline.

The right-hand side on flat states (`FlatRHS`, with the user's Jacobian and its sparsity pattern), the
mass matrix, callbacks, and the loop configuration from the saving options. Checks shared with the other
problem types come from `checks` and `pipeline`.
"""

import jax
import jax.numpy as jnp
import numpy as np

from .. import callbacks as _callbacks
from ..callbacks.callbacks import flatten as flatten_callbacks
from ..integrate import LoopConfig, LoopInputs
from ..solution import ODESolution
from ..linalg import initialize_dae
from ..linalg.sparsity_detection import detect_pattern
from ..problems import FlatRHS, ODEProblem, SplitFunction
from ..solvers.base import NewtonImplicit
from ..solvers.sde import StochasticRungeKutta
from ..sensitivity import ForwardDiffSensitivity, check_sensealg, default_sensealg
from . import checks, pipeline
from .defaults import DEFAULT_MAX_EVENTS, DEFAULT_MAX_STEPS, DENSE_MEMORY_LIMIT, default_algorithm, refine_below_rounding


def solve_ode(prob: ODEProblem, alg=None, *, rtol=1e-3, atol=1e-6, dt=None, adaptive=None, saveat=None,
              save_everystep=None, save_start=True, dense=None, tstops=None, dtmin=None, dtmax=None,
              max_steps=DEFAULT_MAX_STEPS, controller=None, sensealg=None, callback=None,
              max_events=DEFAULT_MAX_EVENTS) -> ODESolution:
    """`solve` for ODE and split ODE problems (the options are described in `solve`'s table). With callbacks,
    gradients use ForwardDiffSensitivity (the continuous adjoints refuse them)."""
    alg = checks.check_algorithm(alg)
    if isinstance(alg, StochasticRungeKutta):   # its step expects (dt, ΔW): refuse it before tracing
        raise TypeError(f"alg: {alg!r} is an SDE method; an ODEProblem is solved by an ODE method such as "
                        "pysciml.Tsit5() (for noise, build a pysciml.SDEProblem(f, g, u0, tspan))")
    controller = checks.check_controller(controller)
    s = pipeline.start(prob)
    spec, dtype, tdtype, t0, t1 = s.spec, s.dtype, s.tdtype, s.t0, s.t1
    if alg is None:
        alg = default_algorithm(spec.size, checks.check_tolerance("rtol", rtol, spec, dtype),
                                prob.mass_matrix is not None)
    rhs = flat_rhs(prob.f, spec, prob.p, s.tspan[0], prob.jac, _sparsity(prob, spec, alg, s.tspan[0]))
    u0 = spec.ravel(prob.u0)
    mass = checks.check_mass_matrix(prob.mass_matrix, spec, alg)
    direction = checks.direction(t0, t1)

    atol_given = atol
    adaptive, max_steps, rtol, atol, dt, dtmin, dtmax = checks.check_step_options(
        alg, adaptive, dt, max_steps, rtol, atol, dtmin, dtmax, spec, dtype, t0, t1)
    alg = refine_below_rounding(alg, atol_given, prob.u0)
    if not adaptive and isinstance(alg, NewtonImplicit):
        alg = alg.for_fixed_steps()    # no smaller step to retry a failed Newton solve with: refresh J instead
    saveat, first = pipeline.saving(saveat, save_start, s.tspan, tdtype)
    own = getattr(prob.f, "callback", None)    # the events a symbolic problem carries (pysciml.modeling)
    if own is not None:
        callback = _callbacks.CallbackSet(own, *flatten_callbacks(callback))
    event_plan, callback_data, tstops = pipeline.plan_callbacks(callback, spec, max_events, prob.p, t0, tstops, tdtype)
    tstops = checks.check_tstops(tstops, t0, t1, direction, tdtype)

    save_everystep = saveat is None if save_everystep is None else bool(save_everystep)
    if saveat is not None and save_everystep:
        raise ValueError("save_everystep=True and saveat are exclusive: give one of them")
    # Explicit Runge–Kutta stages are recomputed from the saved steps when sol(t) reads them, so the loop
    # stores none (writing max_steps × stages × n numbers cost several solves of a small system). Stored:
    # with saveat (interpolated right after the solve) and with callbacks (an affect may change p).
    replayable = saveat is None and event_plan is None and hasattr(alg, "replay_stages")
    stage_bytes = 0 if replayable else max_steps * alg.n_stages * spec.size * np.dtype(dtype).itemsize
    if dense is None:
        dense = saveat is None and save_everystep and stage_bytes <= DENSE_MEMORY_LIMIT
    if dense and stage_bytes > 4 * DENSE_MEMORY_LIMIT:
        raise ValueError(f"dense=True would store {stage_bytes / 2**30:.1f} GiB of stages (max_steps={max_steps} "
                         f"× {alg.n_stages} stages × {spec.size} states); pass saveat=..., lower "
                         "max_steps, or set dense=False")
    mode = "steps" if (save_everystep or dense) else ("saveat" if saveat is not None else "ends")
    replay = bool(dense) and replayable
    cfg = LoopConfig(adaptive=adaptive, save=mode, dense=bool(dense) and not replay, max_steps=max_steps,
                     has_tstops=tstops is not None, given_dt=dt is not None, events=event_plan)
    check_sensealg(sensealg, mode, mass is not None, alg, has_callbacks=event_plan is not None)
    if sensealg is None and event_plan is not None:
        sensealg = ForwardDiffSensitivity()
    if sensealg is None:
        sensealg = default_sensealg(spec.size, prob.p, mode, mass is not None, alg)
    initialized = None
    if mass is not None:   # not converged: the solve's return code says so (the loop still runs from u0)
        u0, initialized = initialize_dae(rhs, u0, prob.p, t0, mass, rtol=rtol, atol=atol)
    inputs = LoopInputs(u0=u0, t0=t0, t1=t1, p=prob.p, rtol=rtol, atol=atol,
                        dt=jnp.zeros((), tdtype) if dt is None else dt, dtmin=dtmin, dtmax=dtmax,
                        saveat=saveat if mode == "saveat" else None, tstops=tstops, mass=mass,
                        callback_data=callback_data)
    return pipeline.run(pipeline.Run(rhs, alg, controller, cfg, inputs, sensealg, spec, prob.p,
                                     saveat=saveat if cfg.dense else None, first=first, replay=replay,
                                     initialized=initialized))


# --- the right-hand side on flat states ------------------------------------------------------------------

def flat_rhs(f, spec, p, t0, jac=None, sparsity=None):
    """Check once per (f, state layout, parameter layout) that f (and jac) return the right shapes. A split
    f becomes a `SplitFunction` of flat parts (``jac`` and the sparsity pattern go to the stiff part)."""
    if isinstance(f, SplitFunction):
        parts = []
        for name, part, part_jac, part_sparsity in (("f1", f.stiff, jac, sparsity), ("f2", f.nonstiff, None, None)):
            try:
                parts.append(flat_rhs(part, spec, p, t0, part_jac, part_sparsity))
            except (TypeError, ValueError) as error:
                raise type(error)(f"SplitODEProblem {name}: {error}") from None
        return SplitFunction(*parts)
    layout = checks.p_layout(p)
    checks.check_rhs_output(f, spec, layout, p, t0)
    if jac is not None:
        checks.check_jac_output(jac, spec, layout, p, t0)
    return FlatRHS(f, spec, jac, sparsity)


_detected: dict = {}


def _sparsity(prob, spec, alg, t0):
    """The problem's Jacobian sparsity pattern: as given, or detected by tracing f when it is 'auto' or
    when the method's linear solver needs one; detection is cached per (f, state and parameter layout)."""
    prototype = getattr(prob, "jac_prototype", None)   # (SplitODEProblem has none)
    if prototype is None and not getattr(alg.linear_solver, "needs_sparsity", False):
        return None
    if prototype is not None and prototype != "auto":
        return prototype
    key = (prob.f, spec, checks.p_layout(prob.p))
    try:
        if key in _detected:
            return _detected[key]
    except TypeError:   # an unhashable f: detect every time
        key = None
    u = jax.ShapeDtypeStruct((spec.size,), spec.dtype)
    pattern = detect_pattern(FlatRHS(prob.f, spec), u, prob.p, jnp.asarray(t0, jnp.finfo(spec.dtype).dtype))
    if key is not None:
        _detected[key] = pattern
    return pattern
