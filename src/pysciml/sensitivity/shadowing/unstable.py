"""How many unstable directions the non-intrusive methods need (`NILSS(nus=None)`, `NILSAS(M=None)`), counted
from the Lyapunov exponents of the solve's own trajectory.

The exponents come from the QR method (Benettin et al. 1980; Shimada & Nagashima 1979) applied to the flow
maps Φ_i between save times of the solve being differentiated (the Jacobians the shadowing methods use):
the estimate costs one more computation of the Φ_i and n − 1 QR steps per interval, at the first gradient
of a problem only. The tangents are projected off f after every interval, as NILSS and NILSAS project
their homogeneous solutions: the exponents are then those of the flow *transverse* to f, i.e. the spectrum
without the neutral exponent of an autonomous flow (the direction f itself, which both methods treat
separately through time dilation), k = n − 1 of them.

Counting. A transverse exponent is counted as unstable unless it is negative beyond its statistical
error: λ_i > −Z·SE_i, with SE_i the standard error of batch means (the span cut into `BATCHES` equal
batches). This errs on the side of counting: too few homogeneous solutions leave the shadowing tangent
growing like exp(λT) (a useless gradient), too many cost one more tangent each and change little (a stable
direction's homogeneous solution decays within a segment). Conventions of the literature, for the count
c of positive transverse exponents:

- NILSS: nus = c, at least as many homogeneous tangents as positive Lyapunov exponents, the neutral
  direction being removed by the projection off f (Ni & Wang 2017, J. Comput. Phys. 347). Lorenz-63: 1.
- NILSAS: M = c + 1, spanning the adjoint unstable and neutral directions (Ni & Talnikar 2019, J. Comput.
  Phys. 395; SciMLSensitivity's NILSAS asks for "M >= nus + 1"), capped at the n − 1 directions transverse
  to f, where this implementation keeps its homogeneous adjoints. Lorenz-63: 2. (Since the f-component of
  the adjoint is fixed here by the time-average condition, M = c already suffices in practice: on the
  Lorenz test trajectory M = 1 and M = 2 give d⟨z⟩/dρ = 1.0113 and 1.0154.)

The estimate needs concrete numbers, so it is made in the backward pass of an eager `jax.grad` and cached
for the solve's compiled structure (right-hand side, method, tolerances, grid size): later gradients, also
under `jax.jit`, reuse it. A first gradient under `jax.jit` has no numbers to count from and raises,
asking for the count explicitly.
"""
import logging
from collections import OrderedDict
from dataclasses import replace

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from .segments import project_off

Z = 2.0          # standard errors a transverse exponent must lie below zero to be called stable
BATCHES = 20     # batch means for the standard error
_CACHE = OrderedDict()
_LOG = logging.getLogger(__name__)
_CACHE_SIZE = 256


def qr_log_growth(phis, q0, fs=None):
    """log |diag R_i| of the QR method, Φ_i Q_i = Q_{i+1} R_i, for flow maps ``phis`` (m, n, n) and k
    orthonormal starting vectors ``q0`` (n, k): (m, k). With ``fs`` (m + 1, n), the tangents are projected
    off f_{i+1} before each factorisation (the transverse exponents; ``q0`` should then be ⊥ f_0). Returns the
    log growths, shape (m, k)."""
    def step(q, blocks):
        phi, f = blocks
        x = phi @ q
        if fs is not None:
            x = project_off(f, x)
        q, r = jnp.linalg.qr(x)
        # QR's signs are arbitrary; |diag R| is the stretching of each Gram–Schmidt direction.
        return q, jnp.log(jnp.abs(jnp.diagonal(r)))
    f_next = fs[1:] if fs is not None else jnp.zeros(phis.shape[:2], phis.dtype)
    _, logs = lax.scan(step, q0, (phis, f_next))
    return logs


