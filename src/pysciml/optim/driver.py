"""The one staged training driver: `minimize(objective, params, optimizers)` runs stages (`Adam`, then
usually `LBFGS`; `LevenbergMarquardt` for least-squares losses) in order. `pysciml.ude.fit` (any
``loss(params)``) and `pysciml.pinn.train` (physics-informed networks) are thin front ends to it.

An objective is ``objective.loss(params, ctx) -> (value, aux)``: ``ctx`` is a pytree the front end threads
through the stages (the PINN's collocation points and loss weights; None for a plain loss), ``aux`` is
recorded at every iteration beside the value (the PINN's per-term losses). Optional hooks, see `Objective`:
``prepare``/``finish`` around every Adam step (resampling points, adapting weights, traced), and
``after_chunk`` on the host between chunks (adding points), ``residuals`` for `LevenbergMarquardt`.

Each stage is compiled once and runs in chunks of ``chunk`` iterations (`lax.scan`); between chunks the host only updates the progress
bar, calls the callback and, every ``checkpoint_every`` iterations, writes the state to disk, so an
interrupted fit resumes where it stopped and ends bitwise where an uninterrupted one would. The compiled
chunks are kept for the last few (objective, stage, parameter shapes): fitting the same loss again
(another start, a refit) does not compile again.
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

from .._core.trees import select
from .lbfgs import lbfgs_pending, lbfgs_step
from .levenberg_marquardt import lm_pending, lm_step, residuals_and_jacobian
from .stages import LBFGS, Adam, LevenbergMarquardt

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
    """What a callback sees between chunks: ``callback(info)`` returning True stops the fit.

    iteration: iterations done, all stages together. stage: index of the running stage. loss: the latest loss.
    params: the current parameters.
    """

    iteration: int     # iterations done, all stages together
    stage: int         # index of the running stage
    loss: float        # latest loss
    params: Any        # current parameters


@dataclass
class FitResult:
    """The result of `minimize` (and `pysciml.ude.fit`, `pysciml.pinn.train`).

    params: parameters at the end. loss: the loss at the last evaluated point. best_params, best_loss: the
    parameters with the lowest loss seen, and that loss. history: the loss at every iteration, all stages in
    order. stages: per stage its name, iterations and why it ended. stopped: "completed", "target" (early
    stopping reached its target) or "callback". aux_history: the objective's aux at every iteration, stacked
    (None for a plain loss). context: the objective's ctx at the end (None for a plain loss).
    """
    params: Any                   # parameters at the end
    loss: float                   # loss at the last evaluated point
    best_params: Any              # parameters with the lowest loss seen
    best_loss: float
    history: np.ndarray           # loss at every iteration, all stages in order
    stages: list = field(default_factory=list)   # per stage: name, iterations, why it ended
    stopped: str = "completed"    # "completed", "target", "callback"
    aux_history: Any = None       # the objective's aux at every iteration, stacked (None for a plain loss)
    context: Any = None           # the objective's ctx at the end (None for a plain loss)

    @property
    def iterations(self):
        return int(self.history.size)


class Objective:
    """What the driver asks of the thing it minimizes. Subclasses define `loss`; the hooks default to
    doing nothing."""

    def loss(self, params, ctx):
        """Returns (scalar value, aux pytree or None) at ``params`` with context ``ctx`` (both traced)."""
        raise NotImplementedError

    def start_stage(self, stage, ctx):
        """Returns the ctx a ``stage`` starts with, from the current ``ctx`` (host side; e.g. a step counter reset).
        Default: ``ctx`` unchanged."""
        return ctx

    def prepare(self, ctx):
        """Returns the ctx an Adam step evaluates with, from ``ctx`` (traced; e.g. resampled points). Default:
        ``ctx`` unchanged."""
        return ctx

    def finish(self, ctx, params, aux):
        """Returns the ctx after an Adam step taken at ``params`` with ``aux`` from ``ctx`` (traced; e.g. adapted
        weights). Default: ``ctx`` unchanged."""
        return ctx

    def after_chunk(self, stage, ctx, params, done):
        """Returns the ctx after a chunk (host side), ``done`` iterations into ``stage``, at ``params``; None if
        ``ctx`` is unchanged (the default)."""
        return None

    def residuals(self, params, ctx):
        """Returns the residuals r at ``params`` with context ``ctx``, with value == mean(r²), for
        `LevenbergMarquardt`."""
        raise NotImplementedError


@dataclass(frozen=True)
class PlainLoss(Objective):
    """``loss(params) -> scalar`` as an objective without context; hashable by the loss, so the compiled
    stages of a loss are reused."""
    fn: Any

    def loss(self, params, ctx):
        return self.fn(params), None

    def residuals(self, params, ctx):
        return self.fn.residuals(params)


class _Track(NamedTuple):
    """Per-stage bookkeeping inside the compiled loop."""
    best: jax.Array
    best_params: Any
    since_best: jax.Array
    done: jax.Array
    reason: jax.Array
    k: jax.Array


def _is_key(x):
    return jnp.issubdtype(jnp.result_type(x), jax.dtypes.prng_key)


def _strong(tree):
    """The same values without JAX weak types, so a state restored from disk compiles and rounds the same
    (PRNG keys, never weak, are kept as they are)."""
    return jax.tree_util.tree_map(lambda x: x if _is_key(x) else jnp.asarray(np.asarray(x)), tree)


def _to_numpy(tree):
    return jax.tree_util.tree_map(lambda x: x if _is_key(x) else np.asarray(x), tree)


class _AdamStage:
    name = "Adam"

    def __init__(self, stage, objective):
        self.tx, self.objective = stage.transformation(), objective
        self.value_and_grad = jax.value_and_grad(objective.loss, has_aux=True)

    def init(self, params, ctx):
        return (params, self.tx.init(params), ctx)

    def params_of(self, state):
        return state[0]

    def context_of(self, state):
        return state[2]

    def with_context(self, state, ctx):
        return state[:2] + (ctx,)

    def step(self, state):
        params, opt_state, ctx = state
        ctx = self.objective.prepare(ctx)
        (value, aux), grad = self.value_and_grad(params, ctx)
        updates, new_opt = self.tx.update(grad, opt_state, params)
        new = (jax.tree_util.tree_map(lambda p, u: p + u, params, updates), new_opt,
               self.objective.finish(ctx, params, aux))
        return new, value, aux, params, jnp.isfinite(value), jnp.asarray(True)

    def stop_reason(self, state):
        return STALLED


class _LBFGSStage:
    name = "L-BFGS"

    def __init__(self, stage, objective, params):
        self.stage, self.tx, self.objective = stage, stage.transformation(), objective
        _, self.unravel = ravel_pytree(params)

    def _evaluate(self, ctx):
        return jax.value_and_grad(lambda v: self.objective.loss(self.unravel(v), ctx), has_aux=True)

    def init(self, params, ctx):
        return (lbfgs_pending(self._evaluate(ctx), self.tx, ravel_pytree(params)[0]), ctx)

    def params_of(self, state):
        return self.unravel(state[0].v)

    def context_of(self, state):
        return state[1]

    def with_context(self, state, ctx):     # new points or weights: the next step evaluates anew
        return (state[0]._replace(value=jnp.full_like(state[0].value, jnp.inf)), ctx)

    def step(self, state):
        lb, ctx = state
        new, ok = lbfgs_step(self._evaluate(ctx), self.tx, self.stage, lb)
        return (new, ctx), new.value, new.aux, self.unravel(new.v), ok, new.k > lb.k

    def stop_reason(self, state):
        return STALLED


class _LMStage:
    """Levenberg–Marquardt on ``loss.residuals``; the recorded value is mean(r²), which the least-squares
    losses define as their value, so the history continues the other stages' one."""
    name = "Levenberg-Marquardt"

    def __init__(self, stage, objective, params):
        self.stage, self.objective = stage, objective
        _, self.unravel = ravel_pytree(params)

    def _evaluate(self, ctx):
        return residuals_and_jacobian(lambda v: self.objective.residuals(self.unravel(v), ctx))

    def init(self, params, ctx):
        return (lm_pending(self._evaluate(ctx), self.stage, ravel_pytree(params)[0]), ctx)

    def params_of(self, state):
        return self.unravel(state[0].x)

    def context_of(self, state):
        return state[1]

    def with_context(self, state, ctx):
        return (lm_pending(self._evaluate(ctx), self.stage, state[0].x), ctx)

    def step(self, state):
        lm, ctx = state
        new, ok = lm_step(self._evaluate(ctx), self.stage, lm)
        return (new, ctx), 2.0 * new.cost / new.r.size, None, self.unravel(new.x), ok, new.k > lm.k

    def stop_reason(self, state):
        return jnp.where(state[0].converged, CONVERGED, STALLED)


