"""`solve(SDEProblem, alg, dt=..., key=...)`: what stochastic differential equations add to the pipeline.

The right-hand side (`SDERHS`: f, g and the Brownian path) and the path's traced data, which travels in the
loop's parameters q = (p, data) so that the solve is vmappable over ``key``. The path: increments drawn
in bulk for a fixed-step solve whose steps are t0 + k·dt (no tstops), a `VirtualBrownianTree` otherwise,
or the problem's own ``noise``. Everything a user can get wrong is checked here, before compiling.
"""
import jax
import jax.numpy as jnp
import numpy as np

from .._core.trees import is_concrete
from ..callbacks import Effect
from ..controllers import fixed_step_count
from ..integrate import LoopConfig, LoopInputs
from ..noise import BulkIncrements, NoiseGrid, VirtualBrownianTree
from ..noise.types import AdditiveNoise
from ..problems.sde import SDEProblem, SDERHS, Stratonovich
from .._core.constant import Constant
from ..sensitivity import BacksolveAdjoint, DiscreteAdjoint, ForwardDiffSensitivity, check_sensealg
from ..solution import SDESolution
from ..solvers.sde import METHODS, LambaEM, EulerHeun, StochasticRungeKutta
from . import checks, closure, pipeline
from .defaults import DEFAULT_MAX_EVENTS, DEFAULT_MAX_STEPS, DENSE_MEMORY_LIMIT


