"""The spiral cubic neural ODE of the SciML Bayesian neural ODE showcase (u' = A u³, A = [[-0.1, 2], [-2, -0.1]],
u(0) = (2, 0), 40 points on t ∈ [0, 1]; issue 18): a Gauss–Newton Laplace posterior over the weights of a small
network on u³ and its linearised posterior predictive. The 90% prediction bands (with observation noise) must hold
about 90% of fresh noisy observations at held-out times (the midpoints of the data times), and the 90% credible
bands of the mean curve must hold most of the true curve there (scipy's solve_ivp at 1e-12 is the truth).
benchmarks/bayes_calibration.py runs the showcase's size (MLP(2, (6,), 2), 2000 L-BFGS steps: 0.893 / 0.888 held
out); this is the cheap copy: MLP(2, (4,), 2) and 2000 L-BFGS steps (at 500 the unconverged fit, and with it the
mean-curve coverage, moved with rounding: 0.72–0.87).

Checked to fail: with the noise scale of the model halved (0.025 for data of sd 0.05) the held-out coverage is
0.54; pushing the same draws through the nonlinear network (linearized=False) gives 0.97 (too wide)."""
import warnings

import numpy as np
import pytest
from scipy.integrate import solve_ivp

import jax
import jax.numpy as jnp
import pysciml as ps
from pysciml import bayes

A = np.array([[-0.1, 2.0], [-2.0, -0.1]])
SIGMA = 0.05


@pytest.mark.slow
def test_spiral_neural_ode_predictive_bands_cover_held_out_data_at_their_nominal_rate():
    ts = np.linspace(0.0, 1.0, 40)
    t_held = (ts[:-1] + ts[1:]) / 2
    rhs = lambda t, u: A @ u ** 3
    truth = solve_ivp(rhs, (0, 1), [2.0, 0.0], t_eval=ts, rtol=1e-12, atol=1e-12).y.T
    truth_held = solve_ivp(rhs, (0, 1), [2.0, 0.0], t_eval=t_held, rtol=1e-12, atol=1e-12).y.T
    rng = np.random.default_rng(0)
    data = truth + SIGMA * rng.normal(size=truth.shape)
    held = truth_held + SIGMA * rng.normal(size=(20, *truth_held.shape))      # 20 fresh sets at held-out times
    ude = ps.ude.UDE(None, ps.nn.MLP(2, (4,), 2, activation="tanh"), inputs=lambda u, t: u ** 3)
    p0 = jax.tree_util.tree_map(lambda w: 0.3 * w, ude.init(jax.random.key(0)))
    model = bayes.Model(ps.ODEProblem(ude, jnp.array([2.0, 0.0]), (0.0, 1.0), p0),
                        {"p.network": bayes.Normal(0.0, 2.0)}, bayes.Gaussian(SIGMA), data, ts)
    with warnings.catch_warnings():          # L-BFGS stops at max_steps with the gradient not yet tiny: expected
        warnings.simplefilter("ignore", UserWarning)
        post = bayes.sample(model, bayes.Laplace(bayes.MAP(max_steps=2000, gtol=1e-3), hessian="gauss-newton"),
                            num_samples=400, key=0)
    bands = post.predict(times=t_held, draws=400, key=1, noise=True)            # linearised (a GN Laplace)
    coverage = np.mean([bands.coverage(h, 0.9) for h in held])
    curve = post.predict(times=t_held, draws=400, key=1).coverage(truth_held, 0.9)
    print(f"spiral: 90% prediction bands hold {coverage:.3f} of held-out observations; "
          f"90% mean-curve bands hold {curve:.3f} of the truth")
    # 20 × 39 × 2 = 1560 points, but one fit's errors are shared by all of them: the band allows the
    # approximation's own error (the full-size benchmark: 0.893) and fails at 0.54 (noise halved) or 0.97
    assert 0.84 <= coverage <= 0.95, coverage
    assert curve >= 0.75, curve
