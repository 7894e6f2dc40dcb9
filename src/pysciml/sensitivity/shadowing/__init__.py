"""Shadowing sensitivities of long-time averages in chaotic systems: `ForwardLSS`, `AdjointLSS`, `NILSS`,
`NILSAS` (see `algorithms`), reached through `jax.grad` of a time average over a solve's saved points."""
from .algorithms import AdjointLSS, ForwardLSS, NILSAS, NILSS, ShadowingAlgorithm
from .regularizers import Cos2Windowing, CosWindowing, TimeDilation

__all__ = ["AdjointLSS", "Cos2Windowing", "CosWindowing", "ForwardLSS", "NILSAS", "NILSS", "ShadowingAlgorithm",
           "TimeDilation"]
