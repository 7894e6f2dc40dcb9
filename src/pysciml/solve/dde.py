"""`solve(DDEProblem, MethodOfSteps(alg), ...)`: what delay equations add to the pipeline.

The loop runs in "steps" mode with dense output (the solution is its own history) and its ``history``
hook, with the problem's discontinuity breaking points added to ``tstops``. Input checks run before
compilation, as for ODEs; gradients go through forward-mode AD of the loop (`ForwardDiffSensitivity`).
"""
import dataclasses

import jax
import jax.numpy as jnp

from .._core.trees import is_concrete
from ..delay import DelayRHS, MethodOfSteps, breaking_points
from ..integrate import LoopConfig, LoopInputs
from ..problems.dde import DDEProblem
from ..sensitivity import ForwardDiffSensitivity
from ..solution import ODESolution
from ..solvers.base import Algorithm
from . import checks, closure, pipeline
from .defaults import DEFAULT_MAX_STEPS, default_dde_algorithm


def solve_dde(prob: DDEProblem, alg=None, *, rtol=1e-3, atol=1e-6, dt=None, adaptive=None, saveat=None,
              save_start=True, tstops=None, dtmin=None, dtmax=None, max_steps=DEFAULT_MAX_STEPS,
              controller=None, sensealg=None, track_discontinuities=True) -> ODESolution:
    """Integrate the delay equation ``prob`` with ``alg`` = `MethodOfSteps`(ODE method) (default:
    MethodOfSteps(Tsit5())).

    Every accepted step is kept (up to max_steps: the history buffer), so sol(t) works anywhere; saveat
    picks times from that dense output. track_discontinuities: step onto the breaking points of the lags
    (see `pysciml.delay.discontinuities`); False only to study their effect. rtol, atol, dt, adaptive,
    tstops, dtmin, dtmax, controller: as for ODEs. sensealg: None or ForwardDiffSensitivity() (forward-mode
    AD through the solver); adjoint methods do not handle delays.
    """
    if prob.neutral:
        raise NotImplementedError("DDEProblem: neutral delay equations (f depending on delayed derivatives) "
                                  "are not supported yet")
    alg = _check_dde_algorithm(alg)
    controller = checks.check_controller(controller)
    if sensealg is not None and not isinstance(sensealg, ForwardDiffSensitivity):
        raise ValueError(f"sensealg: {sensealg!r} does not handle delay equations; use "
                         "ForwardDiffSensitivity() (forward-mode AD through the solver) or leave it unset")
    sensealg = ForwardDiffSensitivity()
    s = pipeline.start(prob)
    spec, dtype, tdtype, t0, t1 = s.spec, s.dtype, s.tdtype, s.t0, s.t1
    if is_concrete(t0, t1) and float(t1) < float(t0):
        raise ValueError(f"tspan: delay equations integrate forward in time; got t1 = {float(t1)} < t0 = {float(t0)}")
    lags = prob.constant_lags.astype(tdtype)
    rhs = DelayRHS(prob, spec, alg.interpolant)
    _check_functions(prob, rhs, spec, lags, t0)
    rhs, loop_p = _hoisted(prob, rhs, spec, alg, t0)
    u0 = spec.ravel(prob.u0)

    adaptive, max_steps, rtol, atol, dt, dtmin, dtmax = checks.check_step_options(
        alg, adaptive, dt, max_steps, rtol, atol, dtmin, dtmax, spec, dtype, t0, t1)
    saveat, first = pipeline.saving(saveat, save_start, s.tspan, tdtype)
    stops = checks.check_tstops(tstops, t0, t1, jnp.ones((), tdtype), tdtype)
    stops = [] if stops is None else [stops]
    if track_discontinuities:
        at_start = [jnp.asarray(lag(prob.u0, prob.p, t0), tdtype).reshape(()) for lag in prob.dependent_lags]
        stops.append(breaking_points(t0, lags, jnp.stack(at_start) if at_start else jnp.zeros((0,), tdtype),
                                     alg.order))
    # Kept at a size fixed by the number of lags (points outside the span become zero-length steps at
    # its ends), so problems differing only in their lag values share one compiled loop.
    tstops = jnp.sort(jnp.clip(jnp.concatenate(stops), t0, t1)) if stops else None

    cfg = LoopConfig(adaptive=adaptive, save="steps", dense=True, max_steps=int(max_steps),
                     has_tstops=tstops is not None, given_dt=dt is not None)
    inputs = LoopInputs(u0=u0, t0=t0, t1=t1, p=(loop_p, lags), rtol=rtol, atol=atol,
                        dt=jnp.zeros((), tdtype) if dt is None else dt, dtmin=dtmin, dtmax=dtmax,
                        saveat=None, tstops=tstops)
    return pipeline.run(pipeline.Run(rhs, alg, controller, cfg, inputs, sensealg, spec, prob.p,
                                     saveat=saveat, first=first))


