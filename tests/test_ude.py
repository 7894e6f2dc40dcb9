"""pysciml.ude: UDE right-hand sides, losses (single/multiple shooting, collocation) and `fit` (stages,
early stopping, checkpoint/resume, seeds, parameter estimation)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pysciml as ps
from pysciml import ude
from pysciml.testing import lorenz


# --- a cheap loss (no solve) for the mechanics of `fit` -------------------------------------------------

def rosenbrock(p):
    return jnp.sum(100.0 * (p["b"] - p["a"] ** 2) ** 2 + (1.0 - p["a"]) ** 2)


START = {"a": jnp.array([-1.2, 0.0]), "b": jnp.array([1.0, 0.5])}
STAGES = (ude.Adam(1e-2, 120), ude.LBFGS(80))


def test_fit_minimizes_with_staged_optimizers_and_records_history():
    res = ude.fit(rosenbrock, START, STAGES, progress=False, chunk=25)
    np.testing.assert_allclose(res.params["a"], 1.0, atol=1e-7)
    np.testing.assert_allclose(res.params["b"], 1.0, atol=1e-7)
    assert [s["name"] for s in res.stages] == ["Adam", "L-BFGS"]
    assert res.stages[0]["iterations"] == 120
    assert res.history.shape == (120 + res.stages[1]["iterations"],)
    assert res.history[0] == pytest.approx(float(rosenbrock(START)))
    assert res.best_loss <= res.history.min() and res.best_loss < 1e-14


def test_checkpoint_resume_matches_uninterrupted_fit_bitwise(tmp_path):
    straight = ude.fit(rosenbrock, START, STAGES, progress=False, chunk=20)
    path = tmp_path / "fit.ckpt"
    for stop_at in (70, 160):          # interrupt once in the Adam stage and once in the L-BFGS stage
        def interrupt(info, stop_at=stop_at):
            if info.iteration >= stop_at:
                raise KeyboardInterrupt
        with pytest.raises(KeyboardInterrupt):
            ude.fit(rosenbrock, START, STAGES, progress=False, chunk=20, checkpoint=str(path),
                    checkpoint_every=40, callback=interrupt)
    resumed = ude.fit(rosenbrock, START, STAGES, progress=False, chunk=20, checkpoint=str(path))
    np.testing.assert_array_equal(resumed.history, straight.history)
    for key in ("a", "b"):
        np.testing.assert_array_equal(resumed.params[key], straight.params[key])
    again = ude.fit(rosenbrock, START, STAGES, progress=False, chunk=20, checkpoint=str(path))   # finished: no work
    np.testing.assert_array_equal(again.history, straight.history)
    with pytest.raises(ValueError, match="other optimizers"):
        ude.fit(rosenbrock, START, (ude.LBFGS(5),), progress=False, checkpoint=str(path))


def test_early_stopping_and_callback_stop():
    plateau = ude.fit(lambda p: jnp.sum(p ** 2) + 1.0, jnp.ones(3), (ude.Adam(1e-3, 2000), ude.LBFGS(10)),
                      early_stopping=ude.EarlyStopping(patience=5, min_delta=1e-2), progress=False)
    assert plateau.stages[0]["reason"].startswith("early stopping") and plateau.stages[0]["iterations"] < 2000
    assert plateau.stages[1]["iterations"] >= 1               # the next stage still runs
    target = ude.fit(rosenbrock, START, STAGES, early_stopping=ude.EarlyStopping(target=1e-3), progress=False)
    assert target.stopped == "target" and target.loss <= 1e-3 and len(target.stages) <= 2
    assert np.all(target.history[:-1] > 1e-3) or target.stages[0]["iterations"] < 120
    seen = []
    stopped = ude.fit(rosenbrock, START, STAGES, chunk=10, callback=lambda info: seen.append(info) or
                      info.iteration >= 30, progress=False)
    assert stopped.stopped == "callback" and stopped.iterations == 30 and [i.iteration for i in seen] == [10, 20, 30]


def test_seed_reproducibility_of_network_initialization():
    net = ps.nn.MLP(1, (8,), 1)
    xs = jnp.linspace(-1, 1, 20)[:, None]
    loss = lambda p: jnp.mean((net(xs, p)[:, 0] - jnp.sin(3 * xs[:, 0])) ** 2)
    stages = (ude.Adam(1e-2, 50),)
    a, b = (ude.fit(loss, net.init, stages, seed=3, progress=False) for _ in range(2))
    c = ude.fit(loss, net.init, stages, seed=4, progress=False)
    np.testing.assert_array_equal(a.history, b.history)
    assert not np.array_equal(a.history, c.history)


# --- models through the solver ---------------------------------------------------------------------------

@pytest.mark.slow
def test_ude_recovers_a_missing_term():
    """Logistic growth u' = u − u²: the known part is u, the network learns −u² on the visited range."""
    ts = jnp.linspace(0.0, 6.0, 31)
    data = 0.1 * jnp.exp(ts) / (1 - 0.1 + 0.1 * jnp.exp(ts))            # exact solution, u0 = 0.1
    model = ude.UDE(lambda u, p, t: p * u, ps.nn.MLP(1, (8,), 1, activation="tanh"), physics=jnp.asarray(1.0))
    params = model.init(jax.random.key(0))
    assert set(params) == {"physics", "network"}
    loss = ude.TrajectoryLoss(model, ts, data[:, None], rtol=1e-8, atol=1e-8)
    res = ude.fit(loss, params, (ude.LBFGS(400),), progress=False)
    assert res.loss < 1e-6          # RMS misfit ≤ 1e-3 on values 0.1–1 (the data are exact)
    u = jnp.linspace(0.15, 0.95, 9)[:, None]
    learned = res.params["physics"] * u[:, 0] + model.network_term(u, res.params)[:, 0]
    np.testing.assert_allclose(learned, u[:, 0] - u[:, 0] ** 2, atol=5e-3)


