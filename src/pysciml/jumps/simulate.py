"""The one loop of every jump algorithm: step, save the counts held over [t, t_next) onto the saveat grid,
stop at tspan[1], when nothing can fire, or after max_steps (then ReturnCode.MaxIters)."""
from functools import partial

import jax
import jax.numpy as jnp
from jax import lax

from .._core.retcode import ReturnCode


def simulate(alg, max_steps, prob, saveat):
    """(saved counts (len(saveat), S), return code, number of steps) of one trajectory from prob.key."""
    u0, p = prob.u0, prob.p
    t0 = jnp.asarray(prob.tspan[0], u0.dtype)
    t1 = jnp.asarray(prob.tspan[1], u0.dtype)
    n_save = saveat.shape[0]
    state = alg.init(prob, u0, p, t0)

    def save(saved, idx, u, until):
        def more(c):
            return (c[1] < n_save) & (saveat[jnp.minimum(c[1], n_save - 1)] < until)

        def put(c):
            return c[0].at[c[1]].set(u), c[1] + 1
        return lax.while_loop(more, put, (saved, idx))

    def cond(c):
        t, _, _, _, _, _, n = c
        return (t < t1) & (n < max_steps)

    def body(c):
        t, u, key, state, saved, idx, n = c
        # one hash per step for the step's key (fold_in of the step count), cheaper than splitting a chain
        t_next, u_next, state = alg.step(prob, jax.random.fold_in(key, n), u, p, t, t1, state)
        beyond = t_next > t1                      # the next event falls after the end: it does not happen
        saved, idx = save(saved, idx, u, jnp.minimum(t_next, t1))
        return (jnp.minimum(t_next, t1), jnp.where(beyond, u, u_next), key, state, saved, idx, n + 1)

    saved = jnp.zeros((n_save, u0.shape[0]), u0.dtype)
    t, u, _, _, saved, idx, n = lax.while_loop(cond, body, (t0, u0, prob.key, state, saved, 0, 0))
    saved, _ = save(saved, idx, u, jnp.inf)
    code = jnp.where(t >= t1, ReturnCode.Success, ReturnCode.MaxIters)
    return saved, code, n


@partial(jax.jit, static_argnums=(0, 1, 2))
def simulate_many(alg, max_steps, trajectories, prob, saveat):
    """`simulate` for ``trajectories`` keys split from prob.key, vmapped (one compiled program)."""
    keys = jax.random.split(prob.key, trajectories)
    def one(k):      # prob with another key, without re-validating traced fields
        children, aux = prob.tree_flatten()
        return simulate(alg, max_steps, type(prob).tree_unflatten(aux, children[:4] + (k,)), saveat)
    return jax.vmap(one)(keys)


simulate_one = jax.jit(simulate, static_argnums=(0, 1))
