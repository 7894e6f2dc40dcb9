"""Layer 4: sensitivity analysis. Each method is a `SensitivityAlgorithm` (see `base`): it receives the
integration loop (through `SolveContext`) and wraps it in a custom differentiation rule; `integrate/` never
imports this package."""
from typing import Callable, NamedTuple

import jax

from .._core.trees import is_concrete
from . import discrete
from .algorithms import (BacksolveAdjoint, ContinuousAdjoint, DiscreteAdjoint, ForwardDiffSensitivity,
                         ForwardMethod, ForwardSensitivity, GaussAdjoint, InterpolatingAdjoint, QuadratureAdjoint, check_sensealg)
from .base import SensitivityAlgorithm
from .inputs import flat_size
from .shadowing import AdjointLSS, Cos2Windowing, CosWindowing, ForwardLSS, NILSAS, NILSS, TimeDilation

__all__ = ["AdjointLSS", "BacksolveAdjoint", "ContinuousAdjoint", "Cos2Windowing", "CosWindowing", "DiscreteAdjoint",
           "ForwardDiffSensitivity", "ForwardLSS", "ForwardMethod", "ForwardSensitivity", "GaussAdjoint",
           "InterpolatingAdjoint", "NILSAS", "NILSS", "QuadratureAdjoint", "SensitivityAlgorithm", "SolveContext",
           "TimeDilation",
           "check_sensealg", "default_sensealg", "differentiable_solve"]

FORWARD_MODE_LIMIT = 100   # states + parameters up to which forward mode is the default


class SolveContext(NamedTuple):
    """What a sensitivity method needs to run loops; hashable, so the methods' compiled passes are cached.
    ``rhs``: the flat right-hand side f(u, p, t); ``alg``: the solver method; ``controller``: the step-size
    controller; ``cfg``: the `LoopConfig` of the requested solve; ``compiled_loop(rhs, alg, controller, cfg)``:
    builds the compiled loop (LoopInputs -> LoopOutput)."""
    rhs: object            # flat right-hand side f(u, p, t)
    alg: object
    controller: object
    cfg: object            # LoopConfig of the requested solve
    compiled_loop: Callable  # compiled_loop(rhs, alg, controller, cfg) -> (LoopInputs -> LoopOutput)

    def make_loop(self, rhs, alg, cfg):
        """The compiled loop for the right-hand side ``rhs``, method ``alg`` and loop configuration ``cfg``
        (with this context's controller): returns a function LoopInputs -> LoopOutput."""
        return self.compiled_loop(rhs, alg, self.controller, cfg)


def default_sensealg(n_states, p, save_mode, has_mass, alg=None):
    """Forward mode for small problems; otherwise the discrete adjoint (exact, checkpointed) where the
    method allows it, else InterpolatingAdjoint (forward mode for DAEs with Newton-based methods, which
    only it serves). ``n_states``: the flat state size; ``p``: the parameters (their inexact leaves count);
    ``save_mode``: how the solve saves (unused by the choice); ``has_mass``: whether there is a mass matrix;
    ``alg``: the solver method (None: not known). Returns the `SensitivityAlgorithm` instance."""
    n_params = sum(flat_size(x) for x in jax.tree_util.tree_leaves(p)
                   if jax.numpy.issubdtype(jax.numpy.result_type(x), jax.numpy.inexact))
    if n_states + n_params <= FORWARD_MODE_LIMIT:
        return ForwardDiffSensitivity()
    if alg is not None and discrete.supports(alg):
        return DiscreteAdjoint()
    if has_mass:
        return ForwardDiffSensitivity()
    return InterpolatingAdjoint()


def differentiable_solve(sensealg, ctx, inputs):
    """Run the loop so that gradients with respect to (u0, tspan, p) follow ``sensealg``. When nothing is
    being traced (a plain eager solve) the loop runs directly. ``ctx``: the `SolveContext`; ``inputs``: the
    `LoopInputs`. Returns the `LoopOutput`."""
    if is_concrete(inputs.u0, inputs.t0, inputs.t1, inputs.p):
        return ctx.make_loop(ctx.rhs, ctx.alg, ctx.cfg)(inputs)
    return sensealg.run(ctx, inputs)