def _runner(stage, objective, params):
    if isinstance(stage, Adam):
        return _AdamStage(stage, objective)
    return (_LBFGSStage if isinstance(stage, LBFGS) else _LMStage)(stage, objective, params)


def _compiled_chunk(runner, chunk, early):
    patience = math.inf if early.patience is None else early.patience
    target = -math.inf if early.target is None else early.target

    def run(carry, n_active):
        state0 = carry[0]
        _, value_type, aux_type = jax.eval_shape(runner.step, state0)[:3]

        def idle(state):       # an iteration past the stage's end costs nothing (no loss evaluation)
            aux = jax.tree_util.tree_map(lambda a: jnp.full(a.shape, jnp.nan, a.dtype), aux_type)
            return (state, jnp.full(value_type.shape, jnp.inf, value_type.dtype), aux, runner.params_of(state),
                    jnp.asarray(False), jnp.asarray(False))

        def body(carry, i):
            state, track = carry
            active = (i < n_active) & ~track.done
            new_state, value, aux, point, ok, counted = jax.lax.cond(active, runner.step, idle, state)
            taken = active & ok & counted          # an iteration: recorded, counted, judged for early stopping
            improved = value < track.best - early.min_delta * jnp.abs(track.best)
            better = value < track.best
            since = jnp.where(improved, 0, track.since_best + 1)
            reason = jnp.where(value <= target, TARGET, jnp.where(since >= patience, PLATEAU, RUNNING))
            stepped = _Track(jnp.where(better, value, track.best), select(better, point, track.best_params),
                             since, reason != RUNNING, reason, track.k + 1)
            stalled = active & ~ok
            why = jnp.where(stalled, runner.stop_reason(new_state), track.reason)
            track = select(taken, stepped, track._replace(done=track.done | stalled, reason=why))
            carry = (select(active & ok, new_state, state), track)
            return carry, (jnp.where(taken, value, jnp.nan), aux)
        return jax.lax.scan(body, carry, jnp.arange(chunk))
    return jax.jit(run)


