"""The interface of a jump algorithm: ``init(prob) -> state`` and one ``step`` that returns the time of
the next state change (t itself after a rejected trial), the new counts and its own state. The loop in
`simulate` owns saving, termination and the random stream: it hands each step ``draws`` fresh random
64-bit words (`rng.unit` turns them into uniforms), so an algorithm is only its step."""
import jax.numpy as jnp

UNROLL_SELECT = 32    # up to this many reactions the selection is an unrolled running sum (no scan, no sort)


class JumpAlgorithm:
    """Base of the jump-process simulation algorithms (`Direct`, `SortingDirect`, `RSSA`, `TauLeaping`):
    ``init`` gives the algorithm's state and ``step`` advances the counts by one event (or one leap). ``exact``:
    whether it is an exact stochastic simulation algorithm (False: an approximation, tau-leaping); ``draws``:
    random words used per step."""
    exact = True        # an exact stochastic simulation algorithm (False: an approximation, tau-leaping)
    draws = 2           # random words used per step

    def init(self, prob, u, p, t):
        """Returns the algorithm's initial state for ``prob`` at counts ``u``, parameters ``p``, time ``t`` (none: an
        empty tuple)."""
        return ()

    def step(self, prob, words, u, p, t, t1, state):
        """One event (or trial) of the jump process ``prob`` from counts ``u`` at time ``t`` with parameters ``p``,
        using the random 64-bit ``words`` (``draws`` of them) and the algorithm's ``state``; ``t1`` is the end of the
        span.
        Returns (t_next, u_next, ``state``): t_next = inf when nothing can fire any more.
        """
        raise NotImplementedError


def next_time(t, uniform, total):
    """t plus an exponential waiting time of rate ``total`` from ``uniform`` in (0, 1]; inf when total = 0.
    Written without a select on total > 0 (the variate is floored at the smallest normal number, so 0/0 cannot
    occur, and x/0 = inf): with a select, XLA recomputes every propensity in each fusion that reads the time,
    about a fifth of a vmapped step (measured on the dimerisation model)."""
    return t + jnp.maximum(-jnp.log(uniform), jnp.finfo(uniform.dtype).tiny) / total


def select(a, total, uniform):
    """Index of the first reaction whose cumulative propensity exceeds uniform·total (never one of rate
    zero). For few reactions a running sum of compare-and-count is several times faster than
    cumsum + searchsorted in a vmapped loop on a CPU (measured on the dimerisation model: R = 6)."""
    x = uniform * total
    n = a.shape[0]
    if n <= UNROLL_SELECT:
        acc, j = a[0], jnp.zeros((), jnp.int32)
        for k in range(1, n):
            j = j + (acc <= x)
            acc = acc + a[k]
        return j
    return jnp.minimum(jnp.searchsorted(jnp.cumsum(a), x, side="right"), n - 1)
