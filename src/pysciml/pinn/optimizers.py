"""Optimizer stages for `solve`: Adam (first-order, robust far from the optimum) then L-BFGS in float64
(quasi-Newton, fast and precise near it): the usual recipe for accurate PINNs.

L-BFGS takes its direction from `optax.scale_by_lbfgs` (two-loop recursion) and steps with a backtracking
Armijo line search whose accepted evaluation also yields the next gradient and the per-term losses:
one loss-and-gradient program in the compiled step, which keeps compilation short.
"""
from dataclasses import dataclass

import optax


@dataclass(frozen=True)
class Adam:
    """``steps`` Adam steps at ``learning_rate``, decayed exponentially to ``learning_rate·final_decay``."""

    learning_rate: float = 1e-3
    steps: int = 1000
    final_decay: float = 1.0

    def transformation(self):
        if self.final_decay == 1.0:
            return optax.adam(self.learning_rate)
        schedule = optax.exponential_decay(self.learning_rate, max(self.steps, 1), self.final_decay)
        return optax.adam(schedule)


@dataclass(frozen=True)
class LBFGS:
    """``steps`` L-BFGS iterations with ``memory`` correction pairs; each line search halves the step at most
    ``max_linesearch_steps`` times until the Armijo condition (constant ``armijo``) holds."""

    steps: int = 500
    memory: int = 20
    max_linesearch_steps: int = 30
    armijo: float = 1e-4

    def transformation(self):
        return optax.scale_by_lbfgs(memory_size=self.memory)
