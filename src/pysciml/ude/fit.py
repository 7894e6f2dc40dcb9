"""`fit(loss, params, optimizers)`: minimize any ``loss(params) -> scalar`` with staged optimizers.

Each stage (`Adam`, then usually `LBFGS`; `LevenbergMarquardt` for least-squares losses) is compiled once
and runs in chunks of ``chunk`` iterations (`lax.scan`); between chunks the host only updates the progress
bar, calls the callback and, every ``checkpoint_every`` iterations, writes the state to disk, so an
interrupted fit resumes where it stopped and ends bitwise where an uninterrupted one would. The compiled
chunks are kept for the last few (loss, stage, parameter shapes): fitting the same loss again (another
start, a refit) does not compile again.
"""
import functools
import math
import os
import pickle
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from ..optim import (LBFGS, Adam, LevenbergMarquardt, lbfgs_pending, lbfgs_step, lm_pending, lm_step,
                     residuals_and_jacobian)

# why a stage ended (codes carried inside the compiled loop)
RUNNING, STALLED, PLATEAU, TARGET, CONVERGED = 0, 1, 2, 3, 4
REASONS = {RUNNING: "steps done", STALLED: "no further decrease", PLATEAU: "early stopping (no improvement)",
           TARGET: "target loss reached", CONVERGED: "converged (step, gradient or decrease tolerance)"}
STAGES = (Adam, LBFGS, LevenbergMarquardt)
CHECKPOINT_FORMAT = 1


@dataclass(frozen=True)
class EarlyStopping:
    """End a stage after ``patience`` iterations without the best loss improving by the relative amount
    ``min_delta``; end the whole fit once the loss is at or below ``target``."""

    patience: int | None = None
    min_delta: float = 0.0
    target: float | None = None

    def __post_init__(self):
        if self.patience is not None and (not isinstance(self.patience, int) or self.patience < 1):
            raise ValueError(f"EarlyStopping: patience must be a positive int or None, got {self.patience!r}")
        if not self.min_delta >= 0:
            raise ValueError(f"EarlyStopping: min_delta must be >= 0, got {self.min_delta!r}")


class FitInfo(NamedTuple):
    """What a callback sees between chunks: ``callback(info)`` returning True stops the fit."""

    iteration: int     # iterations done, all stages together
    stage: int         # index of the running stage
    loss: float        # latest loss
    params: Any        # current parameters


@dataclass
class FitResult:
    params: Any                   # parameters at the end
    loss: float                   # loss at the last evaluated point
    best_params: Any              # parameters with the lowest loss seen
    best_loss: float
    history: np.ndarray           # loss at every iteration, all stages in order
    stages: list = field(default_factory=list)   # per stage: name, iterations, why it ended
    stopped: str = "completed"    # "completed", "target", "callback"

    @property
    def iterations(self):
        return int(self.history.size)


class _Track(NamedTuple):
    """Per-stage bookkeeping inside the compiled loop."""
    best: jax.Array
    best_params: Any
    since_best: jax.Array
    done: jax.Array
    reason: jax.Array
    k: jax.Array


def _strong(tree):
    """The same values without JAX weak types, so a state restored from disk compiles and rounds the same."""
    return jax.tree_util.tree_map(lambda x: jnp.asarray(np.asarray(x)), tree)


def _to_numpy(tree):
    return jax.tree_util.tree_map(np.asarray, tree)


class _AdamStage:
    name = "Adam"

    def __init__(self, stage, loss):
        self.tx = stage.transformation()
        self.value_and_grad = jax.value_and_grad(loss)

    def init(self, params):
        return (params, self.tx.init(params))

    def params_of(self, state):
        return state[0]

    def step(self, state):
        params, opt_state = state
        value, grad = self.value_and_grad(params)
        updates, new_opt = self.tx.update(grad, opt_state, params)
        new = (jax.tree_util.tree_map(lambda p, u: p + u, params, updates), new_opt)
        return new, value, params, jnp.isfinite(value), jnp.asarray(True)

    def stop_reason(self, state):
        return STALLED


class _LBFGSStage:
    name = "L-BFGS"

    def __init__(self, stage, loss, params):
        self.stage, self.tx = stage, stage.transformation()
        _, self.unravel = ravel_pytree(params)
        self.evaluate = jax.value_and_grad(lambda v: (loss(self.unravel(v)), None), has_aux=True)

    def init(self, params):
        return lbfgs_pending(self.evaluate, self.tx, ravel_pytree(params)[0])

    def params_of(self, state):
        return self.unravel(state.v)

    def step(self, state):
        new, ok = lbfgs_step(self.evaluate, self.tx, self.stage, state)
        return new, new.value, self.unravel(new.v), ok, new.k > state.k

    def stop_reason(self, state):
        return STALLED


