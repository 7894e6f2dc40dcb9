"""Layer 1: small, fast neural networks for scientific models (`MLP`) and adapters for Equinox/Flax ones.

    net = ps.nn.MLP(2, (32, 32), 1, activation="tanh")
    params = net.init(jax.random.key(0))
    net(x, params)                     # x: (2,) or (N, 2)
    flat, unravel = ps.nn.ravel(params)
"""
from .activations import ACTIVATIONS, gaussian_rbf
from .adapters import Network, as_network
from .flat import ravel
from .init import SCHEMES, init_weight
from .mlp import MLP

__all__ = ["ACTIVATIONS", "MLP", "Network", "SCHEMES", "as_network", "gaussian_rbf", "init_weight", "ravel"]
