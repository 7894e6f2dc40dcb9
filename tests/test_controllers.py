"""Step-size control: the initial step estimate, PI and PID controllers, and their decisions."""
import functools
import math

import jax.numpy as jnp
import numpy as np
import pytest

import pysciml as ps
from pysciml.controllers import initial_step
from pysciml.testing import lorenz, lotka_volterra


def test_initial_step_has_error_near_tolerance():
    prob = lotka_volterra()
    f0 = prob.f(prob.u0, prob.p, 0.0)
    for tol in (1e-4, 1e-8):
        h = float(initial_step(prob.f, 0.0, prob.u0, f0, prob.p, 4, 1.0, tol, tol, 10.0))
        # a fifth-order method's local error ~ C h^5: the estimate scales like tol^(1/5)
        assert 1e-4 < h < 1.0
    h4 = float(initial_step(prob.f, 0.0, prob.u0, f0, prob.p, 4, 1.0, 1e-4, 1e-4, 10.0))
    h8 = float(initial_step(prob.f, 0.0, prob.u0, f0, prob.p, 4, 1.0, 1e-8, 1e-8, 10.0))
    assert h4 / h8 == pytest.approx(1e4 ** (1 / 5), rel=0.3)
    back = float(initial_step(prob.f, 0.0, prob.u0, f0, prob.p, 4, -1.0, 1e-4, 1e-4, 10.0))
    assert back < 0


@pytest.mark.parametrize("controller", [ps.PIController(), ps.PIDController(), ps.PIDController(0.7, -0.4, 0.0)],
                         ids=["PI", "PID-H312", "PID-as-PI"])
def test_controllers_meet_tolerance(controller):
    prob = lorenz((0.0, 1.0))
    ref = ps.solve(prob, ps.Vern9(), rtol=1e-13, atol=1e-13, save_everystep=False).u[-1]
    sol = ps.solve(prob, ps.Tsit5(), rtol=1e-7, atol=1e-7, controller=controller, save_everystep=False)
    assert sol.retcode == ps.ReturnCode.Success
    assert np.abs(np.asarray(sol.u[-1] - ref)).max() < 100 * 1e-7 * 30


def test_pi_decisions():
    c = ps.PIController()
    state = c.init(jnp.float64)
    good = c.decide(jnp.asarray(0.01), state, 4)
    assert bool(good.accept) and 1.0 < float(good.factor) <= 10.0
    bad = c.decide(jnp.asarray(50.0), state, 4)
    assert not bool(bad.accept) and 0.2 <= float(bad.factor) < 1.0
    nan = c.decide(jnp.asarray(jnp.nan), state, 4)
    assert not bool(nan.accept) and float(nan.factor) == pytest.approx(0.2)
    after_reject = c.decide(jnp.asarray(0.01), bad.state, 4)
    assert bool(after_reject.accept) and float(after_reject.factor) <= 1.0   # no growth right after a rejection


# --- the step-size formulas themselves, against hand computations from the published controllers ---------
# An error sequence (order q = 4, k = 5) with accepted steps, rejections (1.7, 4.0, 1e4), a step right
# after a rejection, a tiny error that hits qmax and a huge one that hits qmin.
ERRORS = (0.3, 0.02, 1.7, 0.5, 1e-7, 0.9, 4.0, 1e4, 0.1, 0.6)
ORDER, H0 = 4, 0.1


def reference_pi_steps(errors, beta=0.04, safe=0.9, fac1=0.2, fac2=10.0, k=ORDER + 1):
    """Step sizes of Gustafsson's PI controller exactly as in Hairer's dopri5.f (Hairer, Nørsett & Wanner I,
    §II.4 and Hairer & Wanner II, §IV.2): on acceptance hnew = h·min(fac2, max(fac1, safe·err^(−expo1)·
    facold^beta)), expo1 = 1/k − 0.75·beta, facold = max(err, 1e-4) (1e-4 before the first step), and no
    growth right after a rejection; on rejection the standard controller HNW I eq. (4.13),
    hnew = h·max(fac1, safe·err^(−1/k)) (pysciml's documented choice; dopri5.f uses expo1 there too)."""
    h, facold, rejected, steps = H0, 1e-4, False, [H0]
    expo1 = 1.0 / k - 0.75 * beta
    for err in errors:
        if err <= 1.0:
            factor = min(fac2, max(fac1, safe * err ** -expo1 * facold ** beta))
            if rejected:
                factor = min(factor, 1.0)
            facold, rejected = max(err, 1e-4), False
        else:
            factor, rejected = min(1.0, max(fac1, safe * err ** (-1.0 / k))), True
        h *= factor
        steps.append(h)
    return np.array(steps)