def solve_sde(prob: SDEProblem, alg=None, *, key=None, rtol=1e-3, atol=1e-6, dt=None, adaptive=None, saveat=None,
              save_everystep=None, save_start=True, dense=None, tstops=None, dtmin=None, dtmax=None,
              max_steps=DEFAULT_MAX_STEPS, controller=None, sensealg=None, callback=None,
              max_events=DEFAULT_MAX_EVENTS) -> SDESolution:
    """Integrate the SDE ``prob`` with ``alg`` (an SDE method: EM, EulerHeun, RKMil, LambaEM, ...; default
    LambaEM() for Itô problems, EulerHeun() for Stratonovich ones) on the Brownian path drawn from ``key``
    (a jax.random key; required unless the problem's noise is a NoiseGrid). Options as for ODEs; sol.W is
    the path at the saved times. Gradients (jax.grad / jax.jacfwd) are pathwise, on the path of ``key``:
    sensealg=ForwardDiffSensitivity() (default; forward mode through the solver, any method),
    DiscreteAdjoint() (reverse mode through the steps of explicit methods, replayed on the same path) or
    BacksolveAdjoint() (Stratonovich or additive-noise SDEs: the adjoint SDE solved backwards on the same
    virtual Brownian tree, which the solve then uses even for fixed steps; saveat or save_everystep=False).
    Callbacks see the user's p (and an affect's `Effect` may change it), as for ODEs; events are located on
    the linear interpolant of the step."""
    alg = _check_algorithm(prob, alg)
    controller = checks.check_controller(controller)
    sensealg = _check_sensealg(sensealg, alg, prob)
    key = _check_key(key, prob.noise)
    s = pipeline.start(prob)
    spec, dtype, tdtype, t0, t1 = s.spec, s.dtype, s.tdtype, s.t0, s.t1
    if is_concrete(t0, t1) and float(t1) < float(t0):
        raise ValueError(f"tspan: SDEs integrate forward in time; got t1 = {float(t1)} < t0 = {float(t0)}")
    noise_type = prob.noise_type
    m = noise_type.m(spec.size)
    checks.check_rhs_output(prob.f, spec, checks.p_layout(prob.p), prob.p, s.tspan[0])
    _check_g(prob, spec, noise_type, m)

    given_dt, given_dtmax = dt, dtmax   # as given: concrete when the user's is (the checked one may be traced under jit)
    adaptive, max_steps, rtol, atol, dt, dtmin, dtmax = checks.check_step_options(
        alg, adaptive, dt, max_steps, rtol, atol, dtmin, dtmax, spec, dtype, t0, t1)
    saveat, first = pipeline.saving(saveat, save_start, s.tspan, tdtype)
    event_plan, callback_data, tstops = pipeline.plan_callbacks(callback, spec, max_events, prob.p, t0, tstops, tdtype)
    # f and g closing over values of a running trace: those travel in P = (p, values), in p's place (`closure`)
    f, g, loop_p = prob.f, prob.g, prob.p
    hoisted = closure.hoist_functions([(prob.f, (prob.u0, prob.p, t0), 1), (prob.g, (prob.u0, prob.p, t0), 1)],
                                      prob.p)
    if hoisted is not None:
        (f, g), loop_p = hoisted
        event_plan = closure.callbacks_on_user_p(event_plan)
    if event_plan is not None:
        event_plan = event_plan._replace(callbacks=tuple(_on_user_p(cb) for cb in event_plan.callbacks))
    tstops = checks.check_tstops(tstops, t0, t1, jnp.ones((), tdtype), tdtype)

    noise = prob.noise
    if isinstance(sensealg, BacksolveAdjoint):
        _check_backsolve(noise, saveat, save_everystep, dense)
        noise = VirtualBrownianTree() if noise is None else noise   # queried backwards on the same path
    if isinstance(noise, BulkIncrements) and (adaptive or tstops is not None or event_plan is not None
                                              or not is_concrete(*s.tspan, given_dt)):
        raise ValueError("noise: BulkIncrements serves fixed steps t0 + k·dt only (adaptive=False, no tstops or "
                         "callbacks, a concrete dt and tspan); leave noise=None to let solve pick, or use VirtualBrownianTree()")
    if isinstance(noise, BulkIncrements):
        noise = noise.with_levy_area(alg.levy_area)
    if noise is None:
        # Bulk increments need the step count at trace time: the span and dt as given must be concrete.
        bulk = not adaptive and tstops is None and event_plan is None and is_concrete(*s.tspan, given_dt)
        noise = BulkIncrements(levy_area=alg.levy_area) if bulk else VirtualBrownianTree()
    if key is None:   # a NoiseGrid without a key: its bridges and areas from a fixed key
        key = jax.random.PRNGKey(0)
    path, data = noise.prepare(key, *(s.tspan if isinstance(noise, BulkIncrements) else (t0, t1)), m, tdtype,
                               given_dt)
    rhs = SDERHS(f, g, spec, noise_type, prob.interpretation, path)

    save_everystep = saveat is None if save_everystep is None else bool(save_everystep)
    if saveat is not None and save_everystep:
        raise ValueError("save_everystep=True and saveat are exclusive: give one of them")
    stage_bytes = max_steps * alg.n_stages * spec.size * np.dtype(dtype).itemsize
    if dense is None:
        dense = saveat is None and save_everystep and stage_bytes <= DENSE_MEMORY_LIMIT
    mode = "steps" if (save_everystep or dense) else ("saveat" if saveat is not None else "ends")
    cfg = LoopConfig(adaptive=adaptive, save=mode, dense=bool(dense), max_steps=max_steps,
                     has_tstops=tstops is not None, given_dt=dt is not None, events=event_plan,
                     fixed_steps=_fixed_steps(noise, path, given_dtmax, s.tspan, given_dt, tdtype))
    inputs = LoopInputs(u0=spec.ravel(prob.u0), t0=t0, t1=t1, p=(loop_p, Constant(data)), rtol=rtol, atol=atol,
                        dt=jnp.zeros((), tdtype) if dt is None else dt, dtmin=dtmin, dtmax=dtmax,
                        saveat=saveat if mode == "saveat" else None, tstops=tstops, callback_data=callback_data)
    sol = pipeline.run(pipeline.Run(rhs, alg, controller, cfg, inputs, sensealg, spec, prob.p,
                                    saveat=saveat if cfg.dense else None, first=first))
    if hoisted is not None and sol.events is not None and sol.events.p is not None:
        sol.events = sol.events._replace(p=sol.events.p[0])     # P = (p, hoisted values): the user's p
    return SDESolution.of(sol, _path_values(path, data, sol.t))


# W at the saved times, compiled once per path and number of times (eagerly, the tree's loops would be
# dispatched op by op).
_path_values = jax.jit(lambda path, data, ts: path.values(data, ts), static_argnums=0)


