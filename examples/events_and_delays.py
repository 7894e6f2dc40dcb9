"""pysciml events and delay equations: a bouncing ball, bolus dosing and the Mackey–Glass attractor, checked.

Each case is compared with an independent answer and its error printed:
1. a ball dropped from 1 m bouncing with restitution e = 0.9 (a `ContinuousCallback` on the height):
   every impact time against the analytic geometric sequence;
2. one-compartment pharmacokinetics with intravenous bolus doses (a `PresetTimeCallback`): the
   concentration against the analytic superposition of exponentials;
3. the Mackey–Glass delay equation (β = 0.2, γ = 0.1, n = 10, τ = 17) with `MethodOfSteps(Tsit5())`
   against a solve at much tighter tolerances: the chaotic attractor u(t) vs u(t − τ) and the time series;
4. d height(T) / d e of the ball through its events, with `jax.grad` and `ForwardDiffSensitivity`, against
   a central finite difference and the analytic derivative.
Writes `bouncing_ball.png`, `pharmacokinetics.png` and `mackey_glass.png` into --out.

Run: python examples/events_and_delays.py [--small] [--out DIR]
"""
import argparse
import pathlib

import jax
import jax.numpy as jnp
import numpy as np

import pysciml as ps


def scientific(x):
    """1e-06 written as 1e-6."""
    return f"{x:.0e}".replace("e-0", "e-")

# --- 1. bouncing ball -----------------------------------------------------------------------------------
G, RESTITUTION, DROP_HEIGHT = 9.81, 0.9, 1.0
BALL_TOL = dict(rtol=1e-10, atol=1e-12)


def falling(u, p, t):
    """Height and velocity of a ball in free fall; p = (g, e)."""
    return jnp.array([u[1], -p[0]])


def height(u, p, t):
    return u[0]


def bounce(u, p, t):
    """At an impact the velocity reverses and shrinks by the restitution coefficient e."""
    return jnp.array([u[0], -p[1] * u[1]])


GROUND = ps.ContinuousCallback(height, bounce, direction="down")


def ball_problem(t1, e=RESTITUTION):
    return ps.ODEProblem(falling, jnp.array([DROP_HEIGHT, 0.0]), (0.0, t1), jnp.array([G, e]))


def analytic_impacts(e, n, h0=DROP_HEIGHT, g=G):
    """The first n impact times and rebound speeds. The first impact comes at t1 = √(2h0/g) with speed
    g·t1; the k-th rebound speed is e^k·g·t1 and each flight lasts 2v/g, so by the geometric sum
    t_k = t1·(1 + 2e(1 − e^(k−1))/(1 − e))."""
    t1 = jnp.sqrt(2 * h0 / g)
    k = jnp.arange(1, n + 1)
    return t1 * (1 + 2 * e * (1 - e ** (k - 1)) / (1 - e)), g * t1 * e ** k


def analytic_height(e, T, n_max=60, g=G):
    """The height at time T (before the accumulation point of the impacts), differentiable in e."""
    times, speeds = analytic_impacts(e, n_max)
    k = jnp.sum(times <= T) - 1
    s = T - times[jnp.maximum(k, 0)]
    return jnp.where(k < 0, DROP_HEIGHT - 0.5 * g * T ** 2, speeds[k] * s - 0.5 * g * s ** 2)


def ball_study(t1):
    ts = jnp.linspace(0.0, t1, 4001)          # for the plot; at an impact, saveat gives the state before it
    sol = ps.solve(ball_problem(t1), ps.Tsit5(), callback=GROUND, saveat=ts, **BALL_TOL)
    n = int(sol.events.n)
    exact_times, _ = analytic_impacts(RESTITUTION, n)
    errors = np.abs(np.asarray(sol.events.t) - np.asarray(exact_times))
    print(f"bouncing ball: {n} bounces in t ∈ [0, {t1:g}], Tsit5 rtol {scientific(BALL_TOL['rtol'])}: "
          f"max event-time error {errors.max():.2e} (analytic impact sequence)")
    return sol, errors


def height_gradient(T, eps=1e-6):
    """d height(T) / d e by forward-mode AD through the solver and its events, against differences."""
    def height_at_T(e):
        prob = ball_problem(T).remake(p=jnp.array([G, e]))
        sol = ps.solve(prob, ps.Tsit5(), callback=GROUND, save_everystep=False,
                       sensealg=ps.ForwardDiffSensitivity(), **BALL_TOL)
        return sol.u[-1, 0]

    # One compiled program serves the gradient, the differences and the curve below (its values).
    value_and_grad = jax.jit(jax.value_and_grad(height_at_T))
    value, grad = (float(x) for x in value_and_grad(RESTITUTION))
    fd = (float(value_and_grad(RESTITUTION + eps)[0]) - float(value_and_grad(RESTITUTION - eps)[0])) / (2 * eps)
    exact = float(jax.jit(jax.grad(analytic_height))(RESTITUTION, T))
    print(f"gradient: d height({T:g}) / d e = {grad:.10f} (jax.grad, ForwardDiffSensitivity), "
          f"{fd:.10f} (central difference, ε = {eps:g}), {exact:.10f} (analytic); "
          f"relative difference to FD {abs(grad - fd) / abs(fd):.2e}, "
          f"to analytic {abs(grad - exact) / abs(exact):.2e}")
    # The height at T over a range of e (impacts accumulate after T throughout), for the tangent.
    es = np.linspace(RESTITUTION - 0.02, RESTITUTION + 0.02, 41)
    heights = np.array([float(value_and_grad(e)[0]) for e in es.tolist()])
    exact_heights = np.asarray(jax.jit(jax.vmap(analytic_height, (0, None)))(es, T))
    return dict(T=T, e=RESTITUTION, value=value, grad=grad, es=es, heights=heights, exact_heights=exact_heights)


