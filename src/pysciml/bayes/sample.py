"""`sample`: one entry point for every inference method."""
import jax
import jax.numpy as jnp
import numpy as np

from .approximate import MAP, Laplace, MeanFieldVI, find_map, laplace, mean_field_vi
from .chunks import chunk_size
from .model import Model
from .nuts import NUTS, run_nuts
from .sgld import SGLD, run_sgld


def sample(model, method=None, num_warmup=1000, num_samples=1000, chains=4, key=0, *, init=None, jitter=0.5,
           chain_method="vectorized", progress=False, checkpoint=None, chunk=None):
    """Posterior draws of ``model`` (a `Posterior`).

    method        NUTS() (default), SGLD(...) (SGLD(preconditioned=True): pSGLD, for posteriors whose scales differ
                  by orders of magnitude, e.g. network weights next to physical rates), Laplace(), MeanFieldVI()
                  (the last two: one chain of ``num_samples`` independent draws; num_warmup and chains are
                  ignored)
    key           a jax.random key or an integer seed
    init          where chains start: None (the problem's parameters), a dict name -> value, θ of shape (dim,)
                  or (chains, dim), or MAP() (the posterior mode, found first); each chain then moves by
                  Uniform(−jitter, jitter) in θ, so that R-hat can see chains that do not mix
    chain_method  "vectorized" (chains vmapped in one compiled program) or "sequential" (one at a time: no
                  chain waits for the slowest one's tree, often faster on one CPU core)
    progress      a tqdm progress bar (NUTS and SGLD: advancing after the warmup and after each chunk of ``chunk``
                  draws; default chunk: a twentieth of num_samples)
    checkpoint    NUTS and SGLD: a file path; the run is saved after each chunk and an interrupted run, started
                  again with the same arguments, resumes there with the same draws (`bayes.chunks`)
    """
    if not isinstance(model, Model):
        raise TypeError(f"sample: model must be a bayes.Model; got {type(model).__name__}")
    method = NUTS() if method is None else method
    key = jax.random.key(key) if isinstance(key, (int, np.integer)) else key
    for name, n, low in (("num_warmup", num_warmup, 0), ("num_samples", num_samples, 1), ("chains", chains, 1)):
        if not isinstance(n, (int, np.integer)) or n < low:
            raise ValueError(f"sample: {name} must be an int ≥ {low}; got {n!r}")
    if chain_method not in ("vectorized", "sequential"):
        raise ValueError(f"sample: chain_method must be 'vectorized' or 'sequential'; got {chain_method!r}")
    chunk_size(num_samples, chunk)             # checks chunk before any compile
    if checkpoint is not None and isinstance(method, (Laplace, MeanFieldVI)):
        raise ValueError(f"sample: checkpoint is for the Markov chains (NUTS, SGLD); {type(method).__name__} runs "
                         "in one piece, so pass checkpoint=None")
    k_init, k_run = jax.random.split(key)
    if isinstance(method, Laplace):
        return laplace(model, method, num_samples, k_run, _single_init(model, init))
    if isinstance(method, MeanFieldVI):
        return mean_field_vi(model, method, num_samples, k_run, _single_init(model, init))
    positions = initial_positions(model, chains, k_init, init, jitter)
    if isinstance(method, NUTS):
        return run_nuts(model, method, positions, k_run, num_warmup, num_samples, progress=progress,
                        checkpoint=checkpoint, chunk=chunk, chain_method=chain_method)
    if isinstance(method, SGLD):
        return run_sgld(model, method, positions, k_run, num_warmup, num_samples, progress=progress,
                        checkpoint=checkpoint, chunk=chunk)
    raise TypeError(f"sample: method must be NUTS(), SGLD(), Laplace() or MeanFieldVI(); got {method!r}")


def _single_init(model, init):
    if isinstance(init, MAP):
        return find_map(model, init).theta
    return init


def initial_positions(model, chains, key, init=None, jitter=0.5):
    """Starting points for ``chains`` chains of ``model``: ``init`` (None: the problem's parameters; a dict
    of values; θ of shape (dim,) or (chains, dim); or a `MAP` to start at the mode) moved by Uniform(−``jitter``,
    ``jitter``) in θ, drawn with ``key`` (redrawn closer where the log density is −∞). Returns a (chains, dim)
    array in θ, each row with a finite log density.
    """
    if isinstance(init, MAP):
        base = jnp.broadcast_to(find_map(model, init).theta, (chains, model.dim))
    elif init is None or isinstance(init, dict):
        base = jnp.broadcast_to(model.unconstrain(init), (chains, model.dim))
    else:
        base = jnp.asarray(init, dtype=float)
        if base.shape not in ((model.dim,), (chains, model.dim)):
            raise ValueError(f"init: expected θ of shape ({model.dim},) or ({chains}, {model.dim}); got {base.shape}")
        base = jnp.broadcast_to(base, (chains, model.dim))
    positions = base + jax.random.uniform(key, base.shape, minval=-jitter, maxval=jitter)
    lp = np.asarray(model.logdensity_batch(positions))
    for attempt in range(10):               # a jittered start may land where the solve fails: draw again there
        bad = ~np.isfinite(lp)
        if not bad.any():
            return positions
        key, sub = jax.random.split(key)
        fresh = base + jax.random.uniform(sub, base.shape, minval=-jitter, maxval=jitter) * 0.5 ** (attempt + 1)
        positions = jnp.where(bad[:, None], fresh, positions)
        lp = np.asarray(model.logdensity_batch(positions))
    raise ValueError(f"init: the log density is −∞ at the start of chain(s) {np.flatnonzero(bad).tolist()} (the "
                     "solve fails or the data are impossible there); start elsewhere with init={name: value}")
