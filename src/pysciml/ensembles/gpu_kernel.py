"""`EnsembleGPUKernel`: the whole solve of one trajectory in one Pallas program instance (DiffEqGPU's
EnsembleGPUKernel idea): trajectory i is program i of a grid of N, runs its own step loop to the end with its own
step sizes, and writes its saved states into its own slice of the output. No program waits for another, unlike
`EnsembleVmap`, whose vmapped while loop runs every member until the slowest one is done.

The loop below is the integration loop's step logic (landing on t1, PI/PID control, step floor, dtmax, return
codes) specialised to what a kernel can hold: explicit Runge-Kutta methods, a 1-D state, no callbacks, tstops,
mass matrices or dense output. It is made of the library's own pieces (the method's `step`, the controller's
`decide`, `initial_step`, `step_floor`, the interpolant's `fill_step_times`), so its results equal
`EnsembleVmap`'s to round-off: same steps, same accept/reject decisions.

On a machine without a GPU the kernel runs in Pallas interpret mode (slow: for tests). It has been checked in
interpret mode only; see the docstring of `EnsembleGPUKernel` for what a GPU lowering needs.
"""
import weakref

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.experimental import pallas as pl

from .._core.retcode import ReturnCode
from ..controllers import PIController, PIDController, initial_step, step_floor
from ..integrate import ODESolution
from ..interpolation import full_stages
from ..problems import ODEProblem
from ..solvers.explicit.erk import ExplicitRK
from .._core.trees import FlatSpec
from .execution import split_output
from .problem import _keep_solution

_RUNNING = -1
_SUPPORTED = {"rtol", "atol", "dt", "adaptive", "saveat", "save_everystep", "max_steps", "dtmin", "dtmax",
              "controller"}
_DEFAULTS = dict(rtol=1e-3, atol=1e-6, dt=None, adaptive=None, saveat=None, save_everystep=None, max_steps=10_000,
                 dtmin=None, dtmax=None, controller=None)


class EnsembleGPUKernel:
    """Each trajectory's whole solve in one Pallas program instance (grid = trajectories).

    Supports explicit Runge-Kutta methods (`Tsit5`, `DP5`, `BS3`, `Vern7`, `Vern9`, ... adaptive, or fixed
    steps with ``adaptive=False, dt=...``), ODEProblems with a 1-D array state in float32 or float64, and the
    options rtol, atol (scalars), dt, adaptive, saveat (1-D array) or save_everystep=False (the start and end
    points only), max_steps, dtmin, dtmax, controller. output_func is applied to each member's solution after the kernel
    (reruns are not supported). The solutions have no dense output (``sol(t)``): pass saveat.

    interpret: None (interpret mode unless the default backend is a GPU), True or False.

    GPU status: correct in interpret mode; not yet compilable for a GPU. Lowered for CUDA on a CPU machine
    (``jax.export.export(..., platforms=["cuda"])``, Triton backend), Pallas refuses the kernel because Triton
    needs every array to have a power-of-two number of elements, and the kernel holds the (n,) state (Lorenz:
    3), the (stages, n) stage matrix and whatever arrays the user's f builds (``jnp.array([...])`` of 3
    entries); the Mosaic GPU backend refuses the 12-byte row copies (it moves whole warpgroups of bytes).
    What is missing is a scalarising pass: re-trace f and the step into per-component scalar operations (or
    lane vectors of a block of trajectories) before lowering, so no (n,)-shaped value reaches Triton.
    """

    def __init__(self, interpret=None):
        if interpret not in (None, True, False):
            raise TypeError(f"EnsembleGPUKernel: interpret must be None, True or False; got {interpret!r}")
        self.interpret = interpret

    _compiled = weakref.WeakKeyDictionary()   # ensemble problem -> {(alg, options, interpret): compiled batch}

    def __repr__(self):
        return "EnsembleGPUKernel()" if self.interpret is None else f"EnsembleGPUKernel(interpret={self.interpret})"

    def run_batch(self, eprob, alg, indices, options):
        config = _check(eprob, alg, options)
        interpret = self.interpret if self.interpret is not None else jax.default_backend() != "gpu"
        per_problem = self._compiled.setdefault(eprob, {})
        key = (alg, config.static, interpret)
        if key not in per_problem:
            per_problem[key] = jax.jit(lambda idx, arrays: _run(eprob, alg, config, interpret, idx, arrays))
        return per_problem[key](jnp.asarray(np.asarray(indices)), config.arrays)


class _Config:
    """The options split into static (hashable, shape-giving) and array parts."""

    def __init__(self, static, arrays):
        self.static, self.arrays = static, arrays


