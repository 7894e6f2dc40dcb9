"""`solve(JumpProblem, alg, saveat=..., trajectories=N)`: the jump-process problem type (registered in `solve/__init__`)."""
import warnings

import jax.numpy as jnp
import numpy as np

from .._core.retcode import ReturnCode
from .._core.trees import is_concrete
from ..jumps.algorithm import JumpAlgorithm
from ..jumps.direct import Direct
from ..jumps.problem import JumpProblem
from ..jumps.simulate import simulate_many, simulate_one
from ..jumps.solution import JumpSolution
from ..jumps.tau_leaping import TauLeaping

DEFAULT_MAX_JUMPS = 1_000_000


def solve_jump(prob: JumpProblem, alg=None, *, saveat=None, dt=None, max_steps=None, trajectories=None):
    """Simulate ``prob`` with ``alg`` (Direct() by default; TauLeaping(dt) or dt=...). saveat: times (1-D,
    inside tspan) or a spacing; default (t0, t1). trajectories=N: N independent trajectories from keys split
    from prob.key, vmapped; the solution's u is then (N, len(t), S)."""
    if alg is None:
        alg = Direct() if dt is None else TauLeaping(dt)
    if isinstance(alg, type):
        alg = alg()
    if not isinstance(alg, JumpAlgorithm):
        raise TypeError(f"solve: a JumpProblem needs a jump algorithm (Direct(), SortingDirect(), RSSA(), "
                        f"TauLeaping(dt)); got {alg!r}")
    if dt is not None:
        if not isinstance(alg, TauLeaping):
            raise ValueError(f"solve: dt applies to TauLeaping only; {alg!r} is exact and takes no step size")
        alg = TauLeaping(dt)
    max_steps = DEFAULT_MAX_JUMPS if max_steps is None else max_steps   # jumps, not steps: its own default
    if not isinstance(max_steps, (int, np.integer)) or isinstance(max_steps, bool) or max_steps <= 0:
        raise ValueError(f"max_steps must be a positive integer; got {max_steps!r}")
    t0, t1 = (float(v) for v in prob.tspan)
    saveat = _check_saveat(saveat, t0, t1)
    if trajectories is None:
        saved, code, n = simulate_one(alg, int(max_steps), prob, saveat)
    else:
        if not isinstance(trajectories, (int, np.integer)) or isinstance(trajectories, bool) or trajectories <= 0:
            raise ValueError(f"trajectories must be a positive integer; got {trajectories!r}")
        saved, code, n = simulate_many(alg, int(max_steps), int(trajectories), prob, saveat)
    if is_concrete(code) and np.any(np.asarray(code) != ReturnCode.Success):
        warnings.warn(f"JumpProblem: {int(np.sum(np.asarray(code) != 0))} trajectory(ies) stopped after max_steps="
                      f"{max_steps} steps before tspan[1]; raise solve(..., max_steps=...)", RuntimeWarning,
                      stacklevel=3)
    return JumpSolution(saveat, saved, code, n)


def _check_saveat(saveat, t0, t1):
    if saveat is None:
        return jnp.asarray([t0, t1])
    if np.ndim(saveat) == 0:
        step = float(saveat)
        if not step > 0:
            raise ValueError(f"saveat: a spacing must be positive; got {saveat!r}")
        n = int(np.floor((t1 - t0) / step * (1 + 1e-12))) + 1
        return jnp.asarray(t0 + step * np.arange(n))
    times = np.asarray(saveat, np.float64)
    if times.ndim != 1 or times.size == 0:
        raise ValueError(f"saveat must be a 1-D array of times or a spacing; got shape {times.shape}")
    if np.any(np.diff(times) < 0) or times[0] < t0 or times[-1] > t1:
        raise ValueError(f"saveat must be increasing and inside tspan [{t0}, {t1}]")
    return jnp.asarray(times)
