"""Callbacks and events: analytic event sequences (bouncing ball, ball in a box), dosing by
superposition, periodic/discrete parameter changes, steady-state termination, event budgets, gradients
through event times against the analytic derivative, vmap with per-member event counts, a stiff method."""
import math
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pysciml as ps

G, E = 9.81, 0.9


def ball(u, p, t):
    return jnp.array([u[1], -p[0]])


def height(u, p, t):
    return u[0]


def bounce(u, p, t):
    return jnp.array([u[0], -p[1] * u[1]])


BALL = ps.ContinuousCallback(height, bounce, direction="down")


def ball_problem(h0=1.0, e=E, t1=8.0):
    return ps.ODEProblem(ball, jnp.array([h0, 0.0]), (0.0, t1), jnp.array([G, e]))


def analytic_bounces(h0, e, n, g=G):
    """Impact times and rebound speeds of a ball dropped from rest at height h0."""
    t = jnp.sqrt(2 * h0 / g)
    v = g * t
    times, speeds = [], []
    for _ in range(n):
        v = e * v
        times.append(t)
        speeds.append(v)
        t = t + 2 * v / g
    return jnp.stack(times), jnp.stack(speeds)


def analytic_height(h0, e, T, g=G):
    """Height at time T (differentiable in h0 and e, for the gradient test)."""
    times, speeds = analytic_bounces(h0, e, 40, g)
    k = jnp.sum(times <= T) - 1
    s = T - times[jnp.maximum(k, 0)]
    return jnp.where(k < 0, h0 - 0.5 * g * T ** 2, speeds[k] * s - 0.5 * g * s ** 2)


@pytest.fixture(scope="module")
def ball_solution():
    return ps.solve(ball_problem(), ps.Tsit5(), rtol=1e-11, atol=1e-12, callback=BALL)


def test_bouncing_ball_event_times_and_velocities(ball_solution):
    sol = ball_solution
    assert sol.retcode == ps.ReturnCode.Success
    n = int(sol.events.n)
    assert n >= 20
    times, speeds = analytic_bounces(1.0, E, n)
    np.testing.assert_allclose(sol.events.t, times, rtol=0, atol=1e-10)
    assert np.all(np.asarray(sol.events.index) == 0) and int(sol.events.count[0]) == n
    # Every event is saved twice (before and after the affect) at the same time.
    t = np.asarray(sol.t)
    post = np.flatnonzero(np.diff(t) == 0) + 1
    assert post.size == n
    u = np.asarray(sol.u)
    np.testing.assert_allclose(u[post, 1], speeds, rtol=1e-9)
    np.testing.assert_allclose(u[post - 1, 1], -speeds / E, rtol=1e-9)
    np.testing.assert_allclose(u[post, 0], 0.0, atol=1e-10)
    # Dense output across the jumps: just before/after the third bounce, and between bounces.
    before, after = sol(times[2] - 1e-7), sol(times[2] + 1e-7)
    assert float(before[1]) < 0 < float(after[1])
    mid = 0.5 * (times[4] + times[5])
    np.testing.assert_allclose(sol(mid)[0], analytic_height(1.0, E, mid), atol=1e-10)


def test_ball_saveat_takes_the_correct_side_and_max_events():
    times, _ = analytic_bounces(1.0, E, 3)
    ts = jnp.array([0.1, float(times[0]), float(times[0]) + 1e-9, 1.0, 1.5])
    sol = ps.solve(ball_problem(t1=1.5), ps.Tsit5(), rtol=1e-11, atol=1e-12, saveat=ts, callback=BALL)
    expected = jnp.stack([analytic_height(1.0, E, float(t)) for t in ts])
    np.testing.assert_allclose(sol.u[:, 0], expected, atol=1e-10)
    assert float(sol.u[1, 1]) < 0 < float(sol.u[2, 1])        # at the event: the state before it
    # A budget of 3 events stops at the fourth with an actionable return code and a warning.
    with pytest.warns(RuntimeWarning, match="MaxEvents"):
        short = ps.solve(ball_problem(), ps.Tsit5(), rtol=1e-11, atol=1e-12, saveat=ts, callback=BALL,
                         max_events=3)
    assert short.retcode == ps.ReturnCode.MaxEvents and int(short.events.n) == 3
    fourth = analytic_bounces(1.0, E, 4)[0][3]
    assert float(short.events.t[-1]) < float(fourth)
    assert "max_events" in ps.ReturnCode.MaxEvents.message