class _LMStage:
    """Levenberg–Marquardt on ``loss.residuals``; the recorded value is mean(r²), which the least-squares
    losses define as their value, so the history continues the other stages' one."""
    name = "Levenberg-Marquardt"

    def __init__(self, stage, loss, params):
        self.stage = stage
        _, self.unravel = ravel_pytree(params)
        self.evaluate = residuals_and_jacobian(lambda v: loss.residuals(self.unravel(v)))

    def init(self, params):
        return lm_pending(self.evaluate, self.stage, ravel_pytree(params)[0])

    def params_of(self, state):
        return self.unravel(state.x)

    def step(self, state):
        new, ok = lm_step(self.evaluate, self.stage, state)
        return new, 2.0 * new.cost / new.r.size, self.unravel(new.x), ok, new.k > state.k

    def stop_reason(self, state):
        return jnp.where(state.converged, CONVERGED, STALLED)


def _runner(stage, loss, params):
    if isinstance(stage, Adam):
        return _AdamStage(stage, loss)
    return (_LBFGSStage if isinstance(stage, LBFGS) else _LMStage)(stage, loss, params)


def _select(flag, new, old):
    return jax.tree_util.tree_map(lambda a, b: jnp.where(flag, a, b), new, old)


def _compiled_chunk(runner, chunk, early):
    patience = math.inf if early.patience is None else early.patience
    target = -math.inf if early.target is None else early.target

    def run(carry, n_active):
        state0 = carry[0]
        value_type = jax.eval_shape(runner.step, state0)[1]

        def idle(state):       # an iteration past the stage's end costs nothing (no loss evaluation)
            return (state, jnp.full(value_type.shape, jnp.inf, value_type.dtype), runner.params_of(state),
                    jnp.asarray(False), jnp.asarray(False))

        def body(carry, i):
            state, track = carry
            active = (i < n_active) & ~track.done
            new_state, value, point, ok, counted = jax.lax.cond(active, runner.step, idle, state)
            taken = active & ok & counted          # an iteration: recorded, counted, judged for early stopping
            improved = value < track.best - early.min_delta * jnp.abs(track.best)
            better = value < track.best
            since = jnp.where(improved, 0, track.since_best + 1)
            reason = jnp.where(value <= target, TARGET, jnp.where(since >= patience, PLATEAU, RUNNING))
            stepped = _Track(jnp.where(better, value, track.best), _select(better, point, track.best_params),
                             since, reason != RUNNING, reason, track.k + 1)
            stalled = active & ~ok
            why = jnp.where(stalled, runner.stop_reason(new_state), track.reason)
            track = _select(taken, stepped, track._replace(done=track.done | stalled, reason=why))
            carry = (_select(active & ok, new_state, state), track)
            return carry, jnp.where(taken, value, jnp.nan)
        return jax.lax.scan(body, carry, jnp.arange(chunk))
    return jax.jit(run)


@functools.lru_cache(maxsize=8)
def _cached_stage(stage, loss, structure, chunk, early):
    params = jax.tree_util.tree_unflatten(structure[0], [jnp.zeros(shape, dtype) for shape, dtype in structure[1]])
    runner = _runner(stage, loss, params)
    return runner, _compiled_chunk(runner, chunk, early)


def _stage(stage, loss, params, chunk, early):
    """(runner, compiled chunk) for this stage: reused while the loss object, the stage, the parameters'
    structure and shapes, ``chunk`` and ``early`` are the same (a loss that cannot be hashed compiles anew)."""
    leaves, treedef = jax.tree_util.tree_flatten(params)
    structure = (treedef, tuple((x.shape, x.dtype) for x in leaves))
    try:
        return _cached_stage(stage, loss, structure, chunk, early)
    except TypeError:          # unhashable loss
        runner = _runner(stage, loss, params)
        return runner, _compiled_chunk(runner, chunk, early)


