"""Any network the user brings, seen through one interface: ``apply(x, params)`` on one point, plus params.

Accepted: pysciml's `MLP`; Equinox modules (arrays become the parameters, the rest stays static);
Flax linen-style modules, recognized by their ``init``/``apply`` methods (duck typing, so flax is not
needed to use pysciml); and a plain ``f(x, params)`` with its parameters.
"""
import sys
from dataclasses import dataclass
from typing import Any, Callable

import jax
import jax.numpy as jnp

from .mlp import MLP


@dataclass(frozen=True)
class Network:
    """``apply(x, params)`` maps one point (in_size,) to (out_size,); ``params`` is the initial pytree."""

    apply: Callable
    params: Any

    def batched(self, x, params):
        """``apply`` over the leading axes of ``x`` (..., in_size) with the parameters ``params``. Returns the
        outputs, shaped (..., out_size).
        """
        flat = x.reshape(-1, x.shape[-1])
        out = jax.vmap(self.apply, in_axes=(0, None))(flat, params)
        return out.reshape(x.shape[:-1] + out.shape[-1:])


def _equinox_module(net):
    eqx = sys.modules.get("equinox")
    return eqx is not None and isinstance(net, eqx.Module)


def as_network(net, params=None, key=None, in_size=None):
    """Wrap ``net`` as a `Network`. ``params`` default: fresh ones from ``key`` (MLP, flax) or the module's own
    arrays (Equinox). ``in_size`` is needed only to initialize a flax module. Returns the `Network` (apply
    function and parameter pytree).
    """
    if isinstance(net, Network):
        return net if params is None else Network(net.apply, params)
    if isinstance(net, MLP):
        if params is None:
            if key is None:
                raise ValueError("network: pass params or a PRNG key to initialize the MLP")
            params = net.init(key)
        return Network(net, params)
    if _equinox_module(net):
        eqx = sys.modules["equinox"]
        arrays, static = eqx.partition(net, eqx.is_inexact_array)
        return Network(lambda x, p: eqx.combine(p, static)(x), arrays if params is None else params)
    if callable(getattr(net, "init", None)) and callable(getattr(net, "apply", None)):
        if params is None:
            if key is None or in_size is None:
                raise ValueError("network: a flax module needs params, or a PRNG key and in_size to initialize")
            params = net.init(key, jnp.zeros((in_size,)))
        return Network(lambda x, p: net.apply(p, x), params)
    if callable(net):
        if params is None:
            raise ValueError("network: a plain function f(x, params) needs its params")
        return Network(net, params)
    raise TypeError(f"network must be a pysciml MLP, an Equinox or Flax module, or f(x, params); got {type(net)}")
