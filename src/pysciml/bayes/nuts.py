"""NUTS with Stan's window adaptation, several chains vmapped, run in chunks (progress bar, checkpoints).

BlackJAX supplies the kernel and the adaptation; this module only runs them: warmup once per chain (vmapped),
then sampling in compiled chunks of ``chunk`` draws, so that a progress bar advances between chunks without a
host callback inside the compiled loop, and so that a run can be checkpointed after each chunk and resumed
later with identical draws (each chunk's keys come from the run's key and the chunk's index).
"""
import os
from dataclasses import dataclass

import blackjax
import jax
import jax.numpy as jnp
import numpy as np
from blackjax.adaptation.base import get_filter_adapt_info_fn

from .posterior import Posterior


@dataclass(frozen=True)
class NUTS:
    """No-U-Turn sampler (multinomial, BlackJAX) with Stan's windowed step-size and mass-matrix adaptation.

    target_accept   the acceptance rate the step size is tuned to (raise towards 0.95 against divergences)
    max_tree_depth  at most 2**max_tree_depth leapfrog steps per draw
    dense_mass      adapt a dense (full-covariance) mass matrix instead of a diagonal one
    """
    target_accept: float = 0.8
    max_tree_depth: int = 10
    dense_mass: bool = False

    def __post_init__(self):
        if not 0 < self.target_accept < 1:
            raise ValueError(f"NUTS: target_accept must be in (0, 1); got {self.target_accept!r}")
        if not isinstance(self.max_tree_depth, int) or not 1 <= self.max_tree_depth <= 15:
            raise ValueError(f"NUTS: max_tree_depth must be an int in [1, 15]; got {self.max_tree_depth!r}")


def _warmup_fn(model, method, num_warmup):
    key = ("nuts-warmup", method, num_warmup)
    if key not in model._cache:
        def run(keys, positions, data):
            logdensity = model.logdensity_fn(data)
            adapt = blackjax.window_adaptation(
                blackjax.nuts, logdensity, is_mass_matrix_diagonal=not method.dense_mass,
                target_acceptance_rate=method.target_accept, adaptation_info_fn=get_filter_adapt_info_fn(),
                max_num_doublings=method.max_tree_depth)

            def one(k, x):
                (state, params), _ = adapt.run(k, x, num_steps=num_warmup)
                return state, params["step_size"], params["inverse_mass_matrix"]
            return jax.vmap(one)(keys, positions)
        model._cache[key] = jax.jit(run)
    return model._cache[key]


def _chunk_fn(model, method, n):
    key = ("nuts-chunk", method, n)
    if key not in model._cache:
        def run(keys, states, step_sizes, inverse_mass, data):
            logdensity = model.logdensity_fn(data)

            def one(k, state, step_size, imm):
                kernel = blackjax.nuts(logdensity, step_size=step_size, inverse_mass_matrix=imm,
                                       max_num_doublings=method.max_tree_depth)

                def body(state, k):
                    state, info = kernel.step(k, state)
                    return state, (state.position, {"lp": state.logdensity, "diverging": info.is_divergent,
                                                    "acceptance_rate": info.acceptance_rate,
                                                    "tree_depth": info.num_trajectory_expansions,
                                                    "n_steps": info.num_integration_steps, "energy": info.energy})
                return jax.lax.scan(body, state, jax.random.split(k, n))
            return jax.vmap(one)(keys, states, step_sizes, inverse_mass)
        model._cache[key] = jax.jit(run)
    return model._cache[key]


def _init_fn(model):
    if "nuts-init" not in model._cache:
        def run(positions, data):
            logdensity = model.logdensity_fn(data)
            return jax.vmap(lambda x: blackjax.nuts.init(x, logdensity))(positions)
        model._cache["nuts-init"] = jax.jit(run)
    return model._cache["nuts-init"]