def oscillator(u, p, t):
    return jnp.array([u[1], -p[0] ** 2 * u[0]])


@pytest.fixture(scope="module")
def long_oscillation():
    ts = jnp.linspace(0.0, 30.0, 61)                               # ~5 periods
    data = jnp.stack([jnp.cos(ts), -jnp.sin(ts)], axis=1)           # ω = 1
    return ts, data


@pytest.mark.slow
def test_multiple_shooting_and_collocation_converge_where_single_shooting_stalls(long_oscillation):
    ts, data = long_oscillation
    start = jnp.array([0.7])
    single = ude.fit(ude.TrajectoryLoss(oscillator, ts, data), start, (ude.LBFGS(60),), progress=False)
    assert abs(single.params[0] - 1.0) > 0.1 and single.loss > 0.1        # a local minimum
    shooting = ude.MultipleShooting(oscillator, ts, data, segment=5, continuity=100.0)
    assert shooting.n_segments == 15
    ms = ude.fit(shooting, shooting.init(start), (ude.LBFGS(100),), progress=False)
    assert abs(ms.params["model"][0] - 1.0) < 1e-5
    # collocation: no solve, biased by the smoothing, but close enough for single shooting to finish
    coll = ude.fit(ude.Collocation(oscillator, ts, data), start, (ude.LBFGS(50),), progress=False)
    assert abs(coll.params[0] - 1.0) < 0.05
    finish = ude.fit(ude.TrajectoryLoss(oscillator, ts, data), coll.params, (ude.LBFGS(60),), progress=False)
    assert abs(finish.params[0] - 1.0) < 1e-5


def test_smoothed_derivatives_of_a_sine():
    ts = np.linspace(0, 2 * np.pi, 101)
    values, slopes = ude.smoothed_derivatives(ts, np.sin(ts)[:, None])
    np.testing.assert_allclose(values[:, 0], np.sin(ts), atol=1e-3)
    np.testing.assert_allclose(slopes[:, 0], np.cos(ts), atol=1e-2)


def _lorenz_data():
    """Lorenz on [0, 1] and 41 samples from another method at a far tighter tolerance than the fits use, so a
    fit is not its own reference."""
    prob = lorenz((0.0, 1.0))
    ts = jnp.linspace(0.0, 1.0, 41)
    return prob, ts, ps.solve(prob, ps.Vern9(), rtol=1e-13, atol=1e-13, saveat=ts).u


@pytest.mark.slow
def test_lorenz_parameter_estimation_from_noise_free_data():
    prob, ts, data = _lorenz_data()
    loss = ude.TrajectoryLoss(prob.f, ts, data, u0=prob.u0, rtol=1e-11, atol=1e-11)
    res = ude.fit(loss, jnp.array([8.0, 25.0, 2.0]), (ude.LBFGS(100),), progress=False)
    np.testing.assert_allclose(res.params, prob.p, rtol=1e-6)


def test_levenberg_marquardt_estimates_lorenz_parameters_in_a_few_iterations():
    prob, ts, data = _lorenz_data()
    loss = ude.TrajectoryLoss(prob.f, ts, data, u0=prob.u0, rtol=1e-10, atol=1e-10)
    res = ude.fit(loss, jnp.array([8.0, 25.0, 2.0]), (ude.LevenbergMarquardt(30),), progress=False)
    assert res.stages[0]["reason"].startswith("converged") and res.iterations <= 10
    np.testing.assert_allclose(res.params, prob.p, rtol=1e-7)
    # every iteration decreases mean(r²), the value the loss itself reports
    assert res.history[0] < float(loss(jnp.array([8.0, 25.0, 2.0]))) and np.all(np.diff(res.history) < 0)
    assert res.loss == pytest.approx(float(loss(res.params)), rel=1e-9)