def _check_loss(loss, params, optimizers):
    if not callable(loss):
        raise TypeError(f"loss must be callable as loss(params) -> scalar, got {type(loss).__name__}")
    leaves = jax.tree_util.tree_leaves(params)
    if not leaves or any(not jnp.issubdtype(jnp.asarray(x).dtype, jnp.floating) for x in leaves):
        raise ValueError("params must be a non-empty pytree of floating-point arrays")
    if any(isinstance(stage, LevenbergMarquardt) for stage in optimizers):
        if not callable(getattr(loss, "residuals", None)):
            raise TypeError("a LevenbergMarquardt stage needs a least-squares loss, one with a method "
                            "residuals(params) -> array r such that loss(params) == mean(r²): TrajectoryLoss, "
                            "MultipleShooting, Collocation, or ude.LeastSquares(residuals) around your own r; "
                            f"got {type(loss).__name__}")
        try:
            out = jax.eval_shape(loss.residuals, params)
        except Exception as err:
            raise ValueError(f"loss.residuals: cannot evaluate it on params: {type(err).__name__}: {err}") from err
        if not hasattr(out, "shape") or out.size == 0 or not jnp.issubdtype(out.dtype, jnp.floating):
            raise ValueError(f"loss.residuals must return a non-empty real array, got {out}")
    if not all(isinstance(stage, LevenbergMarquardt) for stage in optimizers):
        try:
            out = jax.eval_shape(loss, params)
        except Exception as err:
            raise ValueError(f"loss: cannot evaluate it on params: {type(err).__name__}: {err}") from err
        if getattr(out, "shape", None) != () or not jnp.issubdtype(out.dtype, jnp.floating):
            raise ValueError(f"loss must return a real scalar, got {out}")


def fit(loss, params, optimizers=(Adam(1e-2, 500), LBFGS(500)), *, seed=0, callback=None, early_stopping=None,
        chunk=50, progress=True, checkpoint=None, checkpoint_every=None):
    """Minimize ``loss(params)`` running ``optimizers`` in order; returns a `FitResult`.

    params            initial parameters (any pytree of float arrays), or ``init(key)`` building them from
                      ``jax.random.key(seed)`` (the fit is then reproducible from ``seed`` alone)
    optimizers        stages, e.g. (Adam(1e-2, 300), LBFGS(1000)); L-BFGS ends early when no step decreases
                      the loss any more. For a least-squares loss (one with ``residuals(params)``, such as
                      `TrajectoryLoss`, or `LeastSquares(r)`), `LevenbergMarquardt(steps)` uses the residuals'
                      Jacobian (forward mode through the solve) and ends when converged; its recorded loss
                      is mean(r²)
    callback          ``callback(FitInfo)`` after every chunk; returning True stops the fit
    early_stopping    `EarlyStopping(patience, min_delta, target)`
    chunk             iterations per compiled call (progress, callback and checkpoint granularity)
    checkpoint        a file path: the state is saved there every ``checkpoint_every`` iterations (default:
                      every chunk), when a stage ends and when the fit is interrupted; if the file exists,
                      the fit resumes from it
    """
    optimizers = tuple(optimizers) if isinstance(optimizers, (list, tuple)) else (optimizers,)
    if not optimizers:
        raise ValueError("optimizers must hold at least one stage, e.g. (Adam(1e-2, 500), LBFGS(500))")
    for stage in optimizers:
        if not isinstance(stage, STAGES):
            raise TypeError(f"optimizers must be Adam(...), LBFGS(...) or LevenbergMarquardt(...) stages, "
                            f"got {stage!r}")
    if not isinstance(chunk, int) or chunk < 1:
        raise ValueError(f"chunk must be a positive int, got {chunk!r}")
    checkpoint_every = chunk if checkpoint_every is None else checkpoint_every
    if not isinstance(checkpoint_every, int) or checkpoint_every < 1:
        raise ValueError(f"checkpoint_every must be a positive int, got {checkpoint_every!r}")
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable as callback(info), got {type(callback).__name__}")
    early = EarlyStopping() if early_stopping is None else early_stopping
    if not isinstance(early, EarlyStopping):
        raise TypeError(f"early_stopping must be an EarlyStopping(...), got {early!r}")
    if callable(params) and not isinstance(params, (jax.Array, np.ndarray)):
        params = params(jax.random.key(seed))
    params = _strong(params)
    _check_loss(loss, params, optimizers)
    return _Fit(loss, optimizers, early, callback, chunk, progress, checkpoint, checkpoint_every).run(params)


