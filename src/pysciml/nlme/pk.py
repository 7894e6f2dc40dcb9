"""Closed-form linear compartment models: amounts in every compartment at the observation times.

A linear model's response to a unit bolus into compartment j is a sum of exponentials,
A_m(τ) = Σ_p C[j, m, p] exp(-λ_p τ). Each model supplies its decay rates λ and coefficients C; one engine
(`amounts`) then superposes every dose: bolus, zero-order infusion (the bolus response integrated over the
infusion), steady state (the geometric series over infinitely many past doses, summed in closed form), lag time
and bioavailability. A steady-state dose resets the system (NONMEM SS=1): doses before it are dropped.

Compartments follow NONMEM's ADVANs: with first-order absorption 1 = depot, 2 = central, 3 = peripheral
(ADVAN2/ADVAN4); without it 1 = central, 2 = peripheral (ADVAN1/ADVAN3).

Individual parameters are read by name: ``ka`` (absorption), ``cl`` and ``v`` (or ``k`` = cl/v), for two
compartments also ``q`` and ``vp``; optional ``F`` (bioavailability, multiplies every dose) and ``lag``
(absorption lag time, delays every dose).
"""
import jax
import jax.numpy as jnp


class ClosedForm:
    """Base of the closed-form models: ``n_states``, ``poles_and_coefficients(ind) -> (λ (P,), C (S, S, P))``."""
    n_states: int
    needs: tuple

    def check(self, ind):
        missing = [n for n in self.needs if n not in ind and not (n == "k" and "cl" in ind and "v" in ind)]
        if missing:
            raise ValueError(f"{type(self).__name__}: pre must return the individual parameter(s) {missing}; "
                             f"got {sorted(ind)}")

    def __call__(self, ind, subject, times):
        """Amounts (len(times), n_states) for one subject."""
        lam, C = self.poles_and_coefficients(ind)
        return amounts(lam, C, subject, times, ind.get("F", 1.0), ind.get("lag", 0.0))

    def varying(self, ind_at, subject, times):
        """Amounts at ``times`` when the individual parameters change with time-varying covariates:
        ``ind_at(t)`` gives the parameters in force from t on (piecewise constant between records)."""
        return varying_amounts(self, ind_at, subject, times)


def _elimination(ind):
    return ind["k"] if "k" in ind else ind["cl"] / ind["v"]


def _with_absorption(ka, lam, Cd):
    """Prepend a depot (first-order absorption at rate ka) to a disposition model (λ (P,), Cd (S, S, P)):
    depot input ka·exp(-ka τ) convolved with the central-bolus response."""
    P, S = lam.shape[0], Cd.shape[0]
    central = Cd[0]                                  # (S, P): response of each state to a central bolus
    via = ka * central / (ka - lam)                  # coefficient on exp(-λ_p τ)
    C = jnp.zeros((S + 1, S + 1, P + 1))
    C = C.at[0, 0, P].set(1.0)                       # depot empties at rate ka
    C = C.at[0, 1:, :P].set(via)
    C = C.at[0, 1:, P].set(-jnp.sum(via, axis=1))    # the amounts start at 0
    C = C.at[1:, 1:, :P].set(Cd)
    return jnp.concatenate([lam, jnp.reshape(ka, (1,))]), C


class OneCompartment(ClosedForm):
    """One compartment, linear elimination (``cl``, ``v`` or ``k``); ``oral=True`` adds a depot with
    first-order absorption ``ka`` (NONMEM ADVAN2; ADVAN1 without)."""

    def __init__(self, oral=True):
        self.oral = bool(oral)
        self.n_states = 2 if oral else 1
        self.needs = ("ka", "k") if oral else ("k",)

    def poles_and_coefficients(self, ind):
        """The unit-dose response as a sum of exponentials, for the individual parameters ``ind`` (``cl`` and
        ``v``, or ``k``; ``ka`` when oral). Returns (λ (P,), C (S, S, P)): a unit bolus into compartment d at
        time 0 leaves Σ_p C[d, s, p] exp(−λ_p t) in compartment s."""
        k = _elimination(ind)
        lam, Cd = jnp.reshape(k, (1,)), jnp.ones((1, 1, 1))
        return _with_absorption(ind["ka"], lam, Cd) if self.oral else (lam, Cd)


class TwoCompartment(ClosedForm):
    """Two compartments (central ``cl``, ``v``; peripheral ``q``, ``vp``); ``oral=True`` adds a depot with
    first-order absorption ``ka`` (NONMEM ADVAN4; ADVAN3 without)."""

    def __init__(self, oral=True):
        self.oral = bool(oral)
        self.n_states = 3 if oral else 2
        self.needs = ("ka", "cl", "v", "q", "vp") if oral else ("cl", "v", "q", "vp")

    def poles_and_coefficients(self, ind):
        """The unit-dose response as a sum of exponentials, for the individual parameters ``ind`` (``cl``, ``v``,
        ``q``, ``vp``; ``ka`` when oral): the macro constants α, β of the disposition (and ka). Returns
        (λ (P,), C (S, S, P)): a unit bolus into compartment d at time 0 leaves Σ_p C[d, s, p] exp(−λ_p t) in
        compartment s."""
        k10, k12, k21 = ind["cl"] / ind["v"], ind["q"] / ind["v"], ind["q"] / ind["vp"]
        s = k10 + k12 + k21
        root = jnp.sqrt(s * s - 4.0 * k10 * k21)
        alpha, beta = 0.5 * (s + root), 0.5 * (s - root)
        d = alpha - beta
        # central bolus: A1 = [(α-k21) e^-αt + (k21-β) e^-βt]/(α-β), A2 = k12 (e^-βt - e^-αt)/(α-β);
        # peripheral bolus: the same with k21 -> k10 + k12 and k12 -> k21 (Gibaldi & Perrier, Pharmacokinetics)
        Cd = jnp.array([[[alpha - k21, k21 - beta], [-k12, k12]],
                        [[-k21, k21], [alpha - k10 - k12, k10 + k12 - beta]]]) / d
        lam = jnp.stack([alpha, beta])
        return _with_absorption(ind["ka"], lam, Cd) if self.oral else (lam, Cd)


