"""The one loop of every jump algorithm: step, save the counts held over [t, t_next) onto the saveat grid,
stop at tspan[1], when nothing can fire, or after max_steps (then ReturnCode.MaxIters).

The loop runs a pool of ``lanes`` trajectories in lock-step (state arrays with a leading lane axis, the
algorithm's step vmapped inside one `lax.while_loop`), and a lane whose trajectory ends takes the next one
not yet started. Why a pool rather than fixed batches run to completion: the number of events per trajectory
spreads widely (the dimerisation model of benchmarks/modeling.py: mean 2430, standard deviation 510; the
slowest of 64 takes about 1.55 × the mean), so a batch waits for its slowest member with most lanes idle;
with refilling every lane works until the last trajectories have started. Plain steps run in an inner loop
with no scatter and no conditional, until some lane has rare work (a saveat row due, a trajectory finished);
the outer loop then saves, records and refills. On a CPU the inner loop is compiled as one kernel when XLA's
single-kernel emitter can take it (`pysciml._core.one_kernel`): about 12 ns per event at 64 lanes on one core,
against ~15.5 ns at 256 lanes with a task per fused operation and iteration.

Each trajectory's random stream is seeded from its own key, so trajectory i is the same whatever lane or
pool size runs it (and the same as a one-trajectory solve with key i)."""
from functools import partial

import jax
import jax.numpy as jnp
from jax import lax

from .._core.one_kernel import one_kernel
from .._core.retcode import ReturnCode
from . import rng


def default_lanes():
    """Trajectories in flight: 64 on a CPU, where the plain-step loop is one compiled kernel (`one_kernel`), 256
    elsewhere (where each fused operation is a launch per iteration, a fixed cost shared by more lanes); the
    fastest of 32-512 in each case (benchmarks/results/jumps_loop_probe.txt)."""
    return 64 if jax.default_backend() == "cpu" else 256


