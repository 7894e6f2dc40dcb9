"""Bayesian Lotka–Volterra: NUTS time per effective sample, pysciml.bayes against a hand-written NumPyro +
diffrax model (the NumPyro ODE example, numpyro/examples/ode.py, with diffrax in place of
jax.experimental.ode.odeint), same data, priors, tolerances, chains and draws.

The model is the NumPyro example's: z_init ~ LogNormal(log 10, 1) (2), theta ~ TruncatedNormal(low=0,
loc=[1, .05, 1, .05], scale=[.5, .05, .5, .05]) (4), sigma ~ LogNormal(−1, 1) (2), y ~ LogNormal(log z, sigma), on
21 yearly observations simulated from hare–lynx-like rates. Both sample 8 parameters in the same unconstrained
space (log for positive parameters), with Tsit5 at rtol 1e-6, atol 1e-8, `chains` chains vectorised (vmapped)
and Stan's window adaptation; gradients by each library's default (diffrax: reverse mode through the solver,
RecursiveCheckpointAdjoint; pysciml: its default sensealg, forward mode at this size).

Timing: each round runs every sampler once (interleaved, one core); time = warmup + sampling, compile measured
apart (pysciml: the first run's extra time over the median round; NumPyro, which retraces on every run: a run of
one warmup step and one draw, subtracted each round). Effective samples = the smallest bulk ESS over the 8
parameters (all computed by the same function, pysciml.bayes.diagnostics). Reports the time per effective sample
(median and [min–max] over rounds), ESS per second, and its spread over chains: each chain's own smallest bulk
ESS over the run's wall time (pysciml and NumPyro run the chains together), median [min–max] over chains and rounds --
with one round, that spread is the run's only measure of its Monte Carlo noise.

PyMC (optional, --pymc; skipped with a message when pymc is not installed): the same model through
pymc.ode.DifferentialEquation (scipy's odeint, LSODA at its default rtol ~1.5e-8, with forward sensitivities
for the gradient) and PyMC's own NUTS, chains run one after the other on the same core; one run of
--pymc-warmup + --pymc-draws per chain after the rounds above (it is ~50x slower per gradient, so it runs
shorter; time per effective sample is what compares). Its compile time is pm.sample's wall time less its
sampling time.

    python benchmarks/bayes.py                                      # 4 chains x 1000 + 1000 draws, 3 rounds (~1 h)
    python benchmarks/bayes.py --warmup 500 --draws 500 --rounds 1  # the shorter run: same ratio, one round
    python benchmarks/bayes.py --small                              # 4 chains x 200 + 200, 2 rounds
    python benchmarks/bayes.py --quick [--pymc]                     # 2 chains x 30 + 30, 1 round: runs end to end
"""
import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _harness as H  # noqa: E402