def _check(eprob, alg, options):
    unknown = sorted(k for k, v in options.items() if k not in _SUPPORTED and not _is_default(k, v))
    if unknown:
        raise TypeError(f"EnsembleGPUKernel: option(s) {', '.join(unknown)} are not supported in the kernel; it takes "
                        f"{', '.join(sorted(_SUPPORTED))} (use EnsembleVmap for the others)")
    if not isinstance(alg, ExplicitRK):
        raise TypeError(f"EnsembleGPUKernel: alg must be an explicit Runge-Kutta method such as Tsit5(); got {alg!r}")
    prob = eprob.prob
    if type(prob) is not ODEProblem or prob.mass_matrix is not None:
        raise TypeError("EnsembleGPUKernel: the base problem must be an ODEProblem without a mass matrix; got "
                        f"{type(prob).__name__}")
    u0 = prob.u0
    if not (hasattr(u0, "shape") and jnp.ndim(u0) == 1 and jnp.issubdtype(jnp.result_type(u0), jnp.floating)):
        raise TypeError("EnsembleGPUKernel: prob.u0 must be a 1-D floating array (float32 or float64); got "
                        f"{type(u0).__name__} of shape {getattr(u0, 'shape', None)}")
    o = {**_DEFAULTS, **options}
    adaptive = alg.adaptive if o["adaptive"] is None else bool(o["adaptive"])
    if adaptive and not alg.adaptive:
        raise ValueError(f"EnsembleGPUKernel: {alg!r} has no error estimate: pass adaptive=False and dt=...")
    if not adaptive and o["dt"] is None:
        raise ValueError("EnsembleGPUKernel: fixed steps (adaptive=False) need dt=...")
    controller = PIController() if o["controller"] is None else o["controller"]
    if not isinstance(controller, (PIController, PIDController)):
        raise TypeError(f"EnsembleGPUKernel: controller must be PIController() or PIDController(); got {controller!r}")
    for name in ("rtol", "atol"):
        if jnp.ndim(o[name]) != 0 or not float(o[name]) >= 0:
            raise ValueError(f"EnsembleGPUKernel: {name} must be a non-negative scalar; got {o[name]!r}")
    max_steps = o["max_steps"]
    if not isinstance(max_steps, (int, np.integer)) or isinstance(max_steps, bool) or max_steps <= 0:
        raise ValueError(f"EnsembleGPUKernel: max_steps must be a positive integer; got {max_steps!r}")
    saveat = o["saveat"]
    if saveat is None and o["save_everystep"] is not False:
        raise ValueError("EnsembleGPUKernel saves at the saveat times or, with save_everystep=False, at the start and "
                         "end: pass saveat=... or save_everystep=False")
    if saveat is not None and o["save_everystep"]:
        raise ValueError("save_everystep=True and saveat are exclusive: give one of them")
    if saveat is not None and (jnp.ndim(saveat) != 1 or jnp.shape(saveat)[0] == 0):
        raise ValueError(f"EnsembleGPUKernel: saveat must be a non-empty 1-D array of times; got {saveat!r}")
    dtype = jnp.result_type(u0)
    arrays = {name: jnp.asarray(o[name], dtype) for name in ("rtol", "atol")}
    for name in ("dt", "dtmin", "dtmax"):
        if o[name] is not None:
            arrays[name] = jnp.asarray(o[name], dtype)
    if saveat is not None:
        arrays["saveat"] = jnp.asarray(saveat, dtype)
    return _Config((adaptive, controller, int(max_steps), tuple(sorted(arrays))), arrays)


def _is_default(name, value):
    return value is None or (name == "save_start" and value is True)


