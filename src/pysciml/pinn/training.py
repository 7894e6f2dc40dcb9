"""`train`: train a physics-informed network on a `PDESystem` with staged optimizers (Adam, then L-BFGS).

The stages run in the one staged driver (`pysciml.optim.driver`), in compiled chunks of ``chunk`` steps
(`lax.scan`); this module supplies the objective: the weighted term losses on the current points, points
resampled and weights adapted around every Adam step, and, with `AdaptiveRefinement`, points added between
chunks where the residual is largest (into pre-allocated slots, so nothing recompiles).
"""
import math
import warnings
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..nn import as_network
from ..optim.driver import Objective, minimize
from .losses import Field, term_losses, term_residuals
from .optimizers import LBFGS, Adam
from .solution import PINNSolution
from .strategies import AdaptiveRefinement, QuasiRandomTraining, StochasticTraining
from .system import PDESystem


def train(system, network, strategy=None, optimizers=(Adam(), LBFGS()), *, key=None, params=None,
          output_transform=None, weights=None, weighting=None, normalize_inputs=True, chunk=100,
          progress=True):
    """Train ``network`` so that it satisfies ``system``; returns a `PINNSolution`.

    network           pysciml `MLP`, an Equinox/Flax module or f(x, params) (with ``params``); its input is the
                      point (n independent variables), its output the dependent variables
    strategy          where residuals are evaluated (default `QuasiRandomTraining(1024)`)
    optimizers        stages run in order, e.g. (Adam(1e-3, 2000), LBFGS(1000))
    key               PRNG key for the initial parameters and the points (default key 0)
    output_transform  (z, u) -> u applied to the network output: hard constraints, output scaling
    weights           initial loss weights, one per term (equations, conditions, then observations)
    weighting         adaptive weights for the Adam stages: `LearningRateAnnealing()` or `ReLoBRaLo()`

    normalize_inputs: scale each independent variable to [−1, 1] before the network (recommended).
    chunk: optimizer iterations per compiled call. progress: show a progress bar.
    """
    if not isinstance(system, PDESystem):
        raise TypeError(f"system must be a PDESystem, got {type(system).__name__}")
    strategy = QuasiRandomTraining(1024) if strategy is None else strategy
    for stage in optimizers:
        if not isinstance(stage, (Adam, LBFGS)):
            raise TypeError(f"optimizers must be Adam(...) or LBFGS(...) stages, got {stage!r}")
    key = jax.random.key(0) if key is None else key
    key, net_key, point_key = jax.random.split(key, 3)
    net = as_network(network, params, key=net_key, in_size=system.n_vars)
    field = Field(net.apply, tuple(system.lower), tuple(system.upper), normalize_inputs, output_transform)
    theta = {"net": net.params, "p": jnp.asarray(system.param_init)}
    _check_shapes(field, theta, system)

    terms = system.terms
    names = [t.name for t in terms] + (["observations"] if system.observations is not None else [])
    reference = jnp.array([t.kind == "pde" for t in terms] + [False] * (len(names) - len(terms)))
    base_weights = jnp.ones(len(names)) if weights is None else jnp.asarray(weights, dtype=jnp.float64)
    if base_weights.shape != (len(names),):
        raise ValueError(f"weights must have one entry per term ({len(names)}: {names}), got shape "
                         f"{base_weights.shape}")
    batch = _initial_points(system, strategy, point_key)
    losses_of = partial(term_losses, terms, field, system.param_names, system.observations)

    objective = _Objective(system, strategy, field, losses_of, reference, base_weights, weighting)
    weight_state = None if weighting is None else weighting.init(jax.jit(losses_of)(theta, batch))
    ctx = _Context(weight_state, batch, key, jnp.asarray(0), key)
    losses = np.zeros((0, len(names)))
    if optimizers:
        if isinstance(strategy, AdaptiveRefinement):    # chunks end where points are added
            chunk = math.gcd(chunk, strategy.every)
        result = minimize(objective, theta, optimizers, ctx=ctx, chunk=chunk, progress=progress)
        theta, ctx, losses = result.params, result.context, result.aux_history
    history = {"terms": dict(zip(names, losses.T)), "total": losses @ np.asarray(base_weights),
               "names": list(names)}
    return PINNSolution(system, field, theta, history, np.asarray(objective.weights(ctx.weight_state)),
                        ctx.batch)


def solve(*args, **kwargs):
    """Deprecated name of `train` (a PINN is trained, which `pysciml.solve` does not do): warns and returns `train`'s
    `PINNSolution`."""
    warnings.warn("pysciml.pinn.solve is deprecated: use pysciml.pinn.train", DeprecationWarning, stacklevel=2)
    return train(*args, **kwargs)


def _check_shapes(field, theta, system):
    try:
        out = jax.eval_shape(field, jnp.zeros(system.n_vars), theta)
    except Exception as err:
        raise ValueError(f"network: cannot evaluate it on a point of {system.n_vars} independent "
                         f"variable(s) {list(system.iv_names)}: {err}") from err
    if out.shape != (system.n_outputs,):
        raise ValueError(f"network output has shape {out.shape}; the system has {system.n_outputs} dependent "
                         f"variable(s) {list(system.dv_names)}, so it must be ({system.n_outputs},)")


