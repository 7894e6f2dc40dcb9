"""Optimizer stages: Adam (first-order, robust far from the optimum) then L-BFGS in float64 (quasi-Newton,
fast and precise near it): the usual recipe for fitting networks and physical parameters. For a loss that is
a sum of squares, `LevenbergMarquardt` uses the residuals' Jacobian and converges in a few iterations.
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
        """Returns the optax transformation of this stage: Adam at ``learning_rate``, decayed exponentially to
        ``final_decay`` times it over ``steps`` when final_decay ≠ 1."""
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
        """Returns the optax transformation that gives L-BFGS directions (``optax.scale_by_lbfgs`` with ``memory``
        pairs); the line search is this package's."""
        return optax.scale_by_lbfgs(memory_size=self.memory)


@dataclass(frozen=True)
class LevenbergMarquardt:
    """``steps`` Levenberg–Marquardt iterations on least squares ½‖r(params)‖², the Jacobian of the residuals
    by forward mode (through `solve` when r holds a solution). Damping by Nielsen's rule from
    ``initial_damping`` (relative to the column-scaled JᵀJ, whose diagonal is 1 at the start); each iteration
    tries at most ``max_trials`` damped steps for one that decreases the cost. Ends when the scaled step is
    below ``xtol`` relative to the scaled parameters, the largest cosine between r and a Jacobian column below
    ``gtol``, or the actual and predicted relative decreases below ``ftol`` (defaults as
    scipy.optimize.least_squares). Details and references: `pysciml.optim.levenberg_marquardt`."""

    steps: int = 100
    initial_damping: float = 1e-3
    xtol: float = 1e-8
    ftol: float = 1e-8
    gtol: float = 1e-8
    max_trials: int = 30

    def __post_init__(self):
        _check_steps(self.steps, "LevenbergMarquardt")
        for name in ("initial_damping", "xtol", "ftol", "gtol"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
                raise ValueError(f"LevenbergMarquardt: {name} must be a number >= 0, got {value!r}")
        if not self.initial_damping > 0:
            raise ValueError(f"LevenbergMarquardt: initial_damping must be > 0, got {self.initial_damping!r}")
        if not isinstance(self.max_trials, int) or isinstance(self.max_trials, bool) or self.max_trials < 1:
            raise ValueError(f"LevenbergMarquardt: max_trials must be a positive int, got {self.max_trials!r}")


def _check_steps(steps, name):
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 0:
        raise ValueError(f"{name}: steps must be a non-negative int, got {steps!r}")