def _run(eprob, alg, config, interpret, indices, arrays):
    """Gather each member's inputs, run the kernel over them, and build the members' solutions."""
    adaptive, controller, max_steps, _ = config.static
    dtype = jnp.result_type(eprob.prob.u0)
    template = eprob.member(jnp.zeros((), indices.dtype), 0)
    f = template.f

    def inputs(i):
        m = eprob.member(i, 0)
        t0, t1 = m.tspan
        return jnp.asarray(m.u0, dtype), m.p, jnp.asarray(t0, dtype), jnp.asarray(t1, dtype)

    u0, p, t0, t1 = jax.vmap(inputs)(indices)
    n_traj, n = u0.shape
    p_leaves, p_tree = jax.tree_util.tree_flatten(p)
    p_leaves = [jnp.asarray(x) for x in p_leaves]
    if "saveat" in arrays:
        saveat = jnp.broadcast_to(arrays["saveat"], (n_traj,) + arrays["saveat"].shape)
    else:
        saveat = jnp.stack([t0, t1], axis=1)
    n_save = saveat.shape[1]
    scalars = [arrays["rtol"], arrays["atol"]] + [arrays.get(k, jnp.zeros((), dtype)) for k in ("dt", "dtmin")]
    dtmax = arrays.get("dtmax", jnp.abs(t1 - t0))   # solve's default: the whole span
    has_dt = "dt" in arrays

    def kernel(u0_ref, t0_ref, t1_ref, dtmax_ref, saveat_ref, scalars_ref, *refs):
        p_refs, (us_ref, counts_ref) = refs[:len(p_leaves)], refs[len(p_leaves):]
        rtol, atol, dt_given, dtmin = (scalars_ref[k] for k in range(4))
        p_i = jax.tree_util.tree_unflatten(p_tree, [r[0] for r in p_refs])
        counts_ref[0] = _solve_one(f, alg, controller, adaptive, max_steps, has_dt, u0_ref[0], p_i, t0_ref[0],
                                   t1_ref[0], dtmax_ref[0], saveat_ref[0], rtol, atol, dt_given, dtmin, us_ref)

    def row(shape):   # program i reads/writes row i
        return pl.BlockSpec((1,) + tuple(shape), lambda i, _s=len(shape): (i,) + (0,) * _s)

    in_specs = [row((n,)), row(()), row(()), row(()), row((n_save,)), pl.BlockSpec((4,), lambda i: (0,))]
    in_specs += [row(x.shape[1:]) for x in p_leaves]
    us, counts = pl.pallas_call(
        kernel, grid=(n_traj,), in_specs=in_specs, out_specs=[row((n_save, n)), row((4,))],
        out_shape=[jax.ShapeDtypeStruct((n_traj, n_save, n), dtype), jax.ShapeDtypeStruct((n_traj, 4), jnp.int32)],
        interpret=interpret, name="pysciml_ensemble_kernel", compiler_params=_triton_params(),
    )(u0, t0, t1, jnp.broadcast_to(dtmax, (n_traj,)).astype(dtype), saveat, jnp.stack(scalars), *p_leaves)

    retcode, n_steps, n_accepted, n_interp = counts[:, 0], counts[:, 1], counts[:, 2], counts[:, 3]
    initial_evals = alg.initial_evals + (0 if has_dt else (0 if alg.initial_evals else 1) + 1)
    stats = {"nf": initial_evals + n_steps * alg.evals_per_step + n_interp * len(alg.interpolant.c_extra),
             "nsteps": n_steps, "naccept": n_accepted, "nreject": n_steps - n_accepted}
    spec = FlatSpec.of(template.u0, dtype)
    sols = ODESolution(saveat, us, retcode, stats, None, p, f=f, alg=alg, spec=spec)
    if eprob.output_func is _keep_solution:
        return sols

    def output(sol, i):
        value, rerun, asked = split_output(eprob.output_func(sol, i))
        if asked:
            raise TypeError("EnsembleGPUKernel: output_func asks for reruns ((value, rerun) pairs), which the kernel "
                            "does not do: use EnsembleVmap")
        return value

    return jax.vmap(output)(sols, indices)


