"""What the integration loop needs from a method: the `Algorithm` interface.

A method is pure: `init` gives its state at t0, `step` takes one step and returns a `StepResult`. It knows
nothing of controllers, saving or events. Dense output has one form for every family (see
`interpolation.dense`): the step's stored stage vectors k_j, optional lazily evaluated extra stages, and
polynomial weights, exposed as `interpolant`.
"""
import abc
import copy
from typing import ClassVar, NamedTuple

import jax.numpy as jnp

from .._core.norms import scaled_error_norm


class StepResult(NamedTuple):
    u: jnp.ndarray          # candidate state at t + dt
    error: jnp.ndarray      # scaled error norm (0 for fixed-step methods)
    state: object           # solver state after the step, used when it is accepted
    stages: jnp.ndarray     # (n_stages, n) stage vectors for dense output
    rejected_state: object = None   # solver state to keep when the step is rejected (None: the old one);
    #                                 lets implicit methods keep a fresh Jacobian across a rejection
    newton_failed: jnp.ndarray | None = None   # bool (implicit methods): the step failed because its Newton
    #                                 iteration did not converge; the loop reports ConvergenceFailure if
    #                                 the step size then underflows
    dt_factor: object = None        # the method's own factor for the next step size (None: the loop's
    #                                 controller decides). Given, the loop accepts iff error ≤ 1 and
    #                                 proposes dt·dt_factor (bounded by dtmax and landing on tstops);
    #                                 for methods whose step and order selection belong together (BDF)


class Algorithm(abc.ABC):
    """Base of every method. Methods carry no per-instance data unless they say so (`_config`): equal by
    type and configuration, so `jax.jit` caches hit across equal instances. Every method also belongs to
    one of the families below (`ExplicitRungeKutta`, `LinearlyImplicit`, `NewtonImplicit`, `Multistep`,
    `Wrapped`): consumers ask ``isinstance(alg, Family)`` for a capability, never a name."""

    supports_mass_matrix: ClassVar[bool] = False   # can solve M du/dt = f (see `step`'s ``mass``)

    def _config(self) -> tuple:
        """The instance's options that change the compiled program, as (name, value) pairs of hashable
        values; empty for methods without options."""
        return ()

    def __eq__(self, other):
        return type(self) is type(other) and self._config() == other._config()

    def __hash__(self):
        return hash((type(self), self._config()))

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self._config())})"

    # --- properties every method defines ---------------------------------------------------------
    order: int
    dense_order: int
    adaptive: bool
    controller_order: int      # q in the step-size exponent 1/(q+1)
    interpolant: object        # dense_weights, c_extra, a_extra
    n_stages: int              # stage vectors stored per step
    evals_per_step: int        # f evaluations per attempted step
    initial_evals: int = 0     # f evaluations made by init

    # Tolerance proportionality. A method that advances with the lower-order solution of its pair (no local
    # extrapolation: TRBDF2, Rosenbrock23) and keeps each step's estimated error O(h^(p+1)) ≤ tol takes
    # h ∝ tol^(1/(p+1)), so its global error, O(h^p), is ∝ tol^(p/(p+1)): an order-2 method loses a third
    # of a digit per decade of rtol (measured on the stiff test set: 0.7 digits gained per decade, 3 to 4
    # digits short of rtol at 1e-8 … 1e-10). Controlling the step with rtol^e, e = (p+1)/p, and atol
    # scaled by the same factor (so atol/rtol, the threshold between relative and absolute control, is
    # unchanged — the rule of Hairer's RADAU5, which transforms its tolerances for the same reason, there
    # in the other direction) makes the global error ∝ rtol. Methods with local extrapolation or an
    # embedded estimate one order below the advanced solution are already proportional: e = 1.
    tolerance_exponent: float = 1.0

    def step_tolerances(self, rtol, atol):
        """(rtol, atol) the step control uses for the user's tolerances: rtol^e and atol·rtol^(e−1) with
        e = `tolerance_exponent` (unchanged where rtol = 0, i.e. pure absolute control). Returns the pair."""
        e = self.tolerance_exponent
        if e == 1.0:
            return rtol, atol
        factor = jnp.where(rtol > 0, rtol, 1.0) ** (e - 1.0)
        return rtol * factor, atol * factor

    def error_norm(self, rtol, atol):
        """The scaled error norm ``norm(err, u, u_new)`` the method's steps are controlled with for the user's
        tolerances ``rtol``, ``atol`` (through `step_tolerances`): one definition for the loop and every replay of
        its steps. Returns the function norm(err, u, u_new)."""
        rtol, atol = self.step_tolerances(rtol, atol)
        return lambda err, u, u_new: scaled_error_norm(err, u, u_new, rtol, atol)

    @property
    def linear_solver(self):
        """The `linalg.LinearSolver` of the method's implicit part (``linsolve=``), or None: the one place
        that answers, for single methods and for composites (which delegate to their stiff half)."""
        return getattr(self, "linsolve", None)

    @abc.abstractmethod
    def init(self, f, t0, u0, p):
        """The method's state at (``t0``, ``u0``) for the right-hand side ``f`` and parameters ``p`` (carried
        from step to step: FSAL stage, Jacobian, counters). Returns the state (a pytree; () when none)."""

    def initial_derivative(self, f, t0, u0, p, state):
        """f(``u0``, ``p``, ``t0``), reusing the solver ``state`` when it holds it (for the initial step estimate).
        Returns the derivative, shaped like u0."""
        return f(u0, p, t0)

    @abc.abstractmethod
    def step(self, f, t, u, control, p, state, error_norm) -> StepResult:
        """One step from (t, u). ``f``: the right-hand side as `problems.Terms` (called as f(u, p, t); ``f.mass``
        the mass matrix M of M du/dt = f, None for the identity; a plain callable is taken as terms without
        a mass matrix, see `as_terms`). ``control``: what drives the step, ``f.control(t, dt, p)`` — the step
        size dt for ODE methods (which name it ``dt``); an SDE method receives (dt,
        `noise.BrownianIncrement`(W=ΔW, H)) from `problems.sde.SDETerms`.
        ``p``: the parameters; ``state``: the method's state from `init` or the previous step.
        ``error_norm(err, u, u_new)`` scales an error vector. Returns the `StepResult` (candidate state, scaled
        error, state after the step, stages for dense output)."""

    def extra_stats(self, n_steps, n_accepted) -> dict:
        """Method-specific counters (Jacobians, factorizations) derived from the step counts ``n_steps``
        (attempted) and ``n_accepted``. Returns a dict (empty by default)."""
        return {}

    def state_stats(self, state) -> dict:
        """Counters kept in the final solver state. ``nf_steps``, if given, is the exact number of f
        evaluations made by the steps (replacing nsteps × evals_per_step in ``nf``). Returns a dict (empty by
        default)."""
        return {}


