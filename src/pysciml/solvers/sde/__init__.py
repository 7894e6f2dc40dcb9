"""SDE methods (`StochasticRungeKutta` family), one file each. ``METHODS`` lists them for the error
messages that name the methods fitting a problem."""
from .base import StochasticRungeKutta
from .em import EM
from .euler_heun import EulerHeun
from .lamba_em import LambaEM
from .implicit_em import ImplicitEM, ImplicitEulerHeun
from .rkmil import RKMil
from .skencarp import SKenCarp

METHODS = [EM, EulerHeun, RKMil, LambaEM, ImplicitEM, ImplicitEulerHeun, SKenCarp]

__all__ = ["EM", "EulerHeun", "ImplicitEM", "ImplicitEulerHeun", "LambaEM", "RKMil", "SKenCarp", "StochasticRungeKutta"]
