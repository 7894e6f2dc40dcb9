"""`EnsembleGPUKernel`: the whole adaptive solve of each trajectory inside one Pallas kernel (DiffEqGPU's
EnsembleGPUKernel idea). A program instance takes a block of trajectories, one per lane (on a GPU a warp of 32:
one thread per trajectory, as in DiffEqGPU), and runs the step loop until its last lane is done; every lane keeps
its own t, dt, accept/reject and save index and writes its saved states into its own column of the output. Unlike
`EnsembleVmap`, whose vmapped while loop runs the whole batch until the slowest member is done and launches one
kernel per operation, a block waits only for its own slowest lane and the whole solve is one launch.

The loop is the integration loop's step logic (landing on t1, PI/PID control, step floor, dtmax, return codes;
see integrate.loop.integrate) for what a kernel can hold: explicit Runge-Kutta methods and Rosenbrock methods for
small stiff systems, a 1-D state, no callbacks, tstops, mass matrices or dense output. The steps, the scaled error
norm, the initial step and the interpolant are written per state component (each a lane vector), because Pallas'
Triton lowering accepts only arrays with a power-of-two number of elements: an (n,) state never appears, and the
user's f is re-evaluated on lanes by `_lanes` (its traced jaxpr with every small array held as an object array of
lane vectors). A Rosenbrock step takes J = ∂f/∂u and ∂f/∂t the way the loop's `DenseLU` does (the user's jac or
forward-mode AD, traced once outside the kernel and evaluated on lanes like f), factorizes W = I/(γh) − J with the
unrolled lane LU of `gpu_kernel_linalg` (each lane its own pivots; Pallas has no LAPACK) and runs the stages of the
library's `RosenbrockTableau`. The controller's `decide` and `step_floor` are the library's own (they are
elementwise). Results equal `EnsembleVmap`'s to round-off with the same steps.

Without a GPU the kernel runs in Pallas interpret mode (slow: for tests). Its Triton lowering is checked on CPU by
exporting for CUDA; it has not been compiled by Triton or run on a GPU yet.
"""
import weakref

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from .._core.retcode import ReturnCode
from ..controllers import PIController, PIDController, step_end, step_floor
from ..solution import ODESolution
from ..linalg import DenseLU, jacobian, time_derivative
from ..problems import FlatRHS, ODEProblem
from ..solvers.explicit.erk import ExplicitRK
from ..solvers.rosenbrock import Rosenbrock
from .._core.trees import FlatSpec, linear_combination
from . import _lanes
from .base import EnsembleAlgorithm, split_output
from .gpu_kernel_linalg import lu_factor, lu_solve, w_matrix
from .problem import _keep_solution

_RUNNING = -1
_SUPPORTED_ERK = "Tsit5, DP5, BS3, Vern7, Vern9, RK4, ..."
_SUPPORTED_ROSENBROCK = "Rosenbrock23, Rodas4, Rodas5P"
_SUPPORTED = {"rtol", "atol", "dt", "adaptive", "saveat", "save_everystep", "max_steps", "dtmin", "dtmax",
              "controller"}
_DEFAULTS = dict(rtol=1e-3, atol=1e-6, dt=None, adaptive=None, saveat=None, save_everystep=None, max_steps=10_000,
                 dtmin=None, dtmax=None, controller=None)