# --- families: capabilities as types ------------------------------------------------------------------

class ExplicitRungeKutta(Algorithm):
    """Explicit Runge–Kutta methods: a step is a fixed sequence of f evaluations. Their tableau knows its
    stability boundary (the stiffness hint of a failed solve reads it), and the sensitivity equations
    stepped by the method itself are the exact derivative of its steps (`ForwardDiffSensitivity`)."""


class LinearlyImplicit(Algorithm):
    """Rosenbrock (linearly implicit) methods: each stage solves one linear system with W = M/(γh) − J,
    with no iteration to a tolerance."""


class NewtonImplicit(Algorithm):
    """Implicit methods whose stages are solved by a (simplified) Newton iteration to a tolerance (ESDIRK,
    Radau IIA, BDF): not replayable by reverse-mode AD of the steps.

    ``refresh_on_failure`` (set by `for_fixed_steps`, which `solve` applies with adaptive=False): a stage whose
    iteration with the reused Jacobian fails is solved again with the Jacobian refreshed at every iterate
    (full Newton) before the step gives up. An adaptive solve instead rejects the step and retries it with a
    fresh Jacobian and a smaller step, the strategy its step counts are tuned to; a fixed-step solve has no
    smaller step, and at tight tolerances a stale Jacobian's linear rate (θ ~ 0.02) cannot reach κ in
    ``max_newton`` iterations where full Newton's quadratic rate does in two or three."""

    refresh_on_failure = False

    def for_fixed_steps(self):
        """Returns a copy of this method for fixed-step solves (``refresh_on_failure`` on); methods that do not
        use the flag return themselves."""
        if not self.uses_refresh:
            return self
        method = copy.copy(self)
        method.refresh_on_failure = True
        return method

    uses_refresh: ClassVar[bool] = False   # the family implements refresh_on_failure

    def _config(self) -> tuple:
        return super()._config() + ((("refresh_on_failure", True),) if self.refresh_on_failure else ())

    @staticmethod
    def failed_step(u_new, converged):
        """u_new where the Newton solves ``converged``, NaN elsewhere. A step whose iteration did not converge
        also returns error = +inf, which an adaptive solve rejects; a fixed-step solve reads no error estimate,
        so the NaN is what stops it (with ReturnCode.ConvergenceFailure, the step flagging ``newton_failed``)
        instead of carrying an unconverged iterate on as if it were a solution."""
        return jnp.where(converged, u_new, jnp.nan)


class Multistep(NewtonImplicit):
    """Multistep methods (BDF): the state holds past steps, so the method cannot take over from another
    method mid-solve."""


class Wrapped(Algorithm):
    """Methods built on other methods (`AutoSwitch`, `MethodOfSteps`); ``wrapped`` lists them."""

    wrapped: tuple


# One-step families whose step is a fixed sequence of f evaluations and linear solves (no iteration to a
# tolerance): their steps can be replayed and differentiated exactly (`DiscreteAdjoint`), and repeated as
# fixed-point passes over delayed values (`MethodOfSteps`).
NON_ITERATIVE = (ExplicitRungeKutta, LinearlyImplicit)


class TableauMethod(Algorithm):
    """A method defined by one validated tableau (the class attribute ``tableau``): orders, dense output
    and stage count come from it. Families (explicit RK, Rosenbrock, ESDIRK) subclass this."""

    tableau: ClassVar[object]

    @property
    def order(self) -> int:
        return self.tableau.order

    @property
    def dense_order(self) -> int:
        return self.tableau.dense_order

    @property
    def controller_order(self) -> int:
        """q in the step-size exponent 1/(q+1): the lower of the pair's orders."""
        return min(self.tableau.order, self.tableau.embedded_order)

    @property
    def tolerance_exponent(self) -> float:
        """(p+1)/p when the advanced solution (order p) is the lower-order one of the pair, else 1 (see
        `Algorithm.tolerance_exponent`)."""
        if not self.adaptive or self.tableau.order > self.tableau.embedded_order:
            return 1.0
        return (self.tableau.order + 1) / self.tableau.order

    @property
    def interpolant(self):
        return self.tableau

    @property
    def n_stages(self) -> int:
        return self.tableau.stages
