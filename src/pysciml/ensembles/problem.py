"""`EnsembleProblem`: a base problem plus how to vary it, what to keep, and how to reduce."""
import inspect
from dataclasses import dataclass
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from .._core.trees import is_concrete


def _same_problem(prob, i, repeat):
    return prob


def _keep_solution(sol, i):
    return sol


@dataclass(frozen=True, eq=False)
class EnsembleProblem:
    """Trajectories i = 0..N−1 of ``prob``.

    prob_func(prob, i, repeat) -> problem of trajectory i (e.g. ``prob.remake(u0=...)``); under
    `EnsembleVmap` ``i`` is a traced integer, so index arrays with it rather than Python lists.
    Random members: give prob_func a fourth argument, ``prob_func(prob, i, repeat, key)``, and draw with
    ``jax.random`` from ``key`` = ``jax.random.fold_in(jax.random.fold_in(self.key, i), repeat)`` (one key per
    trajectory and attempt, the same under `EnsembleVmap` and `EnsembleSerial`). Do not draw with
    ``np.random`` or ``random``: `EnsembleVmap` traces prob_func once, so such a draw would be shared by
    every trajectory (solve detects a prob_func that returns different problems for the same i and refuses it).
    output_func(sol, i) -> what to keep of each solution (default: the solution itself), or SciML's pair
    ``(value, rerun)`` with rerun a bool: True solves trajectory i again with ``repeat`` + 1 (e.g. a
    prob_func that draws again from its key, which changes with repeat), until it returns False (at most
    100 reruns). Under `EnsembleVmap` rerun decisions are taken outside jit. Outputs that are themselves a
    (array, bool) pair must be wrapped (in a list or dict) to be kept as they are.
    reduction(acc, batch, indices) -> (acc, converged): folds each batch of outputs into ``acc``, starting
    from ``u_init``; a batch that returns converged=True stops the ensemble early. Without a reduction the
    outputs are stacked along a leading trajectory axis.
    key: a ``jax.random`` key or an integer seed (default 0) for the per-trajectory keys.
    """
    prob: Any
    prob_func: Callable = _same_problem
    output_func: Callable = _keep_solution
    reduction: Callable | None = None
    u_init: Any = None
    key: Any = None

    def __post_init__(self):
        for name in ("prob_func", "output_func"):
            if not callable(getattr(self, name)):
                raise TypeError(f"EnsembleProblem: {name} must be callable")
        if self.reduction is not None and not callable(self.reduction):
            raise TypeError("EnsembleProblem: reduction must be callable as reduction(acc, batch, indices)")
        object.__setattr__(self, "key", _as_key(self.key))
        object.__setattr__(self, "_prob_func_takes_key", _takes_fourth_argument(self.prob_func, "key"))

    def member(self, i, repeat=0):
        """Returns the problem of trajectory ``i`` (attempt ``repeat``, counted from 0 when output_func asks for
        a rerun): ``prob_func(prob, i, repeat)``, or ``prob_func(prob, i, repeat, key)`` with a key folded from the
        ensemble's key, ``i`` and ``repeat`` when prob_func takes one.
        """
        if self._prob_func_takes_key:
            key = jax.random.fold_in(jax.random.fold_in(self.key, i), repeat)
            return self.prob_func(self.prob, i, repeat, key)
        return self.prob_func(self.prob, i, repeat)


def _as_key(key):
    if key is None:
        return jax.random.key(0)
    if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
        return jax.random.key(int(key))
    if isinstance(key, jax.Array) and (jnp.issubdtype(key.dtype, jax.dtypes.prng_key)
                                       or (key.dtype == jnp.uint32 and key.shape == (2,))):
        return key
    raise TypeError(f"EnsembleProblem: key must be a jax.random key or an integer seed; got {key!r}")


def _takes_fourth_argument(fn, name):
    """True when ``fn`` accepts a fourth positional argument or a keyword ``name`` (a prob_func that wants
    the per-trajectory key); *args alone does not count, so existing 3-argument functions are unchanged."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):   # builtins without a signature: the 3-argument convention
        return False
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 4 or any(p.name == name and p.kind != p.VAR_KEYWORD for p in params)


def check_prob_func_is_pure(eprob, index_dtype=jnp.int32):
    """Refuse a prob_func that returns different problems for the same (i, repeat) on two calls.

    Such a prob_func reads state outside JAX (np.random, random, a global counter). `EnsembleVmap` calls it
    once, with a traced i, so every trajectory would silently share one draw. A pure prob_func (one that
    depends only on its arguments, the key included) passes. A prob_func that fails on a concrete i is left
    for the traced call to report."""
    i = jnp.asarray(0, index_dtype)
    try:
        first, second = eprob.member(i, 0), eprob.member(i, 0)
    except Exception:   # noqa: BLE001  (only a hint; the traced call gives the real error)
        return
    if not is_concrete(first, second):   # under an outer jit over the base problem: nothing to compare
        return
    if not _same_leaves(first, second):
        raise ValueError(
            "EnsembleProblem.prob_func returned different problems on two calls with the same i and repeat: "
            "it draws from random state outside JAX (np.random, random, a global counter). EnsembleVmap "
            "traces prob_func once, so every trajectory would get the same draw. Draw with jax.random from "
            "the per-trajectory key instead: prob_func(prob, i, repeat, key) -> "
            "prob.remake(u0=prob.u0 + 0.1 * jax.random.normal(key, prob.u0.shape)), where key = "
            "jax.random.fold_in(jax.random.fold_in(EnsembleProblem.key, i), repeat); or run EnsembleSerial().")


def _same_leaves(a, b):
    """Equal dynamic leaves (the static parts, such as a freshly made f, may differ between calls)."""
    a, b = jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        if isinstance(x, jax.Array) and jnp.issubdtype(x.dtype, jax.dtypes.prng_key):
            x, y = jax.random.key_data(x), jax.random.key_data(y)
        x, y = np.asarray(x), np.asarray(y)
        if x.shape != y.shape or not np.array_equal(x, y, equal_nan=x.dtype.kind in "fc"):
            return False
    return True
