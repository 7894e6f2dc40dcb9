"""Delay differential equations: DDEProblem, MethodOfSteps and the solve path.

Claims: the piecewise-polynomial exact solution of u' = −u(t − 1) to 1e-10; Mackey–Glass against a
tight-tolerance reference of the same solver and against jitcdde; a state-dependent delay against its exact
solution; convergence orders 5 (Tsit5) and 7 (Vern7) with discontinuity tracking, lower without; jit, vmap
(over parameters and delays) and forward-mode gradients against finite differences; a stiff DDE with
Rodas5P; history lookups from hints equal to a plain search; no max_steps-sized copy in the compiled loop
(the per-step cost must not grow with the history buffer); clear errors for bad input. Problems share
right-hand sides so they share compiled solves.
"""
import math
import os
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pysciml as ps
from pysciml.delay import locate
from pysciml.integrate.loop import StepHistory

TIGHT = dict(rtol=1e-10, atol=1e-12)
VERN7 = ps.MethodOfSteps(ps.Vern7())
TSIT5 = ps.MethodOfSteps(ps.Tsit5())


# --- linear problems: u' = −a u(t − τ) − b u − c (u − cos t), h = 1 ----------------------------------------
# With p = (1, 0, 0, τ) the exact solution is u(t) = Σ_{j=0}^{m} (−1)^j (t − (j − 1)τ)^j / j! on
# [(m − 1)τ, mτ].

def linear_exact(t, tau=1.0):
    m = int(math.floor(t / tau)) + 1
    return sum((-1) ** j * (t - (j - 1) * tau) ** j / math.factorial(j) for j in range(m + 1))


def linear_rhs(u, h, p, t):
    a, b, c, tau = p
    return -a * h(p, t - tau) - b * u - c * (u - jnp.cos(t))


def constant_history(p, t):
    return jnp.ones(1)


LINEAR = ps.DDEProblem(linear_rhs, jnp.ones(1), constant_history, (0.0, 3.0), jnp.array([1.0, 0.0, 0.0, 1.0]),
                       constant_lags=(1.0,))


def test_linear_delay_matches_piecewise_polynomial():
    sol = ps.solve(LINEAR, VERN7, **TIGHT)
    assert sol.retcode == ps.ReturnCode.Success
    ts = np.linspace(0.0, 3.0, 61)
    exact = np.array([linear_exact(t) for t in ts])
    np.testing.assert_allclose(np.asarray(sol(ts))[:, 0], exact, rtol=0, atol=1e-10)
    # The breaking points 1, 2 are steps' ends: the solution is one polynomial on each step.
    assert np.all(np.isin([1.0, 2.0], np.asarray(sol.t)))


def test_steps_longer_than_the_lag_are_iterated_to_the_exact_solution():
    # τ = 0.1: once the solution has smoothed out, steps exceed the lag and read the step being taken.
    prob = LINEAR.remake(p=jnp.array([1.0, 0.0, 0.0, 0.1]), constant_lags=(0.1,))
    sol = ps.solve(prob, VERN7, rtol=1e-9, atol=1e-11)
    ts = np.linspace(0.0, 3.0, 31)
    exact = np.array([linear_exact(t, 0.1) for t in ts])
    np.testing.assert_allclose(np.asarray(sol(ts))[:, 0], exact, rtol=0, atol=1e-8)
    assert int(sol.stats["fixedpoint_passes"]) > 0
    assert np.max(np.diff(np.asarray(sol.t))) > 0.2


# Convergence with and without discontinuity tracking: u' = −u(t − 1) − u/2, h = 1. u' jumps at t = 0,
# so u'' jumps at t = 1 and the third derivative at 2. The fixed steps do not divide the lag: with tracking
# they land on 1 and 2, without they straddle them.
DAMPED = LINEAR.remake(p=jnp.array([1.0, 0.5, 0.0, 1.0]))
DTS = 1.0 / np.array([2.3, 3.3, 4.3, 6.3])
END = jnp.array([3.0])


def observed_order(alg, reference, track=True, dts=DTS):
    errors = [abs(float(ps.solve(DAMPED, alg, dt=dt, adaptive=False, track_discontinuities=track,
                                 saveat=END).u[-1, 0]) - reference) for dt in dts]
    return np.polyfit(np.log(dts), np.log(errors), 1)[0], errors


@pytest.fixture(scope="module")
def damped_reference():
    return float(ps.solve(DAMPED, VERN7, rtol=1e-14, atol=1e-14, saveat=END).u[-1, 0])