def batch_rates(logs, h):
    """Exponents from per-interval log growths ``logs`` (m, k) on a grid of spacing ``h``, and their standard
    errors from `BATCHES` batch means (the span cut into equal batches). Returns (exponents (k,), standard
    errors (k,)), unsorted."""
    m, k = logs.shape
    mean = jnp.sum(logs, axis=0) / (m * h)
    b = max(2, min(BATCHES, m))
    edges = np.linspace(0, m, b + 1).astype(int)            # static batch boundaries
    cums = jnp.concatenate([jnp.zeros((1, k), logs.dtype), jnp.cumsum(logs, axis=0)])
    lengths = jnp.asarray(np.maximum(np.diff(edges), 1), logs.dtype)[:, None] * h
    rates = (cums[edges[1:]] - cums[edges[:-1]]) / lengths
    return mean, jnp.std(rates, axis=0, ddof=1) / np.sqrt(b)


@jax.jit
def transverse_exponents(phis, fs, h, key):
    """The n − 1 exponents transverse to f over the saved grid (spacing h), sorted descending, and their
    standard errors (`batch_rates`): ((n − 1,), (n − 1,))."""
    n = phis.shape[-1]
    q0 = jnp.linalg.qr(project_off(fs[0], jax.random.normal(key, (n, n - 1), phis.dtype)))[0]
    mean, se = batch_rates(qr_log_growth(phis, q0, fs), h)
    order = jnp.argsort(-mean)
    return mean[order], se[order]


def clear_cache():
    """Forget the cached counts (the next gradient of each problem counts again)."""
    _CACHE.clear()


def count_unstable(exponents, standard_errors):
    """The number of transverse exponents not shown negative by more than `Z` standard errors."""
    return int(np.sum(np.asarray(exponents) > -Z * np.asarray(standard_errors)))


def method_count(sensealg, unstable, n):
    """The number of homogeneous solutions ``sensealg`` takes for ``unstable`` unstable transverse
    directions, in its literature's convention (module docstring)."""
    if type(sensealg).__name__ == "NILSAS":
        return min(unstable + 1, n - 1)
    return unstable


def needs_estimate(sensealg):
    """Whether ``sensealg`` left its number of homogeneous solutions (nus / M) to be estimated."""
    return getattr(sensealg, "count_field", None) is not None and getattr(sensealg, sensealg.count_field) is None


def resolve(sensealg, key, concrete, compute):
    """``sensealg`` with its count of homogeneous solutions filled in. ``key``: the cache key (hashable);
    ``concrete``: whether the backward pass sees numbers (not tracers); ``compute()``: the flow maps
    (m, n, n), f along the grid (m + 1, n), the grid spacing and whether the solve succeeded (a failed
    solve's count is used, its gradient being NaN anyway, but not cached). Returns the resolved method."""
    name, field = type(sensealg).__name__, sensealg.count_field
    if key in _CACHE:
        _CACHE.move_to_end(key)
        unstable, n = _CACHE[key]
        return replace(sensealg, **{field: method_count(sensealg, unstable, n)})
    if not concrete:
        raise ValueError(
            f"{name}({field}=None) counts the unstable directions from the Lyapunov exponents of the solve's "
            f"trajectory, which needs concrete values, and this first gradient is taken under jax.jit (or "
            f"another transformation that traces the backward pass). Pass {field}= explicitly (count the "
            f"positive exponents of pysciml.lyapunov_spectrum(prob); {name} takes "
            f"{'that count + 1' if name == 'NILSAS' else 'that count'}), or take one gradient outside jax.jit "
            "first: the count is then cached for this problem")
    phis, fs, h, solved = compute()
    n = phis.shape[-1]
    if n < 2:
        unstable = 0          # a scalar flow has no direction transverse to f
    else:
        exps, se = transverse_exponents(phis, fs, h, jax.random.PRNGKey(sensealg.seed))
        unstable = count_unstable(exps, se)
        _LOG.info("%s(%s=None): %d unstable direction(s) from the transverse Lyapunov exponents %s ± %s "
                  "along the solve's trajectory", name, field, unstable, np.round(np.asarray(exps), 4),
                  np.round(np.asarray(se), 4))
    if bool(solved):
        _CACHE[key] = (unstable, n)
    if len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return replace(sensealg, **{field: method_count(sensealg, unstable, n)})
