"""The per-trajectory random stream of the jump loop: xoshiro256++ (Blackman & Vigna, "Scrambled linear
pseudorandom number generators", ACM Trans. Math. Softw. 47(4), 36, 2021; Julia's default generator),
seeded from the trajectory's JAX key.

Why not `jax.random` in the loop: a counter-based threefry draw costs two to three 20-round hashes per
event (``fold_in`` plus the draw), about half of a vmapped SSA step on a CPU; xoshiro256++ costs a dozen
integer operations per 64 bits. The state (4 × uint64) is seeded by threefry from the key, so a run is
reproducible from ``prob.key`` and distinct keys give independent-looking streams (period 2²⁵⁶ − 1)."""
import jax
import jax.numpy as jnp
from jax import lax

_U64 = jnp.uint64


def seed(key):
    """(4,) uint64 state from a JAX key (never all zero: the one state xoshiro cannot leave)."""
    state = jax.random.bits(key, (4,), _U64)
    return state.at[0].set(state[0] | _U64(1))


def _rotl(x, k):
    return (x << _U64(k)) | (x >> _U64(64 - k))


def _next(s):
    s0, s1, s2, s3 = s[0], s[1], s[2], s[3]
    out = _rotl(s0 + s3, 23) + s0
    shifted = s1 << _U64(17)
    s2 = s2 ^ s0
    s3 = s3 ^ s1
    s1 = s1 ^ s2
    s0 = s0 ^ s3
    s2 = s2 ^ shifted
    s3 = _rotl(s3, 45)
    return out, jnp.stack([s0, s1, s2, s3])


def draw(state, n):
    """(n, ...) uint64 random words and the advanced state, for a state (4, ...) (one stream, or streams side
    by side in the trailing axes: each word is then a contiguous row); n is static and small: unrolled."""
    words = []
    for _ in range(n):
        w, state = _next(state)
        words.append(w)
    return (jnp.stack(words) if words else jnp.zeros((0,) + state.shape[1:], _U64)), state


def unit(words, dtype=jnp.float64):
    """Uniforms in (0, 1] from the top 53 bits of each word (never 0, so −log(u) is finite)."""
    return (1.0 - (words >> _U64(11)).astype(jnp.float64) * 2.0 ** -53).astype(dtype)


def as_key(word):
    """A JAX key from one word (for samplers that take a key, e.g. `jax.random.poisson`)."""
    return jax.random.wrap_key_data(lax.bitcast_convert_type(word, jnp.uint32))