def test_tsit5_order_five_with_tracking_and_lower_without(damped_reference):
    tracked, errors = observed_order(TSIT5, damped_reference)
    untracked, _ = observed_order(TSIT5, damped_reference, track=False)
    assert 4.6 < tracked < 6.0, (tracked, errors)
    assert untracked < 3.6, untracked


def test_vern7_order_seven_with_tracking(damped_reference):
    order, errors = observed_order(VERN7, damped_reference, dts=DTS[:3])
    assert 6.5 < order < 7.8, (order, errors)


def stiff_linear_exact(k=1000, t_end=3):
    """The exact solution of u' = −u(t − 1) − k (u − cos t), u = 1 for t ≤ 0, interval by interval (40 digits):
    on [m, m + 1], u = c + A cos t + B sin t + e^{−k(t−m)} Q(t − m) with Q a polynomial. The forcing from the
    previous interval has the same form (shifted by one), and each part has a closed-form particular solution;
    the homogeneous e^{−k(t−m)} term makes u continuous at t = m."""
    import mpmath as mp
    mp.mp.dps = 40
    k = mp.mpf(k)

    def evaluate(piece, t):
        m, c, A, B, Q = piece
        return c + A * mp.cos(t) + B * mp.sin(t) + mp.exp(-k * (t - m)) * mp.polyval(Q[::-1], t - m)

    pieces, (c, A, B, Q), u_left = [], (mp.mpf(1), mp.mpf(0), mp.mpf(0), []), mp.mpf(1)    # the history
    for m in range(t_end):
        # forcing −u(t − 1) + k cos t = gc + gcos cos t + gsin sin t − e^{−k(t−m)} Q(t − m)
        gc, gcos, gsin = -c, k - A * mp.cos(1) + B * mp.sin(1), -A * mp.sin(1) - B * mp.cos(1)
        c, A, B = gc / k, (k * gcos - gsin) / (1 + k * k), (gcos + k * gsin) / (1 + k * k)
        Q = [mp.mpf(0)] + [-q / (j + 1) for j, q in enumerate(Q)]
        Q[0] += u_left - (c + A * mp.cos(m) + B * mp.sin(m) + Q[0])
        pieces.append((m, c, A, B, Q))
        u_left = evaluate(pieces[-1], mp.mpf(m + 1))
    return lambda t: float(evaluate(pieces[min(int(t), t_end - 1)], mp.mpf(float(t))))


def test_stiff_delay_equation_with_rodas5p():
    # u' = −u(t − 1) − 1000 (u − cos t) is stiff: Rodas5P matches the exact solution and takes far fewer
    # steps than the explicit Vern7 at the same tolerance.
    prob = LINEAR.remake(p=jnp.array([1.0, 0.0, 1000.0, 1.0]))
    ts = np.linspace(0.0, 3.0, 13)
    exact = np.array([stiff_linear_exact()(t) for t in ts])
    stiff = ps.solve(prob, ps.MethodOfSteps(ps.Rodas5P()), rtol=1e-8, atol=1e-10, saveat=ts)
    err = np.max(np.abs(np.asarray(stiff.u)[:, 0] - exact))
    assert err < 2e-8, err                             # measured 3.5e-9
    explicit = ps.solve(prob, VERN7, rtol=1e-8, atol=1e-10, saveat=ts)
    assert np.max(np.abs(np.asarray(explicit.u)[:, 0] - exact)) < 3e-9     # measured 3.7e-10
    assert int(stiff.stats["naccept"]) * 5 < int(explicit.stats["naccept"]), (stiff.stats, explicit.stats)


# --- Mackey–Glass: u' = β u(t−τ) / (1 + u(t−τ)^n) − γ u, h = 0.5 ------------------------------------------

def mackey_glass_rhs(u, h, p, t):
    beta, gamma, n, tau = p
    delayed = h(p, t - tau)
    return beta * delayed / (1.0 + delayed ** n) - gamma * u


MG_P = jnp.array([0.2, 0.1, 10.0, 17.0])
MACKEY_GLASS = ps.DDEProblem(mackey_glass_rhs, jnp.array([0.5]), lambda p, t: jnp.array([0.5]), (0.0, 100.0),
                             MG_P, constant_lags=(17.0,))
MG_TIMES = np.linspace(0.0, 100.0, 21)


def mg_solve(p, rtol=1e-8, lags=(17.0,)):
    prob = MACKEY_GLASS.remake(p=p, constant_lags=lags)
    return ps.solve(prob, TSIT5, rtol=rtol, atol=rtol * 1e-2, saveat=MG_TIMES).u[:, 0]


@pytest.fixture(scope="module")
def mg_reference():
    return np.asarray(mg_solve(MG_P, rtol=1e-13))


