"""`import pysciml` loads no optional machinery: Pallas (the GPU kernel ensemble) and jax.extend, which imports
Pallas, load only when a kernel is built. Run in a fresh interpreter, since this one has imported them."""
import os
import subprocess
import sys

CHECK = ("import sys, pysciml; loaded = sorted(m for m in sys.modules if 'pallas' in m or m.startswith('jax.extend'));"
         " assert not loaded, loaded; print('OK')")


def test_import_loads_no_pallas():
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    run = subprocess.run([sys.executable, "-c", CHECK], env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and run.stdout.strip() == "OK", run.stdout + run.stderr
