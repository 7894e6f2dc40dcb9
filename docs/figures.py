"""Figures for the documentation, written at build time (docs/hooks.py runs this in a subprocess).

Benchmark figures are drawn from the raw data in benchmarks/results/*.jsonl (no benchmark is rerun);
tutorial figures come from small solves (a few seconds in all). Run: python docs/figures.py OUTDIR
"""
import json
import pathlib
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
COLORS = {"pysciml": "tab:blue", "diffrax": "tab:orange", "scipy": "tab:green", "sundials": "tab:red",
          "torchdiffeq": "tab:purple"}


def _rows(name):
    lines = (RESULTS / name).read_text().splitlines()
    rows = [json.loads(line) for line in lines if line.strip()]
    return rows[0].get("meta", {}), [r for r in rows[1:] if "problem" in r]


def stiff_work_precision(out):
    """Time per solve against error at t1, rtol 1e-4 ... 1e-8, for the four small stiff problems."""
    meta, rows = _rows("stiff.jsonl")
    problems = ["robertson", "vanderpol_mu1e6", "hires", "pollu"]
    fig, axes = plt.subplots(2, 2, figsize=(10, 8))
    markers = "osd^vP*Xh<>p"
    for ax, problem in zip(axes.flat, problems):
        methods = sorted({(r["lib"], r["method"]) for r in rows if r["problem"] == problem})
        per_lib = {}
        for lib, method in methods:
            pts = sorted((r["rtol"], r["err"], r["median_s"]) for r in rows
                         if r["problem"] == problem and (r["lib"], r["method"]) == (lib, method)
                         and r["status"] == "ok" and r["err"] and r["err"] > 0)
            if not pts:
                continue
            k = per_lib.setdefault(lib, 0)
            per_lib[lib] += 1
            ax.loglog([p[1] for p in pts], [1e3 * p[2] for p in pts], marker=markers[k % len(markers)],
                      color=COLORS.get(lib, "k"), alpha=0.85, lw=1.2 if lib == "pysciml" else 0.8,
                      ls="-" if lib == "pysciml" else "--", label=f"{lib} {method}")
        ax.set_title(problem)
        ax.set_xlabel("max abs error at t1")
        ax.set_ylabel("time per solve (ms)")
        ax.grid(True, which="both", alpha=0.3)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=7, frameon=False)
    fig.suptitle(f"Stiff work–precision (benchmarks/stiff.py, {meta.get('date', '')[:10]}, one pinned core)")
    fig.tight_layout(rect=(0, 0.12, 1, 0.97))
    fig.savefig(out / "stiff_work_precision.png", dpi=90)
    plt.close(fig)


def nonstiff_times(out):
    """Time per solve of each library on the small non-stiff problems (rtol 1e-6, final state)."""
    meta, rows = _rows("nonstiff.jsonl")
    problems = ["lotka_volterra", "lorenz_t10", "lorenz_t1", "pleiades"]
    fig, axes = plt.subplots(1, len(problems), figsize=(13, 3.8), sharex=False)
    for ax, problem in zip(axes, problems):
        sel = [r for r in rows if r["problem"] == problem and r["status"] == "ok"]
        labels = [f"{r['lib']} {r['method']}" for r in sel]
        ax.barh(labels, [1e3 * r["median_s"] for r in sel], color=[COLORS.get(r["lib"], "k") for r in sel])
        ax.set_xscale("log")
        ax.set_title(problem, fontsize=10)
        ax.set_xlabel("ms per solve")
        ax.tick_params(axis="y", labelsize=7)
        ax.invert_yaxis()
    fig.suptitle(f"Non-stiff, rtol {meta.get('rtol')}, final state only (benchmarks/nonstiff.py, "
                 f"{meta.get('date', '')[:10]})", fontsize=10)
    fig.tight_layout()
    fig.savefig(out / "nonstiff_times.png", dpi=90)
    plt.close(fig)