def plot_ball(plt, sol, errors, gradient, path):
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.3), gridspec_kw=dict(width_ratios=[2.2, 1, 1]))
    ax = axes[0]
    ax.plot(np.asarray(sol.t), np.asarray(sol.u[:, 0]), lw=1, label="height (Tsit5)")
    ax.plot(np.asarray(sol.events.t), np.zeros(errors.size), "rv", ms=4, label="located impacts")
    ax.set_xlabel("t [s]")
    ax.set_ylabel("height [m]")
    ax.set_title(f"bouncing ball, e = {RESTITUTION}: {errors.size} impacts")
    ax.legend(loc="upper right")
    ax = axes[1]
    ax.semilogy(np.arange(1, errors.size + 1), np.maximum(errors, 1e-17), "o-", ms=3)
    ax.axhline(BALL_TOL["rtol"], color="gray", ls=":", label="rtol")
    ax.set_xlabel("impact number")
    ax.set_ylabel("|t_event − t_exact| [s]")
    ax.set_title("event-time error vs analytic sequence")
    ax.legend()
    ax = axes[2]
    g = gradient
    ax.plot(g["es"], g["heights"], "-", lw=2, label=f"height(T = {g['T']:g}) from solves")
    ax.plot(g["es"], g["exact_heights"], "k:", label="analytic")
    window = np.linspace(g["e"] - 0.005, g["e"] + 0.005, 2)
    ax.plot(window, g["value"] + g["grad"] * (window - g["e"]), "r--", label="tangent from jax.grad")
    ax.plot([g["e"]], [g["value"]], "ro")
    ax.set_xlabel("restitution coefficient e")
    ax.set_ylabel("height [m]")
    ax.set_title("sensitivity through the events")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# --- 2. one-compartment pharmacokinetics with bolus doses ---------------------------------------------
VOLUME, CLEARANCE, DOSE = 20.0, 2.5, 100.0          # L, L/h, mg: elimination rate k = CL / V = 0.125 /h


def elimination(c, p, t):
    """dC/dt = −(CL/V) C."""
    clearance, volume = p
    return -clearance / volume * c


def analytic_concentration(ts, doses, k):
    """Superposition of one decaying exponential per dose already given; at a dose time the value just
    before that dose (as saveat reports it), except for a dose at t = 0, which is in the initial state."""
    ts, doses = ts[:, None], doses[None, :]
    given = (doses < ts) | ((doses == 0) & (ts == 0))
    return np.sum(np.where(given, DOSE / VOLUME * np.exp(-k * (ts - doses)), 0.0), axis=1)


def pk_study(t1):
    # Every 8 hours, with the fifth dose taken 4 hours late.
    doses = np.array([t for t in (0.0, 8.0, 16.0, 24.0, 36.0, 40.0, 48.0, 56.0, 64.0) if t < t1])
    prob = ps.ODEProblem(elimination, jnp.array([0.0]), (0.0, t1), jnp.array([CLEARANCE, VOLUME]))
    bolus = ps.PresetTimeCallback(doses, lambda c, p, t: c + DOSE / p[1])
    ts = np.linspace(0.0, t1, int(40 * t1) + 1)
    sol = ps.solve(prob, ps.Tsit5(), rtol=1e-10, atol=1e-12, saveat=ts, callback=bolus)
    exact = analytic_concentration(ts, doses, CLEARANCE / VOLUME)
    error = np.max(np.abs(np.asarray(sol.u[:, 0]) - exact) / np.max(exact))
    print(f"pharmacokinetics: {int(sol.events.count[0])} bolus doses in t ∈ [0, {t1:g}] h, Tsit5 rtol 1e-10: "
          f"max relative concentration error {error:.2e} (analytic superposition)")
    return ts, np.asarray(sol.u[:, 0]), exact, doses


