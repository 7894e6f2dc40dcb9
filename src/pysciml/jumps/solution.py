"""`JumpSolution`: counts on the saveat grid of one trajectory (u: (len(t), S)) or an ensemble
(u: (trajectories, len(t), S)), with return codes and step counts."""
import jax
import jax.numpy as jnp
import numpy as np

from .._core.retcode import ReturnCode, as_retcode
from .._core.trees import is_concrete


@jax.tree_util.register_pytree_node_class
class JumpSolution:
    """A solved jump process: ``t`` the saveat times and ``u`` the counts at those times (with a leading
    trajectory axis when ``solve`` was given ``trajectories``), ``retcode`` (`ReturnCode`; ``success`` tells
    whether every trajectory reached tspan[1]) and ``stats`` {"nsteps": events simulated}. Built by `solve` as
    ``JumpSolution(t, u, retcode, nsteps)``; a pytree."""
    def __init__(self, t, u, retcode, nsteps):
        self.t, self.u, self._retcode, self.stats = t, u, retcode, {"nsteps": nsteps}

    @property
    def retcode(self):
        return as_retcode(self._retcode)

    @property
    def success(self):
        return bool(np.all(np.asarray(self._retcode) == ReturnCode.Success)) if is_concrete(self._retcode) else \
            self._retcode == ReturnCode.Success

    def tree_flatten(self):
        return (self.t, self.u, self._retcode, self.stats["nsteps"]), None

    @classmethod
    def tree_unflatten(cls, aux, children):
        return cls(*children)

    def __repr__(self):
        return f"JumpSolution(t: {tuple(np.shape(self.t))}, u: {tuple(np.shape(self.u))})"