def tutorial_figures(out):
    import jax
    import jax.numpy as jnp

    import pysciml as ps

    # Lotka–Volterra with dense output (getting started)
    def lotka_volterra(u, p, t):
        x, y = u
        a, b, c, d = p
        return jnp.array([a * x - b * x * y, -c * y + d * x * y])

    prob = ps.ODEProblem(lotka_volterra, u0=jnp.array([1.0, 1.0]), tspan=(0.0, 10.0), p=jnp.array([1.5, 1.0, 3.0, 1.0]))
    sol = ps.solve(prob, ps.Tsit5(), rtol=1e-8, atol=1e-10)
    tt = jnp.linspace(0.0, 10.0, 400)
    dense = jax.vmap(sol)(tt)
    fig, ax = plt.subplots(figsize=(7, 3.2))
    ax.plot(tt, dense[:, 0], label="prey x")
    ax.plot(tt, dense[:, 1], label="predator y")
    ax.plot(sol.t, sol.u[:, 0], ".", ms=3, color="k", label="accepted steps")
    ax.plot(sol.t, sol.u[:, 1], ".", ms=3, color="k")
    ax.set_xlabel("t")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "lotka_volterra.png", dpi=90)
    plt.close(fig)

    # bouncing ball and dosing (events tutorial)
    hit = ps.ContinuousCallback(lambda u, p, t: u[0], lambda u, p, t: jnp.array([u[0], -0.9 * u[1]]), direction="down")
    ball = ps.ODEProblem(lambda u, p, t: jnp.array([u[1], -9.81]), jnp.array([1.0, 0.0]), (0.0, 5.0))
    bsol = ps.solve(ball, ps.Tsit5(), callback=hit, rtol=1e-8, atol=1e-10, saveat=jnp.linspace(0.0, 5.0, 1001))
    doses = ps.PresetTimeCallback(jnp.arange(0.0, 48.0, 8.0), lambda u, p, t: u + jnp.array([100.0, 0.0]))
    pk = ps.ODEProblem(lambda u, p, t: jnp.array([-p[0] * u[0], p[0] * u[0] - p[1] * u[1]]),
                       jnp.array([0.0, 0.0]), (0.0, 48.0), p=jnp.array([1.0, 0.2]))
    psol = ps.solve(pk, ps.Tsit5(), callback=doses, saveat=jnp.linspace(0.0, 48.0, 961))
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.2))
    a1.plot(bsol.t, bsol.u[:, 0])
    a1.plot(bsol.events.t[:int(bsol.events.count[0])], 0 * bsol.events.t[:int(bsol.events.count[0])], "rx", ms=4)
    a1.set_title("bouncing ball: height, events ×")
    a1.set_xlabel("t")
    a2.plot(psol.t, psol.u[:, 0], label="gut")
    a2.plot(psol.t, psol.u[:, 1], label="central")
    a2.set_title("bolus every 8 h")
    a2.set_xlabel("t (h)")
    a2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "events.png", dpi=90)
    plt.close(fig)

    # Mackey–Glass (delay tutorial)
    mg = lambda u, h, p, t: 0.2 * h(p, t - 17.0) / (1 + h(p, t - 17.0) ** 10) - 0.1 * u
    dprob = ps.DDEProblem(mg, jnp.array([0.5]), lambda p, t: jnp.array([0.5]), (0.0, 500.0), constant_lags=(17.0,))
    dsol = ps.solve(dprob, ps.MethodOfSteps(ps.Tsit5()), rtol=1e-8, atol=1e-8, saveat=0.25)
    u = np.asarray(dsol.u[:, 0])
    lag = int(17.0 / 0.25)
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.2))
    a1.plot(dsol.t, u, lw=0.8)
    a1.set_xlabel("t")
    a1.set_title("Mackey–Glass, τ = 17")
    a2.plot(u[lag + 400:], u[400:-lag], lw=0.5)
    a2.set_xlabel("u(t)")
    a2.set_ylabel("u(t − 17)")
    a2.set_title("attractor")
    fig.tight_layout()
    fig.savefig(out / "mackey_glass.png", dpi=90)
    plt.close(fig)

    # ensemble quantiles (ensembles tutorial)
    eprob = ps.EnsembleProblem(prob, prob_func=lambda prob, i, repeat, key:
                               prob.remake(u0=prob.u0 * (1 + 0.1 * jax.random.normal(key, (2,)))))
    ens = ps.solve(eprob, ps.Tsit5(), ps.EnsembleVmap(), trajectories=200, saveat=0.05)
    q = ens.quantile([0.05, 0.5, 0.95])
    ts = ens[0].t
    fig, ax = plt.subplots(figsize=(7, 3.2))
    for j, name in enumerate(["prey x", "predator y"]):
        ax.fill_between(ts, q[0][:, j], q[2][:, j], alpha=0.3)
        ax.plot(ts, q[1][:, j], label=f"{name}: median, 5–95 %")
    ax.set_xlabel("t")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "ensemble_quantiles.png", dpi=90)
    plt.close(fig)


def main(out):
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    stiff_work_precision(out)
    nonstiff_times(out)
    tutorial_figures(out)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "site-figures")
