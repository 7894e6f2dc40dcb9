"""The smallest step the loop may shrink to before it gives up (ReturnCode.DtLessThanMin)."""
import jax.numpy as jnp

# A step is too small when it no longer moves t by more than a few rounding units: Hairer's RADAU5 and
# RODAS stop when 0.1·|h| ≤ uround·|t|, OrdinaryDiffEq when t + dt rounds to t. A floor relative to the
# *current* t (not to the end of the interval) matters for long intervals: Robertson's problem on
# [0, 1e11] needs steps of 1e-9 near t = 0, far below eps·1e11 ≈ 2e-5.
ROUNDING_UNITS = 10.0


def step_floor(t, dtmin):
    """max(dtmin, 10·eps·|t|, tiny): a rejected step whose next proposal falls below this fails. Returns this
    floor (a scalar in t's dtype).

    ``dtmin`` is the user's bound (0 when none was given); ``tiny`` (the smallest normal number) keeps
    the floor positive at t = 0, so a step cannot shrink forever into subnormal numbers there.
    """
    finfo = jnp.finfo(jnp.result_type(t))
    return jnp.maximum(jnp.maximum(dtmin, ROUNDING_UNITS * finfo.eps * jnp.abs(t)), finfo.tiny)
