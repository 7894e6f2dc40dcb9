"""Layer 5: `solve`, the one entry point, and the problem types it knows.

`pipeline` holds the flow every problem type shares (options → loop configuration → run → solution →
warnings); `checks` the input checks made before anything compiles; `defaults` the default algorithm and
buffer sizes; one small module per problem type (`ode`, `dde`, `jump`) supplies only what differs: the
right-hand side and the loop configuration. Every problem type is registered here, explicitly. A new one
(as `sde` and `jump` did) adds its module and one line below; code outside this package may also use
``@pysciml.solve.register(MyProblem)``. (`EnsembleProblem` registers itself in `pysciml.ensembles`, the
layer above, which calls back into `solve` for each member.)
"""
from ..jumps import JumpProblem
from ..problems import DDEProblem, ODEProblem, SDEProblem, SplitODEProblem
from . import checks, dde, defaults, jump, ode, pipeline, sde
from .checks import JULIA_NAMES, check_step_options, unknown_options_message
from .defaults import DEFAULT_MAX_EVENTS, DEFAULT_MAX_STEPS, default_algorithm
from .pipeline import _solver_for, compiled_loop, solve

solve.register(ODEProblem)(ode.solve_ode)
solve.register(SplitODEProblem)(ode.solve_ode)   # f = f1 + f2 as a SplitFunction: IMEX methods use the parts
solve.register(DDEProblem)(dde.solve_dde)
solve.register(JumpProblem)(jump.solve_jump)
solve.register(SDEProblem)(sde.solve_sde)

# The names tests and benchmarks reach for (the compile cache, the flat right-hand side).
_compiled_loop = compiled_loop
_FlatRHS = ode.FlatRHS   # (pysciml.problems.FlatRHS)

__all__ = ["DEFAULT_MAX_EVENTS", "DEFAULT_MAX_STEPS", "JULIA_NAMES", "check_step_options", "default_algorithm",
           "solve", "unknown_options_message"]
