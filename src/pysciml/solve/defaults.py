"""What `solve` uses when the user leaves an option out: buffer sizes and the default algorithm."""
import jax
import jax.numpy as jnp
import numpy as np

from .._core.trees import is_concrete

DEFAULT_MAX_STEPS = 10_000
DEFAULT_MAX_EVENTS = 1_000     # continuous events logged per solve (a static buffer of that size)
DENSE_MEMORY_LIMIT = 1 << 29   # bytes of stage storage above which dense output must be asked for

REFINE_BELOW = 0.1          # refined stage solves when min(atol) < REFINE_BELOW · eps · max|u0| (see below)
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


def refine_below_rounding(alg, atol, u0):
    """``alg`` with `DenseLU(refine=True)` when its linear solver is the automatic `DenseLU()` and the
    absolute tolerance is below the rounding level of the state: min(atol) < 0.1 · eps · max|u0|.

    Why: the plain LU solve of a stage leaves an error of order eps·|W||U|, i.e. of the rounding level of
    the largest components, which is not damped along the slow directions of J (a linear invariant) and
    grows by γh per stage. A tolerance above that level hides it; one far below it asks for digits the
    plain solve cannot give (E5: atol 1.7e-24 against eps·max|u0| = 3.9e-19).
    Where c = 0.1 comes from (E5, Rodas5P with the plain solve, mescd − bound at rtol 1e-4 against
    atol/(eps·max|u0|); benchmarks/results/e5_refinement.txt): +3.4 digits at 0.26, +0.9 at 0.026, +0.2
    at 2.6e-3, −1.1 at 2.6e-4 (short), −2.8 at 4.4e-6 (the test set's atol). c = 0.1 keeps about two digits
    of margin on the plain side. What it costs: nothing at the test set's tolerances except on E5 (ROBER's
    atol 1e-6·rtol ≥ 1e-16 is ≥ 0.45 of eps·max|u0|, HIRES, OREGO, POLLU, VDPOL far above); ROBER with
    atol 1e-20 is refined and pays about 2× per solve for no digits (its invariant direction is damped),
    the price of a rule that sees tolerances, not structure. Under `jit` with u0 an argument (its values
    unknown while tracing; benchmarks/testset.py and parameter fits do this), the state's scale is taken as 1,
    so E5 and ROBER are decided as outside `jit`; a traced atol leaves the choice off (inside jit,
    `jnp.asarray(atol)` is a tracer: pass a float or a NumPy array, or `DenseLU(refine=True)`)."""
    from ..linalg import DenseLU

    linsolve = alg.linear_solver
    if (not isinstance(linsolve, DenseLU) or linsolve.refine is not None
            or not hasattr(alg, "with_linear_solver") or not is_concrete(atol)):
        return alg
    # ``atol`` and ``u0`` as the user gave them (numbers, arrays or a pytree): read on the host, since inside
    # jit even constants become tracers once converted.
    leaves = [np.asarray(leaf) for leaf in jax.tree_util.tree_leaves(u0)] if is_concrete(u0) else None
    if leaves is None:
        scale, eps = 1.0, float(np.finfo(np.float64).eps)
    else:
        scale = max((float(np.max(np.abs(leaf))) for leaf in leaves if leaf.size), default=0.0)
        eps = min((float(np.finfo(leaf.dtype if np.issubdtype(leaf.dtype, np.inexact) else np.float64).eps)
                   for leaf in leaves), default=0.0)
    if scale == 0.0 or float(np.min(np.asarray(atol))) >= REFINE_BELOW * eps * scale:
        return alg
    return alg.with_linear_solver(DenseLU(refine=True))


def default_dde_algorithm():
    """The method used for a `DDEProblem` when ``alg`` is None: MethodOfSteps(Tsit5())."""
    from ..delay import MethodOfSteps
    from ..solvers import Tsit5
    return MethodOfSteps(Tsit5())
