"""pysciml: scientific machine learning for Python on JAX.

Problems (`ODEProblem`), the `solve` entry point, the solver suite, step-size controllers, ensembles and
return codes; `pysciml.nn` (small networks) and `pysciml.pinn` (physics-informed networks) on first use. float64 is switched on at import (JAX's default is float32).
"""
from ._core import ReturnCode
from .controllers import PIController, PIDController
from .ensembles import EnsembleProblem, EnsembleSerial, EnsembleSolution, EnsembleVmap
from .integrate import ODESolution
from .problems import ODEProblem
from . import testing
from .solve import solve
from .solvers import (BS3, TRBDF2, AutoSwitch, AutoTsit5, KenCarp4, Kvaerno5, DP5, DP8, RK4, ButcherTableau, Euler, Heun, Midpoint, Rodas4, Rodas5P, Rosenbrock23,
                      Tsit5, Vern7, Vern9)

__all__ = ["AutoSwitch", "AutoTsit5", "KenCarp4", "Kvaerno5", "TRBDF2", "EnsembleProblem", "EnsembleSerial", "EnsembleSolution", "EnsembleVmap", "BS3", "DP5", "DP8", "RK4", "Tsit5", "Vern7", "Vern9", "ButcherTableau", "Euler", "Heun", "Midpoint", "ODEProblem", "Rodas4", "Rodas5P", "Rosenbrock23", "ODESolution",
           "PIController", "PIDController", "ReturnCode", "solve"]
__version__ = "0.1.0"


def __getattr__(name):
    """`pysciml.nn` and `pysciml.pinn` load on first use, so `import pysciml` stays fast."""
    if name in ("nn", "pinn"):
        import importlib
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'pysciml' has no attribute {name!r}")
