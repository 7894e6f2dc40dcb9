"""Measured order of convergence: the least-squares slope of log(error) against log(step size)."""
import numpy as np


def convergence_order(step_sizes, errors) -> float:
    """Returns the slope p of log(error) ≈ p·log(h) + c (least squares) over the ``step_sizes`` h and their
    ``errors``, which must be positive.
    """
    h = np.asarray(step_sizes, dtype=float)
    e = np.asarray(errors, dtype=float)
    if h.shape != e.shape or h.ndim != 1 or h.size < 2:
        raise ValueError(f"step_sizes and errors must be 1-D of equal length ≥ 2; got {h.shape} and {e.shape}")
    if np.any(e <= 0) or np.any(h <= 0) or not np.all(np.isfinite(e)):
        raise ValueError(f"errors and step sizes must be positive and finite; got errors {e}")
    slope, _ = np.polyfit(np.log(h), np.log(e), 1)
    return float(slope)