def amounts(lam, C, subject, times, F=1.0, lag=0.0):
    """Superpose every dose of ``subject`` at ``times``: (len(times), S) amounts."""
    t = times[:, None]                                   # (M, 1)
    td = subject.dose_time[None, :] + lag                # (1, D)
    amt = F * subject.dose_amt[None, :]
    rate = subject.dose_rate[None, :]
    ss = subject.dose_ss[None, :] > 0
    ii = jnp.where(subject.dose_ii > 0, subject.dose_ii, 1.0)[None, :, None]
    Cj = C[subject.dose_cmt]                             # (D, S, P): response to a unit dose of each dose
    tau = t - td                                         # (M, D)
    given = tau >= 0
    # a steady-state dose resets the system: only doses at or after the latest SS dose given by t count
    reset = jnp.max(jnp.where(given & ss, td, -jnp.inf), axis=1, keepdims=True)
    live = given & (td >= reset)
    tau = jnp.where(live, tau, 0.0)[..., None]           # (M, D, 1)
    lam = lam[None, None, :]
    infusion = (rate > 0)[..., None]
    duration = jnp.where(rate > 0, amt / jnp.where(rate > 0, rate, 1.0), 0.0)[..., None]
    u = jnp.clip(tau, 0.0, duration)
    # bolus: amt e^{-λτ}; infusion: rate ∫_0^u e^{-λ(τ-s)} ds = rate (e^{-λ(τ-u)} - e^{-λτ}) / λ
    single = jnp.where(infusion, rate[..., None] * (jnp.exp(-lam * (tau - u)) - jnp.exp(-lam * tau)) / lam,
                       amt[..., None] * jnp.exp(-lam * tau))
    # steady state adds the doses at td - n·II, n ≥ 1 (each a finished infusion): a geometric series in e^{-λ II}
    tail = jnp.exp(-lam * ii) / (-jnp.expm1(-lam * ii))
    past = jnp.where(infusion, rate[..., None] * (jnp.exp(-lam * (tau - duration)) - jnp.exp(-lam * tau)) / lam,
                     amt[..., None] * jnp.exp(-lam * tau)) * tail
    per_pole = jnp.where(live[..., None], single + jnp.where(ss[..., None], past, 0.0), 0.0)   # (M, D, P)
    return jnp.einsum("mdp,dsp->ms", per_pole, Cj)


def varying_amounts(model, ind_at, subject, times):
    """Amounts (len(times), S) with piecewise-constant parameters: the system is carried from one event to the
    next by its transition matrix Φ(τ) = Σ_p C[:, :, p] e^{-λ_p τ} with the parameters in force at the start of
    the interval (``ind_at``), running infusions adding rate·Σ_p C (1 - e^{-λ_p τ})/λ_p, boluses added at their
    time. The events (dose starts, infusion ends, covariate changes, observations) are sorted once; a `scan`
    over them is the only sequential part. A dose's F and lag are its own record's (``ind_at(dose time)``).
    Steady-state doses are refused (`Model.check`): their history would need the covariates before the data."""
    D, K, M = subject.dose_time.shape[0], subject.cov_time.shape[0], times.shape[0]
    at_dose = jax.vmap(ind_at)(subject.dose_time)
    F = at_dose.get("F", jnp.ones(D))
    td = subject.dose_time + at_dose.get("lag", jnp.zeros(D))
    amt = F * subject.dose_amt
    rate = subject.dose_rate
    infusion = rate > 0
    end = td + jnp.where(infusion, amt / jnp.where(infusion, rate, 1.0), 0.0)
    # ties keep this order (a stable sort): doses, infusion ends, covariate changes, then observations, so an
    # observation at a dose time sees the dose (NONMEM: dose record first)
    t_all = jnp.concatenate([td, end, subject.cov_time, times])
    order = jnp.argsort(t_all, stable=True)
    ts = t_all[order]
    t_prev = jnp.concatenate([ts[:1], ts[:-1]])
    lam, C = jax.vmap(lambda t: model.poles_and_coefficients(ind_at(t)))(t_prev)   # (E, P), (E, S, S, P)
    S = C.shape[1]
    onehot = jax.nn.one_hot(subject.dose_cmt, S)                                    # (D, S)
    bolus_of = jnp.where(order < D, order, 0)
    bolus = jnp.where((order < D)[:, None], (jnp.where(infusion, 0.0, amt)[:, None] * onehot)[bolus_of], 0.0)

    def advance(A, k):
        tau = ts[k] - t_prev[k]
        decay = jnp.exp(-lam[k] * tau)                                              # (P,)
        running = infusion & (td <= t_prev[k]) & (end >= ts[k]) & (tau > 0)
        inflow = jnp.where(running, rate, 0.0) @ onehot                             # (S,) rate into each cmt
        gain = -jnp.expm1(-lam[k] * tau) / lam[k]
        A = jnp.einsum("j,jmp,p->m", A, C[k], decay) + jnp.einsum("j,jmp,p->m", inflow, C[k], gain) + bolus[k]
        return A, A

    _, A_all = jax.lax.scan(advance, jnp.zeros(S, lam.dtype), jnp.arange(ts.shape[0]))
    position = jnp.argsort(order)                                                   # entry -> sorted index
    return A_all[position[2 * D + K:]]
