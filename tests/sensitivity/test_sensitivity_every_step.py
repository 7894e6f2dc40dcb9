"""Gradients of losses on the default solution (every step saved, dense output) by every sensitivity method:
on the final state, on the sum over every saved step and on dense-output values sol(t), against analytic
gradients (exponential decay) and independent references (finite differences of tight solves, or forward
mode through the solver for the every-step loss, whose save times are the solver's own steps)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pysciml as ps
from pysciml.testing import lotka_volterra
from helpers import SENSITIVITY, name

METHODS = SENSITIVITY
IDS = [name(m) for m in METHODS]
TIGHT = dict(rtol=1e-10, atol=1e-12)

# --- u' = -k u: every loss has a closed-form gradient ----------------------------------------------------

DECAY = ps.ODEProblem(lambda u, p, t: -p * u, jnp.array([1.0, 2.0]), (0.0, 2.0), jnp.asarray(0.7))
DECAY_EVAL = jnp.array([0.3, 1.1, 1.7])


def decay_losses(k, sensealg, t0=0.0, t1=2.0):
    sol = ps.solve(DECAY.remake(p=k, tspan=(t0, t1)), ps.Tsit5(), sensealg=sensealg, **TIGHT)
    return jnp.stack([sol.u[-1, 0], jnp.sum(sol.u ** 2), jnp.sum(sol(DECAY_EVAL) ** 2)])


@pytest.fixture(scope="module")
def decay_exact():
    """d/dk of u0[0] e^{-2k}, Σ_i |u0|² e^{-2k t_i} over the solver's step times (rows past the last step
    repeat the final state) and Σ_j |u0|² e^{-2k τ_j}."""
    k, u0 = 0.7, np.array([1.0, 2.0])
    sol = ps.solve(DECAY, ps.Tsit5(), **TIGHT)
    steps = np.asarray(sol.t)
    times = np.concatenate([steps, np.full(10_001 - steps.size, 2.0)])   # max_steps + 1 rows under jit
    d_sum = lambda ts: float(np.sum(-2 * ts * np.sum(u0 ** 2) * np.exp(-2 * k * ts)))
    return np.array([-2.0 * u0[0] * np.exp(-2 * k), d_sum(times), d_sum(np.asarray(DECAY_EVAL))])


@pytest.mark.parametrize("sensealg", METHODS, ids=IDS)
def test_decay_every_step_and_dense_output_gradients_are_analytic(sensealg, decay_exact):
    got = np.array([jax.grad(lambda k, i=i: decay_losses(k, sensealg)[i])(jnp.asarray(0.7)) for i in range(3)])
    np.testing.assert_allclose(got, decay_exact, rtol=1e-8)
    # the span's ends: d u(t1)/dt0 = k u(t1), d u(t1)/dt1 = −k u(t1) (u0 stays the state at t0)
    ends = jax.grad(lambda t0, t1: decay_losses(jnp.asarray(0.7), sensealg, t0, t1)[0], argnums=(0, 1))(
        jnp.asarray(0.0), jnp.asarray(2.0))
    end_value = 0.7 * np.exp(-0.7 * 2.0)
    np.testing.assert_allclose(np.array(ends), [end_value, -end_value], rtol=1e-8)


# --- Lotka–Volterra: nonlinear, 4 parameters --------------------------------------------------------------

LV = lotka_volterra((0.0, 5.0))
LV_EVAL = jnp.array([0.7, 2.3, 4.1])
WEIGHTS = jnp.array([1.0, -0.5])


def lv_loss(p, sensealg, which):
    sol = ps.solve(LV.remake(p=p), ps.Tsit5(), sensealg=sensealg, **TIGHT)
    if which == "final":
        return sol.u[-1] @ WEIGHTS
    if which == "steps":
        return jnp.sum(sol.u ** 2)
    return jnp.sum(sol(LV_EVAL) ** 2)


def _central_differences(fn, p, step=1e-4):
    eye = np.eye(p.shape[0])
    return np.array([(fn(p + step * e) - fn(p - step * e)) / (2 * step) for e in eye])


@pytest.fixture(scope="module")
def lv_references():
    """Independent of the methods under test: finite differences of solves at rtol 1e-12 (the final state
    and the states at LV_EVAL by saveat), and forward mode through the solver for the every-step loss
    (itself checked against the discrete adjoint, a reverse-mode rule, to 1e-9)."""
    p = np.asarray(LV.p)
    tight = dict(rtol=1e-12, atol=1e-14)
    final = lambda q: float(ps.solve(LV.remake(p=jnp.asarray(q)), ps.Vern9(), save_everystep=False, **tight).u[-1]
                            @ WEIGHTS)
    points = lambda q: float(jnp.sum(ps.solve(LV.remake(p=jnp.asarray(q)), ps.Vern9(), saveat=LV_EVAL,
                                              **tight).u ** 2))
    steps_fd = np.asarray(jax.grad(lv_loss)(LV.p, ps.ForwardDiffSensitivity(), "steps"))
    steps_da = np.asarray(jax.grad(lv_loss)(LV.p, ps.DiscreteAdjoint(), "steps"))
    np.testing.assert_allclose(steps_fd, steps_da, rtol=1e-9)
    return {"final": _central_differences(final, p), "steps": (steps_fd, steps_da),
            "dense": _central_differences(points, p)}


@pytest.mark.parametrize("sensealg", METHODS, ids=IDS)
@pytest.mark.parametrize("which", ["final", "steps", "dense"])
def test_lotka_volterra_default_solution_gradients(sensealg, which, lv_references):
    reference = lv_references[which]
    if which == "steps":   # never the method under test as its own reference
        reference = reference[1] if isinstance(sensealg, ps.ForwardDiffSensitivity) else reference[0]
    got = np.asarray(jax.grad(lv_loss)(LV.p, sensealg, which))
    # The solves run at rtol 1e-10; a missing stage term or a wrong sign is off by 1e-3 or more.
    np.testing.assert_allclose(got, reference, rtol=2e-7, atol=2e-7 * np.max(np.abs(reference)))


# --- stiff and switching methods: the stage pullback by reverse mode (Rosenbrock) and forward mode (Newton) -

def test_the_issue_example_rodas5p_interpolating_adjoint_on_the_default_solution():
    """`jax.grad(lambda k: solve(prob.remake(p=k), Rodas5P(), sensealg=InterpolatingAdjoint()).u[-1, 0])`,
    at the default tolerances, against finite differences of a tight solve."""
    loss = lambda p: ps.solve(LV.remake(p=p), ps.Rodas5P(), sensealg=ps.InterpolatingAdjoint()).u[-1, 0]
    got = np.asarray(jax.grad(loss)(LV.p))
    exact = _central_differences(lambda q: float(ps.solve(LV.remake(p=jnp.asarray(q)), ps.Vern9(), rtol=1e-12,
                                                          atol=1e-14, save_everystep=False).u[-1, 0]),
                                 np.asarray(LV.p))
    # rtol=1e-3 solves: the gradient is as accurate as the solution (a few 1e-3 relative)
    np.testing.assert_allclose(got, exact, rtol=2e-2, atol=2e-2 * np.max(np.abs(exact)))


@pytest.mark.parametrize("alg, sensealg", [(ps.Rodas5P(), ps.GaussAdjoint()),
                                           (ps.KenCarp4(), ps.InterpolatingAdjoint()),
                                           (ps.AutoTsit5(ps.Rosenbrock23()), ps.BacksolveAdjoint())],
                         ids=["Rodas5P-Gauss", "KenCarp4-Interpolating", "AutoTsit5-Backsolve"])
def test_dense_output_gradients_with_stiff_and_switching_methods(alg, sensealg, lv_references):
    def loss(p):
        sol = ps.solve(LV.remake(p=p), alg, sensealg=sensealg, rtol=1e-8, atol=1e-10)
        return jnp.sum(sol(LV_EVAL) ** 2)

    reference = lv_references["dense"]
    np.testing.assert_allclose(jax.grad(loss)(LV.p), reference, rtol=2e-5, atol=2e-5 * np.max(np.abs(reference)))


# --- ForwardDiffSensitivity's routes are the derivative of the discrete solution --------------------

@pytest.mark.parametrize("alg", [ps.Tsit5(), ps.Vern7(), ps.Rodas5P(), ps.AutoTsit5(ps.Rosenbrock23())],
                         ids=["Tsit5", "Vern7", "Rodas5P", "AutoTsit5"])
def test_forward_mode_routes_equal_the_discrete_adjoint(alg):
    """Explicit methods solve the sensitivity equations on the solve's own steps, Rosenbrock and switching
    methods are differentiated through the loop; both must equal the discrete adjoint (reverse mode through
    the same steps) to rounding, on save points inside steps and on the final state."""
    def loss(args, sensealg, saveat):
        p, u0 = args
        kw = dict(saveat=saveat) if saveat is not None else dict(save_everystep=False)
        sol = ps.solve(LV.remake(p=p, u0=u0), alg, sensealg=sensealg, rtol=1e-8, atol=1e-10, **kw)
        return jnp.sum(sol.u ** 2 * jnp.array([1.0, 3.0]))

    for saveat in (LV_EVAL, None):
        got = jax.grad(loss)((LV.p, LV.u0), ps.ForwardDiffSensitivity(), saveat)
        exact = jax.grad(loss)((LV.p, LV.u0), ps.DiscreteAdjoint(), saveat)
        for g, e in zip(got, exact):
            np.testing.assert_allclose(g, e, rtol=1e-10, atol=1e-10 * np.max(np.abs(e)))
