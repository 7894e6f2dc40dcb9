"""Rößler's SRI schemes: strong order 1.5 for Itô SDEs with diagonal or scalar noise, as tableau data run by
one stepper (`SRI`); `SRIW1` and `SOSRI` are its tableaus.

The scheme (Rößler 2010, "Runge–Kutta methods for the strong approximation of solutions of stochastic
differential equations", SIAM J. Numer. Anal. 48(3), the SRI class for diagonal and scalar noise; notation of
Rackauckas & Nie 2017, DCDS-B 22(7)), with h the step, ΔW = I_(1), and per Wiener process the iterated
integrals I_(1,1) = (ΔW² − h)/2, I_(1,0) = h (ΔW/2 + H) (H the space-time Lévy area of the increment) and
I_(1,1,1) = (ΔW³ − 3hΔW)/6:

    H⁰_i = u + h Σ_j A⁰_ij f(H⁰_j) + Σ_j B⁰_ij g(H¹_j) I_(1,0)/h
    H¹_i = u + h Σ_j A¹_ij f(H⁰_j) + Σ_j B¹_ij g(H¹_j) √h
    u⁺   = u + h Σ_i α_i f(H⁰_i)
             + Σ_i g(H¹_i) (β⁽¹⁾_i ΔW + β⁽²⁾_i I_(1,1)/√h + β⁽³⁾_i I_(1,0)/h + β⁽⁴⁾_i I_(1,1,1)/h)

with f at t + c⁰_i h and g at t + c¹_i h. For diagonal noise every product is componentwise (g_i is taken to
depend on u_i only, the commutative case the 1.5 order is proved for: the scheme uses no mixed iterated
integrals). The scheme embeds a strong-order-1 scheme (drop the β⁽³⁾, β⁽⁴⁾ terms, the drift by Euler): the
error estimate (Rackauckas & Nie 2017, their "natural embedding") is δ·E_D + E_N, with
E_N = |Σ_i g(H¹_i)(β⁽³⁾_i I_(1,0)/h + β⁽⁴⁾_i I_(1,1,1)/h)| the order-1.5 noise terms and E_D the drift's
difference to the embedded Euler drift, h|Σ_i α_i f(H⁰_i) − f(u)| (StochasticDiffEq.jl uses h|Σ_{i≤2} f(H⁰_i)|,
which does not shrink faster than h; ours is the difference of the pair). δ = 1/6 by default, as LambaEM.
Rejected steps are retried on the same path (the virtual Brownian tree).
"""
import dataclasses

import jax.numpy as jnp
import numpy as np

from ...noise import DiagonalNoise, ScalarNoise
from ...problems.sde import Ito
from .base import StochasticRungeKutta


@dataclasses.dataclass(frozen=True)
class SRITableau:
    """Coefficients of an s-stage SRI scheme (numpy arrays; A⁰, A¹, B⁰, B¹ strictly lower triangular)."""
    c0: np.ndarray
    c1: np.ndarray
    A0: np.ndarray
    A1: np.ndarray
    B0: np.ndarray
    B1: np.ndarray
    alpha: np.ndarray
    beta1: np.ndarray
    beta2: np.ndarray
    beta3: np.ndarray
    beta4: np.ndarray

    @classmethod
    def of(cls, **coefficients):
        return cls(**{k: np.asarray(v, dtype=float) for k, v in coefficients.items()})

    @property
    def stages(self):
        return len(self.alpha)

    @property
    def drift_used(self):
        """Stages whose f is read (by α or a later stage; stage 1 always, for the error estimate): SRIW1's
        stages 3 and 4 evaluate g only."""
        used = (self.alpha != 0) | np.any(self.A0 != 0, axis=0) | np.any(self.A1 != 0, axis=0)
        used[0] = True
        return tuple(bool(x) for x in used)