@functools.lru_cache(maxsize=8)
def _cached_stage(stage, objective, structure, chunk, early):
    params = jax.tree_util.tree_unflatten(structure[0], [jnp.zeros(shape, dtype) for shape, dtype in structure[1]])
    runner = _runner(stage, objective, params)
    return runner, _compiled_chunk(runner, chunk, early)


def _stage(stage, objective, params, chunk, early):
    """(runner, compiled chunk) for this stage: reused while the objective, the stage, the parameters'
    structure and shapes, ``chunk`` and ``early`` are the same (an objective that cannot be hashed compiles
    anew)."""
    leaves, treedef = jax.tree_util.tree_flatten(params)
    structure = (treedef, tuple((x.shape, x.dtype) for x in leaves))
    try:
        return _cached_stage(stage, objective, structure, chunk, early)
    except TypeError:          # unhashable objective
        runner = _runner(stage, objective, params)
        return runner, _compiled_chunk(runner, chunk, early)


def minimize(objective, params, optimizers, *, ctx=None, callback=None, early_stopping=None, chunk=50,
             progress=True, checkpoint=None, checkpoint_every=None):
    """Minimize ``objective`` (an `Objective`) from ``params`` running ``optimizers`` (stages `Adam`,
    `LBFGS`, `LevenbergMarquardt`) in order, starting with context ``ctx``. ``callback(FitInfo)`` runs after every
    chunk (True stops the fit); ``early_stopping``: an `EarlyStopping`; ``chunk``: iterations per compiled call;
    ``progress``: show a progress bar; ``checkpoint``: a file path where the state is saved every
    ``checkpoint_every`` iterations (default: every chunk) and from which the fit resumes. Returns a `FitResult`.
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
    return _Fit(objective, optimizers, early, callback, chunk, progress, checkpoint, checkpoint_every).run(
        _strong(params), None if ctx is None else _strong(ctx))


class _Fit:
    def __init__(self, objective, optimizers, early, callback, chunk, progress, path, every):
        self.objective, self.optimizers, self.early, self.callback = objective, optimizers, early, callback
        self.chunk, self.progress, self.path, self.every = chunk, progress, path, every

    def _bar(self, total, initial, desc):
        from tqdm.auto import tqdm
        return tqdm(total=total, initial=initial, desc=desc, disable=not self.progress, leave=False)

    def run(self, params, ctx):
        treedef = str(jax.tree_util.tree_structure(params))
        saved = self._load(treedef) if self.path is not None and os.path.exists(self.path) else None
        history, auxes, stages, stopped = [], [], [], "completed"
        first, state, track = 0, None, None
        if saved is not None:
            history, stages, stopped = [saved["history"]], saved["stages"], saved["stopped"]
            auxes = [] if saved.get("aux_history") is None else [saved["aux_history"]]   # .get: older files
            first, params = saved["stage"], _strong(saved["params"])
            ctx = None if saved.get("context") is None else _strong(saved["context"])
            state = None if saved["state"] is None else _strong(saved["state"])
            track = None if saved["track"] is None else _strong(saved["track"])
        best = (math.inf, params) if saved is None else (saved["best"], _strong(saved["best_params"]))

        self.snapshot = None
        try:
            for idx in range(first, len(self.optimizers)):
                if stopped != "completed":
                    break
                stage = self.optimizers[idx]
                runner, step_fn = _stage(stage, self.objective, params, self.chunk, self.early)
                if state is None:
                    state = _strong(runner.init(params, self.objective.start_stage(stage, ctx)))
                    track = _strong(_Track(jnp.inf, params, 0, False, RUNNING, 0))
                last_save = int(track.k)
                with self._bar(stage.steps, int(track.k), runner.name) as bar:
                    while int(track.k) < stage.steps and not bool(track.done):
                        before = int(track.k)
                        (state, track), (values, aux) = step_fn((state, track), stage.steps - before)
                        done_now = int(track.k) - before
                        values = np.asarray(values)
                        taken = ~np.isnan(values)
                        history.append(values[taken])
                        if aux is not None:
                            auxes.append(jax.tree_util.tree_map(lambda a: np.asarray(a)[taken], aux))
                        update = self.objective.after_chunk(stage, runner.context_of(state),
                                                            runner.params_of(state), int(track.k))
                        if update is not None:
                            state = runner.with_context(state, update)
                        self.snapshot = dict(stage=idx, params=params, context=ctx, state=state, track=track,
                                             history=history, aux_history=auxes, stages=stages, stopped=stopped,
                                             best=best)
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
                params, ctx, state, track = runner.params_of(state), runner.context_of(state), None, None
                self.snapshot = dict(stage=idx + 1, params=params, context=ctx, state=None, track=None,
                                     history=history, aux_history=auxes, stages=stages, stopped=stopped, best=best)
                if self.path is not None:
                    self._save(self.snapshot, treedef)
        except BaseException:
            if self.path is not None and self.snapshot is not None:
                self._save(self.snapshot, treedef)
            raise
        history = np.concatenate(history) if history else np.zeros(0)
        return FitResult(params, float(history[-1]) if history.size else best[0], best[1], best[0], history,
                         stages, stopped, _concatenate(auxes), ctx)

    def _save(self, snap, treedef):
        history = np.concatenate(snap["history"]) if snap["history"] else np.zeros(0)
        blob = dict(format=CHECKPOINT_FORMAT, optimizers=repr(self.optimizers), treedef=treedef,
                    stage=snap["stage"], params=_to_numpy(snap["params"]), context=_to_numpy(snap["context"]),
                    aux_history=_concatenate(snap["aux_history"]),
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


def _concatenate(chunks):
    """The per-chunk aux records joined along the iteration axis (None when the objective has no aux)."""
    if not chunks:
        return None
    return jax.tree_util.tree_map(lambda *xs: np.concatenate(xs), *chunks)
