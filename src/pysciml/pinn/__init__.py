"""Layer 7: physics-informed neural networks from a symbolic (sympy) or plain-JAX PDE description.

    x, y = sympy.symbols("x y"); u = sympy.Function("u")
    eq = sympy.Eq(u(x, y).diff(x, 2) + u(x, y).diff(y, 2), -sympy.sin(pi*x) * sympy.sin(pi*y))
    bcs = [sympy.Eq(u(0, y), 0), sympy.Eq(u(1, y), 0), sympy.Eq(u(x, 0), 0), sympy.Eq(u(x, 1), 0)]
    system = ps.pinn.PDESystem([eq], bcs, {x: (0, 1), y: (0, 1)}, [x, y], [u])
    sol = ps.pinn.train(system, ps.nn.MLP(2, (16, 16), 1), ps.pinn.GridTraining(0.05),
                        optimizers=(ps.pinn.Adam(1e-3, 500), ps.pinn.LBFGS(1000)))

Never imports pysciml's solvers (layer rule): a PINN needs only the network and automatic differentiation.
"""
from .derivatives import derivative
from .domains import Interval
from .optimizers import LBFGS, Adam
from .solution import PINNSolution
from .strategies import (AdaptiveRefinement, GridTraining, QuadratureTraining, QuasiRandomTraining,
                         StochasticTraining)
from .system import Condition, Observations, PDESystem
from .training import solve, train
from .weighting import LearningRateAnnealing, ReLoBRaLo

__all__ = ["Adam", "AdaptiveRefinement", "Condition", "GridTraining", "Interval", "LBFGS",
           "LearningRateAnnealing", "Observations", "PDESystem", "PINNSolution", "QuadratureTraining",
           "QuasiRandomTraining", "ReLoBRaLo", "StochasticTraining", "derivative", "solve", "train"]