TRUE_THETA = [0.55, 0.028, 0.84, 0.026]
TRUE_Z0 = [33.0, 6.2]
TRUE_SIGMA = [0.25, 0.25]
RTOL, ATOL = 1e-6, 1e-8


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--small", action="store_true", help="4 chains x 200 warmup + 200 draws, 2 rounds")
    ap.add_argument("--quick", action="store_true", help="2 chains x 30 + 30, 1 round: a check that it runs")
    ap.add_argument("--chains", type=int, default=None)
    ap.add_argument("--draws", type=int, default=None)
    ap.add_argument("--warmup", type=int, default=None, help="warmup steps per chain (default: --draws)")
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--pymc", action="store_true", help="add PyMC (pymc.ode.DifferentialEquation), one run")
    ap.add_argument("--pymc-draws", type=int, default=None, help="PyMC draws per chain (default 200; --quick 10)")
    ap.add_argument("--pymc-warmup", type=int, default=None, help="PyMC warmup per chain (default: --pymc-draws)")
    args = ap.parse_args()
    draws = args.draws or (30 if args.quick else 200 if args.small else 1000)
    warmup = args.warmup or draws
    rounds = args.rounds or (1 if args.quick else 2 if args.small else 3)
    chains = args.chains or (2 if args.quick else 4)
    pymc_draws = args.pymc_draws or (10 if args.quick else 200)
    pymc_warmup = args.pymc_warmup or pymc_draws
    if args.quick or args.small:
        out_name = "bayes_quick" if args.quick else "bayes_small"
    else:
        out_name = "bayes" if (warmup, draws, rounds, chains) == (1000, 1000, 3, 4) else \
            f"bayes_{chains}x{warmup}w{draws}d{rounds}r"
    H.setup_env()
    jax = H.setup_jax()
    import diffrax
    import jax.numpy as jnp
    import numpy as np
    import numpyro
    import numpyro.distributions as dist
    from numpyro.infer import MCMC, NUTS as NumPyroNUTS

    import pysciml as ps
    from pysciml import bayes

    def lv(u, p, t):
        x, y = u
        a, b, c, d = p
        return jnp.array([a * x - b * x * y, -c * y + d * x * y])

    ts = np.arange(21.0)
    clean = ps.solve(ps.ODEProblem(lv, jnp.array(TRUE_Z0), (0.0, 20.0), jnp.array(TRUE_THETA)), ps.Vern9(),
                     rtol=1e-12, atol=1e-12, saveat=ts).u
    data = np.asarray(clean) * np.exp(np.array(TRUE_SIGMA) * np.random.default_rng(0).normal(size=clean.shape))

    # --- pysciml.bayes ----------------------------------------------------------------------------------------
    loc, scale = jnp.array([1.0, 0.05, 1.0, 0.05]), jnp.array([0.5, 0.05, 0.5, 0.05])
    prob = ps.ODEProblem(lv, jnp.array([10.0, 10.0]), (0.0, 20.0), loc)
    model = bayes.Model(prob, {"p": bayes.TruncatedNormal(loc, scale, low=0.0),
                               "u0": bayes.LogNormal(jnp.log(10.0), 1.0)},
                        bayes.LogNormalNoise(bayes.LogNormal(jnp.full(2, -1.0), 1.0)), data, ts,
                        alg=ps.Tsit5(), rtol=RTOL, atol=ATOL)

    def run_pysciml(seed):
        post = bayes.sample(model, bayes.NUTS(), num_warmup=warmup, num_samples=draws, chains=chains, key=seed,
                            chunk=draws)
        x = np.concatenate([post["p"], post["u0"], post["sigma"]], axis=-1)
        return x, post.divergences

    # --- NumPyro + diffrax, written as in the NumPyro ODE example -----------------------------------------------
    term = diffrax.ODETerm(lambda t, z, theta: lv(z, theta, t))
    solver, controller = diffrax.Tsit5(), diffrax.PIDController(rtol=RTOL, atol=ATOL)
    saveat = diffrax.SaveAt(ts=jnp.asarray(ts))

    # throw=False: a draw whose solve fails (max_steps in a stiff corner of the prior) must not crash the run; its
    # NaN log density is a divergence to NumPyro, as a failed solve is −∞ to pysciml.bayes
    def numpyro_model(y=None):
        z_init = numpyro.sample("z_init", dist.LogNormal(jnp.log(10.0), 1.0).expand([2]))
        theta = numpyro.sample("theta", dist.TruncatedNormal(low=0.0, loc=loc, scale=scale))
        z = diffrax.diffeqsolve(term, solver, 0.0, 20.0, None, z_init, theta, saveat=saveat,
                                stepsize_controller=controller, max_steps=10_000, throw=False).ys
        sigma = numpyro.sample("sigma", dist.LogNormal(-1.0, 1.0).expand([2]))
        numpyro.sample("y", dist.LogNormal(jnp.log(z), sigma), obs=y)

    # jit_model_args=True: this NumPyro (0.22) cannot rerun a vectorised MCMC otherwise; it still traces and
    # compiles its warmup and sampling loops on every run, so that cost is measured on each round by a run of one
    # warmup step and one draw (`numpyro_compile`) and subtracted
    def numpyro_mcmc(n):
        return MCMC(NumPyroNUTS(numpyro_model, target_accept_prob=0.8), num_warmup=n[0], num_samples=n[1],
                    num_chains=chains, chain_method="vectorized", progress_bar=False, jit_model_args=True)
    mcmc, tiny = numpyro_mcmc((warmup, draws)), numpyro_mcmc((1, 1))

    def run_numpyro(seed, m=mcmc):
        m.run(jax.random.split(jax.random.PRNGKey(seed), chains), y=jnp.asarray(data),
              extra_fields=("diverging",))
        s = m.get_samples(group_by_chain=True)
        x = np.concatenate([np.asarray(s["theta"]), np.asarray(s["z_init"]), np.asarray(s["sigma"])], axis=-1)
        return x, int(np.sum(m.get_extra_fields()["diverging"]))

    def numpyro_compile(seed):
        t = time.perf_counter()
        run_numpyro(seed, tiny)
        return time.perf_counter() - t

    def measure(run, seed):
        compile_s = numpyro_compile(seed) if run is run_numpyro else 0.0
        t = time.perf_counter()
        x, div = run(seed)
        wall = time.perf_counter() - t - compile_s
        return summarise(x, wall, compile_s, div)

    def summarise(x, wall, compile_s, div):
        ess = [bayes.diagnostics.ess_bulk(x[:, :, i]) for i in range(x.shape[-1])]
        chain_ess = [min(bayes.diagnostics.ess_bulk(x[c:c + 1, :, i]) for i in range(x.shape[-1]))
                     for c in range(x.shape[0])]
        rhat = max(bayes.diagnostics.rhat(x[:, :, i]) for i in range(x.shape[-1]))
        return {"wall_s": wall, "compile_s": compile_s, "min_ess": float(min(ess)), "s_per_ess": wall / min(ess),
                "ess_per_s": min(ess) / wall, "chain_ess_per_s": [float(e / wall) for e in chain_ess],
                "max_rhat": float(rhat), "divergences": div, "means": x.reshape(-1, 8).mean(0).round(4).tolist()}

    # --- PyMC with pymc.ode.DifferentialEquation (optional) ----------------------------------------------------
    def run_pymc(seed):
        import pymc as pm
        import pytensor.tensor as pt
        from pymc.ode import DifferentialEquation

        # the right-hand side as a list (DifferentialEquation builds its own symbolic Jacobian from it)
        ode = DifferentialEquation(func=lambda u, t, p: [p[0] * u[0] - p[1] * u[0] * u[1],
                                                         -p[2] * u[1] + p[3] * u[0] * u[1]],
                                   times=ts[1:], n_states=2, n_theta=4, t0=0.0)
        with pm.Model():
            z_init = pm.LogNormal("z_init", np.log(10.0), 1.0, shape=2)
            theta = pm.TruncatedNormal("theta", mu=np.asarray(loc), sigma=np.asarray(scale), lower=0.0, shape=4)
            sigma = pm.LogNormal("sigma", -1.0, 1.0, shape=2)
            z = pt.concatenate([z_init[None, :], ode(y0=z_init, theta=theta)], axis=0)
            pm.LogNormal("y", mu=pt.log(z), sigma=sigma, observed=data)
            t = time.perf_counter()
            idata = pm.sample(draws=pymc_draws, tune=pymc_warmup, chains=chains, cores=1, random_seed=seed,
                              target_accept=0.8, progressbar=False, compute_convergence_checks=False)
            total = time.perf_counter() - t
        post, wall = idata.posterior, float(idata.posterior.attrs.get("sampling_time", total))
        x = np.concatenate([post["theta"].values, post["z_init"].values, post["sigma"].values], axis=-1)
        return summarise(x, wall, total - wall, int(idata.sample_stats["diverging"].values.sum()))

    def pymc_row():
        try:
            import pymc  # noqa: F401
        except ImportError:
            print("PyMC row skipped: pymc is not installed (pip install pymc)")
            return None
        row = {"peer": "pymc", "round": 0, **run_pymc(0)}
        print(json.dumps(row), flush=True)
        return row

    first = {"pysciml": measure(run_pysciml, 100), "numpyro+diffrax": measure(run_numpyro, 100)}
    rows, loads = [], [H.load_average()]
    for r in range(rounds):
        for peer, run in (("pysciml", run_pysciml), ("numpyro+diffrax", run_numpyro)):
            row = {"peer": peer, "round": r, **measure(run, r)}
            rows.append(row)
            print(json.dumps(row), flush=True)
        loads.append(H.load_average())
    ratios = [b["s_per_ess"] / a["s_per_ess"] for a, b in zip(rows[0::2], rows[1::2])]
    pymc = pymc_row() if args.pymc else None
    if not args.pymc:
        print("PyMC row skipped: pass --pymc to add it (slow: ~50 ms per gradient here against pysciml's ~1 ms; "
              "--quick --pymc's 2 chains x 10 + 10 alone took 6.5 min at load 8)")
    if pymc is not None:
        rows.append(pymc)
        loads.append(H.load_average())

    def stats(peer, key):
        v = [row[key] for row in rows if row["peer"] == peer]
        return float(np.median(v)), float(min(v)), float(max(v))

    table = []
    for peer in ("pysciml", "numpyro+diffrax") + (("pymc",) if pymc is not None else ()):
        med, lo, hi = stats(peer, "s_per_ess")
        wall, wlo, whi = stats(peer, "wall_s")
        if peer in first:
            compile_s = first[peer]["wall_s"] - wall + first[peer]["compile_s"]
        else:
            compile_s = pymc["compile_s"]
        per_chain = [e for row in rows if row["peer"] == peer for e in row["chain_ess_per_s"]]
        size = f"{pymc_warmup} + {pymc_draws}" if peer == "pymc" else f"{warmup} + {draws}"
        table.append([peer, size, f"{med * 1e3:.1f} [{lo * 1e3:.1f}–{hi * 1e3:.1f}]",
                      f"{stats(peer, 'ess_per_s')[0]:.2f}",
                      f"{np.median(per_chain):.2f} [{min(per_chain):.2f}–{max(per_chain):.2f}]",
                      f"{wall:.1f} [{wlo:.1f}–{whi:.1f}]", f"{stats(peer, 'min_ess')[0]:.0f}", f"{compile_s:.1f}",
                      f"{max(row['max_rhat'] for row in rows if row['peer'] == peer):.3f}",
                      str(sum(row['divergences'] for row in rows if row['peer'] == peer))])
    print(f"\nLotka–Volterra NUTS, {chains} chains x {warmup} warmup + {draws} draws, {rounds} round(s), "
          f"load {min(loads):.2f}–{max(loads):.2f}")
    print(H.markdown_table(["peer", "warmup + draws per chain", "ms per effective sample", "ESS/s (min over params)",
                            "ESS/s per chain", "wall s (warmup + draws)", "min bulk ESS", "compile s (approx.)",
                            "max R-hat", "divergences"], table))
    print(f"numpyro+diffrax / pysciml time per effective sample: median {np.median(ratios):.2f} "
          f"[{min(ratios):.2f}–{max(ratios):.2f}]")
    if pymc is not None:
        print(f"pymc / pysciml time per effective sample: {pymc['s_per_ess'] / stats('pysciml', 's_per_ess')[0]:.1f}")
    meta = {**H.machine_info(["jax", "numpyro", "blackjax", "diffrax", "pymc", "pytensor"]), "chains": chains,
            "warmup": warmup, "draws": draws, "rounds": rounds, "pymc_warmup": pymc_warmup if args.pymc else None,
            "pymc_draws": pymc_draws if args.pymc else None, "loads": loads, "first_runs": first, "ratios": ratios}
    H.write_jsonl(out_name, meta, rows)


if __name__ == "__main__":
    main()
