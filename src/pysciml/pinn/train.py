"""`solve`: train a physics-informed network on a `PDESystem` with staged optimizers (Adam, then L-BFGS).

Each stage runs in compiled chunks of ``chunk`` steps (`lax.scan`); between chunks the host only updates
the progress bar and, with `AdaptiveRefinement`, adds points where the residual is largest (into
pre-allocated slots, so nothing recompiles).
"""
import math
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree

from ..nn import as_network
from ..optim import lbfgs_init, lbfgs_step
from .losses import Field, term_losses, term_residuals
from .optimizers import LBFGS, Adam
from .solution import PINNSolution
from .strategies import AdaptiveRefinement, QuasiRandomTraining, StochasticTraining
from .system import PDESystem


def solve(system, network, strategy=None, optimizers=(Adam(), LBFGS()), *, key=None, params=None,
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

    run = _Run(system, strategy, field, losses_of, reference, base_weights, weighting, chunk, progress,
               names)
    weight_state = None if weighting is None else weighting.init(jax.jit(losses_of)(theta, batch))
    for stage in optimizers:
        if isinstance(stage, Adam):
            theta, batch, weight_state, key = run.adam(stage, theta, batch, weight_state, key)
        else:
            theta = run.lbfgs(stage, theta, batch, run.weights(weight_state))
    return PINNSolution(system, field, theta, run.history(), np.asarray(run.weights(weight_state)),
                        batch)


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


def _tree_select(flag, new, old):
    return jax.tree_util.tree_map(lambda a, b: jnp.where(flag, a, b), new, old)


class _Run:
    """The compiled stages of one `solve` and the loss history they record."""

    def __init__(self, system, strategy, field, losses_of, reference, base_weights, weighting, chunk,
                 progress, names):
        self.system, self.strategy, self.field, self.losses_of = system, strategy, field, losses_of
        self.reference, self.base_weights, self.weighting = reference, base_weights, weighting
        self.chunk, self.progress, self.names = chunk, progress, names
        self.records = []

    def weights(self, weight_state):
        return self.base_weights if weight_state is None else self.base_weights * weight_state[0]

    def history(self):
        losses = np.concatenate([r for r in self.records]) if self.records else np.zeros((0, len(self.names)))
        return {"terms": dict(zip(self.names, losses.T)), "total": losses @ np.asarray(self.base_weights),
                "names": list(self.names)}

    def _bar(self, total, desc):
        from tqdm.auto import tqdm
        return tqdm(total=total, desc=desc, disable=not self.progress, leave=False)

    # --- Adam -----------------------------------------------------------------------------------------

    def adam(self, stage, theta, batch, weight_state, key):
        tx = stage.transformation()
        chunk = min(self.chunk, stage.steps) if stage.steps else 1
        refine = isinstance(self.strategy, AdaptiveRefinement)
        if refine:
            chunk = math.gcd(chunk, self.strategy.every)
        step_fn = jax.jit(self._adam_chunk(tx, chunk))
        state = (theta, tx.init(theta), weight_state, batch, key, jnp.asarray(0))
        done = 0
        with self._bar(stage.steps, "Adam") as bar:
            while done < stage.steps:
                n = min(chunk, stage.steps - done)
                state, (losses, totals) = step_fn(state, n)
                self.records.append(np.asarray(losses)[:n])
                done += n
                bar.update(n)
                bar.set_postfix(loss=f"{float(totals[n - 1]):.3e}")
                if refine and done % self.strategy.every == 0 and done < stage.steps:
                    state = state[:3] + (self._refine(state[0], state[3]),) + state[4:]
        theta, _, weight_state, batch, key, _ = state
        return theta, batch, weight_state, key

    def _adam_chunk(self, tx, chunk):
        resample = self._resampler()
        weighting, reference, losses_of = self.weighting, self.reference, self.losses_of

        def weighted(theta, batch, weights):
            losses = losses_of(theta, batch)
            return jnp.dot(weights, losses), losses

        def run(state, n_active):
            def body(state, i):
                theta, opt_state, weight_state, batch, key, step = state
                key, resample_key, weight_key = jax.random.split(key, 3)
                if resample is not None:
                    every = self.strategy.resample_every
                    batch = jax.lax.cond((step % every == 0) & (step > 0), lambda: resample(resample_key, batch),
                                         lambda: batch)
                (total, losses), grads = jax.value_and_grad(weighted, has_aux=True)(
                    theta, batch, self.weights(weight_state))
                updates, new_opt = tx.update(grads, opt_state, theta)
                new_theta = optax.apply_updates(theta, updates)
                if weighting is not None:
                    term_grads = lambda: _flat_jacobian(jax.jacrev(losses_of)(theta, batch), losses.shape[0])
                    weight_state = weighting.update(weight_state, step, losses, term_grads, weight_key, reference)
                new = (new_theta, new_opt, weight_state, batch, key, step + 1)
                return _tree_select(i < n_active, new, state), (losses, total)
            return jax.lax.scan(body, state, jnp.arange(chunk))
        return run

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

    def _refine(self, theta, batch):
        """Move the largest-residual candidates into the free slots of each equation's point set."""
        system, strategy = self.system, self.strategy
        out = list(batch)
        for k, term in enumerate(system.terms):
            points, w = batch[k]
            free_slots = np.flatnonzero(np.asarray(w) == 0)
            if term.kind != "pde" or not term.free or free_slots.size == 0:
                continue
            free = list(term.free)
            candidates = jnp.asarray(term.full_points(strategy.candidates(
                system.lower[free], system.upper[free], seed=len(self.records) + k), system.n_vars))
            r = np.asarray(_residual_norms(term, self.field, theta, candidates, system.param_names))
            best = np.argsort(r)[::-1][:min(strategy.n_add, free_slots.size)]
            slots = free_slots[:best.size]
            points = points.at[slots].set(candidates[best])
            w = w.at[slots].set(np.asarray(w)[np.asarray(w) > 0].mean())
            out[k] = (points, w)
        return tuple(out)

    # --- L-BFGS ---------------------------------------------------------------------------------------

    def lbfgs(self, stage, theta, batch, weights):
        flat, unravel = ravel_pytree(theta)
        memory = stage.transformation()
        chunk = min(self.chunk, stage.steps) if stage.steps else 1
        step_fn = jax.jit(self._lbfgs_chunk(stage, memory, unravel, chunk))
        state = (flat, memory.init(flat), jnp.asarray(0))
        done = 0
        with self._bar(stage.steps, "L-BFGS") as bar:
            while done < stage.steps:
                n = min(chunk, stage.steps - done)
                state, (losses, totals) = step_fn(state, batch, weights, n)
                self.records.append(np.asarray(losses)[:n])
                done += n
                bar.update(n)
                bar.set_postfix(loss=f"{float(totals[n - 1]):.3e}")
        return unravel(state[0])

    def _lbfgs_chunk(self, stage, memory, unravel, chunk):
        losses_of = self.losses_of

        def run(state, batch, weights, n_active):
            def objective(v):
                losses = losses_of(unravel(v), batch)
                return jnp.dot(weights, losses), losses
            evaluate = jax.value_and_grad(objective, has_aux=True)

            def body(carry, i):
                new, ok = lbfgs_step(evaluate, memory, stage, carry)
                carry = _tree_select(ok & (i < n_active), new, carry)
                return carry, (carry.aux, carry.value)

            v, mem, k = state
            carry = lbfgs_init(evaluate, memory, v)._replace(memory=mem, k=k)
            carry, records = jax.lax.scan(body, carry, jnp.arange(chunk))
            return (carry.v, carry.memory, carry.k), records
        return run


@partial(jax.jit, static_argnums=(0, 1, 4))
def _residual_norms(term, field, theta, points, param_names):
    r = term_residuals(term, field, theta, points, param_names)
    return jnp.sqrt(jnp.sum(jnp.square(r).reshape(r.shape[0], -1), axis=1))


def _flat_jacobian(jac, n_terms):
    leaves = jax.tree_util.tree_leaves(jac)
    return jnp.concatenate([leaf.reshape(n_terms, -1) for leaf in leaves], axis=1)