def _initial_points(system, strategy, key):
    batch = []
    for k, term in enumerate(system.terms):
        free = list(term.free)
        sampled, w = strategy.points(system.lower[free], system.upper[free], term.kind,
                                     jax.random.fold_in(key, k), term.free)
        points = term.full_points(np.asarray(sampled, dtype=np.float64), system.n_vars)
        batch.append((jnp.asarray(points), jnp.asarray(w, dtype=jnp.float64)))
    return tuple(batch)



class _Context(NamedTuple):
    """What the objective threads through the stages."""
    weight_state: Any      # the adaptive weighting's state (None without one)
    batch: tuple           # (points, weights) per term
    key: jax.Array         # PRNG key for resampling and weighting
    step: jax.Array        # Adam steps of the running stage
    weight_key: jax.Array  # this step's key for the weighting


class _Objective(Objective):
    """The weighted term losses; unhashable, so every `train` compiles its own stages."""
    __hash__ = None

    def __init__(self, system, strategy, field, losses_of, reference, base_weights, weighting):
        self.system, self.strategy, self.field, self.losses_of = system, strategy, field, losses_of
        self.reference, self.base_weights, self.weighting = reference, base_weights, weighting
        self.resample = self._resampler()

    def weights(self, weight_state):
        return self.base_weights if weight_state is None else self.base_weights * weight_state[0]

    def loss(self, theta, ctx):
        losses = self.losses_of(theta, ctx.batch)
        return jnp.dot(self.weights(ctx.weight_state), losses), losses

    def start_stage(self, stage, ctx):
        return ctx._replace(step=jnp.zeros_like(ctx.step))

    def prepare(self, ctx):
        key, resample_key, weight_key = jax.random.split(ctx.key, 3)
        batch = ctx.batch
        if self.resample is not None:
            every = self.strategy.resample_every
            batch = jax.lax.cond((ctx.step % every == 0) & (ctx.step > 0),
                                 lambda: self.resample(resample_key, batch), lambda: batch)
        return ctx._replace(batch=batch, key=key, weight_key=weight_key)

    def finish(self, ctx, theta, losses):
        weight_state = ctx.weight_state
        if self.weighting is not None:
            term_grads = lambda: _flat_jacobian(jax.jacrev(self.losses_of)(theta, ctx.batch), losses.shape[0])
            weight_state = self.weighting.update(weight_state, ctx.step, losses, term_grads, ctx.weight_key,
                                                 self.reference)
        return ctx._replace(weight_state=weight_state, step=ctx.step + 1)

    def after_chunk(self, stage, ctx, theta, done):
        if (isinstance(self.strategy, AdaptiveRefinement) and isinstance(stage, Adam)
                and done % self.strategy.every == 0 and done < stage.steps):
            return ctx._replace(batch=self._refine(theta, ctx.batch, done))
        return None

    def _resampler(self):
        if not isinstance(self.strategy, StochasticTraining):
            return None
        system, strategy = self.system, self.strategy

        def resample(key, batch):
            out = []
            for k, (term, (points, w)) in enumerate(zip(system.terms, batch)):
                if not term.free:
                    out.append((points, w))
                    continue
                free = list(term.free)
                sampled = strategy.draw(jax.random.fold_in(key, k), jnp.asarray(system.lower[free]),
                                        jnp.asarray(system.upper[free]), points.shape[0])
                out.append((term.full_points(sampled, system.n_vars), w))
            return tuple(out)
        return resample

    def _refine(self, theta, batch, done):
        """Move the largest-residual candidates into the free slots of each equation's point set; the
        candidates are drawn anew at every refinement (seeded by the steps done)."""
        system, strategy = self.system, self.strategy
        out = list(batch)
        for k, term in enumerate(system.terms):
            points, w = batch[k]
            free_slots = np.flatnonzero(np.asarray(w) == 0)
            if term.kind != "pde" or not term.free or free_slots.size == 0:
                continue
            free = list(term.free)
            candidates = jnp.asarray(term.full_points(strategy.candidates(
                system.lower[free], system.upper[free], seed=done + k), system.n_vars))
            r = np.asarray(_residual_norms(term, self.field, theta, candidates, system.param_names))
            best = np.argsort(r)[::-1][:min(strategy.n_add, free_slots.size)]
            slots = free_slots[:best.size]
            points = points.at[slots].set(candidates[best])
            w = w.at[slots].set(np.asarray(w)[np.asarray(w) > 0].mean())
            out[k] = (points, w)
        return tuple(out)


@partial(jax.jit, static_argnums=(0, 1, 4))
def _residual_norms(term, field, theta, points, param_names):
    r = term_residuals(term, field, theta, points, param_names)
    return jnp.sqrt(jnp.sum(jnp.square(r).reshape(r.shape[0], -1), axis=1))


def _flat_jacobian(jac, n_terms):
    leaves = jax.tree_util.tree_leaves(jac)
    return jnp.concatenate([leaf.reshape(n_terms, -1) for leaf in leaves], axis=1)
