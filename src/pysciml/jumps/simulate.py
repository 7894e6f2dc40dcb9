"""The one loop of every jump algorithm: step, save the counts held over [t, t_next) onto the saveat grid,
stop at tspan[1], when nothing can fire, or after max_steps (then ReturnCode.MaxIters)."""
from functools import partial

import jax
import jax.numpy as jnp
from jax import lax

from .._core.retcode import ReturnCode
from . import rng

CHUNK = 64     # trajectories vmapped together; chunks run one after another (see `simulate_many`)


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
        t, u, stream, state, saved, idx, n = c
        words, stream = rng.draw(stream, alg.draws)
        t_next, u_next, state = alg.step(prob, words, u, p, t, t1, state)
        beyond = t_next > t1                      # the next event falls after the end: it does not happen
        saved, idx = save(saved, idx, u, jnp.minimum(t_next, t1))
        return (jnp.minimum(t_next, t1), jnp.where(beyond, u, u_next), stream, state, saved, idx, n + 1)

    saved = jnp.zeros((n_save, u0.shape[0]), u0.dtype)
    t, u, _, _, saved, idx, n = lax.while_loop(cond, body, (t0, u0, rng.seed(prob.key), state, saved, 0, 0))
    saved, _ = save(saved, idx, u, jnp.inf)
    code = jnp.where(t >= t1, ReturnCode.Success, ReturnCode.MaxIters)
    return saved, code, n


@partial(jax.jit, static_argnums=(0, 1, 2))
def simulate_many(alg, max_steps, trajectories, prob, saveat):
    """`simulate` for ``trajectories`` keys split from prob.key: vmapped in chunks of `CHUNK` trajectories,
    the chunks run in sequence (one compiled program). A vmapped while loop runs until its slowest member
    ends, and small chunks keep the loop's carry in cache: measured on the dimerisation model, chunks of
    64 run 1.3-1.6x faster than one 2000-wide vmap (and a chunk waits for fewer stragglers)."""
    keys = jax.random.split(prob.key, trajectories)
    chunk = min(CHUNK, trajectories)
    n_chunks = -(-trajectories // chunk)
    padded = jnp.concatenate([keys, keys[: n_chunks * chunk - trajectories]]) if n_chunks * chunk > trajectories \
        else keys

    def one(k):      # prob with another key, without re-validating traced fields
        children, aux = prob.tree_flatten()
        return simulate(alg, max_steps, type(prob).tree_unflatten(aux, children[:4] + (k,)), saveat)
    out = lax.map(jax.vmap(one), padded.reshape(n_chunks, chunk))
    return jax.tree.map(lambda x: x.reshape((n_chunks * chunk,) + x.shape[2:])[:trajectories], out)


simulate_one = jax.jit(simulate, static_argnums=(0, 1))
