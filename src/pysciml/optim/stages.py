"""Optimizer stages: Adam (first-order, robust far from the optimum) then L-BFGS in float64 (quasi-Newton,
fast and precise near it): the usual recipe for fitting networks and physical parameters.
"""
from dataclasses import dataclass

import optax


@dataclass(frozen=True)
class Adam:
    """``steps`` Adam steps at ``learning_rate``, decayed exponentially to ``learning_rate·final_decay``."""

    learning_rate: float = 1e-3
    steps: int = 1000
    final_decay: float = 1.0

    def __post_init__(self):
        _check_steps(self.steps, "Adam")
        if not self.learning_rate > 0:
            raise ValueError(f"Adam: learning_rate must be > 0, got {self.learning_rate!r}")

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

    def __post_init__(self):
        _check_steps(self.steps, "LBFGS")
        if not isinstance(self.memory, int) or self.memory < 1:
            raise ValueError(f"LBFGS: memory must be a positive int, got {self.memory!r}")

    def transformation(self):
        return optax.scale_by_lbfgs(memory_size=self.memory)


def _check_steps(steps, name):
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 0:
        raise ValueError(f"{name}: steps must be a non-negative int, got {steps!r}")
