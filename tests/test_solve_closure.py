"""Right-hand sides that close over values computed inside the traced function (pysciml.solve.closure):
jit, grad and jvp work, and the gradient reaches the closed-over values through every sensitivity method.

Exponential decay du/dt = -c p u with c = 2k, p = k: u(T) = u0 exp(-2 k² T), so du(T)/dk = -4 k T u(T)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pysciml as ps
from pysciml.solve.pipeline import compiled_loop

T, K = 1.0, 0.7
EXACT = -4 * K * T * np.exp(-2 * K * K * T)


def loss(k, sensealg=None):
    c = 2.0 * k     # a tracer of the running trace, closed over by f
    prob = ps.ODEProblem(lambda u, p, t: -c * p * u, jnp.ones(1), (0.0, T), k)
    return ps.solve(prob, ps.Tsit5(), rtol=1e-10, atol=1e-12, saveat=jnp.array([T]), sensealg=sensealg).u[-1, 0]


SENSEALGS = [None, ps.BacksolveAdjoint(), ps.InterpolatingAdjoint(), ps.GaussAdjoint(), ps.DiscreteAdjoint()]
MODES = {"grad": lambda f: jax.grad(f), "jit_grad": lambda f: jax.jit(jax.grad(f)),
         "grad_jit": lambda f: jax.grad(jax.jit(f))}


# every sensealg under plain grad; the jit orders (where the closure is hoisted inside a jit trace) for the
# default and one adjoint (the others go through the same hoisting in pipeline.run; CI time)
CASES = [(s, "grad") for s in SENSEALGS] + [(s, m) for s in SENSEALGS[:2] for m in ("jit_grad", "grad_jit")]


@pytest.mark.parametrize("sensealg, mode", CASES, ids=lambda x: x if isinstance(x, str) else type(x).__name__)
def test_gradient_reaches_closed_over_values(sensealg, mode):
    g = MODES[mode](lambda k: loss(k, sensealg))(K)
    # (a gradient missing the closed-over c would be -2 k T u(T), half of it)
    np.testing.assert_allclose(g, EXACT, rtol=1e-6, atol=0)


def test_jvp_through_closure():
    value, tangent = jax.jvp(loss, (K,), (1.0,))
    np.testing.assert_allclose(value, np.exp(-2 * K * K * T), rtol=1e-8)
    np.testing.assert_allclose(tangent, EXACT, rtol=1e-6)
    _, tangent = jax.jvp(jax.jit(loss), (K,), (1.0,))
    np.testing.assert_allclose(tangent, EXACT, rtol=1e-6)


def test_integer_closed_over_value_is_carried_not_differentiated():
    def scaled(k, m):   # m: a traced integer closed over by f
        c = 2.0 * k
        prob = ps.ODEProblem(lambda u, p, t: -c * p * u * m, jnp.ones(1), (0.0, T), k)
        return ps.solve(prob, ps.Tsit5(), rtol=1e-10, atol=1e-12, saveat=jnp.array([T])).u[-1, 0]
    g = jax.jit(jax.grad(scaled))(K, jnp.int32(3))
    np.testing.assert_allclose(g, 3 * EXACT / np.exp(-2 * K * K * T) * np.exp(-6 * K * K * T), rtol=1e-6)


def test_callbacks_see_the_users_parameters():
    # A dose of 1 at T/2: u(T) = (e^{-a/2} + 1) e^{-a/2}, a = 2 k² T. The affect reads p (= k).
    def dosed(k):
        c = 2.0 * k
        prob = ps.ODEProblem(lambda u, p, t: -c * p * u, jnp.ones(1), (0.0, T), k)
        cb = ps.PresetTimeCallback(jnp.array([T / 2]), lambda u, p, t: u + p / p)
        return ps.solve(prob, ps.Tsit5(), rtol=1e-10, atol=1e-12, saveat=jnp.array([T]), callback=cb).u[-1, 0]
    exact = jax.grad(lambda k: (jnp.exp(-k * k * T) + 1) * jnp.exp(-k * k * T))(K)
    np.testing.assert_allclose(jax.grad(jax.jit(dosed))(K), exact, rtol=1e-6)


def _plain(u, p, t):
    return -p * u


def test_ordinary_solves_still_hit_the_compile_cache():
    prob = ps.ODEProblem(_plain, jnp.ones(1), (0.0, T), 1.0)
    run = lambda p: ps.solve(prob.remake(p=p), ps.Tsit5(), saveat=jnp.array([T])).u[-1, 0]
    run(1.0)
    misses = compiled_loop.cache_info().misses
    run(2.0)
    jax.jit(run)(3.0)
    assert compiled_loop.cache_info().misses == misses


def test_callback_functions_closing_over_traced_values():
    # The dose d = k² is closed over by the affect: u(T) = (e^{-a/2} + k²) e^{-a/2}, a = 2 k² T.
    def dosed(k):
        c, d = 2.0 * k, k * k
        prob = ps.ODEProblem(lambda u, p, t: -c * p * u, jnp.ones(1), (0.0, T), k)
        cb = ps.PresetTimeCallback(jnp.array([T / 2]), lambda u, p, t: u + d)
        return ps.solve(prob, ps.Tsit5(), rtol=1e-10, atol=1e-12, saveat=jnp.array([T]), callback=cb).u[-1, 0]
    exact = jax.grad(lambda k: (jnp.exp(-k * k * T) + k * k) * jnp.exp(-k * k * T))(K)
    np.testing.assert_allclose(jax.grad(jax.jit(dosed))(K), exact, rtol=1e-6)
    np.testing.assert_allclose(jax.jit(jax.grad(dosed))(K), exact, rtol=1e-6)


def test_continuous_callback_condition_closing_over_a_traced_threshold():
    # u = e^{-a t} (a = 2k²) crosses h = 0.7 k at t* = -ln(h)/a and jumps by 1: u(T) = (h + 1)/h e^{-a T}.
    def kicked(k):
        c, h = 2.0 * k, 0.7 * k
        prob = ps.ODEProblem(lambda u, p, t: -c * p * u, jnp.ones(1), (0.0, T), k)
        cb = ps.ContinuousCallback(lambda u, p, t: u[0] - h, lambda u, p, t: u + 1.0)
        return ps.solve(prob, ps.Tsit5(), rtol=1e-10, atol=1e-12, saveat=jnp.array([T]), callback=cb).u[-1, 0]
    exact = jax.grad(lambda k: (0.7 * k + 1) / (0.7 * k) * jnp.exp(-2 * k * k * T))(K)
    np.testing.assert_allclose(jax.grad(jax.jit(kicked))(K), exact, rtol=1e-6)


def test_split_problem_parts_closing_over_traced_values():
    # du/dt = -2k·k u - k u (stiff part, non-stiff part), solved by an IMEX method: u(T) = e^{-(2k² + k) T}.
    def split(k):
        c, d = 2.0 * k, 1.0 * k
        prob = ps.SplitODEProblem(lambda u, p, t: -c * p * u, lambda u, p, t: -d * u, jnp.ones(1), (0.0, T), k)
        return ps.solve(prob, ps.KenCarp4(), rtol=1e-10, atol=1e-12, saveat=jnp.array([T])).u[-1, 0]
    exact = -(4 * K + 1) * T * np.exp(-(2 * K * K + K) * T)
    np.testing.assert_allclose(jax.grad(jax.jit(split))(K), exact, rtol=1e-6)


def test_dense_solution_of_a_closure_evaluates_inside_and_outside_jit():
    def solution(k):
        c = 2.0 * k
        prob = ps.ODEProblem(lambda u, p, t: -c * p * u, jnp.ones(1), (0.0, T), k)
        return ps.solve(prob, ps.Tsit5(), rtol=1e-10, atol=1e-12)
    half = lambda k: solution(k)(T / 2)[0]      # u(T/2) = e^{-k²T}
    np.testing.assert_allclose(jax.jit(jax.grad(half))(K), -2 * K * T * np.exp(-K * K * T), rtol=1e-6)
    sol = jax.jit(solution)(K)                  # nothing traced stays in the solution's static part
    np.testing.assert_allclose(sol(T / 2)[0], np.exp(-K * K * T), rtol=1e-8)


def test_no_tracer_leaks_from_closures():
    def dosed(k):
        c, d = 2.0 * k, k * k
        prob = ps.ODEProblem(lambda u, p, t: -c * p * u, jnp.ones(1), (0.0, T), k)
        cb = ps.PresetTimeCallback(jnp.array([T / 2]), lambda u, p, t: u + d)
        return ps.solve(prob, ps.Tsit5(), saveat=jnp.array([T]), callback=cb).u[-1, 0]
    with jax.checking_leaks():
        jax.jit(jax.grad(dosed))(K)
        jax.jit(loss)(K)


# --- SDEs and DDEs: f, g, h close over traced values (hoisted at the level of the user's functions) ----------
# du = −c p u dt + s dW (additive), c = 2k, p = k, s = k/2, on one Brownian path (EM, 100 fixed steps):
# pathwise, u_T is smooth in k, and the same solve with c and s computed from p (module-level functions:
# compiled once) is the reference.

KEY = jax.random.key(0)


def _sde_drift(u, p, t):
    return -2.0 * p * p * u


def _sde_noise(u, p, t):
    return 0.5 * p * jnp.ones_like(u)


def sde_end(k, sensealg=None):
    c, s = 2.0 * k, 0.5 * k
    prob = ps.SDEProblem(lambda u, p, t: -c * p * u, lambda u, p, t: s * jnp.ones_like(u), jnp.ones(1), (0.0, T), k,
                         noise_type="additive")
    return ps.solve(prob, ps.EM(), dt=0.01, key=KEY, saveat=jnp.array([T]), sensealg=sensealg).u[-1, 0]


def sde_end_through_p(k):
    prob = ps.SDEProblem(_sde_drift, _sde_noise, jnp.ones(1), (0.0, T), k, noise_type="additive")
    return ps.solve(prob, ps.EM(), dt=0.01, key=KEY, saveat=jnp.array([T])).u[-1, 0]


@pytest.fixture(scope="module")
def sde_reference():
    """d u_T / dk through p, at K and 0.5."""
    return np.array([float(jax.grad(sde_end_through_p)(k)) for k in (K, 0.5)])


@pytest.mark.parametrize("mode", ["grad", "jit_grad", "grad_jit"])
def test_sde_gradient_reaches_values_closed_over_by_f_and_g(mode, sde_reference):
    # (a gradient missing the closed-over c and s would lack the drift's −2k·p·u and all of g's part)
    g = MODES[mode](sde_end)(K)
    np.testing.assert_allclose(g, sde_reference[0], rtol=1e-12)
    if mode == "grad":       # and against central differences of the closure's own solve (same path)
        run = jax.jit(sde_end)
        np.testing.assert_allclose(g, (run(K + 1e-5) - run(K - 1e-5)) / 2e-5, rtol=1e-7)


@pytest.mark.slow
def test_sde_closure_under_vmap_and_the_discrete_adjoint(sde_reference):
    np.testing.assert_allclose(jax.vmap(jax.grad(sde_end))(jnp.array([K, 0.5])), sde_reference, rtol=1e-12)
    # reverse mode through the same steps on the same path: forward mode's numbers to rounding
    np.testing.assert_allclose(jax.grad(lambda k: sde_end(k, ps.DiscreteAdjoint()))(K), sde_reference[0],
                               rtol=1e-12)


def test_sde_callbacks_see_the_users_p_beside_hoisted_values():
    # A dose of p at T/2 (an affect handed (p, hoisted values) would fail to add it) while f closes over c;
    # the gradient against central differences of the same jitted solve (one path).
    def dosed(k):
        c = 2.0 * k
        prob = ps.SDEProblem(lambda u, p, t: -c * p * u, lambda u, p, t: 0.1 * jnp.ones_like(u), jnp.ones(1),
                             (0.0, T), k, noise_type="additive")
        cb = ps.PresetTimeCallback(jnp.array([T / 2]), lambda u, p, t: u + p)
        return ps.solve(prob, ps.EM(), dt=0.01, key=KEY, saveat=jnp.array([T]), callback=cb).u[-1, 0]
    value_and_tangent = jax.jit(lambda k: jax.jvp(dosed, (k,), (1.0,)))     # one compile serves all three
    fd = (value_and_tangent(K + 1e-5)[0] - value_and_tangent(K - 1e-5)[0]) / 2e-5
    np.testing.assert_allclose(value_and_tangent(K)[1], fd, rtol=1e-7)


def test_sde_callback_closing_over_a_traced_value_gets_a_clear_error():
    def dosed(k):
        d = k * k
        prob = ps.SDEProblem(lambda u, p, t: -p * u, lambda u, p, t: 0.1 * u, jnp.ones(1), (0.0, T), k)
        cb = ps.PresetTimeCallback(jnp.array([T / 2]), lambda u, p, t: u + d)
        return ps.solve(prob, ps.EM(), dt=0.1, key=KEY, saveat=jnp.array([T]), callback=cb).u[-1, 0]
    with pytest.raises(TypeError, match="close over a traced value.*pass them through the problem's p"):
        jax.grad(jax.jit(dosed))(K)


@pytest.mark.slow
def test_dde_gradient_reaches_values_closed_over_by_f_and_the_history():
    # u'(t) = −a u(t − 1) with a = c p = 2k², history h(s) = d = k (closed over by h), u(0) = 1, on [0, 1.5]:
    # u(1) = 1 − a d, u(T) = u(1) − a (T − 1) + a² d (T − 1)²/2 (method of steps by hand). DDE gradients
    # compile slowly (about 20 s at load 8 with or without closures): one mode, jit of grad.
    tau, t_end = 1.0, 1.5

    def dde_end(k):
        c, d = 2.0 * k, k
        prob = ps.DDEProblem(lambda u, h, p, t: -c * p * h(p, t - tau), jnp.ones(1), lambda p, s: d * jnp.ones(1),
                             (0.0, t_end), k, constant_lags=(tau,))
        return ps.solve(prob, ps.MethodOfSteps(ps.Tsit5()), rtol=1e-10, atol=1e-12, saveat=jnp.array([t_end])).u[-1, 0]

    def exact(k):
        a, d = 2 * k * k, k
        return 1 - a * d * tau - a * (t_end - tau) + a * a * d * (t_end - tau) ** 2 / 2
    np.testing.assert_allclose(jax.jit(jax.grad(dde_end))(K), jax.grad(exact)(K), rtol=1e-8)
