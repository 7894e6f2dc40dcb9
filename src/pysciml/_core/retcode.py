"""Return codes: why a solve stopped, each with a message that says what to do about it."""
from enum import IntEnum

import jax.numpy as jnp

from .trees import is_concrete


class ReturnCode(IntEnum):
    """Outcome of a solve. Inside ``jit`` it is an int array; outside it converts to this enum."""

    Success = 0
    MaxIters = 1
    DtLessThanMin = 2
    Unstable = 3
    Terminated = 4
    Default = 5
    ConvergenceFailure = 6
    MaxEvents = 7
    InitializationFailure = 8

    def __str__(self) -> str:
        return f"ReturnCode.{self.name}"

    @property
    def message(self) -> str:
        return _MESSAGES[self]

    @property
    def successful(self) -> bool:
        return self in (ReturnCode.Success, ReturnCode.Terminated)


_MESSAGES = {
    ReturnCode.Success: "The solve reached the end of the time span.",
    ReturnCode.MaxIters: (
        "The solve stopped after max_steps steps before reaching the end of the time span. If the problem is "
        "stiff (very different time scales, explicit methods crawling with tiny steps), use a stiff (implicit) "
        "method; otherwise raise max_steps or loosen rtol/atol."),
    ReturnCode.DtLessThanMin: (
        "The step size fell below dtmin: the solution may have a singularity (blow-up) or a discontinuity "
        "near the time reached. Check the model, lower dtmin, or add the discontinuity time to tstops."),
    ReturnCode.Unstable: (
        "The solution or f became NaN/Inf. Check f for divisions by zero, logarithms or square roots of "
        "negative values, or a blow-up; with a fixed-step method, try a smaller dt."),
    ReturnCode.Terminated: "The solve was stopped early on purpose (a callback terminated it).",
    ReturnCode.Default: "The solve has not run.",
    ReturnCode.ConvergenceFailure: (
        "The implicit method's Newton iteration kept failing until the step size fell below dtmin (with fixed "
        "steps, adaptive=False: at the first step whose stage had no converged solve; try a smaller dt). Check that "
        "f is smooth where the solution goes (a jump or kink such as sign(u), abs(u) or a switch needs a "
        "callback or tstops at the switching time), that a user-supplied jac matches f (try without it), and "
        "for a DAE that it has index 1 with solvable algebraic equations; loosening rtol/atol can also help."),
    ReturnCode.MaxEvents: (
        "The solve stopped at the event after max_events continuous events (the solution ends just before it). "
        "Raise solve(..., max_events=...), or, if the events pile up (a ball coming to rest bounces ever "
        "faster, a Zeno point), make an affect stop it with pysciml.terminate(u) or change the model there."),
    ReturnCode.InitializationFailure: (
        "The DAE's algebraic equations could not be solved at t0 for consistent initial values (Newton on the "
        "algebraic variables, the differential ones held at u0, did not converge to the tolerance). Start closer "
        "to a consistent state (give algebraic values that nearly satisfy the constraints), and check that the "
        "DAE has index 1: each algebraic equation must be solvable for its algebraic variable."),
}


def as_retcode(code):
    """A solution's return code for users: the `ReturnCode` member when ``code`` is one concrete value, else
    the array as it is (traced under jit, or one code per trajectory)."""
    if is_concrete(code) and jnp.ndim(code) == 0:
        return ReturnCode(int(code))
    return code
