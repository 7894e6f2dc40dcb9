"""Stiff SDE methods (ImplicitEM, ImplicitEulerHeun, SKenCarp): stability where EM blows up, the stationary
variance against the closed form of each scheme, strong orders by regression slope against exact
solutions on shared Brownian paths (SKenCarp's, on a nonlinear drift: test_sde_high_order), and fixed
steps on a stiff nonlinear drift."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pysciml as ps
from pysciml.solvers.sde import skencarp as skc

# --- stiff Ornstein–Uhlenbeck: du = −λu dt + σ dW, λh = 10 ≫ 2 (EM's stability bound) --------------------
LAM, SIG, H = 1e3, 1.0, 0.01
STIFF_OU = ps.SDEProblem(lambda u, p, t: -p[0] * u, lambda u, p, t: p[1] * jnp.ones_like(u), jnp.array([1.0]),
                         (0.0, 5.0), jnp.array([LAM, SIG]), noise_type="additive")
KEYS = jax.random.split(jax.random.PRNGKey(0), 1500)


def _final_values(alg):
    run = jax.jit(jax.vmap(lambda k: ps.solve(STIFF_OU, alg, dt=H, adaptive=False, key=k,
                                              save_everystep=False).u[-1, 0]))
    return np.asarray(run(KEYS))


def _skencarp_linear_map(z):
    """One SKenCarp step on f = λ'u (z = λ'h), g = σ: u_{n+1} = R u + c_W σΔW + c_χ σχ (χ = I_(1,0)/h),
    from the stage equations solved by hand (Z_i = base_i/(1 − γz), z_i = z Z_i), coefficients over
    (u, σΔW, σχ)."""
    e_u, e_w, e_c = np.eye(3)
    g = skc.GAMMA
    zs = [z * e_u]
    noise = {1: skc.NB021 * e_c, 3: skc.NB043 * e_c}
    for i in range(1, 4):
        base = e_u + sum(a * zj for a, zj in zip(skc.A[i], zs)) + noise.get(i, 0.0)
        zs.append(z * base / (1 - g * z))
    return e_u + sum(b * zj for b, zj in zip(skc.B, zs)) + e_w


def test_em_unstable_implicit_stable_with_scheme_variance():
    with pytest.warns(RuntimeWarning, match="Unstable"):
        sol = ps.solve(STIFF_OU, ps.EM(), dt=H, key=KEYS[0], save_everystep=False)
    assert sol.retcode == ps.ReturnCode.Unstable
    n = len(KEYS)
    se = math.sqrt(2 / n)    # relative standard error of a sample variance (Gaussian)
    # ImplicitEM: u_{n+1} = (u + σΔW)/(1 + λh) → Var = σ²h/((1 + λh)² − 1) = σ²/(λ(2 + λh)).
    var = np.var(_final_values(ps.ImplicitEM()))
    expected = SIG ** 2 / (LAM * (2 + LAM * H))
    assert abs(var / expected - 1) < 4 * se, (var, expected)
    assert abs(var / (SIG ** 2 / (2 * LAM)) - 1) > 0.5     # (and not the SDE's: the scheme's own variance)
    # SKenCarp: Var = σ²h (c_W² + c_W c_χ + c_χ²/3)/(1 − R²), with E[ΔWχ] = h/2, E[χ²] = h/3.
    R, cw, cc = _skencarp_linear_map(-LAM * H)
    assert abs(R) < 1
    expected = SIG ** 2 * H * (cw ** 2 + cw * cc + cc ** 2 / 3) / (1 - R ** 2)
    var = np.var(_final_values(ps.SKenCarp()))
    assert abs(var / expected - 1) < 4 * se, (var, expected)


def test_skencarp_tableau_checked():
    # A perturbed noise coefficient breaks the SRA conditions checked at import.
    saved = skc.NB043
    try:
        skc.NB043 = saved * (1 + 1e-6)
        with pytest.raises(ValueError, match="B0e"):
            skc._check_tableau()
    finally:
        skc.NB043 = saved
    skc._check_tableau()


# --- strong orders ------------------------------------------------------------------------------------------

def _strong_errors(prob, exact, alg, dts, n_paths, seed=0):
    """Mean over paths of max_i |u_N − u(T)|, every dt on the same paths (a tree deep enough that the
    dyadic step ends are its nodes)."""
    depth = int(round(math.log2(1 / min(dts))))
    prob = prob.remake(noise=ps.VirtualBrownianTree(depth))
    keys = jax.random.split(jax.random.PRNGKey(seed), n_paths)

    def one(key, dt):
        sol = ps.solve(prob, alg, dt=dt, adaptive=False, key=key, save_everystep=False)
        return jnp.max(jnp.abs(sol.u[-1] - exact(sol.t[-1], sol.W[-1])))

    mean_error = jax.jit(lambda dt: jnp.mean(jax.vmap(one, in_axes=(0, None))(keys, dt)))    # one compile for all dt
    return np.array([float(mean_error(jnp.asarray(dt, float))) for dt in dts])


def _slope(dts, errors):
    return np.polyfit(np.log(dts), np.log(errors), 1)[0]


# du = (β/√(1+t) − u/(2(1+t))) dt + αβ/√(1+t) dW (Kloeden & Platen 1992, eq. 4.4.23; additive, time-dependent g):
# u(t) = u0/√(1+t) + β(t + αW(t))/√(1+t).
_A, _B = 1.0, 2.0
U0 = jnp.array([0.5, 1.0])
ADDITIVE = ps.SDEProblem(lambda u, p, t: p[1] / jnp.sqrt(1 + t) - u / (2 * (1 + t)),
                         lambda u, p, t: p[0] * p[1] / jnp.sqrt(1 + t) * jnp.ones_like(u), U0, (0.0, 1.0),
                         jnp.array([_A, _B]), noise_type="additive")
additive_exact = lambda t, W: U0 / jnp.sqrt(1 + t) + _B * (t + _A * W) / jnp.sqrt(1 + t)

# GBM, diagonal noise: u(t) = u0 exp((μ − σ²/2)t + σW) (Itô), exp(μt + σW) (Stratonovich).
MU, SIGMA = 1.5, 0.5
GBM_U0 = jnp.array([1.0, 0.5])
gbm = lambda interp, mu=MU, sigma=SIGMA: ps.SDEProblem(lambda u, p, t: p[0] * u, lambda u, p, t: p[1] * u, GBM_U0,
                                                       (0.0, 1.0), jnp.array([mu, sigma]), interpretation=interp)


def test_implicit_em_strong_order_gbm():
    # Noise-dominated (μ = 0.1, σ = 1): with a strong drift the drift's order-1 error hides the 0.5 of the
    # noise over these step sizes.
    dts = [2.0 ** -k for k in (4, 5, 6, 7, 8)]
    exact = lambda t, W: GBM_U0 * jnp.exp((0.1 - 0.5) * t + W)
    errors = _strong_errors(gbm("ito", 0.1, 1.0), exact, ps.ImplicitEM(), dts, n_paths=100)
    assert abs(_slope(dts, errors) - 0.5) < 0.2, errors


def test_implicit_euler_heun_strong_order_gbm():
    # Euler–Heun noise on commutative noise with the (first-order) implicit Euler drift: order 1.
    dts = [2.0 ** -k for k in (4, 5, 6, 7)]
    exact = lambda t, W: GBM_U0 * jnp.exp(MU * t + SIGMA * W)
    errors = _strong_errors(gbm("stratonovich"), exact, ps.ImplicitEulerHeun(), dts, n_paths=64)
    assert abs(_slope(dts, errors) - 1.0) < 0.2, errors


def test_adaptive_implicit_methods_meet_tolerance_on_the_same_path():
    # Adaptive steps on the virtual tree: the error against the exact solution on the same path shrinks with
    # the tolerance.
    key = jax.random.PRNGKey(3)
    # 100× tighter: SKenCarp (order 1.5) gains 5× at least, ImplicitEM (order 0.5) 2× (3.1× measured).
    for alg, prob, exact, gain in ((ps.SKenCarp(), ADDITIVE, additive_exact, 5),
                                   (ps.ImplicitEM(), gbm("ito"),
                                    lambda t, W: GBM_U0 * jnp.exp((MU - SIGMA ** 2 / 2) * t + SIGMA * W), 2)):
        errs = []
        for rtol in (1e-2, 1e-4):
            sol = ps.solve(prob, alg, rtol=rtol, atol=rtol, key=key, save_everystep=False)
            assert sol.retcode == ps.ReturnCode.Success
            errs.append(float(jnp.max(jnp.abs(sol.u[-1] - exact(sol.t[-1], sol.W[-1])))))
        assert errs[1] < errs[0] / gain, (alg, errs)


def test_bad_input():
    with pytest.raises(ValueError, match="theta"):
        ps.ImplicitEM(theta=0.0)
    with pytest.raises(ValueError, match="SKenCarp"):
        ps.solve(gbm("ito"), ps.SKenCarp(), key=0)
    with pytest.raises(ValueError, match="linsolve|unknown linear solver"):
        ps.ImplicitEM(linsolve="nope")


# --- fixed steps on a stiff nonlinear drift: the stages converge, or the solve says it failed ---------------
# du = −λ(u³ + u) dt + σ dW (components decoupled), λ = 100, u0 = (2, −1), h = 1/4: J at u0 is −λ(3u0² + 1),
# 13λ at u = 2, where the stages end near u = 0 with J ≈ −λ; Newton frozen at the step start stalls there
# (this solve returned Unstable before the retry with refreshed Jacobians).
CUBIC_LAM, CUBIC_SIG, CUBIC_H = 100.0, 0.5, 0.25
CUBIC = ps.SDEProblem(lambda u, p, t: -p[0] * (u ** 3 + u), lambda u, p, t: p[1] * jnp.ones_like(u),
                      jnp.array([2.0, -1.0]), (0.0, 1.0), jnp.array([CUBIC_LAM, CUBIC_SIG]), noise_type="additive")
TIGHT = dict(rtol=1e-11, atol=1e-11)      # (a fixed-step solve's Newton tolerance follows rtol/atol)


def _cubic_root(base, gh):
    """The z with z + γhλ(z³ + z) = base, per component (increasing in z: one real root), by bisection."""
    from scipy.optimize import brentq
    return np.array([brentq(lambda z: z + gh * CUBIC_LAM * (z ** 3 + z) - b, -abs(b) - 1, abs(b) + 1, xtol=1e-15)
                     for b in base])


def test_fixed_step_skencarp_converges_on_a_stiff_nonlinear_drift():
    # Without noise (σ = 0; the noise only shifts the stages' bases) the solve against KenCarp3's stage
    # equations solved by bisection in NumPy.
    sol = ps.solve(CUBIC.remake(p=jnp.array([CUBIC_LAM, 0.0])), ps.SKenCarp(), dt=CUBIC_H, adaptive=False, key=0,
                   **TIGHT)
    assert sol.retcode == ps.ReturnCode.Success
    u = np.array([2.0, -1.0])
    for k in range(4):
        zs = [CUBIC_H * -CUBIC_LAM * (u ** 3 + u)]
        for i in range(1, 4):
            base = u + sum(a * z for a, z in zip(skc.A[i], zs))
            zs.append((_cubic_root(base, skc.GAMMA * CUBIC_H) - base) / skc.GAMMA)
        u = u + sum(b * z for b, z in zip(skc.B, zs))
        np.testing.assert_allclose(np.asarray(sol.u[k + 1]), u, rtol=0, atol=1e-9)


def test_fixed_step_implicit_em_converges_on_a_stiff_nonlinear_drift():
    # Backward Euler drift: u_{n+1} + hλ(u_{n+1}³ + u_{n+1}) = u_n + σΔW_n on every step (ΔW from sol.W).
    sol = ps.solve(CUBIC, ps.ImplicitEM(), dt=CUBIC_H, adaptive=False, key=jax.random.PRNGKey(1), **TIGHT)
    assert sol.retcode == ps.ReturnCode.Success
    u, W = np.asarray(sol.u), np.asarray(sol.W)
    expected = [_cubic_root(b, CUBIC_H) for b in u[:-1] + CUBIC_SIG * np.diff(W, axis=0)]
    np.testing.assert_allclose(u[1:], expected, rtol=0, atol=1e-9)


@pytest.mark.parametrize("alg,tstops", [(ps.ImplicitEM(), None), (ps.SKenCarp(), None),
                                       pytest.param(ps.ImplicitEM(), jnp.array([0.75]), marks=pytest.mark.slow)],
                         ids=["ImplicitEM", "SKenCarp", "loop"])     # loop: ~9 s of compile at load 6
def test_fixed_step_stage_without_solution_is_reported(alg, tstops):
    # f = u²: z − γh z² = base has no real root once 4γh·base > 1, so no Newton iteration converges; the
    # fixed-step solve stops with ConvergenceFailure (it has no smaller step to retry) instead of keeping an
    # iterate (it said Unstable before: the failed step's u is NaN). Without tstops the fixed grid runs as one
    # scan (integrate/fixed_grid.py), with them in the loop.
    prob = ps.SDEProblem(lambda u, p, t: u ** 2, lambda u, p, t: 0.1 * jnp.ones_like(u), jnp.array([10.0]), (0.0, 1.0),
                         noise_type="additive")
    with pytest.warns(RuntimeWarning, match="ConvergenceFailure"):
        sol = ps.solve(prob, alg, dt=0.5, adaptive=False, key=0, tstops=tstops)
    assert sol.retcode == ps.ReturnCode.ConvergenceFailure
    assert np.all(np.isfinite(np.asarray(sol.u)))       # what was saved is what converged: u0 only
    assert sol.t[-1] == 0.0
