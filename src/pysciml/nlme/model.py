"""`Model`: fixed effects with domains, random effects η ~ N(0, Ω), ``pre`` (individual parameters), dynamics
(closed form or ODE), ``observe`` (predictions from amounts) and a residual error model.

Everything the estimation needs from a model is `predict`: for one subject, the predictions at its observation
times as a pure function of (fixed effects, η), which is what gets vmapped over subjects and differentiated
with respect to η and the fixed effects.
"""
import jax
import jax.numpy as jnp
import numpy as np

from .data import covariates_at
from .errors import ErrorModel
from .ode import ODE
from .parameters import DiagonalCov, FullCov, ParameterSpace


def _central_concentration(n_states, oral):
    central = 1 if oral else 0

    def observe(ind, A, cov):
        return A[central] / ind["v"]
    return observe


class Model:
    """A nonlinear mixed-effects model.

    ``fixed``: dict name -> domain (`Real`, `Positive`, `Bounded`, `DiagonalCov`, `FullCov`, `NetworkWeights`),
    in the order reported (``pre`` receives a network's weights as their pytree). ``omega``: the name of the fixed effect (a covariance domain) that is Ω; η has its dimension.
    ``pre(θ, η, cov) -> dict`` of individual parameters (θ: dict of natural values, η: vector, cov: dict of
    the subject's covariates). ``dynamics``: `OneCompartment`, `TwoCompartment` or `ODE`.
    ``observe(ind, A, cov)``: the prediction from the amounts ``A`` (one per compartment); default: the
    central amount over ``ind["v"]``. It may return a vector, one entry per output; an observation's DVID picks
    its entry. ``error``: `Additive`, `Proportional`, `Combined` or `Exponential`.
    """

    def __init__(self, fixed, omega, pre, dynamics, error, observe=None):
        self.space = ParameterSpace(fixed)
        if omega not in self.space.domains or not isinstance(self.space.domains[omega], (DiagonalCov, FullCov)):
            raise ValueError(f"Model: omega must name a fixed effect with a covariance domain (DiagonalCov or "
                             f"FullCov); got {omega!r}")
        if not callable(pre):
            raise TypeError(f"Model: pre must be callable pre(theta, eta, cov); got {pre!r}")
        if not isinstance(error, ErrorModel):
            raise TypeError(f"Model: error must be an error model (Additive, Proportional, Combined, Exponential); "
                            f"got {error!r}")
        for n in error.names:
            if n not in self.space.domains:
                raise ValueError(f"Model: the error model reads the fixed effect {n!r}, which is not in fixed "
                                 f"({self.space.names})")
        self.omega_name, self.pre, self.dynamics, self.error = omega, pre, dynamics, error
        self.n_eta = self.space.domains[omega].dim
        if observe is None:
            if not hasattr(dynamics, "oral"):
                raise ValueError("Model: an ODE model needs observe(ind, A, cov) (which compartment, which scale)")
            observe = _central_concentration(dynamics.n_states, dynamics.oral)
        self.observe = observe

    @property
    def forward_only(self):
        """Whether derivatives must be taken in forward mode (ODE dynamics: the solver's adaptive loop can be
        differentiated forward at any nesting depth, but not transposed for reverse mode)."""
        return bool(getattr(self.dynamics, "forward_only", False))

    def omega(self, theta):
        """Ω, the covariance of η: returns the fixed effect named ``omega`` from ``theta`` (dict of natural
        values)."""
        return theta[self.omega_name]

    def individual(self, theta, eta, cov):
        """One subject's individual parameters: returns ``pre(theta, eta, cov)`` (``theta``: dict of natural
        values, ``eta``: the subject's random effects, ``cov``: its covariates)."""
        return self.pre(theta, eta, cov)

    def table(self, theta, eta, subject):
        """The individual parameters the dynamics read for one subject at (``theta``, ``eta``): one row per
        covariate change time (`ODE.table`; one row without time-varying covariates). Returns the table (a
        pytree): the amounts depend on (θ, η) only through it (`amounts`)."""
        if subject.cov_time.shape[-1] > 1:
            return ODE.table(lambda t: self.pre(theta, eta, covariates_at(subject, t)), subject)
        return ODE.table(lambda t: self.pre(theta, eta, subject.covariates), subject)

    def amounts(self, table, subject):
        """The amounts from a `table` of individual parameters for one ``subject`` (its `Subjects`): returns them
        at the subject's observation times, shape (M, S)."""
        if isinstance(self.dynamics, ODE):
            return self.dynamics.from_table(table, subject, subject.obs_time)
        if subject.cov_time.shape[-1] > 1:
            # the row in force at t, as `covariates_at` picks the covariates (LOCF)
            row = lambda t: jax.tree_util.tree_map(
                lambda v: v[jnp.clip(jnp.sum(subject.cov_time <= t) - 1, 0, subject.cov_time.shape[-1] - 1)], table)
            return self.dynamics.varying(row, subject, subject.obs_time)
        return self.dynamics(jax.tree_util.tree_map(lambda v: v[0], table), subject, subject.obs_time)

    def predict(self, theta, eta, subject, amounts=None):
        """Predictions at one subject's observation times, a pure function of the fixed effects ``theta`` (dict of
        natural values as JAX arrays) and the random effects ``eta`` (vector of length n_eta); ``subject``: one
        subject's `Subjects` (unbatched arrays). Returns the predictions, shape (M,), each observation's output
        picked by its DVID. With time-varying
        covariates (a static property of the data's shape) ``pre`` is evaluated at every event time with the
        covariates in force then (LOCF), and ``observe`` with those at the observation time.
        ``amounts``: a function table -> amounts at the observation times (M, S) that stands in for the
        dynamics (a local expansion of them, `nlme.expansion`); None: the dynamics themselves."""
        if subject.cov_time.shape[-1] > 1:
            ind_at = lambda t: self.pre(theta, eta, covariates_at(subject, t))
            A = (self.dynamics.varying(ind_at, subject, subject.obs_time) if amounts is None else
                 amounts(ODE.table(ind_at, subject)))
            out = jax.vmap(lambda a, t: jnp.atleast_1d(self.observe(ind_at(t), a, covariates_at(subject, t))))(
                A, subject.obs_time)
        else:
            ind = self.pre(theta, eta, subject.covariates)
            A = (self.dynamics(ind, subject, subject.obs_time) if amounts is None else
                 amounts(ODE.table(lambda t: ind, subject)))             # (M, S)
            out = jax.vmap(lambda a: jnp.atleast_1d(self.observe(ind, a, subject.covariates)))(A)   # (M, K)
        return jnp.take_along_axis(out, jnp.clip(subject.dvid, 0, out.shape[1] - 1)[:, None], axis=1)[:, 0]

    def check(self, population, theta=None):
        """Errors a fit would hit, found before compiling: compartments, steady-state doses, covariates, pre's
        output names. ``population``: the `Population` to be fitted; ``theta``: the fixed effects ``pre`` is
        traced with (default: the initial values). Returns None; raises ValueError/TypeError naming the problem."""
        subjects = population.subjects
        S = self.dynamics.n_states
        bad = np.argwhere(np.asarray(subjects.dose_cmt) >= S)
        if bad.size:
            n, j = bad[0]
            raise ValueError(f"subject {population.ids[n]!r}: a dose into compartment {int(subjects.dose_cmt[n, j]) + 1}"
                             f", but the model has {S} compartment(s)")
        if np.any(np.asarray(subjects.dose_ss) > 0) and not (
                hasattr(self.dynamics, "poles_and_coefficients") or getattr(self.dynamics, "steady_state", False)):
            raise ValueError("steady-state doses (SS=1) need a closed-form model (OneCompartment, TwoCompartment) "
                             "or ODE(..., steady_state=True) (a periodic solve per dose)")
        if population.time_varying and np.any(np.asarray(subjects.dose_ss) > 0):
            n = int(np.argmax(np.any(np.asarray(subjects.dose_ss) > 0, axis=1)))
            raise ValueError(f"subject {population.ids[n]!r}: steady-state doses (SS=1) with time-varying "
                             "covariates are not supported (the steady state would need the covariates before "
                             "the data)")
        theta = self.space.initial() if theta is None else theta
        first = jax.tree_util.tree_map(lambda x: x[0], subjects)
        try:
            ind = jax.eval_shape(lambda: self.pre(self.space.arrays(theta),
                                                  jnp.zeros(self.n_eta), first.covariates))
        except KeyError as e:
            raise ValueError(f"pre reads {e} which is neither a fixed effect ({self.space.names}) nor a covariate "
                             f"of the population ({list(population.covariate_names)})") from None
        if not isinstance(ind, dict):
            raise TypeError(f"pre must return a dict of individual parameters; got {type(ind).__name__}")
        self.dynamics.check(ind)
