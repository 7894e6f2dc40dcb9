"""Adaptive loss weights: multipliers of the per-term losses, updated during the Adam stage.

Each scheme is a pure ``init(losses) -> state`` / ``update(state, step, losses, term_grads, key, reference)
-> state`` pair whose state starts with the weight vector; ``reference`` marks the equation (PDE) terms.
L-BFGS then minimizes with the last weights fixed (a line search needs a fixed objective).
"""
from dataclasses import dataclass

import jax
import jax.numpy as jnp

_TINY = 1e-30


@dataclass(frozen=True)
class LearningRateAnnealing:
    """Gradient-scale balancing (Wang, Teng & Perdikaris, SIAM J. Sci. Comput. 43 (2021), Alg. 1): every
    ``every`` steps, λ̂ᵢ = max|∇θ L_pde| / mean|∇θ Lᵢ| for each condition term and λᵢ ← (1−α)λᵢ + αλ̂ᵢ (α =
    ``alpha``); equation terms keep weight 1.
    """

    alpha: float = 0.9
    every: int = 10

    def init(self, losses):
        """Returns the initial state: weights 1 for each term of ``losses`` (a tuple with one (n_terms,) array)."""
        return (jnp.ones_like(losses),)

    def update(self, state, step, losses, term_grads, key, reference):
        """Returns the new state after Adam ``step``: the weights in ``state`` refreshed every ``every`` steps from
        the per-term gradients ``term_grads()`` (``reference`` marks the equation terms; ``losses`` and ``key`` unused).
        """
        (weights,) = state

        def refresh(weights):
            grads = term_grads()                                   # (n_terms, n_params)
            scale = jnp.max(jnp.abs(jnp.sum(jnp.where(reference[:, None], grads, 0.0), axis=0)))
            target = scale / (jnp.mean(jnp.abs(grads), axis=1) + _TINY)
            return jnp.where(reference, 1.0, (1 - self.alpha) * weights + self.alpha * target)

        return (jax.lax.cond(step % self.every == 0, refresh, lambda w: w, weights),)


@dataclass(frozen=True)
class ReLoBRaLo:
    """Relative loss balancing with random lookback (Bischof & Kraus, arXiv:2110.09813, 2021): weights from
    a softmax of each term's loss relative to its previous value (and, with probability 1 − ``rho``, to its
    initial value), smoothed by ``alpha``; ``temperature`` T sets how sharply slow terms are favoured.
    """

    alpha: float = 0.999
    temperature: float = 0.1
    rho: float = 0.999

    def init(self, losses):
        """Returns the initial state (weights 1, initial losses, previous losses) from the per-term ``losses``."""
        return (jnp.ones_like(losses), losses, losses)

    def update(self, state, step, losses, term_grads, key, reference):
        """Returns the new state from the per-term ``losses`` at this ``step``: the lookback drawn with ``key``,
        the weights in ``state`` rebalanced (``term_grads`` and ``reference`` unused).
        """
        weights, initial, previous = state
        m = losses.shape[0]

        def balance(ref):
            return m * jax.nn.softmax(losses / (self.temperature * ref + _TINY))

        lookback = jax.random.bernoulli(key, self.rho).astype(losses.dtype)
        history = lookback * weights + (1 - lookback) * balance(initial)
        new = self.alpha * history + (1 - self.alpha) * balance(previous)
        return (new, initial, losses)