def test_gradient_through_events_matches_analytic():
    T = 3.0

    def outputs(h0, e):
        prob = ball_problem(t1=T).remake(u0=jnp.array([h0, 0.0]), p=jnp.array([G, e]))
        sol = ps.solve(prob, ps.Tsit5(), rtol=1e-11, atol=1e-12, save_everystep=False, callback=BALL)
        return jnp.stack([sol.u[-1, 0], sol.events.t[0], sol.events.t[2]])

    def exact(h0, e):
        times = analytic_bounces(h0, e, 3)[0]
        return jnp.stack([analytic_height(h0, e, T), times[0], times[2]])

    np.testing.assert_allclose(outputs(1.0, E), exact(1.0, E), atol=1e-9)
    # Forward mode through the loop (ForwardDiffSensitivity, the default with callbacks): the height after
    # four bounces and the event times against the analytic derivatives in h0 and e.
    jac = np.stack(jax.jacfwd(outputs, argnums=(0, 1))(1.0, E), axis=1)
    expected = np.stack(jax.jacfwd(exact, argnums=(0, 1))(1.0, E), axis=1)
    assert abs(expected[0, 1]) > 1 and abs(expected[2, 1]) > 0.1      # e matters for what is checked
    np.testing.assert_allclose(jac, expected, rtol=1e-7, atol=1e-8)


DRAG = 0.3   # 1/s: a ball with linear air drag, x'' = -g - DRAG x', so that no method is exact (unlike the free ball)


def drag_bounces(n, h0=1.0, e=E, g=G, k=DRAG):
    """Impact times of the ball with drag, from the closed-form flight x(s) = x0 + (v0 + g/k)(1 - e^(-ks))/k - g s/k
    and v(s) = (v0 + g/k) e^(-ks) - g/k, each flight's root found by scipy's brentq to 1e-15."""
    from scipy.optimize import brentq
    times, t, x0, v0 = [], 0.0, h0, 0.0
    for _ in range(n):
        x = lambda s, x0=x0, v0=v0: x0 + (v0 + g / k) * (1 - math.exp(-k * s)) / k - g * s / k
        s = brentq(x, 1e-6 if x0 == 0 else 0.0, 10.0, xtol=1e-15, rtol=8.9e-16)
        t += s
        times.append(t)
        x0, v0 = 0.0, -e * ((v0 + g / k) * math.exp(-k * s) - g / k)
    return np.array(times)


def test_event_time_error_falls_with_the_tolerance():
    """Events are located on the dense output of the step that crosses, to a few rounding units: the
    event-time error is the solution's own, and falls with the tolerance (measured, Tsit5, first three
    bounces: 1.3e-7 at rtol 1e-6, 1.4e-10 at 1e-9)."""
    prob = ps.ODEProblem(lambda u, p, t: jnp.array([u[1], -G - DRAG * u[1]]), jnp.array([1.0, 0.0]), (0.0, 2.5))
    exact = drag_bounces(3)
    errors = []
    for tol in (1e-6, 1e-9):
        sol = ps.solve(prob, ps.Tsit5(), rtol=tol, atol=tol, save_everystep=False, callback=BALL_WITH_E)
        assert int(sol.events.n) >= 3
        errors.append(np.max(np.abs(np.asarray(sol.events.t)[:3] - exact)))
    assert errors[0] <= 1e-6 and errors[1] <= 1e-9 and errors[1] <= errors[0] / 100, errors


BALL_WITH_E = ps.ContinuousCallback(height, lambda u, p, t: jnp.array([u[0], -E * u[1]]), direction="down")


def test_vmap_members_have_their_own_events():
    heights = jnp.array([0.5, 1.0, 2.0])

    def run(h0):
        prob = ball_problem(t1=3.0).remake(u0=jnp.array([h0, 0.0]))
        sol = ps.solve(prob, ps.Tsit5(), rtol=1e-11, atol=1e-12, save_everystep=False, callback=BALL)
        return sol.events.t, sol.events.n

    times, counts = jax.jit(jax.vmap(run))(heights)
    counts = np.asarray(counts)
    assert len(set(counts.tolist())) == 3
    for h0, row, n in zip(heights, times, counts):
        np.testing.assert_allclose(row[:n], analytic_bounces(float(h0), E, int(n))[0], atol=1e-10)
        assert np.all(np.isnan(np.asarray(row[n:])))


def test_stiff_method_with_events():
    sol = ps.solve(ball_problem(t1=3.0), ps.Rodas5P(), rtol=1e-9, atol=1e-10, save_everystep=False,
                   callback=BALL)
    n = int(sol.events.n)
    assert sol.retcode == ps.ReturnCode.Success and n == 4
    np.testing.assert_allclose(sol.events.t, analytic_bounces(1.0, E, n)[0], atol=1e-8)
    np.testing.assert_allclose(sol.u[-1, 0], analytic_height(1.0, E, 3.0), atol=1e-7)