def _hoisted(prob, rhs, spec, alg, t0):
    """(right-hand side, the loop's p): when f, h or a dependent lag closes over values of a running trace, they
    read them from P = (p, values) in p's place (`closure.hoist_functions`); else ``rhs`` and p as they are."""
    h_shape = jax.eval_shape(lambda s: prob.h(prob.p, s), jax.ShapeDtypeStruct((), t0.dtype))
    functions = ([(prob.f, (prob.u0, prob.p, t0), 2, h_shape), (prob.h, (prob.p, t0), 0)]
                 + [(lag, (prob.u0, prob.p, t0), 1) for lag in prob.dependent_lags])
    hoisted = closure.hoist_functions(functions, prob.p)
    if hoisted is None:
        return rhs, prob.p
    (f, h, *dependent_lags), loop_p = hoisted
    return DelayRHS(dataclasses.replace(prob, f=f, h=h, dependent_lags=tuple(dependent_lags)), spec,
                    alg.interpolant), loop_p


def _check_dde_algorithm(alg):
    if alg is None:
        return default_dde_algorithm()
    if isinstance(alg, MethodOfSteps):
        return alg
    if isinstance(alg, Algorithm) or (isinstance(alg, type) and issubclass(alg, Algorithm)):
        name = alg.__name__ if isinstance(alg, type) else repr(alg)
        raise TypeError(f"alg: a DDEProblem needs a delay method; wrap the ODE method as "
                        f"pysciml.MethodOfSteps({name}{'()' if isinstance(alg, type) else ''})")
    raise TypeError(f"alg: expected pysciml.MethodOfSteps(ODE method) for a DDEProblem; got {alg!r}")


def _check_functions(prob, rhs, spec, lags, t0):
    """f, h and the dependent lags must return the right shapes (checked by tracing, before compiling)."""
    flat = jax.ShapeDtypeStruct((spec.size,), spec.dtype)
    expected = spec.shapes[0] if spec.is_single_array else jax.eval_shape(spec.unravel, flat)
    h_out = jax.eval_shape(lambda s: prob.h(prob.p, s), jax.ShapeDtypeStruct((), t0.dtype))
    if (jax.tree_util.tree_structure(h_out) != spec.treedef
            or tuple(tuple(x.shape) for x in jax.tree_util.tree_leaves(h_out)) != spec.shapes):
        raise ValueError(f"h returned shape {checks.describe(jax.tree_util.tree_map(lambda x: tuple(x.shape), h_out))} "
                         f"but u0 has shape {checks.describe(expected)}: h(p, t) must return the state at time t ≤ t0")
    out = jax.eval_shape(lambda v: rhs.f(spec.unravel(v), rhs.history_function(), prob.p, t0), flat)
    shapes = tuple(tuple(x.shape) for x in jax.tree_util.tree_leaves(out))
    if jax.tree_util.tree_structure(out) != spec.treedef or shapes != spec.shapes:
        raise ValueError(f"f returned shape {checks.describe(jax.tree_util.tree_map(lambda x: tuple(x.shape), out))} "
                         f"but u0 has shape {checks.describe(expected)}: f(u, h, p, t) must return du/dt shaped like u")
    for i, lag in enumerate(prob.dependent_lags):
        value = jax.eval_shape(lambda v: lag(spec.unravel(v), prob.p, t0), flat)
        if tuple(getattr(value, "shape", (None,))) not in ((), (1,)):
            raise ValueError(f"dependent_lags[{i}] returned shape {getattr(value, 'shape', value)}; "
                             "lag(u, p, t) must return a scalar delay")
