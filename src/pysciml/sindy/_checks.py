"""Input checks shared by the SINDy modules: each raises a ValueError naming the argument and what was
expected, before anything is compiled. Checks on values run only on concrete arrays (not under jit)."""
import jax
import jax.numpy as jnp
import numpy as np

from .._core.dtypes import state_dtype
from .._core.trees import is_concrete


def check_data(X, name="X"):
    """A 2-D float array (samples, states) of finite values."""
    X = X if isinstance(X, jax.Array) else np.asarray(X)        # checks on host arrays compile nothing
    if X.ndim != 2 or X.shape[0] < 1 or X.shape[1] < 1:
        raise ValueError(f"{name} must be a 2-D array of shape (samples, states); got shape {X.shape}")
    dtype = state_dtype(X)
    if is_concrete(X) and not np.all(np.isfinite(np.asarray(X))):
        raise ValueError(f"{name} contains NaN or infinite values")
    return jnp.asarray(X, dtype)


def check_times(t, n_samples, minimum=1, uniform=False):
    """Sample times (n_samples,), strictly increasing; a positive scalar is a uniform spacing dt."""
    if n_samples < minimum:
        raise ValueError(f"X: at least {minimum} samples are needed; got {n_samples}")
    if t is None:
        raise ValueError("t: the sample times (or a spacing dt) are needed to estimate derivatives")
    if not is_concrete(t):
        t = jnp.asarray(t, state_dtype(t))
        return jnp.arange(n_samples) * t if t.ndim == 0 else t
    t = np.asarray(t, state_dtype(t))
    if t.ndim == 0:
        if not float(t) > 0:
            raise ValueError(f"t: a scalar t is the sample spacing dt and must be positive; got {float(t)}")
        return jnp.asarray(np.arange(n_samples) * t)
    if t.shape != (n_samples,):
        raise ValueError(f"t must have shape ({n_samples},), one time per sample of X; got {t.shape}")
    if n_samples > 1:
        dt = np.diff(t)
        if not np.all(dt > 0):
            raise ValueError("t must be strictly increasing")
        if uniform and np.ptp(dt) > 1e-6 * np.mean(dt):
            raise ValueError("t must be uniformly spaced for smoothing (spacings differ by "
                             f"{np.ptp(dt) / np.mean(dt):.2g} relative)")
    return jnp.asarray(t)


def check_x_dot(x_dot, X):
    """Derivatives shaped like X."""
    x_dot = check_data(x_dot, "x_dot")
    if x_dot.shape != X.shape:
        raise ValueError(f"x_dot must have the shape of X {X.shape}; got {x_dot.shape}")
    return x_dot


def check_names(names, n_vars):
    """A tuple of n_vars distinct non-empty strings (default x0, x1, ...)."""
    if names is None:
        return tuple(f"x{i}" for i in range(n_vars))
    if isinstance(names, str):
        raise ValueError(f"names must be a sequence of {n_vars} strings, not one string; got {names!r}")
    names = tuple(names)
    if len(names) != n_vars or not all(isinstance(s, str) and s for s in names) or len(set(names)) != n_vars:
        raise ValueError(f"names must be {n_vars} distinct non-empty strings, one per state; got {names!r}")
    return names


def check_nonnegative(owner, name, value):
    """A non-negative finite number (skipped for traced values and for the placeholders JAX puts in a pytree)."""
    concrete_array = isinstance(value, (np.ndarray, jax.Array)) and is_concrete(value) and np.ndim(value) == 0
    if isinstance(value, (int, float, np.number)) or concrete_array:
        v = float(value)
        if not np.isfinite(v) or v < 0:
            raise ValueError(f"{owner}: {name} must be a non-negative number; got {v}")