def _solve_one(f, alg, controller, adaptive, max_steps, has_dt, u0, p, t0, t1, dtmax, saveat, rtol, atol,
               dt_given, dtmin, us_ref):
    """One trajectory to the end: the integration loop's step logic (see integrate.loop.integrate) without
    tstops, callbacks and dense output. Writes the states at ``saveat`` into ``us_ref[0]`` as steps pass them;
    returns (retcode, steps, accepted, interpolations with extra stages)."""
    dtype = u0.dtype
    direction = jnp.where(t1 >= t0, 1.0, -1.0).astype(dtype)
    step_rtol, step_atol = alg.step_tolerances(rtol, atol)
    error_norm = alg.error_norm(rtol, atol)
    solver_state = alg.init(f, t0, u0, p)
    if has_dt:
        dt = direction * jnp.minimum(jnp.abs(dt_given), dtmax)
    else:
        f0 = alg.initial_derivative(f, t0, u0, p, solver_state)
        dt = initial_step(f, t0, u0, f0, p, alg.controller_order, direction, step_rtol, step_atol, dtmax)
    tab = alg.interpolant
    at_start = direction * (saveat - t0) <= 0
    us_ref[0] = jnp.where(at_start[:, None], u0[None, :], jnp.zeros((saveat.shape[0], u0.shape[0]), dtype))
    save_index = jnp.sum(at_start).astype(jnp.int32)
    zero = jnp.zeros((), jnp.int32)
    carry = (t0, dt, u0, solver_state, controller.init(dtype), zero, zero, jnp.asarray(_RUNNING, jnp.int32),
             save_index, zero)

    def running(c):
        return c[7] == _RUNNING

    def body(c):
        t, dt, u, state, ctrl, n_steps, n_accepted, _, index, n_interp = c
        remaining = t1 - t
        lands = direction * (remaining - dt) <= 1e-8 * jnp.abs(dt)   # land on t1 rather than leave a sliver
        h = jnp.where(lands, remaining, dt)
        result = alg.step(f, t, u, h, p, state, error_norm)
        t_new = jnp.where(lands, t1, t + h)
        if adaptive:
            decision = controller.decide(result.error, ctrl, alg.controller_order)
            accept, ctrl = decision.accept, decision.state
            dt_next = h * decision.factor
            dt_next = jnp.where(accept & lands, direction * jnp.maximum(jnp.abs(dt_next), jnp.abs(dt)), dt_next)
            dt_next = direction * jnp.minimum(jnp.abs(dt_next), dtmax)
            too_small = ~accept & (jnp.abs(dt_next) < step_floor(t, dtmin))
            unstable = too_small & ~jnp.isfinite(result.error)
        else:
            unstable = ~jnp.all(jnp.isfinite(result.u))
            accept, dt_next, too_small = ~unstable, dt, jnp.asarray(False)
        n_steps = n_steps + 1
        n_accepted = n_accepted + accept.astype(jnp.int32)
        retcode = jnp.where(
            accept & lands, ReturnCode.Success,
            jnp.where(too_small, jnp.where(unstable, ReturnCode.Unstable, ReturnCode.DtLessThanMin),
                      jnp.where(unstable, ReturnCode.Unstable,
                                jnp.where(n_steps >= max_steps, ReturnCode.MaxIters, _RUNNING)))).astype(jnp.int32)
        stages = result.stages
        if tab.c_extra:   # extra interpolation stages cost f evaluations: only for a requested time inside
            inside = accept & (index < saveat.shape[0]) & (
                direction * (saveat[jnp.minimum(index, saveat.shape[0] - 1)] - t_new) < 0)
            extras = lax.cond(inside, lambda: full_stages(tab, f, p, t, h, u, stages)[alg.n_stages:],
                              lambda: jnp.zeros((len(tab.c_extra),) + u.shape, dtype))
            stages = jnp.concatenate([stages, extras])
            n_interp = n_interp + inside.astype(jnp.int32)
        index = _save(tab, saveat, index, us_ref, accept, t, h, t_new, u, result.u, stages, direction)
        new_state = jax.tree_util.tree_map(lambda new, old: jnp.where(accept, new, old), result.state, state)
        return (jnp.where(accept, t_new, t), dt_next, jnp.where(accept, result.u, u), new_state, ctrl, n_steps,
                n_accepted, retcode, index, n_interp)

    c = lax.while_loop(running, body, carry)
    return jnp.stack([c[7], c[5], c[6], c[9]])


def _save(tab, saveat, index, us_ref, accept, t, h, t_new, u, u_new, stages, direction):
    """`interpolation.fill_step_times` writing into the output ref: each requested time from ``index`` on in
    (t, t_new] of an accepted step gets the interpolant's state (exactly u_new at t_new)."""
    n = saveat.shape[0]

    def more(i):
        return accept & (i < n) & (direction * (saveat[jnp.minimum(i, n - 1)] - t_new) <= 0)

    def write(i):
        time = saveat[i]
        us_ref[0, i] = jnp.where(time == t_new, u_new, _evaluate(tab, u, h, stages, (time - t) / h))
        return i + 1

    return lax.while_loop(more, write, index)


def _evaluate(tab, u, h, stages, theta):
    """`interpolation.evaluate_step` with the weights as Python floats: a kernel may not capture array constants
    (and scalar weights keep the kernel free of small (stages,) arrays). u(t + θh) = u + hθ Σ_j (b_j(θ)/θ) k_j,
    b_j(θ)/θ by Horner over the rows of ``dense_weights``."""
    total = None
    for j, weights in enumerate(np.asarray(tab.dense_weights, dtype=np.float64)):
        if not np.any(weights):
            continue
        b = float(weights[-1])
        for w in weights[-2::-1]:
            b = float(w) + theta * b
        term = b * stages[j]
        total = term if total is None else total + term
    return u + (h * theta) * total


def _triton_params():
    """Triton, one warp per program: a program is one trajectory's scalar-sized work (the Mosaic GPU lowering,
    Pallas' other GPU backend, copies whole warpgroups of bytes and refuses a 3-float state)."""
    from jax.experimental.pallas import triton as pl_triton
    return pl_triton.CompilerParams(num_warps=1, num_stages=1)
