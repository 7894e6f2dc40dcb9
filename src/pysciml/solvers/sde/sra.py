"""Rößler's SRA schemes: strong order 1.5 for additive noise (g independent of u; then Itô and Stratonovich
coincide), as tableau data run by one stepper (`SRA`); `SRA1` and `SOSRA` are its tableaus.

The scheme (Rößler 2010, "Runge–Kutta methods for the strong approximation of solutions of stochastic
differential equations", SIAM J. Numer. Anal. 48(3), the SRA class), with h the step and, per Wiener process,
ΔW = I_(k) and I_(k,0) = h (ΔW_k/2 + H_k) (H the space-time Lévy area of the increment):

    H⁰_i = u + h Σ_j A⁰_ij f(H⁰_j) + Σ_j B⁰_ij g(t + c¹_j h) I_(·,0)/h
    u⁺   = u + h Σ_i α_i f(H⁰_i) + Σ_i g(t + c¹_i h) (β⁽¹⁾_i ΔW + β⁽²⁾_i I_(·,0)/h)

f at t + c⁰_i h; g·x is the problem's noise product (diagonal, scalar or general additive forms all served).
Error estimate (Rackauckas & Nie 2017, DCDS-B 22(7), the natural embedding, as for `SRI`): δ·E_D + E_N
with E_N = |Σ_i β⁽²⁾_i g(t + c¹_i h) I_(·,0)/h| (the terms the strong-order-1 embedded scheme drops) and
E_D = h|Σ_i α_i f(H⁰_i) − f(u)| (the drift's difference to the Euler drift); δ = 1/6 by default.
"""
import dataclasses

import jax.numpy as jnp
import numpy as np

from ...noise import AdditiveNoise
from ...problems.sde import Ito, Stratonovich
from .base import StochasticRungeKutta
from .sri import _combine


@dataclasses.dataclass(frozen=True)
class SRATableau:
    """Coefficients of an s-stage SRA scheme (numpy arrays; A⁰, B⁰ strictly lower triangular)."""
    c0: np.ndarray
    c1: np.ndarray
    A0: np.ndarray
    B0: np.ndarray
    alpha: np.ndarray
    beta1: np.ndarray
    beta2: np.ndarray

    @classmethod
    def of(cls, **coefficients):
        return cls(**{k: np.asarray(v, dtype=float) for k, v in coefficients.items()})

    @property
    def stages(self):
        return len(self.alpha)


def sra_order_conditions(tab: SRATableau) -> np.ndarray:
    """Residuals of the conditions for strong order 1.5 with additive noise (Rößler 2010, with
    deterministic order 2: the 8 conditions as checked by StochasticDiffEq.jl's checkSRAOrder, with the consistency c⁰ = A⁰e). All zero for a valid tableau."""
    e = np.ones(tab.stages)
    a, b1, b2, A0, B0 = tab.alpha, tab.beta1, tab.beta2, tab.A0, tab.B0
    r = [a @ e - 1, b1 @ e - 1, b2 @ e, a @ (B0 @ e) - 1, a @ (A0 @ e) - 0.5, a @ (B0 @ e) ** 2 - 1.5,
         b1 @ tab.c1 - 1, b2 @ tab.c1 + 1]
    triangular = np.concatenate([np.triu(M).ravel() for M in (A0, B0)])
    return np.concatenate([np.asarray(r), tab.c0 - A0 @ e, triangular])


class SRA(StochasticRungeKutta):
    """The SRA stepper (additive noise only); subclasses set ``tableau``. ``delta``: weight of the drift's
    error estimate."""
    noise_types = (AdditiveNoise,)
    interpretations = (Ito, Stratonovich)
    strong_order = 1.5
    weak_order = 2.0
    adaptive = True
    tableau: SRATableau
    levy_area = True     # I_(1,0) = h(ΔW/2 + H)

    def __init__(self, delta: float = 1 / 6):
        self.delta = float(delta)

    def _config(self):
        return () if self.delta == 1 / 6 else (("delta", self.delta),)

    @property
    def evals_per_step(self):
        return self.tableau.stages

    def step(self, f, t, u, control, p, state, error_norm):
        dt, inc = control
        tab = self.tableau
        dW = inc.W
        j10 = jnp.where(dt == 0, 0.0, dW / 2 + inc.H)     # I_(k,0)/h (a zero step leaves u unchanged)
        F, G = [], []
        for i in range(tab.stages):
            H0 = u
            drift, noise = _combine(tab.A0[i, :i], F), _combine(tab.B0[i, :i], G)
            if drift is not None:
                H0 = H0 + dt * drift
            if noise is not None:
                H0 = H0 + f.noise(noise, j10)
            F.append(f(H0, p, t + tab.c0[i] * dt))
            # g does not depend on u (additive noise): evaluated at u, at the stage's time
            G.append(f.g(u, p, t + tab.c1[i] * dt))
        drift = _combine(tab.alpha, F)
        low = f.noise(_combine(tab.beta1, G), dW)
        b2 = _combine(tab.beta2, G)
        high = jnp.zeros_like(u) if b2 is None else f.noise(b2, j10)
        u_new = u + dt * drift + low + high
        err = error_norm(self.delta * jnp.abs(dt * (drift - F[0])) + jnp.abs(high), u, u_new)
        return self.result(u, u_new, dt, state, err)