def test_ball_in_a_box_vector_callback():
    def box(u, p, t):
        x, y, vx, vy = u
        return jnp.array([vx, vy, 0.0, -G])

    walls = lambda u, p, t: jnp.array([u[0], 1.0 - u[0], u[1]])

    def reflect(u, p, t, idx):
        return jnp.where(idx == 2, u.at[3].multiply(-1.0), u.at[2].multiply(-1.0))

    cb = ps.VectorContinuousCallback(walls, reflect, 3)
    # and a scalar event that stops the solve at t = 4.5 from its affect (the span goes on to 10)
    stop = ps.ContinuousCallback(lambda u, p, t: t - 4.5, lambda u, p, t: ps.terminate(u))
    prob = ps.ODEProblem(box, jnp.array([0.5, 1.0, 0.3, 0.0]), (0.0, 10.0))
    sol = ps.solve(prob, ps.Tsit5(), rtol=1e-11, atol=1e-12, save_everystep=False, callback=ps.CallbackSet(cb, stop))
    assert sol.retcode == ps.ReturnCode.Terminated and sol.success
    np.testing.assert_allclose(sol.t[-1], 4.5, rtol=1e-14)
    assert int(sol.events.index[-1]) == 1 and np.asarray(sol.events.count).tolist() == [int(sol.events.n) - 1, 1]
    t_floor = math.sqrt(2 / G) * (1 + 2 * np.arange(6))
    t_wall = (0.5 + np.arange(2)) / 0.3
    expected = sorted([(t, 2) for t in t_floor if t < 4.5] + [(t, 1 if k % 2 == 0 else 0) for k, t in enumerate(t_wall) if t < 4.5])
    assert int(sol.events.n) == len(expected) + 1
    np.testing.assert_allclose(sol.events.t[:-1], [t for t, _ in expected], atol=1e-10)
    assert np.asarray(sol.events.component[:-1]).tolist() == [c for _, c in expected]


def test_dosing_matches_superposition():
    k, dose = 0.3, 2.0
    doses = jnp.array([0.0, 6.0, 12.0, 18.0])
    prob = ps.ODEProblem(lambda u, p, t: -p * u, jnp.array([0.0]), (0.0, 30.0), k)
    ts = jnp.linspace(0.0, 30.0, 61)     # includes the dose times: saved before the dose
    cb = ps.PresetTimeCallback(doses, lambda u, p, t: u + dose)
    sol = ps.solve(prob, ps.Tsit5(), rtol=1e-10, atol=1e-12, saveat=ts, callback=cb)
    given = (doses[None, :] < ts[:, None]) | ((doses[None, :] == 0) & (ts[:, None] == 0))
    exact = jnp.sum(jnp.where(given, dose * jnp.exp(-k * (ts[:, None] - doses[None, :])), 0.0), axis=1)
    np.testing.assert_allclose(sol.u[:, 0], exact, rtol=1e-8, atol=1e-12)
    assert int(sol.events.count[0]) == 4


def test_periodic_and_discrete_callbacks_change_p():
    # x' = a; every 1.0 the rate doubles; after the first step ending at t ≥ 2.5 the rate is set to 0.
    f = lambda u, p, t: jnp.array([p])
    double = ps.PeriodicCallback(lambda u, p, t: ps.Effect(u, 2 * p), 1.0)
    stop = ps.DiscreteCallback(lambda u, p, t: (t >= 2.5) & (p > 0), lambda u, p, t: ps.Effect(u, 0.0 * p))
    prob = ps.ODEProblem(f, jnp.array([0.0]), (0.0, 5.0), 1.0)
    sol = ps.solve(prob, ps.Tsit5(), dt=0.2, adaptive=False, callback=ps.CallbackSet(double, stop))
    t, x = np.asarray(sol.t), np.asarray(sol.u[:, 0])
    for tk in (1.0, 2.0):
        assert np.any(t == tk)                  # stepped exactly onto the periodic times
    exact = lambda s: np.where(s <= 1, s, np.where(s <= 2, 1 + 2 * (s - 1), 3 + 4 * (s - 2)))
    stop_time = t[np.argmax(t >= 2.5 - 1e-12)]
    np.testing.assert_allclose(x[t <= stop_time], exact(t[t <= stop_time]), rtol=1e-12)
    np.testing.assert_allclose(x[-1], exact(stop_time), rtol=1e-12)
    assert np.asarray(sol.events.count).tolist() == [5, 1]      # periodic at 1, …, 5; discrete once