class EnsembleGPUKernel(EnsembleAlgorithm):
    """Each trajectory's whole solve inside one kernel launch: blocks of ``block`` trajectories per program
    instance, one per lane.

    Supports explicit Runge-Kutta methods (`Tsit5`, `DP5`, `BS3`, `Vern7`, `Vern9`, ... adaptive, or fixed
    steps with ``adaptive=False, dt=...``) and, for small stiff systems (a few states: the LU is unrolled, n³/3
    operations per step on each lane), the Rosenbrock methods `Rosenbrock23`, `Rodas4`, `Rodas5P` with their
    default ``linsolve`` (Newton-iterated methods, ESDIRK, Radau, BDF, are refused: use EnsembleVmap);
    ODEProblems with a 1-D array state in float32 or float64 (p any pytree of arrays; f made of elementwise
    and small structural operations, see `_lanes`; a user ``jac`` is used by the Rosenbrock methods), and the options
    rtol, atol (scalars), dt, adaptive, saveat (1-D array) or save_everystep=False (the start and end points
    only), max_steps, dtmin, dtmax, controller. output_func is applied to each member's solution after the
    kernel (reruns are not supported). The solutions have no dense output (``sol(t)``): pass saveat.

    interpret: None (interpret mode unless the default backend is a GPU), True or False.
    block: trajectories per program, a power of two (default 32 on a GPU, a warp; 8 in interpret mode).

    GPU status: lowers to Triton IR (checked on CPU with ``jax.export.export(..., platforms=["cuda"])``); not yet
    compiled by Triton or timed on a GPU (benchmarks/ensembles.py has the DiffEqGPU comparison ready).
    """

    def __init__(self, interpret=None, block=None):
        if interpret not in (None, True, False):
            raise TypeError(f"EnsembleGPUKernel: interpret must be None, True or False; got {interpret!r}")
        if block is not None and (not isinstance(block, (int, np.integer)) or isinstance(block, bool) or block <= 0
                                  or block & (block - 1)):
            raise ValueError(f"EnsembleGPUKernel: block must be a power of two (trajectories per program); got "
                             f"{block!r}")
        self.interpret, self.block = interpret, block

    _compiled = weakref.WeakKeyDictionary()   # ensemble problem -> {(alg, options, interpret): compiled batch}

    def __repr__(self):
        return "EnsembleGPUKernel()" if self.interpret is None else f"EnsembleGPUKernel(interpret={self.interpret})"

    def run_batch(self, eprob, alg, indices, options):
        """Solves the members ``indices`` (a 1-d integer numpy array) of ``eprob`` with ``alg`` (an explicit
        Runge–Kutta or Rosenbrock method) and the keyword ``options`` of `solve` that the kernel supports: each
        trajectory's whole solve in one lane of a Pallas kernel, compiled once per problem, method, static
        options and block size. Raises TypeError/ValueError (before compiling) for a method, problem or option
        the kernel does not run. Returns the members' outputs stacked along a leading trajectory axis."""
        config = _check(eprob, alg, options)
        interpret = self.interpret if self.interpret is not None else jax.default_backend() != "gpu"
        # a warp of 32 lanes per program on a GPU (DiffEqGPU: one thread per trajectory); fewer when interpreted
        block = self.block or (32 if not interpret else 8)
        per_problem = self._compiled.setdefault(eprob, {})
        key = (alg, config.static, interpret, block)
        if key not in per_problem:
            per_problem[key] = jax.jit(lambda idx, arrays: _run(eprob, alg, config, interpret, block, idx, arrays))
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
    if not isinstance(alg, (ExplicitRK, Rosenbrock)):
        raise TypeError(f"EnsembleGPUKernel: alg must be an explicit Runge-Kutta method ({_SUPPORTED_ERK}) or a "
                        f"Rosenbrock method ({_SUPPORTED_ROSENBROCK}); got {alg!r}: use EnsembleVmap for implicit "
                        "(ESDIRK, Radau, BDF), switching and other methods")
    if isinstance(alg, ExplicitRK) and (type(alg).step is not ExplicitRK.step or type(alg).error is not ExplicitRK.error
                                        or getattr(alg.interpolant, "extra_stages", None) is not None):
        raise TypeError(f"EnsembleGPUKernel: {alg!r} has its own step, error estimate or interpolation stages, which "
                        f"the kernel does not reproduce: use {_SUPPORTED_ERK} or EnsembleVmap")
    if isinstance(alg, Rosenbrock) and (type(alg).step is not Rosenbrock.step or alg.linsolve != DenseLU()):
        raise TypeError(f"EnsembleGPUKernel: {alg!r}: the kernel runs Rosenbrock methods with their default dense LU "
                        f"(linsolve=DenseLU()) and their own step only ({_SUPPORTED_ROSENBROCK}); use EnsembleVmap")
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


