"""Stochastic-gradient Langevin dynamics (Welling & Teh 2011): one gradient per draw, no accept/reject and no
trajectory building, the cheap sampler for UDEs with many network weights. The step size decays as
a·(b + t)^(−γ) (their schedule; γ ∈ (0.5, 1]), so draws are asymptotically exact; with a fixed step they
are biased by O(step). The gradient is the full-data gradient (a solve covers every observation time anyway).

Plain SGLD takes one step size for every coordinate, so the stiffest direction sets it and a posterior whose
scales differ by orders of magnitude (network weights next to physical rates) barely moves along its wide
directions. ``preconditioned=True`` is preconditioned SGLD (pSGLD; Li, Chen, Carlson & Carin 2016, AAAI,
"Preconditioned stochastic gradient Langevin dynamics for deep neural networks", Algorithm 1): RMSprop's
diagonal G = 1 / (λ + √V), V an exponential average (weight α) of squared gradients, scales each coordinate's
drift and noise, θ ← θ + ε G ∇log p + √(2εG) ξ (BlackJAX's step convention, as for plain SGLD here: the
paper's ε is 2ε). BlackJAX's sgmcmc module has no pSGLD (it ships sgld, sghmc, csgld and sgnht), so the
kernel is written here. Two departures from the paper, both because the gradient here is the full-data one
(no minibatch noise):
  - V is bias-corrected as in Adam (Kingma & Ba 2015), V / (1 − αⁿ), so the first steps are not inflated by
    1/√(1 − α) while V is still near its zero start;
  - G is estimated during warmup and then held fixed. The paper keeps adapting and drops the drift term
    Γ = ∇·G that a position-dependent G needs; with full-data gradients V follows g(θ)² along the path and that
    term is not small: on a Gaussian with variances 1e-2 and 1e2 (ε = 0.01) continual adaptation gave the wide
    coordinate 1.76× its variance (ESS ~280) where the frozen G gives 1.02. With G fixed, Γ = 0 exactly and
    the chain is Langevin dynamics in a rescaled metric, biased only by O(ε) like plain SGLD.
"""
from dataclasses import dataclass

import blackjax
import jax
import jax.numpy as jnp
import numpy as np

from .chunks import chunk_size, run_in_chunks, run_signature
from .posterior import Posterior


@dataclass(frozen=True)
class SGLD:
    """Stochastic gradient Langevin dynamics with step a·(b + t)^(−``gamma``) (0 ≤ gamma ≤ 1); ``thin`` keeps every
    thin-th draw after warmup.

    preconditioned  pSGLD (Li et al. 2016): RMSprop's diagonal preconditioner G = 1/(λ + √V), V the exponential
                    average (weight ``alpha``) of squared gradients, ``damping`` = λ; G is estimated during warmup
                    (num_warmup ≥ 1; several hundred steps, ≫ 1/(1 − alpha)) and held fixed for the kept draws.
                    G comes out near each coordinate's conditional posterior sd (1/RMS gradient), so a coordinate
                    moves by εG/sd² = ε/sd of its variance per step: take ``a`` about 0.1 × the smallest G
                    (stable below 2 × it). A diagonal G fixes badly scaled coordinates, not correlated ones: on
                    the Lotka–Volterra UDE's weights, whose posterior is a ridge, it moved less than plain SGLD
                    (benchmarks/results/bayes_calibration_lvude_psgld.txt)
    """
    a: float = 1e-3
    b: float = 1.0
    gamma: float = 0.55
    thin: int = 1
    preconditioned: bool = False
    alpha: float = 0.99
    damping: float = 1e-5

    def __post_init__(self):
        if self.a <= 0 or self.b <= 0 or not 0 <= self.gamma <= 1:
            raise ValueError(f"SGLD: need a > 0, b > 0 and 0 ≤ gamma ≤ 1; got a={self.a}, b={self.b}, "
                             f"gamma={self.gamma}")
        if not isinstance(self.thin, int) or self.thin < 1:
            raise ValueError(f"SGLD: thin must be a positive int; got {self.thin!r}")
        if not 0 < self.alpha < 1 or not self.damping > 0:
            raise ValueError(f"SGLD: need 0 < alpha < 1 and damping > 0; got alpha={self.alpha}, "
                             f"damping={self.damping}")


def _psgld_step(grad_fn, method, num_warmup):
    """One pSGLD step on ((θ, V), t): V ← αV + (1 − α)g² while t < num_warmup (then frozen), G = 1/(λ + √V̂),
    θ ← θ + εGg + √(2εG)ξ."""
    def step(carry, k, t):
        x, v = carry
        eps = method.a * (method.b + t) ** (-method.gamma)
        g = grad_fn(x)
        v = jnp.where(t < num_warmup, method.alpha * v + (1 - method.alpha) * g ** 2, v)
        precond = _preconditioner(method, v, t + 1, num_warmup)
        x = x + eps * precond * g + jnp.sqrt(2 * eps * precond) * jax.random.normal(k, x.shape)
        return x, v
    return step


def _preconditioner(method, v, updates, num_warmup):
    """G = 1/(λ + √V̂), V̂ = V/(1 − αⁿ) bias-corrected for the n = min(updates, num_warmup) updates V has had."""
    n = jnp.minimum(updates, num_warmup)
    return 1.0 / (method.damping + jnp.sqrt(v / (1 - method.alpha ** n)))