def test_terminate_steady_state_and_saving_callback():
    prob = ps.ODEProblem(lambda u, p, t: -u, jnp.array([1.0]), (0.0, 100.0))
    save = ps.SavingCallback(lambda u, p, t: jnp.stack([u[0], u[0] ** 2]), jnp.array([0.0, 0.5, 1.0, 3.0]))
    sol = ps.solve(prob, ps.Tsit5(), rtol=1e-10, atol=1e-12,
                   callback=ps.CallbackSet(ps.TerminateSteadyState(abstol=1e-6, reltol=1e-12), save))
    assert sol.retcode == ps.ReturnCode.Terminated
    assert abs(float(sol.u[-1, 0])) <= 1e-6 < abs(float(sol.u[-2, 0]))
    assert float(sol.t[-1]) < 20.0
    saved = sol.saved_values[0]
    np.testing.assert_allclose(saved.saveval[:, 0], np.exp(-np.asarray(saved.t)), rtol=1e-8)
    np.testing.assert_allclose(saved.saveval[:, 1], np.exp(-2 * np.asarray(saved.t)), rtol=1e-8)


def test_bad_input_is_refused_before_compiling():
    with pytest.raises(TypeError, match="condition must be callable"):
        ps.ContinuousCallback(1.0, bounce)
    with pytest.raises(ValueError, match="direction"):
        ps.ContinuousCallback(height, bounce, direction="sideways")
    with pytest.raises(ValueError, match="dt must be a positive"):
        ps.PeriodicCallback(bounce, -1.0)
    with pytest.raises(ValueError, match="interp_points"):
        ps.ContinuousCallback(height, bounce, interp_points=-1)
    with pytest.raises(TypeError, match="callback"):
        ps.solve(ball_problem(), ps.Tsit5(), callback="bounce")
    with pytest.raises(ValueError, match="max_events"):
        ps.solve(ball_problem(), ps.Tsit5(), callback=BALL, max_events=0)
    with pytest.raises(ValueError, match="affect must return a state shaped like u0"):
        ps.solve(ball_problem(), ps.Tsit5(), callback=ps.ContinuousCallback(height, lambda u, p, t: u[:1]))
    with pytest.raises(ValueError, match="condition"):
        ps.solve(ball_problem(), ps.Tsit5(), callback=ps.ContinuousCallback(lambda u, p, t: u, bounce))
    with pytest.raises(ValueError, match="ForwardDiffSensitivity"):
        ps.solve(ball_problem(), ps.Tsit5(), saveat=jnp.array([1.0]), callback=BALL,
                 sensealg=ps.InterpolatingAdjoint())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ps.ContinuousCallback(height, bounce)     # a valid one raises nothing


def test_each_callback_in_a_set_keeps_its_own_root_finder(monkeypatch):
    """first_crossing with per-component methods: on a linear condition Illinois lands on the root (the
    secant is exact), bisection stops at the far end of a bracket of width tol; then solve passes every
    callback's own setting (a vector callback's for each of its components)."""
    from pysciml.callbacks import first_crossing

    thetas = jnp.linspace(0.0, 1.0, 3)
    g = lambda th: jnp.stack([th - 0.3, th - 0.6])
    values = jax.vmap(g)(thetas)
    direction, tol = jnp.zeros(2), 0.01
    illinois = first_crossing(g, thetas, values, direction, tol, ("illinois", "bisection"))
    bisection = first_crossing(g, thetas, values, direction, tol, ("bisection", "illinois"))
    assert float(illinois.theta) == pytest.approx(0.3, abs=1e-12)
    assert 0.3 < float(bisection.theta) <= 0.3 + tol and float(bisection.theta) != pytest.approx(0.3, abs=1e-6)
    g_late = lambda th: jnp.stack([th - 0.6, th - 0.3])   # component 1 first: its own method is used
    late = first_crossing(g_late, thetas, jax.vmap(g_late)(thetas), direction, tol, ("bisection", "illinois"))
    assert int(late.component) == 1 and float(late.theta) == pytest.approx(0.3, abs=1e-12)

    import importlib
    events = importlib.import_module("pysciml.integrate.events")
    seen = []
    real = events.first_crossing
    monkeypatch.setattr(events, "first_crossing", lambda *a: seen.append(a[5]) or real(*a))
    walls = ps.VectorContinuousCallback(lambda u, p, t: jnp.stack([u[0] - 2.0, u[0] + 2.0]),
                                        lambda u, p, t, j: u, 2, rootfind="bisection")
    ps.solve(ball_problem(t1=0.5), ps.Tsit5(), callback=ps.CallbackSet(BALL, walls))
    assert seen and all(s == ("illinois", "bisection", "bisection") for s in seen)
