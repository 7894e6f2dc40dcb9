"""Shadowing sensitivities of long-time averages (sensitivity/shadowing) and the Lyapunov spectrum.

References: Lorenz-63 (σ, ρ, β) = (10, 28, 8/3), d⟨z⟩/dρ ≈ 1.01 (Wang 2014, SIAM J. Numer. Anal. 52;
Ni & Wang 2017, J. Comput. Phys. 347: "≈ 1.0"); its exponents 0.9056, 0, −14.5723 (Sprott 2003), whose
sum is the trace of the Jacobian, −(σ + 1 + β), exactly. A damped oscillator driven by a stable limit
cycle has the analytic average ⟨x²⟩ = F² / (2((k − ω²)² + c²ω²)).
"""
import functools
import logging
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pysciml as ps
from pysciml.sensitivity.shadowing import unstable

XLA_OPTIMIZED = True   # estimates over a chaotic trajectory move with rounding: see tests/conftest.py

# --- Lorenz-63 with a time-scale parameter s (f → s·f): rescaling time cannot move a long-time average,
# so d⟨z⟩/ds = 0 is a check of each method's treatment of time dilation.

def lorenz(u, p, t):
    x, y, z = u
    sigma, rho, beta, s = p
    return s * jnp.array([sigma * (y - x), x * (rho - z) - y, x * y - beta * z])


P_LORENZ = jnp.array([10.0, 28.0, 8.0 / 3.0, 1.0])
T_LORENZ, M_LORENZ, K_LORENZ = 40.0, 4000, 40
TS_LORENZ = jnp.linspace(0.0, T_LORENZ, M_LORENZ + 1)


@functools.lru_cache(maxsize=None)
def lorenz_problem():
    spin_up = ps.solve(ps.ODEProblem(lorenz, jnp.array([1.0, 1.0, 1.0]), (0.0, 30.0), P_LORENZ), ps.Tsit5(),
                       rtol=1e-10, atol=1e-10, save_everystep=False)
    return ps.ODEProblem(lorenz, spin_up.u[-1], (0.0, T_LORENZ), P_LORENZ)


def mean_z(p, sensealg):
    sol = ps.solve(lorenz_problem().remake(p=p), ps.Tsit5(), rtol=1e-8, atol=1e-8, saveat=TS_LORENZ,
                   sensealg=sensealg)
    return jnp.mean(sol.u[:, 2])


@functools.lru_cache(maxsize=None)
def lorenz_gradient(sensealg):
    return np.asarray(jax.grad(mean_z)(P_LORENZ, sensealg))