class _OnUserP:
    """A callback's function called with the user's p: the loop's parameters are q = (p, noise data); an
    affect's new p (`Effect`) goes back with the same noise data. Equal by the wrapped function, so the
    compiled loop is reused across solves."""

    def __init__(self, fn):
        self.fn = fn

    def __call__(self, u, q, t, *extra):
        out = self.fn(u, q[0], t, *extra)
        if isinstance(out, Effect) and out.p is not None:
            return out._replace(p=(out.p, q[1]))
        return out

    def __eq__(self, other):
        return isinstance(other, _OnUserP) and self.fn is other.fn

    def __hash__(self):
        return hash(("on-user-p", id(self.fn)))


def _on_user_p(static):
    """A callback's static part with its functions reading the user's p."""
    functions = {name: _OnUserP(fn) for name, fn in static._asdict().items()
                 if name in ("condition", "affect", "affect_neg", "save_func") and fn is not None}
    return static._replace(**functions)


def _check_sensealg(sensealg, alg, prob):
    """The sensitivity method of an SDE solve (default ForwardDiffSensitivity), refused before compiling
    when it cannot serve SDEs or this method/problem."""
    if sensealg is None:
        return ForwardDiffSensitivity()
    if isinstance(sensealg, (ForwardDiffSensitivity, DiscreteAdjoint)):
        check_sensealg(sensealg, "ends", False, alg)    # DiscreteAdjoint: refuses Newton-based methods
        return sensealg
    if isinstance(sensealg, BacksolveAdjoint):
        if not isinstance(prob.interpretation, Stratonovich) and not isinstance(prob.noise_type, AdditiveNoise):
            raise ValueError("sensealg=BacksolveAdjoint() solves the adjoint SDE backwards in Stratonovich form; "
                             "this problem is Itô with multiplicative noise. Use ForwardDiffSensitivity() or "
                             "DiscreteAdjoint() (pathwise, exact for the discrete solve), or state the problem in "
                             "Stratonovich form (interpretation='stratonovich', drift f − ½ g′g)")
        return sensealg
    raise ValueError(f"sensealg: {sensealg!r} does not handle SDEs; use ForwardDiffSensitivity() (forward mode "
                     "through the solver), DiscreteAdjoint() (reverse mode through explicit methods' steps) or "
                     "BacksolveAdjoint() (Stratonovich SDEs: the adjoint SDE backwards on the same Brownian path)")


def _check_backsolve(noise, saveat, save_everystep, dense):
    if noise is not None and not isinstance(noise, (VirtualBrownianTree, NoiseGrid)):
        raise ValueError(f"sensealg=BacksolveAdjoint() replays the Brownian path backwards, which needs a "
                         f"VirtualBrownianTree or a NoiseGrid; the problem's noise is {noise!r}")
    if saveat is None and save_everystep is not False or dense:
        raise ValueError("sensealg=BacksolveAdjoint() for SDEs differentiates values saved at given times: pass "
                         "saveat=... or save_everystep=False (the end point), without dense output")


def methods_for(noise_type, interpretation):
    """Names of the SDE methods that solve problems of this noise type and interpretation."""
    names = []
    for cls in METHODS:
        try:
            alg = cls()
        except TypeError:   # pragma: no cover (every listed method has defaults)
            continue
        if alg.supports_noise(noise_type) and (isinstance(noise_type, AdditiveNoise)
                                               or alg.interpretation_for(interpretation) is not None):
            names.append(cls.__name__)
    return names


def _check_algorithm(prob, alg):
    if alg is None:
        return EulerHeun() if isinstance(prob.interpretation, Stratonovich) else LambaEM()
    alg = checks.check_algorithm(alg)
    nt, interp = prob.noise_type, prob.interpretation
    if not isinstance(alg, StochasticRungeKutta):
        raise TypeError(f"alg: {alg!r} is not an SDE method; an SDEProblem ({_describe(nt, interp)}) is solved by "
                        f"{', '.join(methods_for(nt, interp))}")
    if not alg.supports_noise(nt):
        raise ValueError(f"alg: {alg!r} does not handle {_noise_name(nt)} noise (it handles "
                         f"{', '.join(sorted(_noise_name_of(c) for c in type(alg).noise_types))}); methods for "
                         f"{_describe(nt, interp)}: {', '.join(methods_for(nt, interp)) or 'none yet'}")
    # Additive noise: the Itô and Stratonovich solutions coincide, so any interpretation serves.
    if not isinstance(nt, AdditiveNoise) and alg.interpretation_for(interp) is None:
        chosen = getattr(alg, "interpretation", None)   # RKMil(interpretation=...) fixes one
        own = type(chosen).__name__ if chosen is not None else ", ".join(c.__name__ for c in type(alg).interpretations)
        raise ValueError(f"alg: {alg!r} does not solve {type(interp).__name__} SDEs (its interpretation: {own}); "
                         f"methods for {_describe(nt, interp)}: {', '.join(methods_for(nt, interp)) or 'none yet'}")
    return alg


