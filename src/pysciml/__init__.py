"""pysciml: scientific machine learning for Python on JAX.

Problems (`ODEProblem`), the `solve` entry point, the solver suite, step-size controllers, sensitivity
methods, ensembles and return codes; `pysciml.nn` (small networks) and `pysciml.pinn` (physics-informed
networks) load on first use. float64 is switched on at import (JAX's default is float32).
"""
from ._core import ReturnCode
from .callbacks import (CallbackSet, ContinuousCallback, DiscreteCallback, Effect, PeriodicCallback, PresetTimeCallback,
                        SavingCallback, TerminateSteadyState, VectorContinuousCallback, terminate)
from .controllers import PIController, PIDController
from .ensembles import (EnsembleDask, EnsembleGPUKernel, EnsembleProblem, EnsembleSerial, EnsembleSharded,
                        EnsembleSolution, EnsembleVmap)
from .solution import ODESolution, SDESolution
from .linalg import DenseLU, KrylovGMRES, SparseGMRES, jacobian_sparsity
from .problems import DDEProblem, ODEProblem, SDEProblem, SplitODEProblem
from .noise import NoiseGrid, VirtualBrownianTree
from .delay import MethodOfSteps
from . import testing
from .sensitivity import (AdjointLSS, BacksolveAdjoint, Cos2Windowing, CosWindowing, DiscreteAdjoint,
                          ForwardDiffSensitivity, ForwardLSS, ForwardSensitivity, GaussAdjoint, InterpolatingAdjoint,
                          NILSAS, NILSS, QuadratureAdjoint, TimeDilation)
from .solve import solve
from .lyapunov import lyapunov_spectrum
from .jumps import JumpProblem, Direct, SortingDirect, RSSA, TauLeaping
from .solvers import (DRI1, EM, EulerHeun, ImplicitEM, ImplicitEulerHeun, LambaEM, RKMil, SKenCarp, SOSRA, SOSRI, SRA1,
                      SRIW1)
from .solvers import (BS3, DP5, DP8, RK4, TRBDF2, AutoSwitch, AutoTsit5, AutoVern7, ButcherTableau, Euler, FBDF, Heun,
                      KenCarp4, Kvaerno5, Midpoint, RadauIIA5, Rodas4, Rodas5P, Rosenbrock23, Tsit5, Vern7, Vern9)

__all__ = [
    # problems, solve, solutions
    "ODEProblem", "ODESolution", "ReturnCode", "SplitODEProblem", "solve",
    # delay differential equations
    "DDEProblem", "MethodOfSteps",
    # stochastic differential equations
    "DRI1", "EM", "EulerHeun", "ImplicitEM", "ImplicitEulerHeun", "LambaEM", "NoiseGrid", "RKMil", "SDEProblem",
    "SDESolution", "SKenCarp", "SOSRA", "SOSRI", "SRA1", "SRIW1", "VirtualBrownianTree",
    # jump processes
    "Direct", "JumpProblem", "RSSA", "SortingDirect", "TauLeaping",
    # methods
    "AutoSwitch", "AutoTsit5", "AutoVern7", "BS3", "ButcherTableau", "DP5", "DP8", "Euler", "FBDF", "Heun", "KenCarp4", "Kvaerno5",
    "Midpoint", "RK4", "RadauIIA5", "Rodas4", "Rodas5P", "Rosenbrock23", "TRBDF2", "Tsit5", "Vern7", "Vern9",
    # step-size control
    "PIController", "PIDController",
    # linear solvers and Jacobian sparsity for implicit methods
    "DenseLU", "KrylovGMRES", "SparseGMRES", "jacobian_sparsity",
    # sensitivity
    "BacksolveAdjoint", "DiscreteAdjoint", "ForwardDiffSensitivity", "ForwardSensitivity", "GaussAdjoint", "InterpolatingAdjoint",
    "QuadratureAdjoint",
    # shadowing sensitivities of long-time averages (chaotic systems)
    "AdjointLSS", "Cos2Windowing", "lyapunov_spectrum", "CosWindowing", "ForwardLSS", "NILSAS", "NILSS", "TimeDilation",
    # callbacks
    "CallbackSet", "ContinuousCallback", "DiscreteCallback", "Effect", "PeriodicCallback", "PresetTimeCallback",
    "SavingCallback", "TerminateSteadyState", "VectorContinuousCallback", "terminate",
    # ensembles
    "EnsembleDask", "EnsembleGPUKernel", "EnsembleProblem", "EnsembleSerial", "EnsembleSharded", "EnsembleSolution",
    "EnsembleVmap",
]
__version__ = "0.1.0"


def __getattr__(name):
    """`pysciml.nn`, `pysciml.pinn`, `pysciml.sindy`, `pysciml.ude`, `pysciml.optim`, `pysciml.nlme`,
    `pysciml.modeling` and `pysciml.bayes` load on first use, so `import pysciml` stays fast."""
    if name in ("nn", "pinn", "sindy", "ude", "optim", "nlme", "modeling", "bayes"):
        import importlib
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'pysciml' has no attribute {name!r}")