def test_mackey_glass_matches_tight_reference(mg_reference):
    err = np.max(np.abs(np.asarray(mg_solve(MG_P)) - mg_reference))
    assert 1e-11 < err < 1e-6, err   # a genuine error, within a hundred tolerances over 100 time units


def test_mackey_glass_reference_agrees_with_stored_jitcdde(mg_reference):
    """jitcdde's solution stored by tests/data/make_peer_references.py: runs without jitcdde installed."""
    ref = np.load(os.path.join(os.path.dirname(__file__), "data", "mackey_glass_jitcdde.npz"))
    later = MG_TIMES > 17.0
    np.testing.assert_array_equal(MG_TIMES[later], ref["times"])
    np.testing.assert_allclose(mg_reference[later], ref["values"], rtol=0, atol=1e-8)


def test_mackey_glass_reference_agrees_with_jitcdde(mg_reference):
    jitcdde = pytest.importorskip("jitcdde")
    from jitcdde import t, y
    beta, gamma, n, tau = (float(x) for x in MG_P)
    dde = jitcdde.jitcdde([beta * y(0, t - tau) / (1 + y(0, t - tau) ** n) - gamma * y(0)], verbose=False)
    dde.compile_C(verbose=False)
    dde.constant_past([0.5])
    dde.set_integration_parameters(rtol=1e-11, atol=1e-13, first_step=0.01, max_step=1.0)
    dde.step_on_discontinuities()          # integrates up to t = τ = 17, stepping onto the breaking points
    later = MG_TIMES > 17.0
    theirs = np.array([dde.integrate(time)[0] for time in MG_TIMES[later]])
    np.testing.assert_allclose(mg_reference[later], theirs, rtol=0, atol=1e-8)


def test_jit_and_vmap_over_parameters_and_delays(mg_reference):
    # Members differ in β and in the delay (traced lags: each member steps onto its own breaking points).
    betas, taus = jnp.array([0.2, 0.22, 0.2]), jnp.array([17.0, 17.0, 15.0])
    batch = jax.jit(jax.vmap(lambda b, tau: mg_solve(MG_P.at[0].set(b).at[3].set(tau), lags=tau[None])))(betas, taus)
    np.testing.assert_allclose(batch[0], mg_solve(MG_P), rtol=0, atol=1e-12)
    np.testing.assert_allclose(batch[0], mg_reference, rtol=0, atol=1e-6)
    np.testing.assert_allclose(batch[1], mg_solve(MG_P.at[0].set(0.22)), rtol=0, atol=1e-12)
    np.testing.assert_allclose(batch[2], mg_solve(MG_P.at[3].set(15.0), lags=(15.0,)), rtol=0, atol=1e-12)
    assert np.max(np.abs(batch[2] - batch[0])) > 1e-2


def test_forward_mode_gradient_matches_finite_differences():
    at_40 = lambda p: mg_solve(p, rtol=1e-10)[8]        # u(40)
    grad = jax.grad(at_40)(MG_P)
    eps = 1e-6
    for j in (0, 1):    # β and γ
        fd = (at_40(MG_P.at[j].add(eps)) - at_40(MG_P.at[j].add(-eps))) / (2 * eps)
        np.testing.assert_allclose(grad[j], fd, rtol=1e-5)
    assert abs(float(grad[0])) > 1e-2


# --- a state-dependent delay with an exact solution -----------------------------------------------------
# y'(t) = y(y(t) − √2 + 1) / (2√t) on [1, 3], y = 1 for t ≤ 1 (K. W. Neves, ACM TOMS 1 (1975) 357–368):
# y = √t on [1, 2], y = t/4 + 1/2 + (1 − √2/2)√t on [2, 3]. The delay t − y(t) + √2 − 1 is about 0.41 at
# t = 1 and grows; the breaking point t = 2 (where y(t) − √2 + 1 = 1) is left to the step-size control.

SQRT2 = math.sqrt(2.0)


def neves_exact(t):
    return math.sqrt(t) if t <= 2 else t / 4 + 0.5 + (1 - SQRT2 / 2) * math.sqrt(t)


def neves_rhs(u, h, p, t):
    return h(p, u[0] - SQRT2 + 1.0) / (2.0 * jnp.sqrt(t))


def neves_lag(u, p, t):
    return t - u[0] + SQRT2 - 1.0


NEVES = ps.DDEProblem(neves_rhs, jnp.ones(1), constant_history, (1.0, 3.0), dependent_lags=(neves_lag,))


