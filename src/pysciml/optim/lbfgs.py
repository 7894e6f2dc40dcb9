"""One L-BFGS iteration on a flat vector: direction from `optax.scale_by_lbfgs` (two-loop recursion), step
from a backtracking Armijo line search whose accepted evaluation also yields the next gradient (and any
auxiliary output), so the compiled step holds a single loss-and-gradient program.
"""
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from .._core.trees import select


class LBFGSState(NamedTuple):
    """The L-BFGS iteration's state: the point ``v``, the objective's ``value``, ``grad`` and ``aux`` there,
    the optax ``memory`` (correction pairs) and ``k`` the iterations done.
    """
    v: jax.Array        # the point
    value: jax.Array    # objective at v
    grad: jax.Array     # its gradient
    aux: Any            # auxiliary output of the objective at v
    memory: Any         # optax L-BFGS state (correction pairs)
    k: jax.Array        # iterations done


def lbfgs_init(evaluate, transformation, v):
    """Returns the `LBFGSState` at ``v``, evaluated by ``evaluate(v) -> ((value, aux), grad)`` (as
    `jax.value_and_grad(..., has_aux=True)`), with the correction memory of ``transformation`` (L-BFGS's optax
    transformation).
    """
    (value, aux), grad = evaluate(v)
    return LBFGSState(v, value, grad, aux, transformation.init(v), jnp.asarray(0))


def lbfgs_pending(evaluate, transformation, v):
    """Returns an `LBFGSState` at ``v`` not evaluated yet (value = inf): the first `lbfgs_step` only evaluates
    it with ``evaluate``, and does not count as an iteration. This spares compiling the objective a second time
    outside the stepping loop. ``transformation``: L-BFGS's optax transformation (its memory is initialized).
    """
    aux = jax.tree_util.tree_map(lambda s: jnp.zeros(s.shape, s.dtype), jax.eval_shape(evaluate, v)[0][1])
    return LBFGSState(v, jnp.asarray(jnp.inf, v.dtype), jnp.zeros_like(v), aux, transformation.init(v),
                      jnp.asarray(0))


def lbfgs_step(evaluate, transformation, stage, state):
    """One L-BFGS iteration from ``state``: the direction from ``transformation`` (optax L-BFGS memory), a
    backtracking Armijo line search with ``evaluate(v) -> ((value, aux), grad)`` under the options of ``stage``
    (an `LBFGS`). Returns (next state, accepted): ``accepted`` is False when the line search found no decrease;
    the state is then returned unchanged (the iteration has converged or stalled).
    """
    v, value, grad = state.v, state.value, state.grad
    pending = jnp.isinf(value)
    direction, new_memory = transformation.update(grad, state.memory, v)
    slope = jnp.dot(grad, direction)
    descent = slope > 0
    direction = jnp.where(pending, 0.0, jnp.where(descent, direction, grad))
    slope = jnp.where(descent, slope, jnp.dot(grad, grad))
    first = jnp.minimum(1.0, 1.0 / (jnp.linalg.norm(grad) + 1e-300))
    alpha = jnp.where(state.k == 0, first, 1.0)

    def search(ls):
        alpha, _, _, _, _, _, n = ls
        trial = v - alpha * direction
        (trial_value, trial_aux), trial_grad = evaluate(trial)
        ok = jnp.isfinite(trial_value) & (pending | (trial_value <= value - stage.armijo * alpha * slope))
        return jnp.where(ok, alpha, alpha / 2), trial, trial_value, trial_grad, trial_aux, ok, n + 1

    ls = (alpha, v, value, grad, state.aux, jnp.asarray(False), 0)
    _, trial, trial_value, trial_grad, trial_aux, ok, _ = jax.lax.while_loop(
        lambda ls: ~ls[5] & (ls[6] < stage.max_linesearch_steps), search, ls)
    new = LBFGSState(trial, trial_value, trial_grad, trial_aux, select(pending, state.memory, new_memory),
                     state.k + jnp.where(pending, 0, 1))
    return select(ok, new, state), ok