def plot_pk(plt, ts, numeric, exact, doses, path):
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.3), gridspec_kw=dict(width_ratios=[2, 1]))
    ax = axes[0]
    ax.plot(ts, numeric, lw=2, label="pysciml (Tsit5 + PresetTimeCallback)")
    ax.plot(ts, exact, "k--", lw=1, label="analytic superposition")
    for t in doses:
        ax.axvline(t, color="gray", lw=0.5, ls=":")
    ax.set_xlabel("t [h]")
    ax.set_ylabel("concentration [mg/L]")
    ax.set_title(f"one compartment, {DOSE:g} mg IV bolus doses (dotted), CL = {CLEARANCE} L/h, V = {VOLUME:g} L")
    ax.legend(loc="lower right")
    ax = axes[1]
    ax.semilogy(ts, np.maximum(np.abs(numeric - exact), 1e-18), lw=0.5)
    ax.set_xlabel("t [h]")
    ax.set_ylabel("|C − C_exact| [mg/L]")
    ax.set_ylim(bottom=1e-15)
    ax.set_title("error")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# --- 3. Mackey–Glass ------------------------------------------------------------------------------------
MG_P = jnp.array([0.2, 0.1, 10.0, 17.0])         # β, γ, n, τ
MG_HISTORY = 0.5


def mackey_glass(u, h, p, t):
    """u' = β u(t − τ) / (1 + u(t − τ)^n) − γ u (Mackey & Glass, Science 197 (1977) 287)."""
    beta, gamma, n, tau = p
    delayed = h(p, t - tau)
    return beta * delayed / (1.0 + delayed ** n) - gamma * u


MG_SPACING = 0.05                                # plot grid; τ is a whole number of grid spacings


def mackey_glass_study(t1, tolerances=(1e-6, 1e-8)):
    tau = float(MG_P[3])
    prob = ps.DDEProblem(mackey_glass, jnp.array([MG_HISTORY]), lambda p, t: jnp.array([MG_HISTORY]), (0.0, t1),
                         MG_P, constant_lags=(tau,))
    alg = ps.MethodOfSteps(ps.Tsit5())
    ts = np.linspace(0.0, t1, round(t1 / MG_SPACING) + 1)
    # max_steps sizes the history buffer: the tight reference needs about 8 steps per time unit.
    run = lambda rtol: ps.solve(prob, alg, rtol=rtol, atol=rtol * 1e-3, saveat=ts, max_steps=20_000)
    reference = run(1e-12)
    u_ref = np.asarray(reference.u[:, 0])
    errors = {}
    for rtol in tolerances:          # tolerances are data: one compiled program for every solve here
        sol = run(rtol)
        errors[rtol] = np.abs(np.asarray(sol.u[:, 0]) - u_ref)
        print(f"Mackey–Glass: t ∈ [0, {t1:g}], MethodOfSteps(Tsit5()) rtol {scientific(rtol)}: "
              f"{int(sol.stats['naccept'])} steps, max error {errors[rtol].max():.2e} against rtol 1e-12 "
              f"({int(reference.stats['naccept'])} steps)")
    return ts, u_ref, errors


def plot_mackey_glass(plt, ts, u, errors, path):
    tau = float(MG_P[3])
    lag = round(tau / MG_SPACING)
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.3), gridspec_kw=dict(width_ratios=[1, 1.6, 1.2]))
    ax = axes[0]
    later = ts >= min(100.0, ts[-1] / 2)            # past the transient
    ax.plot(u[:-lag][later[lag:]], u[lag:][later[lag:]], lw=0.5)
    ax.set_xlabel("u(t − τ)")
    ax.set_ylabel("u(t)")
    ax.set_title(f"attractor (t ≥ {ts[later][0]:g})")
    ax = axes[1]
    ax.plot(ts, u, lw=0.8)
    ax.set_xlabel("t")
    ax.set_ylabel("u(t)")
    ax.set_title("Mackey–Glass, β = 0.2, γ = 0.1, n = 10, τ = 17, u = 0.5 for t ≤ 0")
    ax = axes[2]
    for rtol, err in errors.items():
        ax.semilogy(ts, np.maximum(err, 1e-18), lw=0.6, label=f"rtol {scientific(rtol)}")
    ax.set_xlabel("t")
    ax.set_ylabel("|u − u_ref|")
    ax.set_ylim(bottom=1e-13)
    ax.set_title("MethodOfSteps(Tsit5()) against rtol 1e-12")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="shorter time spans (for CI)")
    parser.add_argument("--out", default=".", help="folder for the PNG files")
    args = parser.parse_args()
    out = pathlib.Path(args.out)

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ball, ball_errors = ball_study(t1=8.0)
    gradient = height_gradient(T=5.0)
    plot_ball(plt, ball, ball_errors, gradient, out / "bouncing_ball.png")
    plot_pk(plt, *pk_study(t1=48.0 if args.small else 72.0), out / "pharmacokinetics.png")
    plot_mackey_glass(plt, *mackey_glass_study(t1=300.0 if args.small else 600.0), out / "mackey_glass.png")
    names = ("bouncing_ball.png", "pharmacokinetics.png", "mackey_glass.png")
    print(f"wrote {', '.join(str(out / name) for name in names)}")


if __name__ == "__main__":
    main()
