"""Preconditioned SGLD (pSGLD; Li, Chen, Carlson & Carin 2016) on a Gaussian whose coordinates' variances differ
by 10⁴ (1e-2 and 1e2), the situation of network weights next to physical rates. The reference is closed form: a
Langevin chain with a fixed diagonal preconditioner G and step ε on a Gaussian is, per coordinate, the AR(1)
x' − m = (1 − εG/v)(x − m) + √(2εG) ξ, whose stationary variance is v / (1 − εG/(2v)) (the O(ε) bias of the
discretisation, exact here). The target is written without a solve (microseconds per gradient), through
`bayes.sgld.sgld_draws`, the chain `bayes.sample(model, bayes.SGLD(...))` vmaps over chains."""
import numpy as np
import pytest

import jax
import jax.numpy as jnp
from pysciml import bayes
from pysciml.bayes import diagnostics
from pysciml.bayes.sgld import sgld_draws

VAR = np.array([1e-2, 1e2])
MEAN = np.array([0.3, -5.0])
EPS, CHAINS = 0.01, 32


def _chains(method, num_warmup, num_samples):
    logp = lambda x: -0.5 * jnp.sum((x - MEAN) ** 2 / VAR)
    start = jax.random.uniform(jax.random.key(0), (CHAINS, 2), minval=-0.5, maxval=0.5)   # far out in x₀'s scale
    run = jax.jit(jax.vmap(lambda k, x: sgld_draws(logp, method, k, x, num_warmup, num_samples)))
    draws, precond = run(jax.random.split(jax.random.key(1), CHAINS), start)
    return np.asarray(draws), np.asarray(precond)


def test_psgld_samples_a_badly_scaled_gaussian_where_plain_sgld_cannot_move():
    """2000 warmup steps (G estimated), then 400 draws × thin 50 per chain, 32 chains, ε = 0.01. pSGLD's G comes
    out near the posterior sd of each coordinate (the RMS gradient is 1/sd), so the narrow coordinate steps by
    εG/v ≈ 0.1 of its variance and the wide one by 1e-3: the wide coordinate decorrelates in ~1000 steps and
    its variance is within Monte Carlo error (bulk ESS of (x − m)², tail included) of the truth. Plain SGLD at
    the same ε steps the wide coordinate by 1e-4 of its variance: measured ESS 54 (bulk) against pSGLD's 283,
    its variance 0.80 of the truth, its mean 2.8 sd-units off — the ESS floor fails without the preconditioner.
    (Adapting G throughout, the paper's Algorithm 1 without minibatch noise, gave the wide variance 1.76×.)"""
    draws, precond = _chains(bayes.SGLD(a=EPS, gamma=0.0, thin=50, preconditioned=True), 2000, 400)
    # the preconditioner found during warmup is ~ the posterior sd (RMSprop: 1/RMS gradient = sd at stationarity)
    assert np.all(np.abs(np.log(np.median(precond, axis=0) / np.sqrt(VAR))) < np.log(2)), precond
    expected = np.mean(VAR / (1 - EPS * precond / (2 * VAR)), axis=0)        # each chain's stationary variance
    flat = draws.reshape(-1, 2)
    ess = np.array([diagnostics.ess_bulk(draws[:, :, i]) for i in range(2)])
    ess_sq = np.array([diagnostics.ess_bulk((draws[:, :, i] - MEAN[i]) ** 2) for i in range(2)])
    print("pSGLD var / expected", flat.var(0) / expected, "ESS", ess, "ESS of (x-m)^2", ess_sq)
    assert ess[1] > 150, ess                                       # the wide coordinate mixes (plain SGLD: ~54)
    assert np.all(np.abs(flat.mean(0) - MEAN) < 4 * np.sqrt(VAR / ess)), flat.mean(0)
    # Var((x − m)²) = 2v² for a Gaussian: the relative error of the variance is √(2/ESS)
    assert np.all(np.abs(flat.var(0) / expected - 1) < 4 * np.sqrt(2 / ess_sq)), flat.var(0) / expected
    # and the O(ε) bias is small: within 6% of the true variances
    assert np.all(np.abs(expected / VAR - 1) < 0.06), expected / VAR


