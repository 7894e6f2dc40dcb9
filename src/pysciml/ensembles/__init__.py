"""Layer 6: ensembles of trajectories — many solves of one problem with varied u0, p or tspan. A backend is
an `EnsembleAlgorithm` (see `base` for the contract)."""
from . import execution  # noqa: F401  (registers solve(EnsembleProblem, ...))
from .base import EnsembleAlgorithm
from .problem import EnsembleProblem
from .serial import EnsembleSerial
from .solution import EnsembleSolution
from .vmap import EnsembleVmap

__all__ = ["EnsembleAlgorithm", "EnsembleProblem", "EnsembleSerial", "EnsembleSolution", "EnsembleVmap"]
