"""Jump processes (stochastic chemical kinetics): `JumpProblem`, exact SSAs (`Direct`, `SortingDirect`,
`RSSA`) and `TauLeaping`, all in one JAX loop (`simulate`: a pool of trajectories in one
`lax.while_loop`, the algorithm's step vmapped inside it, a finished lane taking the next trajectory), each
trajectory with its own xoshiro256++ stream seeded from its key (`rng`)."""
from .algorithm import JumpAlgorithm
from .direct import Direct
from .problem import JumpProblem
from .rssa import RSSA
from .solution import JumpSolution
from .sorting_direct import SortingDirect
from .tau_leaping import TauLeaping

__all__ = ["Direct", "JumpAlgorithm", "JumpProblem", "JumpSolution", "RSSA", "SortingDirect", "TauLeaping"]
