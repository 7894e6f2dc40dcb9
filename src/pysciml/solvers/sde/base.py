"""The SDE family: `StochasticRungeKutta`, methods stepping du = f dt + g dW with a Brownian increment.

A method says what it serves with class attributes, as types: ``noise_types`` (the `pysciml.noise`
NoiseType classes it handles; additive noise is served by a method that lists `AdditiveNoise` or the
additive noise's form), ``interpretations`` (`Ito`, `Stratonovich`) and its strong and weak orders.
Its ``step(terms, t, u, control, q, state, error_norm)`` receives `problems.sde.SDETerms` (the drift as
terms(u, q, t), the diffusion as terms.g(u, q, t), terms.noise(g, ΔW) the noise term) and the control
(dt, `BrownianIncrement`(W=ΔW, H)). Dense output is linear between steps (a Brownian path has no smoother
interpolant): one stored stage, (u_new − u)/dt.
"""
from typing import ClassVar

import jax.numpy as jnp

from ...noise import AdditiveNoise
from ...problems.sde import Interpretation
from ..base import Algorithm, StepResult


class LinearInterpolant:
    """u(t + θ dt) = u + θ (u_new − u): b(θ) = θ on the one stage (u_new − u)/dt."""
    dense_weights = ((1.0,),)
    c_extra = ()
    a_extra = ()


LINEAR = LinearInterpolant()


class StochasticRungeKutta(Algorithm):
    """Base of the SDE methods (the family consumers ask with ``isinstance``)."""

    noise_types: ClassVar[tuple]          # NoiseType classes the method handles
    interpretations: ClassVar[tuple]      # Interpretation classes it solves
    strong_order: ClassVar[float]
    weak_order: ClassVar[float]
    levy_area: ClassVar[bool] = False     # reads the increment's space-time Lévy area H (drawn only then)
    adaptive: ClassVar[bool] = False
    controller_order = 1
    dense_order = 1
    interpolant = LINEAR
    n_stages = 1

    @property
    def order(self):
        return self.strong_order

    def supports_noise(self, noise_type) -> bool:
        """Whether the method handles ``noise_type`` (a NoiseType instance); additive noise is handled by
        methods for additive noise and by those for its form. Returns a bool."""
        if isinstance(noise_type, self.noise_types):
            return True
        return isinstance(noise_type, AdditiveNoise) and isinstance(noise_type.form, self.noise_types)

    def interpretation_for(self, interpretation: Interpretation) -> Interpretation | None:
        """The interpretation the method solves the problem in: returns ``interpretation`` (the problem's) when
        the method solves it, None when it cannot."""
        return interpretation if isinstance(interpretation, self.interpretations) else None

    def init(self, f, t0, u0, p):
        """The method's state at (``t0``, ``u0``) for the terms ``f`` and parameters ``p``: SDE methods carry
        none. Returns ()."""
        return ()

    def initial_derivative(self, f, t0, u0, p, state):
        """The drift f(``u0``, ``p``, ``t0``) for the initial step estimate (``state`` unused). Returns it,
        shaped like u0."""
        return f(u0, p, t0)

    @staticmethod
    def result(u, u_new, dt, state, error=None) -> StepResult:
        """The step's `StepResult` with the linear interpolant's stage."""
        safe = jnp.where(dt == 0, 1.0, dt)
        err = jnp.zeros((), u.dtype) if error is None else error
        return StepResult(u_new, err, state, ((u_new - u) / safe)[None])
