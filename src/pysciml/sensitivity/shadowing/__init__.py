"""Shadowing sensitivities of long-time averages in chaotic systems: `ForwardLSS`, `AdjointLSS`, `NILSS`,
`NILSAS` (see `algorithms`), reached through `jax.grad` of a time average over a solve's saved points."""
from . import lss, nilsas, nilss
from .algorithms import (AdjointLSS, Cos2Windowing, CosWindowing, ForwardLSS, NILSAS, NILSS, ShadowingAlgorithm,
                         TimeDilation)
from .common import shadowing_solve as _shadowing_solve

__all__ = ["AdjointLSS", "Cos2Windowing", "CosWindowing", "ForwardLSS", "NILSAS", "NILSS", "ShadowingAlgorithm",
           "TimeDilation", "shadowing_solve"]


def _gradient_of(sensealg):
    if isinstance(sensealg, AdjointLSS):
        return lss.adjoint_gradient
    if isinstance(sensealg, ForwardLSS):
        return lss.forward_gradient
    return nilss.gradient if isinstance(sensealg, NILSS) else nilsas.gradient


def shadowing_solve(sensealg, ctx, inputs):
    """`differentiable_solve` for the shadowing methods."""
    return _shadowing_solve(sensealg, ctx, inputs, _gradient_of(sensealg))

