"""Layer 6: ensembles of trajectories — many solves of one problem with varied u0, p or tspan."""
from .dask import EnsembleDask
from .execution import EnsembleSerial, EnsembleVmap
from .gpu_kernel import EnsembleGPUKernel
from .problem import EnsembleProblem
from .sharded import EnsembleSharded
from .solution import EnsembleSolution

__all__ = ["EnsembleDask", "EnsembleGPUKernel", "EnsembleProblem", "EnsembleSerial", "EnsembleSharded",
           "EnsembleSolution", "EnsembleVmap"]