def sri_order_conditions(tab: SRITableau) -> np.ndarray:
    """Residuals of the conditions for strong order 1.5 (Rößler 2010, for diagonal/scalar noise; the 25
    conditions as checked by StochasticDiffEq.jl's checkSRIOrder, with its consistency conditions c⁰ = A⁰e, c¹ = A¹e). All zero for a valid tableau."""
    A0, A1, B0, B1 = tab.A0, tab.A1, tab.B0, tab.B1
    a, b1, b2, b3, b4 = tab.alpha, tab.beta1, tab.beta2, tab.beta3, tab.beta4
    e = np.ones(tab.stages)
    B0e, B1e, A1B0e = B0 @ e, B1 @ e, A1 @ (B0 @ e)
    r = [
        a @ e - 1, b1 @ e - 1, b2 @ e, b3 @ e, b4 @ e,                       # 1–5
        b1 @ B1e, b2 @ B1e - 1, b3 @ B1e, b4 @ B1e,                           # 6–9
        a @ (A0 @ e) - 0.5, a @ B0e - 1, a @ B0e ** 2 - 1.5,                  # 10–12
        b1 @ (A1 @ e) - 1, b2 @ (A1 @ e), b3 @ (A1 @ e) + 1, b4 @ (A1 @ e),   # 13–16
        b1 @ B1e ** 2 - 1, b2 @ B1e ** 2, b3 @ B1e ** 2 + 1, b4 @ B1e ** 2 - 2,  # 17–20
        b1 @ (B1 @ B1e), b2 @ (B1 @ B1e), b3 @ (B1 @ B1e), b4 @ (B1 @ B1e) - 1,  # 21–24
        0.5 * b1 @ A1B0e + b3 @ A1B0e / 3,                                    # 25
    ]
    consistency = np.concatenate([tab.c0 - A0 @ e, tab.c1 - A1 @ e])
    triangular = np.concatenate([np.triu(M).ravel() for M in (A0, A1, B0, B1)])
    return np.concatenate([np.asarray(r), consistency, triangular])


def _combine(coefficients, vectors):
    """Σ_j c_j v_j over the nonzero (static) coefficients, or None when all are zero."""
    out = None
    for c, v in zip(coefficients, vectors):
        if c != 0.0:
            out = c * v if out is None else out + c * v
    return out


class SRI(StochasticRungeKutta):
    """The SRI stepper; subclasses set ``tableau``. ``delta``: weight of the drift's error estimate."""
    noise_types = (DiagonalNoise, ScalarNoise)
    interpretations = (Ito,)
    strong_order = 1.5
    weak_order = 2.0
    adaptive = True
    tableau: SRITableau
    levy_area = True     # I_(1,0) = h(ΔW/2 + H)

    def __init__(self, delta: float = 1 / 6):
        self.delta = float(delta)

    def _config(self):
        return () if self.delta == 1 / 6 else (("delta", self.delta),)

    @property
    def evals_per_step(self):
        return sum(self.tableau.drift_used)

    def step(self, f, t, u, control, p, state, error_norm):
        dt, inc = control
        tab = self.tableau
        used = tab.drift_used
        # A zero step must leave u unchanged: the integrals use dt itself, only the divisors are guarded.
        zero = dt == 0
        h = jnp.where(zero, 1.0, dt)
        sq = jnp.sqrt(jnp.abs(dt))
        dW = inc.W
        j11 = (dW * dW - dt) / (2 * jnp.sqrt(h))    # I_(1,1)/√h
        j10 = jnp.where(zero, 0.0, dW / 2 + inc.H)  # I_(1,0)/h
        j111 = (dW ** 3 - 3 * dt * dW) / (6 * h)    # I_(1,1,1)/h
        F, G = [], []
        for i in range(tab.stages):
            H0, H1 = u, u
            drift0, drift1 = _combine(tab.A0[i, :i], F), _combine(tab.A1[i, :i], F)
            noise0, noise1 = _combine(tab.B0[i, :i], G), _combine(tab.B1[i, :i], G)
            if drift0 is not None:
                H0 = H0 + dt * drift0
            if noise0 is not None:
                H0 = H0 + f.noise(noise0, j10)
            if drift1 is not None:
                H1 = H1 + dt * drift1
            if noise1 is not None:
                H1 = H1 + sq * noise1
            F.append(f(H0, p, t + tab.c0[i] * dt) if used[i] else None)
            G.append(f.g(H1, p, t + tab.c1[i] * dt))
        drift = _combine(tab.alpha, F)
        low = high = None
        for i in range(tab.stages):
            b1, b2, b3, b4 = tab.beta1[i], tab.beta2[i], tab.beta3[i], tab.beta4[i]
            if b1 != 0.0 or b2 != 0.0:
                term = f.noise(G[i], b1 * dW + b2 * j11)
                low = term if low is None else low + term
            if b3 != 0.0 or b4 != 0.0:
                term = f.noise(G[i], b3 * j10 + b4 * j111)
                high = term if high is None else high + term
        u_new = u + dt * drift + low + high
        err = error_norm(self.delta * jnp.abs(dt * (drift - F[0])) + jnp.abs(high), u, u_new)
        return self.result(u, u_new, dt, state, err)
