"""SDE ensembles: per-trajectory keys fold_in(key, i) (bitwise the same whatever the batch size or backend,
and equal to a single solve with that key), Ornstein–Uhlenbeck mean and variance against the closed form,
and Euler–Maruyama's weak order 1 with the Monte Carlo error accounted for (`testing.weak_error`)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pysciml as ps
from pysciml.testing import convergence_order, ornstein_uhlenbeck, weak_error

XLA_OPTIMIZED = True   # bitwise claims (same key, same path across batch sizes): see tests/conftest.py

KEY = jax.random.PRNGKey(42)
TS = jnp.linspace(0.0, 1.0, 5)
N = 4000
OU = ornstein_uhlenbeck(theta=1.0, mu=0.5, sigma=0.3, x0=(1.5, -0.5))


@pytest.fixture(scope="module")
def ou_ensemble():
    return ps.solve(ps.EnsembleProblem(OU.prob), ps.EM(), trajectories=N, dt=0.01, key=KEY, saveat=TS)


def test_ou_mean_and_variance(ou_ensemble):
    """Mean within 4 standard errors; variance within 4 standard errors of a sample variance (relative
    √(2/(N−1))) plus EM's bias (relative θ·dt/2 = 0.5 %). A 10 % change of σ (20 % of the variance) or of θ
    (0.04 in the mean at t = 1, 13 standard errors) fails."""
    mean, var = np.asarray(ou_ensemble.mean()), np.asarray(ou_ensemble.var())
    exact_mean, exact_var = np.asarray(jax.vmap(OU.mean)(TS)), np.asarray(jax.vmap(OU.var)(TS))
    estimate = weak_error(np.asarray(ou_ensemble.u), exact_mean, level=0.99994)   # ±4 standard errors
    assert np.all(np.abs(estimate.error) <= estimate.half_width + 1e-12), estimate.error / estimate.half_width
    tol = 4 * np.sqrt(2 / (N - 1)) + 0.005
    np.testing.assert_allclose(var[1:], exact_var[1:], rtol=tol)
    assert np.all(var[0] == 0)
    q = np.asarray(ou_ensemble.quantile(0.5))
    np.testing.assert_allclose(q[1:], exact_mean[1:], atol=4 * 1.25 * np.sqrt(exact_var[1:] / N).max())


def test_same_key_bitwise_across_batch_sizes_and_backends(ou_ensemble):
    eprob = ps.EnsembleProblem(OU.prob)
    batched = ps.solve(eprob, ps.EM(), trajectories=N, batch_size=1500, dt=0.01, key=KEY, saveat=TS)
    np.testing.assert_array_equal(np.asarray(batched.u), np.asarray(ou_ensemble.u))
    # Unbatched solves (EnsembleSerial, a single solve) see the same path bitwise; their states agree to
    # rounding only, since XLA may contract multiply–adds differently in unbatched code.
    serial = ps.solve(eprob, ps.EM(), ps.EnsembleSerial(), trajectories=3, dt=0.01, key=KEY, saveat=TS)
    np.testing.assert_allclose(np.asarray(serial.u), np.asarray(ou_ensemble.u)[:3], rtol=1e-13, atol=1e-15)
    np.testing.assert_array_equal(np.asarray(serial.outputs.W), np.asarray(ou_ensemble.outputs.W)[:3])
    single = ps.solve(OU.prob, ps.EM(), dt=0.01, key=jax.random.fold_in(KEY, 2), saveat=TS)
    np.testing.assert_allclose(np.asarray(single.u), np.asarray(ou_ensemble.u)[2], rtol=1e-13, atol=1e-15)
    np.testing.assert_array_equal(np.asarray(single.W), np.asarray(ou_ensemble[2].W))


def test_em_weak_order_one():
    """E[u(1)] of du = μu dt + σu dW is u0·e^μ; EM's mean is exactly u0(1 + μ dt)^N, a weak error of order 1.
    The Monte Carlo estimate must contain that known error in its 99.99 % interval at each dt (a
    perturbed drift fails: 1 % of μ moves the mean by 0.03, 5 half-widths), and the slope of the
    estimated errors must be 1 ± 0.2."""
    mu, sigma, u0, n = 1.0, 0.3, jnp.ones(4), 20000
    prob = ps.SDEProblem(lambda u, p, t: mu * u, lambda u, p, t: sigma * u, u0, (0.0, 1.0))
    dts = [0.25, 0.125, 0.0625]
    keys = jax.random.split(jax.random.PRNGKey(7), n)
    errors = []
    for dt in dts:
        finals = jax.jit(jax.vmap(lambda k: ps.solve(prob, ps.EM(), dt=dt, key=k, save_everystep=False).u[-1]))(keys)
        # the 4 components are independent paths: n·4 samples of u(1)
        estimate = weak_error(np.asarray(finals).reshape(-1), np.exp(mu), level=0.9999)
        known = (1 + mu * dt) ** round(1 / dt) - np.exp(mu)
        assert abs(estimate.error - known) <= estimate.half_width, (dt, estimate, known)
        errors.append(abs(float(estimate.error)))
    assert abs(convergence_order(dts, errors) - 1.0) <= 0.2, errors


def test_plot_draws_mean_quantile_bands_and_paths(ou_ensemble):
    """The bands' edges are the ensemble's quantiles, the centre lines its means, the thin curves its first
    trajectories (Agg backend; no figure is shown)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    try:
        ens = ou_ensemble
        ens.plot(ax=ax, quantiles=((0.25, 0.75), (0.05, 0.95)), idxs=[1, 0], trajectories=2, labels=["y", "x"])
        t, mean = np.asarray(TS), np.asarray(ens.mean())
        q = np.asarray(ens.quantile([0.05, 0.95, 0.25, 0.75]))
        bands = ax.collections                       # per component: the 90 % band, then the 50 % band
        assert len(bands) == 4
        for k, (j, (lo, hi)) in enumerate((j, b) for j in (1, 0) for b in ((q[0], q[1]), (q[2], q[3]))):
            v = bands[k].get_paths()[0].vertices
            for i, ti in enumerate(t):       # at each time the polygon spans exactly [lower, upper]
                ys = v[np.isclose(v[:, 0], ti), 1]
                np.testing.assert_allclose([ys.min(), ys.max()], [lo[i, j], hi[i, j]], rtol=1e-12)
        lines = ax.lines                             # per component: 2 sample paths, then the mean
        assert len(lines) == 6 and [ln.get_label() for ln in lines[2::3]] == ["y mean", "x mean"]
        for block, j in zip((lines[:3], lines[3:]), (1, 0)):
            np.testing.assert_array_equal(block[0].get_ydata(), np.asarray(ens.u)[0, :, j])
            np.testing.assert_array_equal(block[1].get_ydata(), np.asarray(ens.u)[1, :, j])
            np.testing.assert_allclose(block[2].get_ydata(), mean[:, j], rtol=1e-12)
        with pytest.raises(ValueError, match="quantiles"):
            ens.plot(ax=ax, quantiles=(0.9, 0.1))
        with pytest.raises(ValueError, match="idxs"):
            ens.plot(ax=ax, idxs=[2])
        with pytest.raises(ValueError, match="trajectories"):
            ens.plot(ax=ax, trajectories=N + 1)
    finally:
        plt.close(fig)
