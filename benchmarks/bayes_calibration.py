"""Calibration of posterior predictive bands of neural ODEs (issue 18): do 90% bands hold 90% of held-out data?

Two models, each fitted once, bands evaluated at held-out times (the midpoints of the data times) against the
noise-free truth and against 20 fresh sets of noisy observations there:

  spiral   the SciML Bayesian neural ODE showcase's cubic spiral, u' = A u³ (A = [[-0.1, 2], [-2, -0.1]],
           u0 = (2, 0)), 40 points on [0, 1], noise sd 0.05 (known), an MLP(2, (6,), 2) on u³; Gauss–Newton
           Laplace at the MAP
  lv-ude   examples/bayesian_ude.py at its --small size: Lotka–Volterra with the interactions learned by an
           MLP(2, (4,), 2), noise sd 0.1; MAP then SGLD (the example's sampler), preconditioned SGLD and
           Gauss–Newton Laplace

For each posterior: the band of the mean pushed through the nonlinear model (the old predictive), the band of
the mean of the linearised model (the predictive that matches a Gauss–Newton Laplace's covariance), and the
prediction band with observation noise (the one new data should fall in). Writes
benchmarks/results/bayes_calibration.json.

    python benchmarks/bayes_calibration.py            # both models (several minutes on one core)
    python benchmarks/bayes_calibration.py --only spiral
"""
import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _harness as H  # noqa: E402


def bands(post, t_held, truth, held, linearized, label, rows):
    import numpy as np
    for noise in (False, True):
        start = time.perf_counter()
        pred = post.predict(times=t_held, draws=1000, key=1, noise=noise, linearized=linearized)
        lo, hi = pred.band(0.9)
        row = {"posterior": label, "linearized": linearized, "noise": noise,
               "truth_coverage_90": pred.coverage(truth, 0.9),
               "held_out_coverage_90": float(np.mean([pred.coverage(h, 0.9) for h in held])),
               "mean_width_90": float(np.mean(hi - lo)), "seconds": time.perf_counter() - start}
        rows.append(row)
        print(f"  {label:<22} linearized={str(linearized):<5} noise={str(noise):<5} "
              f"truth {row['truth_coverage_90']:.3f}"
              f"  held-out obs {row['held_out_coverage_90']:.3f}  width {row['mean_width_90']:.3f}", flush=True)


def spiral(rows):
    import jax
    import jax.numpy as jnp
    import numpy as np
    from scipy.integrate import solve_ivp
    import pysciml as ps
    from pysciml import bayes
    a = np.array([[-0.1, 2.0], [-2.0, -0.1]])
    ts = np.linspace(0.0, 1.0, 40)
    t_held = (ts[:-1] + ts[1:]) / 2
    rhs = lambda t, u: a @ u ** 3
    truth = solve_ivp(rhs, (0, 1), [2.0, 0.0], t_eval=ts, rtol=1e-12, atol=1e-12).y.T
    truth_h = solve_ivp(rhs, (0, 1), [2.0, 0.0], t_eval=t_held, rtol=1e-12, atol=1e-12).y.T
    rng = np.random.default_rng(0)
    data = truth + 0.05 * rng.normal(size=truth.shape)
    held = truth_h + 0.05 * rng.normal(size=(20, *truth_h.shape))
    ude = ps.ude.UDE(None, ps.nn.MLP(2, (6,), 2, activation="tanh"), inputs=lambda u, t: u ** 3)
    small = jax.tree_util.tree_map(lambda w: 0.3 * w, ude.init(jax.random.key(0)))
    prob = ps.ODEProblem(ude, jnp.array([2.0, 0.0]), (0.0, 1.0), small)
    model = bayes.Model(prob, {"p.network": bayes.Normal(0.0, 2.0)}, bayes.Gaussian(0.05), data, ts,
                        sensealg=ps.InterpolatingAdjoint())
    start = time.perf_counter()
    post = bayes.sample(model, bayes.Laplace(bayes.MAP(max_steps=2000, gtol=1e-3), hessian="gauss-newton"),
                        num_samples=1000, key=0)
    print(f"spiral: Gauss-Newton Laplace {time.perf_counter() - start:.1f} s "
          f"(MAP {post.info['mode'].steps} steps)", flush=True)
    for lin in (False, True):
        bands(post, t_held, truth_h, held, lin, "spiral GN-Laplace", rows)