def test_state_dependent_delay_matches_exact_solution():
    sol = ps.solve(NEVES, TSIT5, **TIGHT)
    assert sol.retcode == ps.ReturnCode.Success
    ts = np.linspace(1.0, 3.0, 41)
    err = np.max(np.abs(np.asarray(sol(ts))[:, 0] - [neves_exact(t) for t in ts]))
    assert 1e-12 < err < 5e-9, err


# --- the history lookup and its cost ---------------------------------------------------------------------

def test_lookup_from_any_hint_finds_the_step_holding_each_time():
    # Step times with repeats (zero-length steps at stops) and an unused tail, as the loop's buffer holds
    # them; times on step boundaries, between them, before t0 and past the last step; hints anywhere.
    rng = np.random.default_rng(1)
    ts = np.concatenate([[0.0, 0.0], np.cumsum(rng.uniform(0.01, 0.3, 60)), [20.0, 20.0]])
    ts = np.sort(np.where(ts > 20.0, 20.0, ts))
    buffer = jnp.asarray(np.concatenate([ts, np.zeros(37)]))
    times = np.concatenate([ts, ts[:-1] + np.diff(ts) / 3, [-1.0, 25.0]])
    search = jax.jit(jax.vmap(lambda n, s, hint: locate(StepHistory(buffer, None, None, n), s[None], hint[None])[0],
                              (None, 0, 0)))
    for n_steps in (len(ts) - 1, 17, 1, 0):
        valid = np.asarray(buffer)[:max(n_steps, 1)]
        expected = np.clip(np.searchsorted(valid, times, side="right") - 1, 0, None)
        for hints in (rng.integers(0, len(buffer), times.shape), np.maximum(expected - 3, 0), expected):
            np.testing.assert_array_equal(search(n_steps, times, hints.astype(np.int32)), expected)


def test_no_copy_of_the_history_buffers_inside_the_loop():
    # XLA copies a loop-carried buffer that is written before one of its reads in the loop body: here that
    # would be the whole max_steps-sized history, once per step.
    size = 4321
    solve = jax.jit(lambda p: ps.solve(MACKEY_GLASS.remake(p=p), TSIT5, saveat=MG_TIMES, max_steps=size).u)
    text = solve.lower(MG_P).compile().as_text()
    computation, copies = None, []
    for line in text.splitlines():
        if line and not line.startswith(" ") and line.rstrip().endswith("{"):
            computation = line.split()[0]
        if computation != "ENTRY" and re.search(rf" = f64\[({size}|{size + 1})[,\]].* copy\(", line):
            copies.append(line.strip())
    assert "while" in text and not copies, copies


# --- bad input --------------------------------------------------------------------------------------------

def test_bad_input_is_refused_with_clear_errors():
    with pytest.raises(ValueError, match="declare the delays"):
        ps.DDEProblem(linear_rhs, jnp.ones(1), constant_history, (0.0, 1.0))
    with pytest.raises(ValueError, match="constant_lags must be positive"):
        ps.DDEProblem(linear_rhs, jnp.ones(1), constant_history, (0.0, 1.0), constant_lags=(-1.0,))
    with pytest.raises(TypeError, match="h must be the history function"):
        ps.DDEProblem(linear_rhs, jnp.ones(1), 1.0, (0.0, 1.0), constant_lags=(1.0,))
    with pytest.raises(TypeError, match="dependent_lags\\[0\\]"):
        ps.DDEProblem(linear_rhs, jnp.ones(1), constant_history, (0.0, 1.0), dependent_lags=(2.0,))
    with pytest.raises(TypeError, match="MethodOfSteps\\(Tsit5\\(\\)\\)"):
        ps.solve(LINEAR, ps.Tsit5())
    with pytest.raises(ValueError, match="not supported"):
        ps.MethodOfSteps(ps.KenCarp4())
    with pytest.raises(NotImplementedError, match="neutral"):
        ps.solve(LINEAR.remake(neutral=True), TSIT5)
    with pytest.raises(ValueError, match="InterpolatingAdjoint.*does not handle delay"):
        ps.solve(LINEAR, TSIT5, sensealg=ps.InterpolatingAdjoint())
    with pytest.raises(ValueError, match="h returned shape"):
        ps.solve(LINEAR.remake(h=lambda p, t: jnp.ones(2)), TSIT5)
    with pytest.raises(ValueError, match="f returned shape"):
        ps.solve(LINEAR.remake(f=lambda u, h, p, t: jnp.ones(3)), TSIT5)
    with pytest.raises(ValueError, match="forward in time"):
        ps.solve(LINEAR.remake(tspan=(3.0, 0.0)), TSIT5)
