"""`fit(loss, params, optimizers)`: minimize any ``loss(params) -> scalar`` with staged optimizers.

Each stage (`Adam`, then usually `LBFGS`; `LevenbergMarquardt` for least-squares losses) is compiled once
and runs in chunks of ``chunk`` iterations (`lax.scan`); between chunks the host only updates the progress
bar, calls the callback and, every ``checkpoint_every`` iterations, writes the state to disk, so an
interrupted fit resumes where it stopped and ends bitwise where an uninterrupted one would. The compiled
chunks are kept for the last few (loss, stage, parameter shapes): fitting the same loss again (another
start, a refit) does not compile again. The stages run in the one staged driver, `pysciml.optim.driver`.
"""
import jax
import jax.numpy as jnp
import numpy as np

from ..optim import LBFGS, Adam, LevenbergMarquardt
from ..optim.driver import EarlyStopping, FitInfo, FitResult, PlainLoss, minimize

__all__ = ["EarlyStopping", "FitInfo", "FitResult", "fit"]


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
    stages = tuple(optimizers) if isinstance(optimizers, (list, tuple)) else (optimizers,)
    if callable(params) and not isinstance(params, (jax.Array, np.ndarray)):
        params = params(jax.random.key(seed))
    options = dict(callback=callback, early_stopping=early_stopping, chunk=chunk, progress=progress,
                   checkpoint=checkpoint, checkpoint_every=checkpoint_every)
    if stages and all(isinstance(stage, (Adam, LBFGS, LevenbergMarquardt)) for stage in stages):
        _check_loss(loss, params, stages)
    return minimize(PlainLoss(loss), params, stages, **options)