class _Fit:
    def __init__(self, loss, optimizers, early, callback, chunk, progress, path, every):
        self.loss, self.optimizers, self.early, self.callback = loss, optimizers, early, callback
        self.chunk, self.progress, self.path, self.every = chunk, progress, path, every

    def _bar(self, total, initial, desc):
        from tqdm.auto import tqdm
        return tqdm(total=total, initial=initial, desc=desc, disable=not self.progress, leave=False)

    def run(self, params):
        treedef = str(jax.tree_util.tree_structure(params))
        saved = self._load(treedef) if self.path is not None and os.path.exists(self.path) else None
        history, stages, stopped = [], [], "completed"
        first, state, track = 0, None, None
        if saved is not None:
            history, stages, stopped = [saved["history"]], saved["stages"], saved["stopped"]
            first, params = saved["stage"], _strong(saved["params"])
            state = None if saved["state"] is None else _strong(saved["state"])
            track = None if saved["track"] is None else _strong(saved["track"])
        best = (math.inf, params) if saved is None else (saved["best"], _strong(saved["best_params"]))

        self.snapshot = None
        try:
            for idx in range(first, len(self.optimizers)):
                if stopped != "completed":
                    break
                stage = self.optimizers[idx]
                runner, step_fn = _stage(stage, self.loss, params, self.chunk, self.early)
                if state is None:
                    state = _strong(runner.init(params))
                    track = _strong(_Track(jnp.inf, params, 0, False, RUNNING, 0))
                last_save = int(track.k)
                with self._bar(stage.steps, int(track.k), runner.name) as bar:
                    while int(track.k) < stage.steps and not bool(track.done):
                        before = int(track.k)
                        (state, track), values = step_fn((state, track), stage.steps - before)
                        done_now = int(track.k) - before
                        values = np.asarray(values)
                        history.append(values[~np.isnan(values)])
                        self.snapshot = dict(stage=idx, params=params, state=state, track=track, history=history,
                                             stages=stages, stopped=stopped, best=best)
                        bar.update(done_now)
                        latest = float(track.best) if done_now == 0 else float(history[-1][-1])
                        bar.set_postfix(loss=f"{latest:.4e}")
                        if self.callback is not None and self.callback(FitInfo(
                                sum(h.size for h in history), idx, latest, runner.params_of(state))):
                            stopped = "callback"
                            break
                        if self.path is not None and int(track.k) - last_save >= self.every:
                            self._save(self.snapshot, treedef)
                            last_save = int(track.k)
                reason = int(track.reason)
                stages.append(dict(name=runner.name, iterations=int(track.k), reason=REASONS[reason]))
                if reason == TARGET:
                    stopped = "target"
                if float(track.best) < best[0]:
                    best = (float(track.best), track.best_params)
                params, state, track = runner.params_of(state), None, None
                self.snapshot = dict(stage=idx + 1, params=params, state=None, track=None, history=history,
                                     stages=stages, stopped=stopped, best=best)
                if self.path is not None:
                    self._save(self.snapshot, treedef)
        except BaseException:
            if self.path is not None and self.snapshot is not None:
                self._save(self.snapshot, treedef)
            raise
        history = np.concatenate(history) if history else np.zeros(0)
        return FitResult(params, float(history[-1]) if history.size else best[0], best[1], best[0], history,
                         stages, stopped)

    def _save(self, snap, treedef):
        history = np.concatenate(snap["history"]) if snap["history"] else np.zeros(0)
        blob = dict(format=CHECKPOINT_FORMAT, optimizers=repr(self.optimizers), treedef=treedef,
                    stage=snap["stage"], params=_to_numpy(snap["params"]),
                    state=None if snap["state"] is None else _to_numpy(snap["state"]),
                    track=None if snap["track"] is None else _to_numpy(snap["track"]), history=history,
                    stages=list(snap["stages"]), stopped=snap["stopped"], best=snap["best"][0],
                    best_params=_to_numpy(snap["best"][1]))
        tmp = f"{self.path}.tmp"
        with open(tmp, "wb") as fh:
            pickle.dump(blob, fh)
        os.replace(tmp, self.path)       # atomic: a crash while writing leaves the previous checkpoint intact

    def _load(self, treedef):
        with open(self.path, "rb") as fh:
            blob = pickle.load(fh)
        if not isinstance(blob, dict) or blob.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"checkpoint {self.path!r} is not a pysciml fit checkpoint")
        if blob["optimizers"] != repr(self.optimizers) or blob["treedef"] != treedef:
            raise ValueError(f"checkpoint {self.path!r} was written by a fit with other optimizers or another "
                             f"parameter structure; delete it or pass another path")
        return blob