# NILSS and NILSAS with their numbers of unstable directions left to the estimate (nus = 1, M = 2 here).
LORENZ_METHODS = [ps.ForwardLSS(regularizer=ps.TimeDilation(10.0)), ps.NILSS(K_LORENZ, M_LORENZ // K_LORENZ),
                  ps.NILSAS(K_LORENZ, M_LORENZ // K_LORENZ)]


class _Messages(logging.Handler):
    def __init__(self):
        super().__init__(logging.INFO)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


@functools.lru_cache(maxsize=None)
def lorenz_estimate_log():
    """The estimate's message for the Lorenz trajectory, taken at the first NILSS gradient (a fresh cache)."""
    logger, handler = logging.getLogger(unstable.__name__), _Messages()
    unstable.clear_cache()
    logger.addHandler(handler)
    level, logger.level = logger.level, logging.INFO
    try:
        lorenz_gradient(LORENZ_METHODS[1])
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    return handler.messages


@pytest.mark.slow
@pytest.mark.parametrize("sensealg", LORENZ_METHODS, ids=lambda a: type(a).__name__)
def test_lorenz_rho_derivative(sensealg):
    lorenz_estimate_log()
    grad = lorenz_gradient(sensealg)
    assert 0.95 <= grad[1] <= 1.05, grad
    assert abs(grad[3]) < 0.05, grad          # time rescaling leaves the average where it is


@pytest.mark.slow
def test_lorenz_methods_agree():
    """σ and β derivatives of the three methods on the same trajectory agree (no reference needed to see a
    wrong transposition or a lost term: each would move one method alone)."""
    grads = np.array([lorenz_gradient(a) for a in LORENZ_METHODS])
    assert np.ptp(grads[:, 0]) < 0.02 and np.ptp(grads[:, 2]) < 0.08, grads


@pytest.mark.slow
def test_lorenz_unstable_directions_estimated():
    """One positive exponent transverse to f (Sprott: 0.9056; the neutral one along f is not counted) and
    −14.57: NILSS takes nus = 1 (Ni & Wang 2017), NILSAS M = nus + 1 = 2 (Ni & Talnikar 2019)."""
    (message,) = lorenz_estimate_log()
    assert "NILSS(nus=None): 1 unstable direction" in message, message
    numbers = message.split("exponents [")[1]
    largest, smallest = (float(x) for x in numbers.split("]")[0].split())
    assert abs(largest - 0.9056) < 0.3 and abs(smallest + 14.5723) < 0.5, message
    assert unstable.method_count(LORENZ_METHODS[2], 1, 3) == 2


@pytest.mark.slow
def test_adjoint_lss_equals_forward_lss():
    forward = lorenz_gradient(LORENZ_METHODS[0])
    adjoint = lorenz_gradient(ps.AdjointLSS(regularizer=ps.TimeDilation(10.0)))
    np.testing.assert_allclose(adjoint, forward, rtol=1e-8, atol=1e-10)


@pytest.mark.slow
def test_plain_ad_through_the_long_solve_is_meaningless():
    """The derivative of the finite-time average (exact for the discrete solve) grows like exp(λ₁T)."""
    plain = lorenz_gradient(ps.ForwardDiffSensitivity())
    assert abs(plain[1]) > 100 * abs(lorenz_gradient(LORENZ_METHODS[1])[1]), plain


@pytest.mark.slow
def test_lyapunov_spectrum_lorenz():
    prob = ps.ODEProblem(lorenz, jnp.array([1.0, 1.0, 1.0]), (0.0, 110.0), P_LORENZ)
    exps, errors = (np.asarray(x) for x in ps.lyapunov_spectrum(prob, ps.Tsit5(), transient=10.0, interval=0.05,
                                                                 standard_error=True))
    sigma, _, beta, _ = np.asarray(P_LORENZ)
    assert 0.01 < errors[0] < 0.2 and abs(exps[0] - 0.9056) < 3 * errors[0], (exps, errors)
    assert abs(exps.sum() + (sigma + 1 + beta)) < 2e-3, exps
    np.testing.assert_allclose(exps, [0.9056, 0.0, -14.5723], atol=0.08)
    assert np.sum(exps > 0.1) == 1                               # nus = 1 for NILSS


# --- A damped oscillator driven by the stable limit cycle (a, b) → (cos ωt, sin ωt): not chaotic, so the
# derivative of the finite-time average converges and ordinary adjoints are meaningful too.

def oscillator(u, p, t):
    x, v, a, b = u
    k, c, force, omega = p
    r2 = a * a + b * b
    return jnp.array([v, -c * v - k * x + force * a, -omega * b + a * (1 - r2), omega * a + b * (1 - r2)])


P_OSC = np.array([1.0, 2.0, 1.0, 1.3])
PERIOD = 2 * math.pi / P_OSC[3]
K_OSC, S_OSC = 40, 40
TS_OSC = jnp.linspace(0.0, K_OSC * PERIOD, K_OSC * S_OSC + 1)


def analytic_mean_x2(p):
    k, c, force, omega = p
    return force ** 2 / (2 * ((k - omega ** 2) ** 2 + (c * omega) ** 2))


def osc_problem():
    k, c, force, omega = P_OSC
    amplitude = force / (k - omega ** 2 + 1j * c * omega)       # on the periodic steady state
    u0 = jnp.array([amplitude.real, -omega * amplitude.imag, 1.0, 0.0])
    return ps.ODEProblem(oscillator, u0, (0.0, float(TS_OSC[-1])), jnp.asarray(P_OSC))


OSC = osc_problem()


def mean_x2(p, sensealg):
    sol = ps.solve(OSC.remake(p=p), ps.Tsit5(), rtol=1e-9, atol=1e-9, saveat=TS_OSC, sensealg=sensealg)
    return jnp.mean(sol.u[:, 0] ** 2)


def analytic_gradient():
    return np.asarray(jax.grad(analytic_mean_x2)(jnp.asarray(P_OSC)))


# nus = M = 3: every direction but f. With fewer, the homogeneous solutions cannot cancel the start-up
# transient of the damped oscillator, a bias of O(1/(cT)) as for plain adjoints; in a chaotic system the
# stable directions contract fast and nus = number of positive exponents suffices. Every method keeps a bias
# of O(1/(rate·T)) from the boundary layers at the ends (about 0.5% here, 2% with c = 0.5).
@pytest.mark.parametrize("sensealg", [ps.NILSS(K_OSC, S_OSC, 3), ps.NILSAS(K_OSC, S_OSC, 3),
                                      ps.ForwardLSS(), ps.ForwardLSS(regularizer=ps.Cos2Windowing())],
                         ids=["NILSS", "NILSAS", "ForwardLSS-TimeDilation", "ForwardLSS-Cos2Windowing"])
def test_oscillator_matches_analytic(sensealg):
    grad = np.asarray(jax.grad(mean_x2)(jnp.asarray(P_OSC), sensealg))
    np.testing.assert_allclose(grad, analytic_gradient(), rtol=0.01, atol=1e-3)


def test_oscillator_ordinary_adjoint_agrees(caplog):
    """Every exponent transverse to f is negative (−1, −1 from the damping, −2 towards the limit cycle), so
    the estimate gives nus = 0 and NILSS reduces to the forward sensitivity projected off f at segment ends:
    it agrees with the gradient of the finite-time average (here GaussAdjoint) for k, c and F, to 0.2%
    (the projections' and segment ends' share of the transient), and both match the analytic derivative.
    ω moves the phase of the limit cycle, so only shadowing has its derivative right (plain: −0.18)."""
    unstable.clear_cache()
    plain = np.asarray(jax.grad(mean_x2)(jnp.asarray(P_OSC), ps.GaussAdjoint()))
    with caplog.at_level(logging.INFO, logger=unstable.__name__):
        shadow = np.asarray(jax.grad(mean_x2)(jnp.asarray(P_OSC), ps.NILSS(K_OSC, S_OSC)))
    assert "NILSS(nus=None): 0 unstable direction" in caplog.text, caplog.text
    np.testing.assert_allclose(shadow[:3], plain[:3], rtol=2e-3)
    np.testing.assert_allclose(shadow, analytic_gradient(), rtol=0.01, atol=1e-3)
    assert abs(plain[3] - analytic_gradient()[3]) > 0.03


def test_adjoint_lss_equals_forward_lss_windowed():
    reg = ps.CosWindowing()
    forward = np.asarray(jax.grad(mean_x2)(jnp.asarray(P_OSC), ps.ForwardLSS(regularizer=reg)))
    adjoint = np.asarray(jax.grad(mean_x2)(jnp.asarray(P_OSC), ps.AdjointLSS(regularizer=reg)))
    np.testing.assert_allclose(adjoint, forward, rtol=1e-8, atol=1e-12)


# --- Losses that are not time averages, and bad input

def last_x2(p, ts, sensealg):
    sol = ps.solve(OSC.remake(p=p), ps.Tsit5(), rtol=1e-9, atol=1e-9, saveat=ts, sensealg=sensealg)
    return sol.u[-1, 0] ** 2


def test_loss_not_a_time_average_is_refused():
    """Eagerly, a loss that is not a time average is a clear error before the backward pass compiles (under
    jax.jit: NaN and a warning, `test_traced_gradients`)."""
    with pytest.raises(ValueError, match="not one .*zero at most saved points"):
        jax.grad(last_x2)(jnp.asarray(P_OSC), TS_OSC, ps.NILSS(K_OSC, S_OSC, 1))


def test_explicit_observable_is_checked():
    g = lambda u, p: u[0] ** 2
    alg = ps.NILSS(K_OSC, S_OSC, 1, g=g)
    grad = np.asarray(jax.grad(mean_x2)(jnp.asarray(P_OSC), alg))      # the loss is 1·mean g: accepted
    np.testing.assert_allclose(grad, analytic_gradient(), rtol=0.01, atol=1e-3)

    def other(p, sensealg):
        sol = ps.solve(OSC.remake(p=p), ps.Tsit5(), rtol=1e-9, atol=1e-9, saveat=TS_OSC, sensealg=sensealg)
        return jnp.mean(sol.u[:, 1] ** 2)                                 # averages v², not g = x²
    with pytest.raises(ValueError, match="differs from that of"):
        jax.grad(other)(jnp.asarray(P_OSC), alg)


def _grad_with(sensealg, **options):
    def loss(p):
        return jnp.mean(ps.solve(OSC.remake(p=p), ps.Tsit5(), sensealg=sensealg, **options).u[:, 0])
    return jax.grad(loss)(jnp.asarray(P_OSC))


def test_bad_input_is_refused_before_compiling():
    with pytest.raises(ValueError, match="pass saveat="):
        _grad_with(ps.ForwardLSS())
    with pytest.raises(ValueError, match="len\\(saveat\\) = nseg·nstep \\+ 1 = 41"):
        _grad_with(ps.NILSS(4, 10, 1), saveat=jnp.linspace(0.0, 10.0, 50))
    with pytest.raises(ValueError, match="evenly spaced"):
        _grad_with(ps.ForwardLSS(), saveat=np.array([0.0, 1.0, 3.0, 4.0]))
    with pytest.raises(ValueError, match="nus must be a non-negative integer .* or None / \"auto\""):
        ps.NILSS(4, 10, -1)
    with pytest.raises(ValueError, match="M must be a non-negative integer"):
        ps.NILSAS(4, 10, 1.5)
    assert ps.NILSS(4, 10, "auto") == ps.NILSS(4, 10) and ps.NILSAS(4, 10, "auto") == ps.NILSAS(4, 10)
    with pytest.raises(TypeError, match="regularizer must be"):
        ps.ForwardLSS(regularizer="cos")
    with pytest.raises(ValueError, match="alpha must be a positive number"):
        ps.TimeDilation(-1.0)
    with pytest.raises(TypeError, match="g must be the observable"):
        ps.AdjointLSS(g=3.0)


SMALL_TS = jnp.linspace(0.0, 10.0, 41)


def small_loss(p, sensealg):
    return jnp.mean(ps.solve(OSC.remake(p=p), ps.Tsit5(), saveat=SMALL_TS, sensealg=sensealg).u[:, 0] ** 2)


def test_estimate_needs_numbers_under_jit():
    """A first gradient under jax.jit has no numbers to count exponents from: a clear error, at trace time."""
    unstable.clear_cache()
    for alg, field in [(ps.NILSS(4, 10), "nus"), (ps.NILSAS(4, 10), "M")]:
        with pytest.raises(ValueError, match=f"Pass {field}= explicitly"):
            jax.jit(jax.grad(small_loss), static_argnums=1)(jnp.asarray(P_OSC), alg)


@pytest.mark.slow
def test_traced_gradients():
    """After one eager gradient the count is cached for the problem: jitted gradients reuse it. Traced, a
    loss that is not a time average cannot be refused while tracing: its gradient is NaN, with a warning."""
    unstable.clear_cache()
    p = jnp.asarray(P_OSC)
    eager = np.asarray(jax.grad(small_loss)(p, ps.NILSS(4, 10)))
    jitted = jax.jit(jax.grad(small_loss), static_argnums=1)
    np.testing.assert_allclose(np.asarray(jitted(p, ps.NILSS(4, 10))), eager, rtol=1e-10, atol=1e-14)
    with pytest.warns(RuntimeWarning, match="not one"):
        grad = np.asarray(jax.jit(jax.grad(last_x2), static_argnums=2)(p, SMALL_TS, ps.NILSS(4, 10)))
    assert np.all(np.isnan(grad))


@pytest.mark.slow
def test_example_runs(tmp_path):
    from warm import run_example
    done = run_example("shadowing_lorenz.py", tmp_path, timeout=900)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "shadowing_lorenz.png").stat().st_size > 10_000
    line = next(line for line in done.stdout.splitlines() if line.startswith("NILSS d<z>/drho"))
    shadow, plain = float(line.split(":")[1].split(";")[0]), float(line.split("plain AD:")[1].split()[0])
    assert 0.9 < shadow < 1.1 and abs(plain) > 100 * shadow