def simulate_pool(alg, max_steps, prob, saveat, keys, lanes=None):
    """(saved counts (N, len(saveat), S), return codes (N,), steps (N,)) of the trajectories of ``keys`` (N,),
    run ``lanes`` at a time (a lane that finishes starts the next trajectory)."""
    u0, p = prob.u0, prob.p
    N, S = keys.shape[0], u0.shape[0]
    B = min(lanes or default_lanes(), N)
    t0 = jnp.asarray(prob.tspan[0], u0.dtype)
    t1 = jnp.asarray(prob.tspan[1], u0.dtype)
    n_save = saveat.shape[0]
    step = jax.vmap(lambda words, u, t, state: alg.step(prob, words, u, p, t, t1, state), in_axes=(1, 0, 0, 0))
    draw = lambda stream: rng.draw(stream, alg.draws)      # streams as (4, lanes): the generator's words are rows
    init = alg.init(prob, u0, p, t0)
    fresh = jax.tree.map(lambda x: jnp.broadcast_to(x, (B,) + jnp.shape(x)), init)
    streams = jax.vmap(rng.seed, out_axes=1)(keys)         # every trajectory's stream (4, N), seeded once
    lane_shape = lambda mask, x: jnp.reshape(mask, (B,) + (1,) * (jnp.ndim(x) - 1))

    grid = jnp.concatenate([saveat, jnp.full((1,), jnp.inf, saveat.dtype)])    # grid[n_save] = inf: no row left

    def save(saved, tid, idx, t_save, u, t_new, u_end, done):
        """The saveat rows idx .. before t_new get the counts u held over [t, t_new); a finished trajectory's
        remaining rows get its last counts u_end. One row per lane per pass (t_save = grid[idx], the time of a
        lane's next row), passes while any lane has a row due."""
        until = jnp.where(done, jnp.inf, t_new)
        row = jnp.where(tid < N, tid, N)                       # N: no trajectory (an idle lane), dropped

        def put(c):
            saved, idx, t_save, due = c
            value = jnp.where((t_save < t_new)[:, None], u, u_end)
            saved = saved.at[row, jnp.where(due, idx, n_save)].set(value, mode="drop")   # n_save: dropped
            idx = idx + due
            t_save = jnp.where(due, grid[idx], t_save)
            return saved, idx, t_save, (t_save < until) & (idx < n_save)
        saved, idx, t_save, _ = lax.while_loop(lambda c: jnp.any(c[3]), put,
                                               (saved, idx, t_save, (t_save < until) & (idx < n_save)))
        return saved, idx, t_save

    def finish(c):
        """Lanes whose trajectory ended record its code and step count and take the next trajectories in
        order (with none left, a lane idles with tid = N and no row due)."""
        t, u, stream, state, tid, idx, t_save, n, record, next_id, finished, done = c
        code = jnp.where(t >= t1, ReturnCode.Success, ReturnCode.MaxIters).astype(jnp.int32)
        record = record.at[jnp.where(done, tid, N)].set(jnp.stack([code, n], axis=1), mode="drop")
        tid = jnp.where(done, jnp.minimum(next_id + jnp.cumsum(done, dtype=jnp.int32) - 1, N), tid)
        reset = lambda new, old: jnp.where(lane_shape(done, old), new, old)
        stream = jnp.where(done, streams[:, jnp.minimum(tid, N - 1)], stream)
        t_save = reset(jnp.where(tid < N, grid[0], jnp.inf), t_save)
        n_done = jnp.sum(done, dtype=jnp.int32)
        return (reset(t0, t), reset(u0, u), stream, jax.tree.map(reset, fresh, state), tid, reset(0, idx), t_save,
                reset(0, n), record, next_id + n_done, finished + n_done)

    def rows_and_finish(c):
        t, u, stream, state, tid, idx, t_save, n, saved, record, next_id, finished, u_held, done, beyond = c
        u = jnp.where(beyond[:, None], u_held, u)              # an event after the end does not happen
        saved, idx, t_save = save(saved, tid, idx, t_save, u_held, t, u, done)
        lanes = (t, u, stream, state, tid, idx, t_save, n, record, next_id, finished, done)
        lanes = lax.cond(jnp.any(done), finish, lambda c: c[:-1], lanes)
        return lanes[:8] + (saved,) + lanes[8:]

    @one_kernel
    def run_until_rare(c):
        """Plain steps of every lane until one has rare work (a saveat row due or its trajectory finished): a
        loop without scatters or conditionals, compiled as one kernel on a CPU (`one_kernel`). Returns the
        counts before and after the last step, which lanes are done and which stepped past the end."""
        t, u, stream, state, tid, t_save, n = c

        def plain(c):
            t, u, stream, state, n = c[:5]
            words, stream = draw(stream)
            t_next, u_next, state = step(words, u, t, state)
            t_new = jnp.minimum(t_next, t1)
            n = n + 1
            done = (tid < N) & ((t_new >= t1) | (n >= max_steps))
            # u_next is kept even when the event falls after the end (the lane is then done, and rows_and_finish
            # restores u): selecting here would make XLA recompute the step once per species
            return t_new, u_next, stream, state, n, u, done, t_next > t1, jnp.any(done | (t_save < t_new))

        no = jnp.zeros_like(tid, dtype=bool)
        return lax.while_loop(lambda c: ~c[-1], plain, (t, u, stream, state, n, u, no, no, jnp.bool_(False)))

    def body(c):
        t, u, stream, state, tid, idx, t_save, n, saved, record, next_id, finished = c
        t, u, stream, state, n, u_held, done, beyond, _ = run_until_rare((t, u, stream, state, tid, t_save, n))
        return rows_and_finish((t, u, stream, state, tid, idx, t_save, n, saved, record, next_id, finished, u_held,
                                done, beyond))

    tid = jnp.arange(B, dtype=jnp.int32)
    carry = (jnp.full((B,), t0), jnp.broadcast_to(u0, (B, S)), streams[:, :B], fresh, tid,
             jnp.zeros((B,), jnp.int32), jnp.full((B,), saveat[0]), jnp.zeros((B,), jnp.int32),
             jnp.zeros((N, n_save, S), u0.dtype), jnp.zeros((N, 2), jnp.int32), jnp.int32(B), jnp.int32(0))
    out = lax.while_loop(lambda c: c[-1] < N, body, carry)
    saved, record = out[8], out[9]
    return saved, record[:, 0], record[:, 1]


def simulate(alg, max_steps, prob, saveat):
    """(saved counts (len(saveat), S), return code, number of steps) of one trajectory from prob.key."""
    saved, code, n = simulate_pool(alg, max_steps, prob, saveat, prob.key[None], lanes=1)
    return saved[0], code[0], n[0]


@partial(jax.jit, static_argnums=(0, 1, 2))
def simulate_many(alg, max_steps, trajectories, prob, saveat):
    """`simulate` for ``trajectories`` keys split from prob.key, `default_lanes` in flight at a time (one
    compiled program)."""
    return simulate_pool(alg, max_steps, prob, saveat, jax.random.split(prob.key, trajectories))


simulate_one = jax.jit(simulate, static_argnums=(0, 1))