def _run(eprob, alg, config, interpret, block, indices, arrays):
    """Gather each member's inputs (trajectory axis last), run the kernel over blocks of ``block`` lanes, and
    build the members' solutions."""
    # Pallas is imported here, when a kernel is built: importing it costs ~0.3 s and loads its GPU backends
    # (Mosaic, Triton), which `import pysciml` must not pay for an option most solves never use.
    from jax.experimental import pallas as pl
    adaptive, controller, max_steps, _ = config.static
    dtype = jnp.result_type(eprob.prob.u0)
    template = eprob.member(jnp.zeros((), indices.dtype), 0)
    f = template.f
    n_members = indices.shape[0]
    padded = -(-n_members // block) * block    # whole blocks: the last one repeats the last member
    lanes_idx = jnp.concatenate([indices, jnp.full((padded - n_members,), indices[-1], indices.dtype)])

    def inputs(i):
        m = eprob.member(i, 0)
        t0, t1 = m.tspan
        return jnp.asarray(m.u0, dtype), m.p, jnp.asarray(t0, dtype), jnp.asarray(t1, dtype)

    u0, p, t0, t1 = jax.vmap(inputs, out_axes=-1)(lanes_idx)       # u0: (n, padded); p leaves: (..., padded)
    n = u0.shape[0]
    p_leaves, p_tree = jax.tree_util.tree_flatten(p)
    p_leaves = [jnp.asarray(x) for x in p_leaves]
    example = (u0[:, 0], jax.tree_util.tree_map(lambda x: x[..., 0], p), t0[0])
    closed = jax.make_jaxpr(f)(*example)
    # Rosenbrock methods: J = ∂f/∂u (the user's jac or forward-mode AD) and ∂f/∂t, traced once like f and
    # evaluated on lanes (the linalg helpers the loop's DenseLU uses; AD happens here, at trace time)
    closed_jac = None if not isinstance(alg, Rosenbrock) else jax.make_jaxpr(
        lambda u, p, t: _jacobians(FlatRHS(f, FlatSpec.of(u, dtype), template.jac), alg.tableau, u, p, t))(*example)
    if "saveat" in arrays:
        saveat = jnp.broadcast_to(arrays["saveat"][:, None], arrays["saveat"].shape + (padded,))
    else:
        saveat = jnp.stack([t0, t1])
    n_save = saveat.shape[0]
    scalars = jnp.stack([arrays["rtol"], arrays["atol"]]
                        + [arrays.get(k, jnp.zeros((), dtype)) for k in ("dt", "dtmin")])
    dtmax = jnp.broadcast_to(arrays.get("dtmax", jnp.abs(t1 - t0)), (padded,)).astype(dtype)   # solve's default
    has_dt = "dt" in arrays

    def kernel(u0_ref, t0_ref, t1_ref, dtmax_ref, saveat_ref, scalars_ref, *refs):
        p_refs, (us_ref, counts_ref) = refs[:len(p_leaves)], refs[len(p_leaves):]
        p_lanes = []
        for ref in p_refs:
            leaf = np.empty(ref.shape[:-1], dtype=object)
            for index in np.ndindex(leaf.shape):
                leaf[index] = ref[index + (slice(None),)]
            p_lanes.append(leaf)

        def rhs(u, t):
            out, = _lanes.evaluate(closed, _objects(u), *p_lanes, _objects(t, scalar=True))
            return tuple(out.reshape(-1))

        if closed_jac is None:
            stepper = _ExplicitLanes(rhs, alg)
        else:
            def jacobians(u, t):
                jac, f_t = _lanes.evaluate(closed_jac, _objects(u), *p_lanes, _objects(t, scalar=True))
                return [list(row) for row in jac], (None if f_t.shape == (0,) else tuple(f_t))
            stepper = _RosenbrockLanes(rhs, jacobians, alg)
        counts = _solve_lanes(stepper, alg, controller, adaptive, max_steps, has_dt, n,
                              tuple(u0_ref[k, :] for k in range(n)), t0_ref[...], t1_ref[...], dtmax_ref[...],
                              saveat_ref, [scalars_ref[k] for k in range(4)], us_ref)
        for k, value in enumerate(counts):
            counts_ref[k, :] = value

    def lanes_of(shape):   # program b reads/writes lanes b*block ... (b+1)*block - 1 of the last axis
        return pl.BlockSpec(tuple(shape) + (block,), lambda b, _s=len(shape): (0,) * _s + (b,))

    in_specs = [lanes_of((n,)), lanes_of(()), lanes_of(()), lanes_of(()), lanes_of((n_save,)),
                pl.BlockSpec((4,), lambda b: (0,))]
    in_specs += [lanes_of(x.shape[:-1]) for x in p_leaves]
    us, counts = pl.pallas_call(
        kernel, grid=(padded // block,), in_specs=in_specs, out_specs=[lanes_of((n_save, n)), lanes_of((4,))],
        out_shape=[jax.ShapeDtypeStruct((n_save, n, padded), dtype), jax.ShapeDtypeStruct((4, padded), jnp.int32)],
        interpret=interpret, name="pysciml_ensemble_kernel", compiler_params=_triton_params(),
    )(u0, t0, t1, dtmax, saveat, scalars, *p_leaves)

    us = jnp.moveaxis(us, -1, 0)[:n_members]
    counts, saveat = counts[:, :n_members], saveat.T[:n_members]
    p = jax.tree_util.tree_map(lambda x: jnp.moveaxis(x, -1, 0)[:n_members], p)
    retcode, n_steps, n_accepted, n_interp = counts
    initial_evals = alg.initial_evals + (0 if has_dt else (0 if alg.initial_evals else 1) + 1)
    stats = {"nf": initial_evals + n_steps * alg.evals_per_step + n_interp * len(alg.interpolant.c_extra),
             "nsteps": n_steps, "naccept": n_accepted, "nreject": n_steps - n_accepted,
             **alg.extra_stats(n_steps, n_accepted)}
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


def _objects(values, scalar=False):
    """Lane vectors as the object array `_lanes.evaluate` takes: a 0-d one for t, a 1-d one for the state."""
    if scalar:
        out = np.empty((), dtype=object)
        out[()] = values
        return out
    out = np.empty((len(values),), dtype=object)
    for k, v in enumerate(values):
        out[k] = v
    return out


def _combine(base, h, coeffs, vectors):
    """`linear_combination` per state component (each a lane vector)."""
    return tuple(linear_combination(None if base is None else base[k], h, coeffs, [v[k] for v in vectors])
                 for k in range(len(vectors[0])))


def _rms(parts):
    """`rms_norm` of a state given by components: sqrt(mean(|x|^2))."""
    total = jnp.square(jnp.abs(parts[0]))
    for x in parts[1:]:
        total = total + jnp.square(jnp.abs(x))
    return jnp.sqrt(total / len(parts))


def _error_norm(err, u, u_new, rtol, atol):
    """`scaled_error_norm` per component: ||err / (atol + rtol max(|u|, |u_new|))||_rms."""
    return _rms([e / (atol + rtol * jnp.maximum(jnp.abs(a), jnp.abs(b))) for e, a, b in zip(err, u, u_new)])


def _initial_step(f, t0, u0, f0, order, direction, rtol, atol, dtmax):
    """`controllers.initial_step` (Hairer, Norsett & Wanner I, II.4) per component, on lanes."""
    scale = [atol + rtol * jnp.abs(x) for x in u0]
    d0 = _rms([x / s for x, s in zip(u0, scale)])
    d1 = _rms([x / s for x, s in zip(f0, scale)])
    h0 = jnp.where((d0 < 1e-5) | (d1 < 1e-5), 1e-6, 0.01 * d0 / d1)
    h0 = jnp.minimum(h0, dtmax)
    u1 = tuple(x + direction * h0 * k for x, k in zip(u0, f0))
    f1 = f(u1, t0 + direction * h0)
    d2 = _rms([(a - b) / s for a, b, s in zip(f1, f0, scale)]) / h0
    largest = jnp.maximum(d1, d2)
    h1 = jnp.where(largest <= 1e-15, jnp.maximum(1e-6, h0 * 1e-3),
                   (0.01 / jnp.where(largest <= 1e-15, 1.0, largest)) ** (1.0 / (order + 1)))
    return direction * jnp.minimum(jnp.minimum(100 * h0, h1), dtmax)


class _ExplicitLanes:
    """`ExplicitRK.step` per state component: ``carried`` is the FSAL stage (None without one)."""

    def __init__(self, f, alg):
        self.f, self.tab = f, alg.tableau

    def first(self, u0, t0):
        """(the carried value at t0, f(u0, t0) for the initial step size)."""
        f0 = self.f(u0, t0)
        return (f0 if self.tab.fsal else None), f0

    def step(self, u, t, h, carried):
        """(u_new, error vector, stages for dense output, carried value after the step)."""
        f, tab = self.f, self.tab
        ks = [carried if tab.fsal else f(u, t)]
        for ci, row in zip(tab.c[1:], tab.a[1:]):
            ks.append(f(_combine(u, h, row, ks), t + ci * h))
        error = tuple(h * e for e in _combine(None, h, tab.b_error, ks))
        return _combine(u, h, tab.b, ks), error, ks, (ks[-1] if tab.fsal else None)


class _RosenbrockLanes:
    """`Rosenbrock.step` (with `DenseLU()`) per state component: J and ∂f/∂t at the step's start
    (``jacobians(u, t)``), W = I/(γh) − J factorized once (`gpu_kernel_linalg`), one f evaluation and one solve
    per stage. Nothing is carried between steps."""

    def __init__(self, f, jacobians, alg):
        self.f, self.jacobians, self.tab = f, jacobians, alg.tableau

    def first(self, u0, t0):
        return None, self.f(u0, t0)

    def step(self, u, t, h, carried):
        f, tab = self.f, self.tab
        jac, f_t = self.jacobians(u, t)
        factors = lu_factor(w_matrix(jac, tab.gamma * h))
        increments = []
        for i in range(tab.stages):
            stage_u = _combine(u, 1.0, tab.a[i], increments) if increments else u
            rhs = f(stage_u, t + tab.alpha[i] * h)
            if increments and any(c != 0.0 for c in tab.C[i]):
                rhs = tuple(r + x / h for r, x in zip(rhs, _combine(None, 1.0, tab.C[i], increments)))
            if f_t is not None and tab.gamma_i[i] != 0.0:
                rhs = tuple(r + (tab.gamma_i[i] * h) * x for r, x in zip(rhs, f_t))
            increments.append(lu_solve(factors, rhs))
        u_new = _combine(u, 1.0, tab.m, increments)
        error = _combine(None, 1.0, tab.m_error, increments)
        # stored as U_j / h, the stages of the common dense-output form u0 + h Σ b_j(θ) k_j (as the loop does)
        return u_new, error, [tuple(x / h for x in U) for U in increments], None


def _jacobians(f, tab, u, p, t):
    """(J, ∂f/∂t) as `Rosenbrock.step` forms them (∂f/∂t only when a γ_i is non-zero; else an empty array)."""
    f_t = time_derivative(f, u, p, t) if any(g != 0.0 for g in tab.gamma_i) else jnp.zeros((0,), u.dtype)
    return jacobian(f, u, p, t), f_t


def _solve_lanes(stepper, alg, controller, adaptive, max_steps, has_dt, n, u0, t0, t1, dtmax, saveat_ref, scalars,
                 us_ref):
    """A block of trajectories to their ends, one per lane, each with its own t, dt and accept/reject: the
    integration loop's step logic (see integrate.loop.integrate: landing on t1, controller, dtmax, step floor,
    return codes) without tstops, callbacks and dense output, with the method's step written per state
    component (``stepper``: `_ExplicitLanes` or `_RosenbrockLanes`). The loop runs while any lane runs; finished
    lanes are frozen (DiffEqGPU's model: a warp runs until its last thread is done). Writes the states at the
    requested times into ``us_ref`` (times, components, lanes); returns (retcode, steps, accepted,
    interpolations)."""
    rtol, atol, dt_given, dtmin = scalars
    f, interp = stepper.f, alg.interpolant
    dtype = t0.dtype
    lanes = t0.shape[0]
    direction = jnp.where(t1 >= t0, 1.0, -1.0).astype(dtype)
    step_rtol, step_atol = alg.step_tolerances(rtol, atol)
    carried, f0 = stepper.first(u0, t0)     # f0 serves only the initial step size (dead code otherwise)
    if has_dt:
        dt = direction * jnp.minimum(jnp.abs(dt_given), dtmax)
    else:
        dt = _initial_step(f, t0, u0, f0, alg.controller_order, direction, step_rtol, step_atol, dtmax)
    n_save = saveat_ref.shape[0]
    lane = jnp.arange(lanes)

    def start_row(s, index):
        at_start = direction * (saveat_ref[s, :] - t0) <= 0
        for k in range(n):
            us_ref[s, k, :] = jnp.where(at_start, u0[k], jnp.zeros_like(u0[k]))
        return index + at_start.astype(jnp.int32)

    index = lax.fori_loop(0, n_save, start_row, jnp.zeros((lanes,), jnp.int32))
    ctrl = jax.tree_util.tree_map(lambda x: jnp.broadcast_to(x, (lanes,)), controller.init(dtype))
    zero = jnp.zeros((lanes,), jnp.int32)
    carry = (t0, dt, u0, carried, ctrl, zero, zero, jnp.full((lanes,), _RUNNING, jnp.int32), index, zero)

    def running(c):
        return _any(c[7] == _RUNNING)

    def body(c):
        t, dt, u, carried, ctrl, n_steps, n_accepted, retcode, index, n_interp = c
        active = retcode == _RUNNING
        # land on t1 rather than leave a sliver; fixed steps on the grid t0 + n dt (see `step_end`)
        t_new, h, lands = step_end(t, dt, t1, direction, None if adaptive else (t0, n_accepted))
        u_new, err, ks, carried_new = stepper.step(u, t, h, carried)
        if adaptive:
            error = _error_norm(err, u, u_new, step_rtol, step_atol)
            decision = controller.decide(error, ctrl, alg.controller_order)
            accept, new_ctrl = decision.accept, decision.state
            dt_next = h * decision.factor
            dt_next = jnp.where(accept & lands, direction * jnp.maximum(jnp.abs(dt_next), jnp.abs(dt)), dt_next)
            dt_next = direction * jnp.minimum(jnp.abs(dt_next), dtmax)
            too_small = ~accept & (jnp.abs(dt_next) < step_floor(t, dtmin))
            unstable = too_small & ~jnp.isfinite(error)
        else:
            finite = jnp.isfinite(u_new[0])
            for x in u_new[1:]:
                finite = finite & jnp.isfinite(x)
            unstable = ~finite
            accept, new_ctrl, dt_next, too_small = ~unstable, ctrl, dt, jnp.zeros_like(unstable)
        accept = accept & active
        n_steps_new = n_steps + 1
        code = jnp.where(
            accept & lands, ReturnCode.Success,
            jnp.where(too_small, jnp.where(unstable, ReturnCode.Unstable, ReturnCode.DtLessThanMin),
                      jnp.where(unstable, ReturnCode.Unstable,
                                jnp.where(n_steps_new >= max_steps, ReturnCode.MaxIters, _RUNNING)))).astype(jnp.int32)
        stages = ks
        if interp.c_extra:   # extra interpolation stages cost f evaluations: only when a lane needs them
            inside = accept & (index < n_save) & (direction * (_time_at(saveat_ref, index, lane) - t_new) < 0)

            def extras():
                more = list(ks)
                for c_x, row in zip(interp.c_extra, interp.a_extra):
                    more.append(f(_combine(u, h, row, more), t + c_x * h))
                return tuple(more[len(ks):])
            zeros = tuple(tuple(jnp.zeros_like(x) for x in u) for _ in interp.c_extra)
            stages = ks + list(lax.cond(_any(inside), extras, lambda: zeros))
            n_interp = jnp.where(active, n_interp + inside.astype(jnp.int32), n_interp)
        index = _save(interp, saveat_ref, index, us_ref, accept, t, h, t_new, u, u_new, stages, direction, lane)

        def keep(new, old):
            return jnp.where(accept, new, old)
        new_state = None if carried is None else tuple(keep(a, b) for a, b in zip(carried_new, carried))
        return (keep(t_new, t), jnp.where(active, dt_next, dt), tuple(keep(a, b) for a, b in zip(u_new, u)),
                new_state, jax.tree_util.tree_map(lambda a, b: jnp.where(active, a, b), new_ctrl, ctrl),
                jnp.where(active, n_steps_new, n_steps), n_accepted + accept.astype(jnp.int32),
                jnp.where(active, code, retcode), index, n_interp)

    c = lax.while_loop(running, body, carry)
    return c[7], c[5], c[6], c[9]


def _any(flags):
    """jnp.any for Triton, which lowers no reduce_or: the largest of the flags as integers."""
    return jnp.max(flags.astype(jnp.int32)) > 0


def _time_at(saveat_ref, index, lane):
    """Each lane's next requested time (lane i reads row index[i], clamped)."""
    return saveat_ref[jnp.minimum(index, saveat_ref.shape[0] - 1), lane]


def _save(interp, saveat_ref, index, us_ref, accept, t, h, t_new, u, u_new, stages, direction, lane):
    """`interpolation.fill_step_times` on lanes: each lane writes its requested times in (t, t_new] of its
    accepted step (exactly u_new at t_new), one time per lane per round, until no lane has one due."""
    n_save = saveat_ref.shape[0]

    def due(i):
        return accept & (i < n_save) & (direction * (_time_at(saveat_ref, i, lane) - t_new) <= 0)

    def write(i):
        now = due(i)
        time = _time_at(saveat_ref, i, lane)
        h_safe = jnp.where(h == 0, jnp.ones_like(h), h)
        values = _evaluate(interp, u, h_safe, stages, (time - t) / h_safe)
        row = jnp.minimum(i, n_save - 1)
        for k in range(len(u)):
            old = us_ref[row, k, lane]
            us_ref[row, k, lane] = jnp.where(now, jnp.where(time == t_new, u_new[k], values[k]), old)
        return i + now.astype(jnp.int32)

    return lax.while_loop(lambda i: _any(due(i)), write, index)


def _evaluate(tab, u, h, stages, theta):
    """`interpolation.evaluate_step` per component with the weights as Python floats (a kernel may not capture
    array constants): u(t + theta h) = u + h theta sum_j (b_j(theta)/theta) k_j, b_j(theta)/theta by Horner
    over the rows of ``dense_weights``."""
    weights_of = []
    for j, weights in enumerate(np.asarray(tab.dense_weights, dtype=np.float64)):
        if not np.any(weights):
            continue
        b = float(weights[-1])
        for w in weights[-2::-1]:
            b = float(w) + theta * b
        weights_of.append((j, b))
    out = []
    for k in range(len(u)):
        total = None
        for j, b in weights_of:
            term = b * stages[j][k]
            total = term if total is None else total + term
        out.append(u[k] + (h * theta) * total)
    return out


def _triton_params():
    """Triton, one warp per program: a program is one trajectory's scalar-sized work (the Mosaic GPU lowering,
    Pallas' other GPU backend, copies whole warpgroups of bytes and refuses a 3-float state)."""
    from jax.experimental.pallas import triton as pl_triton
    return pl_triton.CompilerParams(num_warps=1, num_stages=1)
