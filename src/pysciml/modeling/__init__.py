"""Symbolic modeling on sympy: equations, components, structural simplification and reaction networks,
compiled to plain `pysciml` problems (``import pysciml.modeling as md``).

    x, y = md.variables("x y"); a, b = md.parameters("a b")
    sys = md.ODESystem([md.Eq(md.D(x), a * x - x * y), md.Eq(md.D(y), x * y - b * y)])
    prob = md.ODEProblem(sys, u0={x: 1.0, y: 1.0}, tspan=(0.0, 10.0), p={a: 1.5, b: 3.0}, jac=True)
    sol = ps.solve(prob, ps.Rodas5P()); sol[x]      # md.solve: the same, checking prob is symbolic

Reaction networks (`ReactionSystem`) compile to the mass-action ODE (`ODEProblem`), the chemical Langevin
SDE (`SDEProblem`) and a jump process (`JumpProblem`); the last two share one generated propensity function.
"""
from .symbols import D, Eq, Equation, parameters, t, variables
from .events import ContinuousEvent, DiscreteEvent
from .system import ODESystem
from .simplify import SimplifiedSystem, structural_simplify
from .problem import ODEProblem, parameter_vector
from .solution import solve
from .reactions import JumpProblem, Reaction, ReactionSystem, SDEProblem
from .components import Connector, compose, connect
from . import library

__all__ = ["Connector", "ContinuousEvent", "DiscreteEvent", "compose", "connect", "library", "D", "Eq", "Equation", "JumpProblem", "ODEProblem", "Reaction", "ReactionSystem", "ODESystem", "SDEProblem", "SimplifiedSystem", "parameter_vector",
           "parameters", "solve", "structural_simplify", "t", "variables"]
