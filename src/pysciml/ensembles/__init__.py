"""Layer 6: ensembles of trajectories — many solves of one problem with varied u0, p or tspan. A backend is
an `EnsembleAlgorithm` (see `base` for the contract)."""
from . import execution  # noqa: F401  (registers solve(EnsembleProblem, ...))
from .base import EnsembleAlgorithm
from .dask import EnsembleDask
from .gpu_kernel import EnsembleGPUKernel
from .problem import EnsembleProblem
from .serial import EnsembleSerial
from .sharded import EnsembleSharded
from .solution import EnsembleSolution
from .vmap import EnsembleVmap

__all__ = ["EnsembleAlgorithm", "EnsembleDask", "EnsembleGPUKernel", "EnsembleProblem", "EnsembleSerial",
           "EnsembleSharded", "EnsembleSolution", "EnsembleVmap"]
