"""Running a Markov chain sampler in compiled chunks: a progress bar between chunks and checkpoints after each.

Every sampler here (NUTS, SGLD) runs its warmup, then its kept draws ``chunk`` at a time through one compiled
program per chunk size, so that a progress bar advances between chunks without a host callback inside the
compiled loop, and so that a run can be saved after each chunk and resumed later with identical draws (each
chunk's random keys depend only on the run's key and the chunk's index, never on what ran before in this
process). The sampler supplies two functions; this module owns the loop, the bar and the checkpoint file.
"""
import os
import zlib

import jax
import jax.numpy as jnp
import numpy as np


def chunk_size(num_samples, chunk=None):
    """Draws per compiled chunk: ``chunk`` if given, else about a twentieth of the run (a bar with ~20 steps)."""
    if chunk is not None and (not isinstance(chunk, (int, np.integer)) or chunk < 1):
        raise ValueError(f"sample: chunk must be an int ≥ 1; got {chunk!r}")
    return int(chunk or max(1, min(num_samples, -(-num_samples // 20))))


def run_in_chunks(warmup, advance, *, chains, groups, num_warmup, num_samples, chunk, signature, progress,
                  checkpoint, desc):
    """Run a sampler: ``warmup(g)`` -> carry, then ``advance(c, g, carry)`` -> (carry, draws, stats) for the
    chunks c = 0, 1, ... until ``num_samples`` draws are kept.

    g          the indices of the chains one call runs (``groups``: all chains at once, or one at a time)
    carry      a tuple of arrays, each with a leading axis of len(g): what the sampler carries from one chunk
               to the next (position, adapted step size, ...); saved in the checkpoint as it is
    draws      (len(g), chunk, dim); stats a dict name -> (len(g), chunk, ...) (the last chunk's extra draws,
               beyond num_samples, are dropped)
    signature  an int64 array naming the run (`run_signature`); a checkpoint of another run is refused
    checkpoint a file path or None; written after each chunk (atomically) and read on start

    Returns (carry, theta (chains, num_samples, dim), stats {name: (chains, num_samples, ...)}).
    """
    n_chunks = -(-num_samples // chunk)
    saved = _load(checkpoint, signature)
    bar = _progress(progress, num_warmup + num_samples, desc)
    if saved is None:
        carry = _join([warmup(g) for g in groups])
        draws, stats, done = [], [], 0
    else:
        carry, draws, stats, done = saved
    bar.update(num_warmup)
    bar.update(min(done * chunk, num_samples))
    for c in range(done, n_chunks):
        outs = [advance(c, g, tuple(x[g] for x in carry)) for g in groups]
        carry = _join([o[0] for o in outs])
        draws.append(np.concatenate([np.asarray(o[1]) for o in outs]))
        stats.append({k: np.concatenate([np.asarray(o[2][k]) for o in outs]) for k in outs[0][2]})
        bar.update(min(chunk, num_samples - c * chunk))
        if checkpoint is not None:
            _save(checkpoint, signature, carry, draws, stats, c + 1)
    bar.close()
    theta = np.concatenate(draws, axis=1)[:, :num_samples]
    return carry, theta, {k: np.concatenate([s[k] for s in stats], axis=1)[:, :num_samples] for k in stats[0]}


def run_signature(model, method, positions, key, num_warmup, num_samples, chunk):
    """What a checkpoint must match to be resumed: the sizes, the key, and checksums of the method's settings, the
    chains' starting points and the data (a resumed run with any of them changed would not continue the same
    chains)."""
    def crc(*arrays):
        return zlib.crc32(b"".join(np.ascontiguousarray(np.asarray(a)).tobytes() for a in arrays))
    return np.array([model.dim, positions.shape[0], num_warmup, num_samples, chunk, zlib.crc32(repr(method).encode()),
                     crc(positions), crc(*jax.tree_util.tree_leaves(model.data)),
                     *np.asarray(jax.random.key_data(key)).ravel()], dtype=np.int64)


def _join(carries):
    # strongly typed, as a checkpoint's arrays come back from disk: a weakly typed carry (a step size filled from a
    # Python float) would make the resumed run's first chunk a new signature to the jitted sampler, recompiled
    return tuple(jnp.asarray(jnp.concatenate(x), dtype=x[0].dtype) for x in zip(*carries))


class _NoBar:
    def update(self, n):
        pass

    def close(self):
        pass


def _progress(progress, total, desc):
    if not progress:
        return _NoBar()
    from tqdm.auto import tqdm
    return tqdm(total=total, desc=desc, unit="draw")


def _save(path, signature, carry, draws, stats, done):
    tmp = str(path) + ".tmp.npz"
    np.savez(tmp, signature=signature, done=done, draws=np.concatenate(draws, axis=1),
             **{f"carry_{i}": np.asarray(x) for i, x in enumerate(carry)},
             **{f"stat_{k}": np.concatenate([s[k] for s in stats], axis=1) for k in stats[0]})
    os.replace(tmp, path)          # atomic: an interrupted save leaves the previous checkpoint intact


def _load(path, signature):
    if path is None or not os.path.exists(path):
        return None
    with np.load(path) as f:
        if not np.array_equal(f["signature"], signature):
            raise ValueError(f"checkpoint {str(path)!r} belongs to another run (method or its settings, model size, "
                             "data, chains or their starts, warmup, samples, chunk or key differ); delete it or "
                             "pass another path")
        n_carry = sum(k.startswith("carry_") for k in f.files)
        carry = tuple(jnp.asarray(f[f"carry_{i}"]) for i in range(n_carry))
        stats = [{k[5:]: f[k] for k in f.files if k.startswith("stat_")}]
        return carry, [f["draws"]], stats, int(f["done"])
