"""The examples run end to end (small-size switch) and write their figures (each in a child of a warm
interpreter: tests/warm.py)."""
import pytest

from warm import run_example


def test_solver_tour_runs_and_writes_its_figure(tmp_path):
    done = run_example("solver_tour.py", tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "solver_tour.png").stat().st_size > 10_000
    rows = [line.split() for line in done.stdout.splitlines() if line.startswith("Lorenz")]
    errors = {(row[2], row[3]): float(row[4]) for row in rows}
    assert errors[("Vern9()", "1e-10")] < 1e-8


def test_ude_demo_recovers_the_interaction_terms(tmp_path):
    done = run_example("demo.py", tmp_path)
    assert done.returncode == 0, done.stderr
    for name in ("lv_fit.png", "lv_interaction.png", "lv_extrapolation.png"):
        assert (tmp_path / name).stat().st_size > 10_000
    assert "other active terms: none" in done.stdout
    line = next(line for line in done.stdout.splitlines() if line.startswith("x·y coefficients"))
    x_coef, y_coef = (float(v.strip(",")) for v in line.split()[2:4])
    assert abs(x_coef / -0.9 - 1) < 0.1 and abs(y_coef / 0.8 - 1) < 0.1
    extrapolation = done.stdout.split("Extrapolation to t = 20")[1]
    recovered, network = (float(extrapolation.split(key)[1].split()[0].strip(",")) for key in
                          ("recovered equations", "(network)"))
    # 0.51 for this noise draw: 31 samples at 5% noise fix γ to ~8.5% only (Cramér–Rao), and the median error
    # of estimates at that bound is 0.36 (benchmarks/ude.py --seeds); the network's extrapolation blows up
    assert recovered < 0.6 and network > 10


def test_pinn_poisson_example_runs_and_writes_its_heatmaps(tmp_path):
    done = run_example("pinn_poisson.py", tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "pinn_poisson.png").stat().st_size > 10_000
    error = float(done.stdout.split("relative L2 error")[1].split()[0])
    assert error < 0.1


def test_events_and_delays_example_matches_its_references(tmp_path):
    done = run_example("events_and_delays.py", tmp_path)
    assert done.returncode == 0, done.stderr
    for name in ("bouncing_ball.png", "pharmacokinetics.png", "mackey_glass.png"):
        assert (tmp_path / name).stat().st_size > 10_000
    lines = done.stdout.splitlines()

    def after(prefix, key):    # the number following ``key`` on the line starting with ``prefix``
        line = next(line for line in lines if line.startswith(prefix))
        return float(line.split(key)[1].split()[0].strip(",;"))

    ball = next(line for line in lines if line.startswith("bouncing ball"))
    assert int(ball.split()[2]) >= 20 and after("bouncing ball", "max event-time error") < 1e-9
    assert after("gradient", "to FD") < 1e-6 and after("gradient", "to analytic") < 1e-8
    assert after("pharmacokinetics", "max relative concentration error") < 1e-8
    # a genuine error within a hundred tolerances that shrinks with the tolerance
    loose, tight = (float(line.split("max error")[1].split()[0]) for line in lines if line.startswith("Mackey–Glass"))
    assert 1e-7 < loose < 1e-4 and tight < loose / 10


@pytest.mark.slow
def test_theophylline_example_matches_nlmixr2(tmp_path):
    done = run_example("theophylline.py", tmp_path, timeout=900)
    assert done.returncode == 0, done.stderr
    for name in ("theophylline_gof.png", "theophylline_vpc.png"):
        assert (tmp_path / name).stat().st_size > 10_000
    ofv_line = next(line for line in done.stdout.splitlines() if line.startswith("OFV"))
    ours, published = (float(v) for v in ofv_line.split()[1:3])
    assert abs(ours - published) < 0.01


def test_rlc_circuit_example_matches_the_analytic_response(tmp_path):
    done = run_example("rlc_circuit.py", tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "rlc_circuit.png").stat().st_size > 10_000
    error = float(done.stdout.split("max error vs analytic")[1].split()[0])
    assert error < 1e-8


def test_mass_spring_damper_example_matches_the_hand_written_chain(tmp_path):
    done = run_example("mass_spring_damper.py", tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "mass_spring_damper.png").stat().st_size > 10_000
    assert float(done.stdout.split("hand-written f:")[1].split()[0]) < 1e-8


def test_bayesian_ude_example_runs_and_writes_its_bands(tmp_path):
    done = run_example("bayesian_ude.py", tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "bayesian_ude.png").stat().st_size > 10_000
    line = next(line for line in done.stdout.splitlines() if line.startswith("true trajectory inside"))
    width = float(line.split("mean band width")[1].split(";")[0])
    # the fit follows the data closely (noise sd 0.1); the band's coverage of the truth is NOT yet nominal
    # (SGLD from the MAP explores only the directions the data constrain), see the issue-18 report
    assert 0 < width < 0.2


def test_deep_nlme_example_learns_the_covariate_effect(tmp_path):
    done = run_example("deep_nlme.py", tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "deep_nlme.png").stat().st_size > 10_000
    line = next(line for line in done.stdout.splitlines() if line.startswith("network CL(WT) rms error"))
    network, best_log_linear = float(line.split()[4]), float(line.split()[7])
    # the network's typical CL(WT) over the 30 subjects' weights: measured rms 5.3 % (max 12.5 %); no log-linear
    # CL(WT) gets below 12.5 % rms on the true curve (least squares in relative error), whatever the data
    assert network < 0.07 and best_log_linear > 0.12
