"""Dynamics given as an ODE, solved with `pysciml.solve` once per subject (vmapped over subjects).

Boluses enter through a `PresetTimeCallback` at the dose times (the affect adds every dose given at that time),
zero-order infusions as a piecewise-constant input in the right-hand side with the start and end of each
infusion in ``tstops``, so the solver steps onto every discontinuity. ``F`` and ``lag`` individual parameters
scale and delay the doses as in the closed forms (a lag time's effect on the dose *time* is not differentiated).
"""
import jax
import jax.numpy as jnp

from ..callbacks import PresetTimeCallback
from ..problems import ODEProblem
from ..solve import solve
from ..sensitivity import ForwardDiffSensitivity
from ..solvers import Tsit5


class ODE:
    """``ODE(f, n_states, alg=Tsit5(), rtol=1e-8, atol=1e-10)`` with ``f(A, ind, t) -> dA/dt`` (amounts,
    individual parameters from ``pre``, time). An individual parameter may be any pytree, e.g. a network's
    weights passed through by ``pre`` for a UDE term (``mlp(A, ind["w"])`` inside ``f``). Compartment j of the data (CMT, 1-based) is ``A[j - 1]``.
    ``steady_state=True`` serves SS=1 doses by a periodic solve (`_periodic`); it costs a few solves per dose
    slot, so it is asked for explicitly (a population with SS doses is refused otherwise). ``max_steps``: the
    solver's step limit per solve; ``sensealg``: the sensitivity method of the solves (None: `solve`'s default).
    The solves are differentiated in forward mode."""

    def __init__(self, f, n_states, alg=None, *, rtol=1e-8, atol=1e-10, max_steps=4096, sensealg=None,
                 steady_state=False):
        if not callable(f):
            raise TypeError(f"ODE: f must be callable f(A, ind, t); got {f!r}")
        if not (isinstance(n_states, int) and n_states >= 1):
            raise ValueError(f"ODE: n_states must be a positive integer; got {n_states!r}")
        self.f, self.n_states = f, n_states
        self.alg = Tsit5() if alg is None else alg
        self.rtol, self.atol, self.max_steps, self.sensealg = rtol, atol, max_steps, sensealg
        self.steady_state = bool(steady_state)
        self.needs = ()

    forward_only = True     # nlme differentiates the solves in forward mode (see Model.forward_only)

    def check(self, ind):
        """Checks the individual parameters ``ind`` returned by ``pre`` (nothing to check: ``f`` reads what it
        needs). Returns None."""
        pass

    def __call__(self, ind, subject, times):
        return self.from_table(self.table(lambda t: ind, subject), subject, times)

    def varying(self, ind_at, subject, times):
        """Amounts with parameters that change at the covariate change times (``ind_at(t)``: those in force
        from t on); the change times are solver stops, so each step sees one set of parameters. ``subject``: one
        subject's `Subjects`; ``times``: the output times. Returns the amounts, shape (len(times), n_states)."""
        return self.from_table(self.table(ind_at, subject), subject, times)

    @staticmethod
    def table(ind_at, subject):
        """The individual parameters the solve reads, one row per covariate change time (a leading axis on every
        leaf, scalars and arrays alike, e.g. a network's weights for a UDE term; one row without time-varying
        covariates). ``ind_at(t)``: the parameters in force from t on. Returns the table (a pytree)."""
        if subject.cov_time.shape[-1] > 1:
            return jax.vmap(ind_at)(subject.cov_time)
        return jax.tree_util.tree_map(lambda x: jnp.asarray(x)[None], ind_at(subject.cov_time[0]))

    def from_table(self, table, subject, times):
        """The amounts from a `table` of individual parameters (the one function of the parameters that solves:
        what `nlme.expansion` expands). ``subject``: one subject's `Subjects`; ``times``: the output times.
        Returns the amounts at ``times``, shape (len(times), n_states)."""
        if subject.cov_time.shape[-1] > 1:
            return self._solve(table, subject.cov_time, subject, times, changes=True)
        return self._solve(table, jnp.zeros(1), subject, times, changes=False)

    def _solve(self, table, cov_time, subject, times, changes):
        S = self.n_states
        # the parameters enter the problem as p (a table: one row per covariate change), never closed over,
        # so every sensitivity method sees them
        index = lambda t: jnp.clip(jnp.sum(cov_time <= t) - 1, 0, cov_time.shape[0] - 1)
        row = lambda tab, t: jax.tree_util.tree_map(lambda v: v[index(t)], tab)
        at_dose = jax.vmap(lambda t: row(table, t))(subject.dose_time)
        D = subject.dose_time.shape[0]
        F, lag = at_dose.get("F", jnp.ones(D)), at_dose.get("lag", jnp.zeros(D))
        td = subject.dose_time + jax.lax.stop_gradient(lag)
        amt = F * subject.dose_amt
        rate = subject.dose_rate
        infusion = rate > 0
        duration = jnp.where(infusion, amt / jnp.where(infusion, rate, 1.0), 0.0)
        onehot = jax.nn.one_hot(subject.dose_cmt, S)                               # (D, S)
        bolus = jnp.where(infusion, 0.0, amt)
        t0 = jnp.minimum(jnp.min(td), jnp.min(times))
        t1 = jnp.maximum(jnp.max(times), t0 + 1e-9)
        f = self.f

        def rhs(A, p, t):
            tab = p[0]
            running = infusion & (t >= td) & (t < td + duration)
            return f(A, row(tab, t), t) + jnp.where(running, rate, 0.0) @ onehot

        ss = subject.dose_ss > 0
        if self.steady_state:
            at_ss = jax.vmap(lambda t: row(table, t))(subject.dose_time)
            A_ss = jax.vmap(lambda ind, a, r, d, ii: self._periodic(ind, a, r, d, ii))(
                at_ss, bolus[:, None] * onehot, jnp.where(infusion, rate, 0.0)[:, None] * onehot, duration,
                jnp.where(ss, subject.dose_ii, 1.0))                               # (D, S)
        else:
            A_ss = jnp.zeros((D, S))

        def affect(A, p, t):
            now = jnp.abs(t - td) <= 1e-12 * (1 + jnp.abs(t))
            # a steady-state dose resets the system to its periodic state (NONMEM SS=1); others add their bolus
            if self.steady_state:
                reset = jnp.any(now & ss)
                A = jnp.where(reset, jnp.where((now & ss)[:, None], p[1], 0.0).sum(axis=0), A)
            return A + jnp.where(now & ~ss, bolus, 0.0) @ onehot

        stops = jnp.concatenate([td, td + duration] + ([cov_time] if changes else []))
        # the periodic states are parameters only when asked for: forward sensitivities cost one direction per
        # float parameter
        prob = ODEProblem(rhs, jnp.zeros(S), (t0, t1), (table, A_ss) if self.steady_state else (table,))
        sol = solve(prob, self.alg, rtol=self.rtol, atol=self.atol, saveat=times, tstops=stops,
                       callback=PresetTimeCallback(td, affect, save_positions=(False, False)),
                       max_steps=self.max_steps, sensealg=self.sensealg)
        # An observation at a dose time sees the dose (as in the closed forms and NONMEM, dose record first);
        # the solver saves such a point before the callback fires, except at the start of the span
        at_dose = (jnp.abs(times[:, None] - td[None, :]) <= 1e-12 * (1 + jnp.abs(times[:, None]))) & (td > t0)
        u = jnp.where(jnp.any(at_dose & ss, axis=1, keepdims=True),
                      jnp.where((at_dose & ss)[..., None], A_ss[None], 0.0).sum(axis=1), sol.u)
        return u + jnp.where(at_dose & ~ss, bolus[None, :], 0.0) @ onehot

    def _periodic(self, ind, bolus, inflow, duration, ii):
        """The state at the start of a dosing interval at steady state (NONMEM SS=1): the fixed point X of the
        period map P (add the bolus, run the infusion for its duration, integrate over II), X = P(X), found by
        Newton's method on P(X) − X with P's Jacobian from forward-mode derivatives of the solve (one step is
        exact for linear dynamics), and differentiated implicitly (`custom_root`). Returns the state just after
        the dose: X + bolus."""
        f, S = self.f, self.n_states

        def period(X, p):
            ind_p, b, r, d, T = p
            rhs = lambda A, q, t: f(A, q[0], t) + jnp.where(t < q[3], q[2], 0.0)
            prob = ODEProblem(rhs, X + b, (0.0, T), p)
            sol = solve(prob, self.alg, rtol=self.rtol, atol=self.atol, saveat=jnp.reshape(T, (1,)),
                        tstops=jnp.reshape(d, (1,)), max_steps=self.max_steps, sensealg=ForwardDiffSensitivity())
            return sol.u[-1]

        p = (ind, bolus, inflow, duration, ii)
        g = lambda X: period(X, p) - X

        def newton(g_, X0):
            def with_value(X):
                v = g_(X)
                return v, v

            def body(_, X):
                # the residual as the Jacobian's auxiliary: one traced solve, not two
                J, gX = jax.jacfwd(with_value, has_aux=True)(X)
                return X - jnp.linalg.solve(J, gX)
            return jax.lax.fori_loop(0, 6, body, X0)

        X = jax.lax.custom_root(g, jnp.zeros(S), newton, lambda g_, y: jnp.linalg.solve(jax.jacfwd(g_)(y), y))
        return X + bolus
