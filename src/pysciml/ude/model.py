"""A universal differential equation: known physics plus a neural network, as one f(u, p, t).

    model = UDE(known=lambda u, p, t: jnp.array([1.3 * u[0], -1.8 * u[1]]), network=ps.nn.MLP(2, (5, 5), 2))
    params = model.init(jax.random.key(0))           # {"physics": ..., "network": ...}
    ps.ODEProblem(model, u0, tspan, params)

Physical and network parameters stay apart in ``p`` so they can be read, fixed or regularized separately.
"""
import jax
import jax.numpy as jnp

from ..nn import Network, as_network


class UDE:
    """f(u, p, t) = known(u, p["physics"], t) + network(inputs(u, t), p["network"]).

    known     the known part of the right-hand side, or None (a purely neural model)
    network   a pysciml `MLP`, an Equinox or Flax module, or a `Network`; its output has u's size
    inputs    what the network sees, ``inputs(u, t)``; default the state u
    physics   initial physical parameters (any pytree, None when the known part has none)
    in_size   the network's input size, needed only to initialize a Flax module
    """

    def __init__(self, known, network, *, inputs=None, physics=None, in_size=None):
        if known is not None and not callable(known):
            raise TypeError(f"UDE: known must be callable as known(u, p, t) or None, got {type(known).__name__}")
        if inputs is not None and not callable(inputs):
            raise TypeError(f"UDE: inputs must be callable as inputs(u, t) or None, got {type(inputs).__name__}")
        self.known, self.inputs, self.physics = known, inputs, physics
        self.network, self.in_size = network, in_size
        self._net = network if isinstance(network, Network) else as_network(
            network, key=jax.random.key(0), in_size=in_size)

    def init(self, key, physics=None):
        """Returns the initial parameters {"physics": ..., "network": ...}: ``physics`` (default the constructor's)
        and the network's weights drawn from ``key``."""
        net = self._net if isinstance(self.network, Network) else as_network(self.network, key=key,
                                                                             in_size=self.in_size)
        return {"physics": self.physics if physics is None else physics, "network": net.params}

    def network_term(self, u, p, t=0.0):
        """The network's contribution at state ``u`` (one state (n,) or a batch (..., n)) with parameters ``p``
        (the network reads ``p["network"]``) at time ``t`` (used by ``inputs``). Returns an array shaped like ``u``.
        """
        u = jnp.asarray(u)
        if u.ndim > 1:
            flat = u.reshape(-1, u.shape[-1])
            out = jax.vmap(lambda x: self.network_term(x, p, t))(flat)
            return out.reshape(u.shape[:-1] + out.shape[-1:])
        x = u if self.inputs is None else self.inputs(u, t)
        return self._net.apply(x, p["network"])

    def __call__(self, u, p, t):
        out = self.network_term(u, p, t)
        return out if self.known is None else self.known(u, p["physics"], t) + out