def reference_pid_steps(errors, betas=(1 / 18, 1 / 9, 1 / 18), safe=0.9, qmin=0.2, qmax=10.0, k=ORDER + 1):
    """Söderlind's digital filter (G. Söderlind, ACM TOMS 29 (2003) 1–26, eq. (16) with α = 0; H312PID:
    kβ = (1/18, 1/9, 1/18) from its Table) with the limiter ρ(x) = 1 + atan(x − 1) (Söderlind & Wang,
    J. Comput. Appl. Math. 185 (2006) 225–243): h_{n+1} = h_n·ρ(∏_j (1/err_{n−j})^(β_j/k)); past errors of
    accepted steps only, 1e-4 before the first; rejection and the bounds as for PI."""
    h, past, rejected, steps = H0, [1e-4, 1e-4], False, [H0]
    for err in errors:
        if err <= 1.0:
            raw = err ** (-betas[0] / k) * past[0] ** (-betas[1] / k) * past[1] ** (-betas[2] / k)
            factor = min(1.0 if rejected else qmax, max(qmin, 1.0 + math.atan(raw - 1.0)))
            past, rejected = [max(err, 1e-4), past[0]], False
        else:
            factor, rejected = min(1.0, max(qmin, safe * err ** (-1.0 / k))), True
        h *= factor
        steps.append(h)
    return np.array(steps)


def controller_steps(controller, errors=ERRORS, order=ORDER):
    """The step sizes the controller's decisions give for an error sequence (h_{n+1} = h_n · factor)."""
    state, h, steps = controller.init(jnp.float64), H0, [H0]
    for err in errors:
        decision = controller.decide(jnp.asarray(err), state, order)
        assert bool(decision.accept) == (err <= 1.0)
        state, h = decision.state, h * float(decision.factor)
        steps.append(h)
    return np.array(steps)


def deviation_from_reference(controller, reference):
    """Largest relative difference between the controller's step sequence and the hand computation."""
    return float(np.max(np.abs(controller_steps(controller) / reference(ERRORS) - 1.0)))


def test_pi_step_sequence_matches_the_published_formula():
    assert deviation_from_reference(ps.PIController(), reference_pi_steps) < 1e-12
    # the sequence exercises the bounds: one step grows by qmax, one shrinks by qmin
    ratios = np.diff(np.log(reference_pi_steps(ERRORS)))
    assert np.isclose(ratios, np.log(10.0)).any() and np.isclose(ratios, np.log(0.2)).any()


def test_pid_step_sequence_matches_the_published_formula():
    assert deviation_from_reference(ps.PIDController(), reference_pid_steps) < 1e-12
    # (0.7, −0.4, 0) is the PI filter in Söderlind's form
    pi_as_pid = functools.partial(reference_pid_steps, betas=(0.7, -0.4, 0.0))
    assert deviation_from_reference(ps.PIDController(0.7, -0.4, 0.0), pi_as_pid) < 1e-12


class _IController(ps.controllers.Controller):
    """The elementary controller factor = 0.9·err^(−1/k) (Hairer, Nørsett & Wanner I, II.4): a new controller
    is one subclass of Controller, taken by solve without further registration."""

    def __hash__(self):
        return hash(_IController)

    def __eq__(self, other):
        return type(other) is _IController

    def decide(self, error, state, order):
        k = order + 1
        accept = jnp.isfinite(error) & (error <= 1.0)
        factor = jnp.clip(0.9 * jnp.where(jnp.isfinite(error), jnp.maximum(error, 1e-10), 1e10) ** (-1.0 / k),
                          0.2, 10.0)
        return ps.controllers.Decision(accept, factor, state)


def test_a_new_controller_is_one_subclass():
    prob = lorenz((0.0, 1.0))
    ref = ps.solve(prob, ps.Vern9(), rtol=1e-13, atol=1e-13, save_everystep=False).u[-1]
    sol = ps.solve(prob, ps.Tsit5(), rtol=1e-7, atol=1e-7, controller=_IController(), save_everystep=False)
    pi = ps.solve(prob, ps.Tsit5(), rtol=1e-7, atol=1e-7, save_everystep=False)
    assert sol.retcode == ps.ReturnCode.Success
    assert np.abs(np.asarray(sol.u[-1] - ref)).max() < 100 * 1e-7 * 30
    assert int(sol.stats["naccept"]) != int(pi.stats["naccept"])    # its own decisions were used
    with pytest.raises(TypeError, match="controller"):
        ps.solve(prob, ps.Tsit5(), controller=object())