def lv_ude(rows, psgld_steps=(2e-5, 1e-4)):
    import jax
    import jax.numpy as jnp
    import numpy as np
    import pysciml as ps
    from pysciml import bayes
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
    import bayesian_ude as ex
    ts = np.arange(0.0, 3.01, 0.1)
    t_held = (ts[:-1] + ts[1:]) / 2
    truth_prob = ps.ODEProblem(ex.lotka_volterra, ex.U0, (0.0, 4.0))
    truth = np.asarray(ps.solve(truth_prob, ps.Vern9(), rtol=1e-12, atol=1e-12, saveat=ts).u)
    truth_h = np.asarray(ps.solve(truth_prob, ps.Vern9(), rtol=1e-12, atol=1e-12, saveat=t_held).u)
    rng = np.random.default_rng(0)
    data = truth + 0.1 * rng.normal(size=truth.shape)
    held = truth_h + 0.1 * np.random.default_rng(1).normal(size=(20, *truth_h.shape))
    model_ude = ps.ude.UDE(ex.known, ps.nn.MLP(2, (4,), 2, activation="tanh"), physics=jnp.array([1.0, 1.0]))
    p0 = model_ude.init(jax.random.key(1))
    p0 = {"physics": p0["physics"], "network": jax.tree_util.tree_map(lambda w: 0.3 * w, p0["network"])}
    prob = ps.ODEProblem(model_ude, ex.U0, (0.0, 4.0), p0)
    model = bayes.Model(prob, {"p.physics": bayes.LogNormal(0.0, 1.0), "p.network": bayes.Normal(0.0, 1.0)},
                        bayes.Gaussian(0.1), data, ts, sensealg=ps.InterpolatingAdjoint())
    start = time.perf_counter()
    mode = bayes.find_map(model, bayes.MAP(max_steps=1000, gtol=1e-3))
    sgld = bayes.sample(model, bayes.SGLD(a=2e-6, gamma=0.0, thin=2), num_warmup=100, num_samples=300, chains=1,
                        key=0, init=mode.theta, jitter=0.0)
    print(f"lv-ude: MAP + SGLD {time.perf_counter() - start:.1f} s", flush=True)
    bands(sgld, t_held, truth_h, held, False, "lv-ude SGLD", rows)
    # preconditioned SGLD (Li et al. 2016): G (~ each coordinate's conditional posterior sd) estimated in warmup
    chains = {"SGLD a=2e-6": sgld}
    for step in psgld_steps:
        start = time.perf_counter()
        post = bayes.sample(model, bayes.SGLD(a=step, gamma=0.0, thin=2, preconditioned=True), num_warmup=300,
                            num_samples=300, chains=1, key=0, init=mode.theta, jitter=0.0)
        g = post.info["preconditioner"]
        print(f"lv-ude: pSGLD a={step:g} {time.perf_counter() - start:.1f} s (G from {g.min():.2e} to "
              f"{g.max():.2e})", flush=True)
        bands(post, t_held, truth_h, held, False, f"lv-ude pSGLD a={step:g}", rows)
        chains[f"pSGLD a={step:g}"] = post
    start = time.perf_counter()
    lap = bayes.sample(model, bayes.Laplace(bayes.MAP(max_steps=1000, gtol=1e-3), hessian="gauss-newton"),
                       num_samples=1000, key=0, init=mode.theta)
    print(f"lv-ude: Gauss-Newton Laplace {time.perf_counter() - start:.1f} s", flush=True)
    for lin in (False, True):
        bands(lap, t_held, truth_h, held, lin, "lv-ude GN-Laplace", rows)
    # how far each chain moved: its per-coordinate sd over the Gauss-Newton Laplace marginal sd (median, range)
    lap_sd = np.sqrt(np.diag(lap.info["cov"]))
    for label, post in chains.items():
        r = post.theta.std(axis=(0, 1)) / lap_sd
        rows.append({"posterior": label, "sd_over_laplace_sd": np.quantile(r, [0, 0.5, 1]).tolist()})
        print(f"  {label:<22} chain sd / Laplace sd: median {np.median(r):.3f} [{r.min():.3f}-{r.max():.3f}]",
              flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", choices=("spiral", "lv-ude"))
    args = ap.parse_args()
    H.setup_env()
    H.setup_jax()
    rows = []
    if args.only in (None, "spiral"):
        spiral(rows)
    if args.only in (None, "lv-ude"):
        lv_ude(rows)
    out = Path(__file__).resolve().parent / "results" / "bayes_calibration.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"rows": rows, "machine": H.machine_info(["jax", "blackjax"])},
                              indent=1, default=str))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