@pytest.mark.slow
def test_sample_runs_the_same_chains_on_a_model(tmp_path, monkeypatch, capsys):
    """Wiring: `bayes.sample(model, SGLD(preconditioned=True))` on a `Model` whose posterior is this kind of Gaussian
    (a trivial ODE observed through p: prior N(0, s₀²), one observation with noise σ per coordinate) gives the
    draws of `sgld_draws` on the closed-form posterior density with the same keys, and reports G; run in chunks
    of 5 draws with a progress bar, and interrupted after two chunks then resumed from its checkpoint, it gives
    the same draws bit for bit. Compile-bound (the sampler around a solve and its gradient, compiled once for
    every run here: ~11 s at load 6 on a shared 2-core machine)."""
    import pysciml as ps
    s0, sig, y = np.array([1.0, 100.0]), np.array([0.1, 10.0]), np.array([0.3, -5.0])
    var = 1 / (1 / s0 ** 2 + 1 / sig ** 2)
    mean = var * y / sig ** 2
    prob = ps.ODEProblem(lambda u, p, t: jnp.zeros_like(u), jnp.zeros(1), (0.0, 1.0), jnp.zeros(2))
    model = bayes.Model(prob, {"p": bayes.Normal(0.0, s0)}, bayes.Gaussian(sig), y[None], np.array([1.0]),
                        observe=lambda u, p, t: p)
    method = bayes.SGLD(a=EPS, gamma=0.0, thin=3, preconditioned=True)
    start = np.array([[0.1, 1.0], [-0.2, -3.0]])
    args = dict(num_warmup=60, num_samples=20, chains=2, key=3, init=start, jitter=0.0, chunk=5)
    post = bayes.sample(model, method, progress=True, **args)
    bar = capsys.readouterr().err
    assert "pSGLD 2 chain(s)" in bar and "80/80" in bar, bar            # warmup + draws, advanced per chunk
    k_run = jax.random.split(jax.random.key(3))[1]                 # sample(): (k_init, k_run); a key per chain
    logp = lambda x: -0.5 * jnp.sum((x - mean) ** 2 / var)
    ref, precond = jax.vmap(lambda k, x: sgld_draws(logp, method, k, x, 60, 20))(jax.random.split(k_run, 2),
                                                                                jnp.asarray(start))
    assert post.method == "pSGLD" and post.theta.shape == (2, 20, 2)
    np.testing.assert_allclose(post["p"], np.asarray(ref), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(post.info["preconditioner"], np.asarray(precond), rtol=1e-9)
    # resumable: interrupted in its third chunk, the run restarts from the checkpoint of the first two
    from pysciml.bayes import sgld
    path, original, calls = tmp_path / "sgld.npz", sgld._blocks_fn, []

    def interrupted(*a):
        run = original(*a)

        def wrapped(*b):
            calls.append(1)
            if len(calls) == 4:                  # the warmup, two chunks, then the interruption
                raise KeyboardInterrupt
            return run(*b)
        return wrapped
    monkeypatch.setattr(sgld, "_blocks_fn", interrupted)
    with pytest.raises(KeyboardInterrupt):
        bayes.sample(model, method, checkpoint=path, **args)
    monkeypatch.setattr(sgld, "_blocks_fn", original)
    with np.load(path) as saved:
        assert int(saved["done"]) == 2 and saved["draws"].shape == (2, 10, 2)
    resumed = bayes.sample(model, method, checkpoint=path, **args)
    np.testing.assert_array_equal(resumed.theta, post.theta)
    np.testing.assert_array_equal(resumed.sample_stats["lp"], post.sample_stats["lp"])
    np.testing.assert_array_equal(resumed.info["preconditioner"], post.info["preconditioner"])
    with pytest.raises(ValueError, match="belongs to another run"):
        bayes.sample(model, bayes.SGLD(a=EPS / 2, gamma=0.0, thin=3, preconditioned=True), checkpoint=path, **args)
    with pytest.raises(ValueError, match="num_warmup must be ≥ 1"):
        bayes.sample(model, method, num_warmup=0, num_samples=5, chains=1)
    with pytest.raises(ValueError, match="alpha"):
        bayes.SGLD(preconditioned=True, alpha=1.0)
