"""Bayesian Lotka–Volterra: NUTS time per effective sample, pysciml.bayes against a hand-written NumPyro +
diffrax model (the NumPyro ODE example, numpyro/examples/ode.py, with diffrax in place of
jax.experimental.ode.odeint), same data, priors, tolerances, chains and draws.

The model is the NumPyro example's: z_init ~ LogNormal(log 10, 1) (2), theta ~ TruncatedNormal(low=0,
loc=[1, .05, 1, .05], scale=[.5, .05, .5, .05]) (4), sigma ~ LogNormal(−1, 1) (2), y ~ LogNormal(log z, sigma), on
21 yearly observations simulated from hare–lynx-like rates. Both sample 8 parameters in the same unconstrained
space (log for positive parameters), with Tsit5 at rtol 1e-6, atol 1e-8, `chains` chains vectorised (vmapped)
and Stan's window adaptation; gradients by each library's default (diffrax: reverse mode through the solver,
RecursiveCheckpointAdjoint; pysciml: its default sensealg, forward mode at this size).

Timing: each round runs both samplers once (interleaved, one core); time = warmup + sampling (compile measured
apart, from the first run); effective samples = the smallest bulk ESS over the 8 parameters (both computed by
the same function, pysciml.bayes.diagnostics). Reports medians and [min–max] over rounds and the per-round ratio.

    python benchmarks/bayes.py                 # 4 chains x 1000 warmup + 1000 draws, 3 rounds
    python benchmarks/bayes.py --small         # 4 chains x 200 + 200, 2 rounds
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
    ap.add_argument("--small", action="store_true")
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--draws", type=int, default=None)
    ap.add_argument("--rounds", type=int, default=None)
    args = ap.parse_args()
    draws = args.draws or (200 if args.small else 1000)
    rounds = args.rounds or (2 if args.small else 3)
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
        post = bayes.sample(model, bayes.NUTS(), num_warmup=draws, num_samples=draws, chains=args.chains, key=seed,
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
        return MCMC(NumPyroNUTS(numpyro_model, target_accept_prob=0.8), num_warmup=n, num_samples=n,
                    num_chains=args.chains, chain_method="vectorized", progress_bar=False, jit_model_args=True)
    mcmc, tiny = numpyro_mcmc(draws), numpyro_mcmc(1)

    def run_numpyro(seed, m=mcmc):
        m.run(jax.random.split(jax.random.PRNGKey(seed), args.chains), y=jnp.asarray(data),
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
        ess = [bayes.diagnostics.ess_bulk(x[:, :, i]) for i in range(x.shape[-1])]
        rhat = max(bayes.diagnostics.rhat(x[:, :, i]) for i in range(x.shape[-1]))
        return {"wall_s": wall, "compile_s": compile_s, "min_ess": float(min(ess)), "s_per_ess": wall / min(ess), "max_rhat": float(rhat),
                "divergences": div, "means": x.reshape(-1, 8).mean(0).round(4).tolist()}

    first = {"pysciml": measure(run_pysciml, 100), "numpyro+diffrax": measure(run_numpyro, 100)}
    rows, loads = [], [H.load_average()]
    for r in range(rounds):
        for name, run in (("pysciml", run_pysciml), ("numpyro+diffrax", run_numpyro)):
            row = {"peer": name, "round": r, **measure(run, r)}
            rows.append(row)
            print(json.dumps(row), flush=True)
        loads.append(H.load_average())

    def stats(name, key):
        v = [row[key] for row in rows if row["peer"] == name]
        return float(np.median(v)), float(min(v)), float(max(v))

    ratios = [b["s_per_ess"] / a["s_per_ess"] for a, b in zip(rows[0::2], rows[1::2])]
    table = []
    for name in ("pysciml", "numpyro+diffrax"):
        med, lo, hi = stats(name, "s_per_ess")
        wall, wlo, whi = stats(name, "wall_s")
        compile_s = first[name]["wall_s"] - wall + first[name]["compile_s"]
        table.append([name, f"{med * 1e3:.2f} [{lo * 1e3:.2f}–{hi * 1e3:.2f}]", f"{wall:.1f} [{wlo:.1f}–{whi:.1f}]",
                      f"{stats(name, 'min_ess')[0]:.0f}", f"{compile_s:.1f}",
                      f"{max(row['max_rhat'] for row in rows if row['peer'] == name):.3f}",
                      str(sum(row['divergences'] for row in rows if row['peer'] == name))])
    print(f"\nLotka–Volterra NUTS, {args.chains} chains x {draws} warmup + {draws} draws, {rounds} rounds, "
          f"load {min(loads):.2f}–{max(loads):.2f}")
    print(H.markdown_table(["peer", "ms per effective sample", "wall s (warmup + draws)", "min bulk ESS",
                            "compile s (approx.)", "max R-hat", "divergences"], table))
    print(f"numpyro+diffrax / pysciml time per effective sample: median {np.median(ratios):.2f} "
          f"[{min(ratios):.2f}–{max(ratios):.2f}]")
    meta = {**H.machine_info(["jax", "numpyro", "blackjax", "diffrax"]), "chains": args.chains, "draws": draws,
            "rounds": rounds, "loads": loads, "first_runs": first, "ratios": ratios}
    H.write_jsonl("bayes_small" if args.small else "bayes", meta, rows)


if __name__ == "__main__":
    main()
