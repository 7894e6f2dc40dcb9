"""Dense output of a whole solution: every accepted step, read at any time (``sol(t)``, the adjoints).

The steps' stages are either stored (``stages``: (steps, s, n)) or, for methods whose stages are a function
of the step's start (t, u), size h and p alone (explicit Runge–Kutta: ``alg.replay_stages``), recomputed
for the one step a time falls in when it is read (``stages`` None). Storing them costs max_steps × s × n
numbers written on every solve, several times the work of the solve itself for small systems; replaying
costs one step's f evaluations per value read.
"""
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from .base import Interpolant
from .history import CurrentStep
from .local import locate_step


class _DenseFields(NamedTuple):
    ts: jnp.ndarray
    us: jnp.ndarray
    stages: jnp.ndarray | None
    n_steps: jnp.ndarray


class DenseOutput(_DenseFields, Interpolant):
    """Every accepted step: boundaries ``ts`` (steps + 1), states ``us`` and the method's stages (None:
    recomputed when read, see `evaluate_dense`); the step holding a time is found by binary search (either
    direction of time). ``n_steps``: the number of accepted steps (entries past it are unused)."""
    __slots__ = ()

    def step_at(self, s, hints=None):
        """Returns (start time, start state, step size, stages) of the step holding time ``s`` (binary search; ``hints``
        unused); the stages are None when they are recomputed on reading."""
        direction = jnp.where(self.ts[-1] >= self.ts[0], 1.0, -1.0)
        i = locate_step(self.ts, self.n_steps, direction, s)
        stages = None if self.stages is None else self.stages[i]
        return self.ts[i], self.us[i], self.ts[i + 1] - self.ts[i], stages


def evaluate_dense(alg, f, p, dense: DenseOutput, t):
    """The state at one time ``t`` from the stored steps ``dense`` (a `DenseOutput`), with the interpolant of the
    method ``alg``; ``f``, ``p``: the right-hand side and parameters, for the interpolant's extra stages and
    for replaying the step's stages when they were not stored. Returns the flat state."""
    if dense.stages is not None:
        return dense.evaluate(alg.interpolant, t, f, p)
    start, u, h, _ = dense.step_at(t)
    # The step's time and size are held fixed in the replay, as they are for stored stages (steps are chosen
    # by the controller, not differentiated): derivatives reach the stages through u and p only.
    stages = alg.replay_stages(f, lax.stop_gradient(start), u, lax.stop_gradient(h), p)
    return CurrentStep(start, u, h, stages).evaluate(alg.interpolant, t, f, p)


def _replay_steps(alg, f, p, dense, count):
    """``dense`` with the stages of its first ``count`` (static) steps replayed, for when they hold every
    valid step (n_steps ≤ count)."""
    fixed = lax.stop_gradient
    ts, us = dense.ts[:count + 1], dense.us[:count]
    stages = jax.vmap(lambda t, u, h: alg.replay_stages(f, fixed(t), u, fixed(h), p))(ts[:-1], us, ts[1:] - ts[:-1])
    return dense._replace(stages=stages)


@partial(jax.jit, static_argnums=(0, 1))
def interpolate_dense(alg, f, p, dense: DenseOutput, times):
    """States at ``times`` (1-D) from the stored steps, with the method's own interpolant. With replayed
    stages and many times, a solve of few steps (at most a quarter as many as times, decided at run time)
    replays each step once rather than once per time. ``alg``, ``f``, ``p``, ``dense``: as for `evaluate_dense`.
    Returns the states, shape (len(times), n)."""
    per_time = lambda d: jax.vmap(lambda t: evaluate_dense(alg, f, p, d, t))(times)   # noqa: E731
    count = min(times.shape[0] // 4, dense.ts.shape[0] - 1)
    if dense.stages is not None or count < 2:
        return per_time(dense)
    return lax.cond(dense.n_steps <= count, lambda: per_time(_replay_steps(alg, f, p, dense, count)),
                    lambda: per_time(dense))