def _noise_name_of(cls):
    return cls.__name__.replace("Noise", "").lower()


def _noise_name(nt):
    return _noise_name_of(type(nt))


def _describe(nt, interp):
    return f"{_noise_name(nt)} noise, {type(interp).__name__}"


def _check_key(key, noise):
    if key is None:
        if noise is None or noise.needs_key:
            raise ValueError("key: an SDE solve draws its Brownian path from a jax.random key; pass "
                             "key=jax.random.PRNGKey(seed) (vmap over keys for many paths, or use an "
                             "EnsembleProblem)")
        return None
    if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
        return jax.random.PRNGKey(int(key))
    if isinstance(key, jax.Array) and (jnp.issubdtype(key.dtype, jax.dtypes.prng_key) and key.shape == ()
                                       or (key.dtype == jnp.uint32 and key.shape == (2,))):
        return key
    raise TypeError(f"key: expected one jax.random key (jax.random.PRNGKey(seed) or jax.random.key(seed)) or an "
                    f"integer seed; got {getattr(key, 'dtype', type(key).__name__)} of shape {jnp.shape(key)} "
                    "(for many keys, vmap the solve over them)")


def _check_g(prob, spec, noise_type, m):
    """g must return the shape the noise type needs (traced once, before compiling)."""
    flat = jax.ShapeDtypeStruct((spec.size,), spec.dtype)
    t0 = jnp.asarray(prob.tspan[0], jnp.finfo(spec.dtype).dtype)
    out = jax.eval_shape(lambda v: prob.g(spec.unravel(v), prob.p, t0), flat)
    got = jax.tree_util.tree_map(lambda x: tuple(x.shape), out)
    expected_flat = noise_type.g_shape(spec.size)
    name = f"noise_type={_noise_name(noise_type)}" + (f" with m = {m}" if len(expected_flat) == 2 else "")
    if len(expected_flat) == 2:
        ok = not isinstance(out, (list, tuple, dict)) and hasattr(out, "shape") and tuple(out.shape) == expected_flat
        if not ok:
            raise ValueError(f"g returned shape {checks.describe(got)} but {name} needs shape {expected_flat} "
                             f"(states × Wiener processes): g(u, p, t) must return that matrix")
        return
    expected = spec.shapes[0] if spec.is_single_array else jax.eval_shape(spec.unravel, flat)
    shapes = tuple(tuple(x.shape) for x in jax.tree_util.tree_leaves(out))
    if jax.tree_util.tree_structure(out) != spec.treedef or shapes != spec.shapes:
        hint = ("; for an (n, m) matrix use noise_type='general' with noise_rate_prototype=jnp.zeros((n, m))"
                if len(getattr(out, "shape", ())) == 2 else "")
        raise ValueError(f"g returned shape {checks.describe(got)} but {name} needs u0's shape "
                         f"{checks.describe(expected if not isinstance(expected, jax.ShapeDtypeStruct) else expected.shape)}"
                         f"{hint}")


def _fixed_steps(noise, path, given_dtmax, tspan, dt, tdtype):
    """The number of fixed steps on the bulk path's grid (the loop's own count, `controllers.fixed_step_count`),
    so the solve runs as one scan (`integrate.fixed_grid`); None when the path is not the bulk one or a dtmax
    could shorten the steps."""
    if not isinstance(noise, BulkIncrements) or given_dtmax is not None:
        return None
    n = fixed_step_count(float(tspan[0]), float(tspan[1]), float(dt), tdtype)
    return n if n <= path.n else None   # the bulk rows cover every step (always, with its spare row)