def _run_blocks(grad_fn, method, key, carry, blocks, num_warmup):
    """Run the SGLD steps of ``blocks`` (int array) from ``carry``: block 0 is the warmup (num_warmup steps), block
    b ≥ 1 the ``thin`` steps that end in kept draw b, block −1 nothing (padding). Step t's key is fold_in(key, t)
    and its step size depends on t alone, so a chain cut into blocks anywhere gives the same draws. Returns (carry,
    the position after each block)."""
    if method.preconditioned:
        step = _psgld_step(grad_fn, method, num_warmup)
    else:
        sampler = blackjax.sgld(lambda x, _: grad_fn(x))

        def step(x, k, t):
            return sampler.step(k, x, None, method.a * (method.b + t) ** (-method.gamma))

    def block(c, b):
        start = jnp.where(b == 0, 0, num_warmup + (b - 1) * method.thin)
        length = jnp.where(b == 0, num_warmup, jnp.where(b < 0, 0, method.thin))
        c = jax.lax.fori_loop(start, start + length,
                              lambda t, c: step(c, jax.random.fold_in(key, t), t.astype(float)), c)
        return c, (c[0] if method.preconditioned else c)
    return jax.lax.scan(block, carry, blocks)


def _initial_carry(method, position):
    return (position, jnp.zeros_like(position)) if method.preconditioned else position


def sgld_draws(logdensity, method, key, position, num_warmup, num_samples):
    """One chain of ``method`` (an `SGLD`) on any log density θ -> log p(θ) (pure, differentiable), started at
    ``position``: returns (draws (num_samples, dim), the preconditioner G at the end (ones for plain SGLD)).
    Jit- and vmap-able. One scan over num_samples + 1 blocks of steps (the warmup, then ``thin`` steps per kept
    draw) keeps only the kept draws in memory however long the chain, and compiles the step once (random draws
    under a scan dominate compile time). `bayes.sample` runs the same blocks a chunk at a time (`_run_blocks`),
    vmapped over chains, and gets the same draws."""
    carry, draws = _run_blocks(jax.grad(logdensity), method, key, _initial_carry(method, position),
                               jnp.arange(num_samples + 1), num_warmup)
    return draws[1:], _final_preconditioner(method, carry, num_warmup, position)


def _final_preconditioner(method, carry, num_warmup, position):
    # V stops changing after warmup, so G at the end is G after the warmup's num_warmup updates
    return _preconditioner(method, carry[1], num_warmup, num_warmup) if method.preconditioned else \
        jnp.ones_like(position)


def _blocks_fn(model, method, num_warmup, n):
    """The compiled chunk: ``n`` blocks (`_run_blocks`) of every chain, vmapped, with the log density of each kept
    draw. The warmup is a chunk too ([0, −1, −1, ...]), so one program serves the whole run."""
    key = ("sgld", method, num_warmup, n)
    if key not in model._cache:
        def run(keys, carry, blocks, data):
            logdensity = model.logdensity_fn(data)

            def one(k, c):
                c, draws = _run_blocks(jax.grad(logdensity), method, k, c, blocks, num_warmup)
                return c, draws, jax.vmap(logdensity)(draws)
            return jax.vmap(one)(keys, carry)
        model._cache[key] = jax.jit(run)
    return model._cache[key]


def run_sgld(model, method, positions, key, num_warmup, num_samples, *, progress=False, checkpoint=None,
             chunk=None):
    """Draws (chains, num_samples, dim) in chunks (progress bar, checkpoints: `bayes.chunks`); see `bayes.sample`."""
    if method.preconditioned and num_warmup < 1:
        raise ValueError("sample: SGLD(preconditioned=True) estimates its preconditioner during warmup; num_warmup "
                         f"must be ≥ 1 (several hundred steps); got {num_warmup}")
    chains = positions.shape[0]
    chunk = chunk_size(num_samples, chunk)
    keys = jax.random.split(key, chains)
    run = _blocks_fn(model, method, num_warmup, chunk)

    def warmup(g):
        carry = _initial_carry(method, positions[g])
        if num_warmup > 0:
            carry = run(keys[g], carry, jnp.full(chunk, -1).at[0].set(0), model.data)[0]
        return tuple(carry) if method.preconditioned else (carry,)

    def advance(c, g, carry):
        blocks = 1 + c * chunk + jnp.arange(chunk)
        blocks = jnp.where(blocks <= num_samples, blocks, -1)        # the last chunk's padding: no steps
        carry, draws, lp = run(keys[g], carry if method.preconditioned else carry[0], blocks, model.data)
        return (tuple(carry) if method.preconditioned else (carry,)), draws, {"lp": lp}

    name = "pSGLD" if method.preconditioned else "SGLD"
    carry, theta, stats = run_in_chunks(
        warmup, advance, chains=chains, groups=[np.arange(chains)], num_warmup=num_warmup, num_samples=num_samples,
        chunk=chunk, signature=run_signature(model, method, positions, key, num_warmup, num_samples, chunk),
        progress=progress, checkpoint=checkpoint, desc=f"{name} {chains} chain(s)")
    info = {"preconditioner": np.asarray(jax.vmap(lambda *c: _final_preconditioner(method, c, num_warmup, c[0]))(
        *carry))} if method.preconditioned else {}
    return Posterior(model, theta, stats, name, info=info)
