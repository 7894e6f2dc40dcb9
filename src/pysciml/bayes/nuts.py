"""NUTS with Stan's window adaptation, several chains vmapped, run in chunks (progress bar, checkpoints).

BlackJAX supplies the kernel and the adaptation; this module only runs them: warmup once per chain (vmapped),
then sampling in compiled chunks of ``chunk`` draws through `bayes.chunks` (a progress bar between chunks,
checkpoints after each, resumed with identical draws: each chunk's keys come from the run's key and the chunk's
index).
"""
from dataclasses import dataclass

import blackjax
import jax
import jax.numpy as jnp
import numpy as np
from blackjax.adaptation.base import get_filter_adapt_info_fn
from blackjax.mcmc.hmc import HMCState

from .chunks import chunk_size, run_in_chunks, run_signature
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
    chunk = chunk_size(num_samples, chunk)
    groups = [np.arange(chains)] if chain_method == "vectorized" else [np.array([c]) for c in range(chains)]
    k_warm, k_draw = jax.random.split(key)

    def warmup(g):
        if num_warmup > 0:
            s, ss, imm = _warmup_fn(model, method, num_warmup)(jax.random.split(k_warm, chains)[g], positions[g],
                                                               model.data)
        else:
            s = _init_fn(model)(positions[g], model.data)
            ss = jnp.full(len(g), 0.1)
            imm = jnp.ones((len(g), model.dim)) if not method.dense_mass else jnp.tile(jnp.eye(model.dim),
                                                                                       (len(g), 1, 1))
        return (s.position, s.logdensity, s.logdensity_grad, ss, imm)

    def advance(c, g, carry):
        keys = jax.random.split(jax.random.fold_in(k_draw, c), chains)[g]
        position, logdensity, grad, ss, imm = carry
        state, (draws, stats) = _chunk_fn(model, method, chunk)(keys, HMCState(position, logdensity, grad), ss, imm,
                                                                model.data)
        return (state.position, state.logdensity, state.logdensity_grad, ss, imm), draws, stats

    carry, theta, sample_stats = run_in_chunks(
        warmup, advance, chains=chains, groups=groups, num_warmup=num_warmup, num_samples=num_samples, chunk=chunk,
        signature=run_signature(model, method, positions, key, num_warmup, num_samples, chunk), progress=progress,
        checkpoint=checkpoint, desc=f"NUTS {chains} chain(s)")
    step_size, imm = np.asarray(carry[3]), np.asarray(carry[4])
    sample_stats["step_size"] = np.broadcast_to(step_size[:, None], theta.shape[:2])
    return Posterior(model, theta, sample_stats, "NUTS", info={"step_size": step_size, "inverse_mass_matrix": imm})
