"""Scripts (docs pages, examples) run as ``python script.py args`` would, but in a child forked from a warm
interpreter that has already imported JAX, pysciml, numpy, scipy and matplotlib.

Each docs page and example used to be a fresh ``python`` subprocess paying ~2.2 s of imports; there are ~45 of
them, ~100 s of the suite's CPU time. `multiprocessing`'s forkserver imports the heavy modules once per test
worker (before any XLA backend or thread exists, so forking is safe) and forks a child per script: the child
is still a separate process (its global state — `jax.config`, matplotlib, `sys.argv`, the working directory —
dies with it), its stdout and stderr go to files, and its exit code is the script's."""
import multiprocessing
import os
import pathlib
import runpy
import subprocess
import sys

# imported once in the server (errors are ignored there: a missing optional module only costs its import).
# Nothing here may start an XLA backend (its threads would not survive the fork): not pysciml.bayes, whose
# blackjax import does
PRELOAD = ["numpy", "scipy.integrate", "scipy.optimize", "scipy.stats", "matplotlib", "matplotlib.pyplot", "jax",
           "jax.numpy", "optax", "sympy", "pysciml", "pysciml.modeling", "pysciml.nlme",
           "pysciml.pinn", "pysciml.sindy", "pysciml.nn"]
EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "examples"
_context = None


def _server():
    global _context
    if _context is None:
        # the children draw with matplotlib's non-interactive backend; the server reads the environment once
        os.environ["MPLBACKEND"] = "Agg"
        _context = multiprocessing.get_context("forkserver")
        _context.set_forkserver_preload(PRELOAD)
    return _context


def _run(script, argv, cwd, out, err):
    """In the child: stdout/stderr to files (at the descriptor level, so compiled code's output goes there too),
    then the script as ``__main__``; an uncaught exception prints its traceback and exits 1."""
    for fd, path in ((1, out), (2, err)):
        target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(target, fd)
        os.close(target)
    sys.stdout = open(1, "w", buffering=1, encoding="utf-8", closefd=False)
    sys.stderr = open(2, "w", buffering=1, encoding="utf-8", closefd=False)
    os.chdir(cwd)
    sys.argv = [str(script), *argv]
    sys.path.insert(0, str(pathlib.Path(script).resolve().parent))   # as `python script.py` does
    runpy.run_path(str(script), run_name="__main__")


def run_script(script, argv=(), *, cwd, timeout=900):
    """Run ``script`` with arguments ``argv`` in working directory ``cwd`` (a scratch folder: the captured output
    is written there) in a child of the warm interpreter, waiting at most ``timeout`` seconds. Returns a
    `subprocess.CompletedProcess` with the exit code and the captured stdout and stderr (text)."""
    script = pathlib.Path(script).resolve()
    cwd = pathlib.Path(cwd)
    out, err = cwd / f".{script.stem}.stdout", cwd / f".{script.stem}.stderr"
    child = _server().Process(target=_run, args=(str(script), [str(a) for a in argv], str(cwd), str(out), str(err)))
    child.start()
    child.join(timeout)
    if child.exitcode is None:
        child.kill()
        child.join()
        raise subprocess.TimeoutExpired([str(script), *argv], timeout)
    stdout, stderr = (path.read_text(errors="replace") for path in (out, err))
    return subprocess.CompletedProcess([str(script), *argv], child.exitcode, stdout, stderr)


def run_example(name, out, timeout=600):
    """``examples/<name>`` at its small size (``--small --out out``), run by `run_script` in ``out``. Returns the
    `subprocess.CompletedProcess`."""
    return run_script(EXAMPLES / name, ["--small", "--out", str(out)], cwd=out, timeout=timeout)