def test_least_squares_losses_define_their_value_as_the_mean_squared_residual(long_oscillation):
    ts, data = long_oscillation
    shooting = ude.MultipleShooting(oscillator, ts, data, segment=5, continuity=100.0)
    params = shooting.init(jnp.array([0.7]))
    params["starts"] = params["starts"] + 0.01 * jnp.arange(params["starts"].size).reshape(params["starts"].shape)
    cases = [(shooting, params), (ude.TrajectoryLoss(oscillator, ts, data), jnp.array([0.9])),
             (ude.Collocation(oscillator, ts, data), jnp.array([0.9])),
             (ude.LeastSquares(lambda p: rosenbrock_residuals(p["a"], p["b"])), START)]
    for loss, p in cases:
        both = jax.jit(lambda p, loss=loss: (jnp.mean(loss.residuals(p) ** 2), loss(p)))
        mean_square, value = both(p)
        assert float(mean_square) == pytest.approx(float(value), rel=1e-12)
    # Levenberg–Marquardt through the vmapped segment solves finds ω where single shooting stalls
    ms = ude.fit(shooting, shooting.init(jnp.array([0.7])), (ude.LevenbergMarquardt(50),), progress=False)
    assert abs(ms.params["model"][0] - 1.0) < 1e-6


def rosenbrock_residuals(a, b):          # rosenbrock(p) == sum of squares of these
    return jnp.concatenate([10.0 * (b - a ** 2), 1.0 - a])


def test_levenberg_marquardt_as_the_last_stage_of_a_staged_fit():
    loss = ude.LeastSquares(lambda p: rosenbrock_residuals(p["a"], p["b"]))
    res = ude.fit(loss, START, (ude.Adam(1e-2, 40), ude.LevenbergMarquardt(50)), progress=False, chunk=10)
    assert [s["name"] for s in res.stages] == ["Adam", "Levenberg-Marquardt"]
    assert res.stages[1]["reason"].startswith("converged") and res.stages[1]["iterations"] < 30
    assert res.history.shape == (40 + res.stages[1]["iterations"],)
    assert res.history[0] == pytest.approx(float(rosenbrock(START)) / 4)       # mean over the 4 residuals
    for key in ("a", "b"):
        np.testing.assert_allclose(res.params[key], 1.0, rtol=1e-10)


# --- bad input --------------------------------------------------------------------------------------------

def test_bad_input_is_rejected_with_a_clear_message(long_oscillation):
    ts, data = long_oscillation
    with pytest.raises(TypeError, match="loss must be callable"):
        ude.fit(3.0, jnp.ones(2), progress=False)
    with pytest.raises(ValueError, match="real scalar"):
        ude.fit(lambda p: p, jnp.ones(2), progress=False)
    with pytest.raises(ValueError, match="at least one stage"):
        ude.fit(rosenbrock, START, (), progress=False)
    with pytest.raises(TypeError, match="Adam"):
        ude.fit(rosenbrock, START, ("adam",), progress=False)
    with pytest.raises(ValueError, match="chunk"):
        ude.fit(rosenbrock, START, chunk=0, progress=False)
    with pytest.raises(TypeError, match="least-squares loss"):
        ude.fit(rosenbrock, START, (ude.LevenbergMarquardt(5),), progress=False)
    with pytest.raises(ValueError, match="non-empty real array"):
        ude.fit(ude.LeastSquares(lambda p: jnp.zeros(0)), START, (ude.LevenbergMarquardt(5),), progress=False)
    with pytest.raises(TypeError, match="residuals must be callable"):
        ude.LeastSquares(3.0)
    with pytest.raises(ValueError, match="steps"):
        ude.Adam(1e-3, -1)
    with pytest.raises(ValueError, match="patience"):
        ude.EarlyStopping(patience=0)
    with pytest.raises(ValueError, match="data must have shape"):
        ude.TrajectoryLoss(oscillator, ts, data[:-1])
    with pytest.raises(ValueError, match="increasing"):
        ude.TrajectoryLoss(oscillator, ts[::-1], data)
    with pytest.raises(ValueError, match="u0 must have shape"):
        ude.TrajectoryLoss(oscillator, ts, data, u0=jnp.ones(3))
    with pytest.raises(ValueError, match="segment"):
        ude.MultipleShooting(oscillator, ts, data, segment=1)
    with pytest.raises(TypeError, match="known"):
        ude.UDE("x", ps.nn.MLP(2, (3,), 2))
    with pytest.raises(ValueError, match="bandwidth"):
        ude.Collocation(oscillator, ts, data, bandwidth=-1.0)
