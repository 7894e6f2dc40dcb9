"""What `solve` uses when the user leaves an option out: buffer sizes and the default algorithm."""
import jax.numpy as jnp

from .._core.trees import is_concrete

DEFAULT_MAX_STEPS = 10_000
DEFAULT_MAX_EVENTS = 1_000     # continuous events logged per solve (a static buffer of that size)
DENSE_MEMORY_LIMIT = 1 << 29   # bytes of stage storage above which dense output must be asked for

TIGHT_RTOL = 1e-6           # below this the default pairs Vern7 with Rodas5P
LARGE_SYSTEM = 50           # above this many states the default's stiff method reuses Jacobians (KenCarp4)


def default_algorithm(n_states, rtol, has_mass):
    """The method used when ``alg`` is None, chosen like DifferentialEquations.jl's default: an explicit
    method that switches to a stiff one when the problem turns out stiff (`AutoSwitch`), so non-stiff
    problems run at explicit speed and stiff ones do not stall. Vern7/Rodas5P for tight tolerances,
    Tsit5/Rodas5P otherwise, Tsit5/KenCarp4 for large systems; Rodas5P for mass matrices (DAEs).
    The stiff half is Rodas5P, not DifferentialEquations.jl's Rosenbrock23, even at loose tolerances: on
    the stiff IVP test set (benchmarks/testset.py) the order-2 Rosenbrock23 meets −log10(rtol) − 1.5 digits
    only with its steps controlled at rtol^(3/2) (tolerance proportionality; with rtol itself it reported
    Success 1.5 to 2.5 digits short), which costs it 5 to 40 times the steps of Rodas5P. Pass an algorithm explicitly to skip the stiffness checks (Tsit5 is about 1.5x faster
    on problems known to be non-stiff)."""
    from ..solvers import AutoTsit5, AutoVern7, KenCarp4, Rodas5P

    if has_mass:
        return Rodas5P()
    if n_states > LARGE_SYSTEM:
        return AutoTsit5(KenCarp4())
    tight = is_concrete(rtol) and float(jnp.min(rtol)) < TIGHT_RTOL
    return AutoVern7(Rodas5P()) if tight else AutoTsit5(Rodas5P())


def default_dde_algorithm():
    """The method used for a `DDEProblem` when ``alg`` is None: MethodOfSteps(Tsit5())."""
    from ..delay import MethodOfSteps
    from ..solvers import Tsit5
    return MethodOfSteps(Tsit5())
