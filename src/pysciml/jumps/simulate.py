"""The one loop of every jump algorithm: step, save the counts held over [t, t_next) onto the saveat grid,
stop at tspan[1], when nothing can fire, or after max_steps (then ReturnCode.MaxIters).

The loop runs a batch of trajectories explicitly (state arrays with a leading trajectory axis, the
algorithm's step vmapped inside the body) rather than vmapping a one-trajectory while loop: the vmapped
loop keeps each finished member by a select over its whole carry on every iteration, which copies the
saved grid each step; here a finished trajectory simply stops changing (its next event lies beyond
tspan[1]) and the grid is written in place."""
from functools import partial

import jax
import jax.numpy as jnp
from jax import lax

from .._core.retcode import ReturnCode
from . import rng

CHUNK = 64     # trajectories run together; chunks run one after another (see `simulate_many`)


def simulate_batch(alg, max_steps, prob, saveat, keys):
    """(saved counts (B, len(saveat), S), return codes (B,), steps (B,)) of the trajectories of ``keys`` (B,)."""
    u0, p = prob.u0, prob.p
    B, S = keys.shape[0], u0.shape[0]
    t0 = jnp.asarray(prob.tspan[0], u0.dtype)
    t1 = jnp.asarray(prob.tspan[1], u0.dtype)
    n_save = saveat.shape[0]
    lanes = jnp.arange(B)
    step = jax.vmap(lambda words, u, t, state: alg.step(prob, words, u, p, t, t1, state))
    draw = jax.vmap(lambda stream: rng.draw(stream, alg.draws))
    init = alg.init(prob, u0, p, t0)

    def save(saved, idx, u, until):
        """Rows idx .. of the saveat times before ``until`` get u (usually none or one per step)."""
        k = jnp.maximum(jnp.searchsorted(saveat, until, side="left") - idx, 0)

        def put(c):
            saved, j = c
            rows = jnp.where(j < k, idx + j, n_save)             # n_save: out of range, dropped
            return saved.at[lanes, rows].set(u, mode="drop"), j + 1
        saved, _ = lax.while_loop(lambda c: c[1] < jnp.max(k), put, (saved, 0))
        return saved, idx + k

    def cond(c):
        t, _, _, _, _, _, n = c
        return jnp.any((t < t1) & (n < max_steps))

    def body(c):
        t, u, stream, state, saved, idx, n = c
        active = (t < t1) & (n < max_steps)
        words, stream = draw(stream)
        t_next, u_next, new_state = step(words, u, t, state)
        beyond = t_next > t1                      # the next event falls after the end: it does not happen
        saved, idx = save(saved, idx, u, jnp.where(active, jnp.minimum(t_next, t1), -jnp.inf))
        keep = lambda new, old: jnp.where(jnp.reshape(active, (B,) + (1,) * (jnp.ndim(old) - 1)), new, old)
        return (jnp.where(active, jnp.minimum(t_next, t1), t), keep(jnp.where((active & ~beyond)[:, None], u_next, u), u),
                stream, jax.tree.map(keep, new_state, state), saved, idx, n + active)

    state = jax.tree.map(lambda x: jnp.broadcast_to(x, (B,) + jnp.shape(x)), init)
    carry = (jnp.full((B,), t0), jnp.broadcast_to(u0, (B, S)), jax.vmap(rng.seed)(keys), state,
             jnp.zeros((B, n_save, S), u0.dtype), jnp.zeros((B,), jnp.int32), jnp.zeros((B,), jnp.int32))
    t, u, _, _, saved, idx, n = lax.while_loop(cond, body, carry)
    # rows not reached (the end, or max_steps): the last counts
    saved = jnp.where((jnp.arange(n_save)[None, :] >= idx[:, None])[..., None], u[:, None, :], saved)
    code = jnp.where(t >= t1, ReturnCode.Success, ReturnCode.MaxIters)
    return saved, code, n


def simulate(alg, max_steps, prob, saveat):
    """(saved counts (len(saveat), S), return code, number of steps) of one trajectory from prob.key."""
    saved, code, n = simulate_batch(alg, max_steps, prob, saveat, prob.key[None])
    return saved[0], code[0], n[0]


@partial(jax.jit, static_argnums=(0, 1, 2))
def simulate_many(alg, max_steps, trajectories, prob, saveat):
    """`simulate` for ``trajectories`` keys split from prob.key, in chunks of `CHUNK` trajectories run one
    after another (one compiled program): a chunk's loop runs until its slowest member ends, and small
    chunks keep the loop's state in cache."""
    keys = jax.random.split(prob.key, trajectories)
    chunk = min(CHUNK, trajectories)
    n_chunks = -(-trajectories // chunk)
    padded = jnp.concatenate([keys, keys[: n_chunks * chunk - trajectories]]) if n_chunks * chunk > trajectories \
        else keys
    out = lax.map(lambda k: simulate_batch(alg, max_steps, prob, saveat, k), padded.reshape(n_chunks, chunk))
    return jax.tree.map(lambda x: x.reshape((n_chunks * chunk,) + x.shape[2:])[:trajectories], out)


simulate_one = jax.jit(simulate, static_argnums=(0, 1))
