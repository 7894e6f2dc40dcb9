"""The interface of a jump algorithm: ``init(prob) -> state`` and one ``step`` that returns the time of
the next state change (t itself after a rejected trial), the new counts and its own state. The loop in
`simulate` owns saving and termination, so an algorithm is only its step."""


class JumpAlgorithm:
    exact = True        # an exact stochastic simulation algorithm (False: an approximation, tau-leaping)

    def init(self, prob, u, p, t):
        return ()

    def step(self, prob, key, u, p, t, t1, state):
        """(t_next, u_next, state); t_next = inf when nothing can fire any more."""
        raise NotImplementedError


def uniforms(key, n, dtype):
    """n uniforms in (0, 1] from one key in one call (drawing them separately costs a hash each)."""
    import jax
    return 1.0 - jax.random.uniform(key, (n,), dtype)


def select(cumulative, total, uniform):
    """Index of the first cumulative propensity above uniform·total (never a reaction of rate zero)."""
    import jax.numpy as jnp
    return jnp.minimum(jnp.searchsorted(cumulative, uniform * total, side="right"), cumulative.shape[0] - 1)
