"""The examples run end to end (small-size switch) and write their figures."""
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_demo_runs_and_writes_its_figure(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "examples" / "demo.py"), "--small", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "demo.png").stat().st_size > 10_000
    rows = [line.split() for line in done.stdout.splitlines() if line.startswith("Lorenz")]
    errors = {(row[2], row[3]): float(row[4]) for row in rows}
    assert errors[("Vern9()", "1e-10")] < 1e-8


def test_pinn_poisson_example_runs_and_writes_its_heatmaps(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "examples" / "pinn_poisson.py"), "--small", "--out",
                           str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "pinn_poisson.png").stat().st_size > 10_000
    error = float(done.stdout.split("relative L2 error")[1].split()[0])
    assert error < 0.1