def run_nuts(model, method, positions, key, num_warmup, num_samples, *, progress=True, checkpoint=None,
             chunk=None, chain_method="vectorized"):
    """Draws (chains, num_samples, dim) and statistics; see `bayes.sample`."""
    chains = positions.shape[0]
    chunk = int(chunk or max(1, min(num_samples, -(-num_samples // 20))))
    n_chunks = -(-num_samples // chunk)
    groups = [np.arange(chains)] if chain_method == "vectorized" else [np.array([c]) for c in range(chains)]
    k_warm, k_draw = jax.random.split(key)
    saved = _load_checkpoint(checkpoint, model, chains, num_warmup, num_samples, chunk, key)
    bar = _progress(progress, num_warmup + num_samples, f"NUTS {chains} chain(s)")
    if saved is None:
        states, step_sizes, imms = [], [], []
        for g in groups:
            if num_warmup > 0:
                s, ss, imm = _warmup_fn(model, method, num_warmup)(jax.random.split(k_warm, chains)[g],
                                                                   positions[g], model.data)
            else:
                s = _init_fn(model)(positions[g], model.data)
                ss = jnp.full(len(g), 0.1)
                imm = jnp.ones((len(g), model.dim)) if not method.dense_mass else jnp.tile(jnp.eye(model.dim),
                                                                                           (len(g), 1, 1))
            states.append(s), step_sizes.append(ss), imms.append(imm)
        state = jax.tree_util.tree_map(lambda *x: jnp.concatenate(x), *states)
        step_size, imm = jnp.concatenate(step_sizes), jnp.concatenate(imms)
        draws, stats, done = [], [], 0
    else:
        state, step_size, imm, draws, stats, done = saved
    bar.update(num_warmup)
    bar.update(min(done * chunk, num_samples))
    run = _chunk_fn(model, method, chunk)
    for c in range(done, n_chunks):
        keys = jax.random.split(jax.random.fold_in(k_draw, c), chains)
        outs = [run(keys[g], jax.tree_util.tree_map(lambda x: x[g], state), step_size[g], imm[g], model.data)
                for g in groups]
        state = jax.tree_util.tree_map(lambda *x: jnp.concatenate(x), *[o[0] for o in outs])
        draws.append(np.concatenate([np.asarray(o[1][0]) for o in outs]))
        stats.append({k: np.concatenate([np.asarray(o[1][1][k]) for o in outs]) for k in outs[0][1][1]})
        bar.update(min(chunk, num_samples - c * chunk))
        if checkpoint is not None:
            _save_checkpoint(checkpoint, model, chains, num_warmup, num_samples, chunk, key, state, step_size, imm,
                             draws, stats, c + 1)
    bar.close()
    theta = np.concatenate(draws, axis=1)[:, :num_samples]
    sample_stats = {k: np.concatenate([s[k] for s in stats], axis=1)[:, :num_samples] for k in stats[0]}
    sample_stats["step_size"] = np.broadcast_to(np.asarray(step_size)[:, None], theta.shape[:2])
    return Posterior(model, theta, sample_stats, "NUTS",
                     info={"step_size": np.asarray(step_size), "inverse_mass_matrix": np.asarray(imm)})


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


def _signature(model, chains, num_warmup, num_samples, chunk, key):
    return np.array([model.dim, chains, num_warmup, num_samples, chunk, *np.asarray(jax.random.key_data(key)).ravel()],
                    dtype=np.int64)


def _save_checkpoint(path, model, chains, num_warmup, num_samples, chunk, key, state, step_size, imm, draws, stats,
                     done):
    tmp = str(path) + ".tmp.npz"
    np.savez(tmp, signature=_signature(model, chains, num_warmup, num_samples, chunk, key), done=done,
             position=np.asarray(state.position), logdensity=np.asarray(state.logdensity),
             grad=np.asarray(state.logdensity_grad), step_size=np.asarray(step_size), imm=np.asarray(imm),
             draws=np.concatenate(draws, axis=1),
             **{f"stat_{k}": np.concatenate([s[k] for s in stats], axis=1) for k in stats[0]})
    os.replace(tmp, path)          # atomic: an interrupted save leaves the previous checkpoint intact


def _load_checkpoint(path, model, chains, num_warmup, num_samples, chunk, key):
    if path is None or not os.path.exists(path):
        return None
    with np.load(path) as f:
        if not np.array_equal(f["signature"], _signature(model, chains, num_warmup, num_samples, chunk, key)):
            raise ValueError(f"checkpoint {path!r} belongs to another run (model size, chains, warmup, samples, chunk "
                             "or key differ); delete it or pass another path")
        from blackjax.mcmc.hmc import HMCState
        state = HMCState(jnp.asarray(f["position"]), jnp.asarray(f["logdensity"]), jnp.asarray(f["grad"]))
        draws = [f["draws"]]
        stats = [{k[5:]: f[k] for k in f.files if k.startswith("stat_")}]
        return state, jnp.asarray(f["step_size"]), jnp.asarray(f["imm"]), draws, stats, int(f["done"])
