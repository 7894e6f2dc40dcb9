"""SDE methods (`StochasticRungeKutta` family), one file each. ``METHODS`` lists them for the error
messages that name the methods fitting a problem."""
from .base import StochasticRungeKutta
from .em import EM
from .euler_heun import EulerHeun
from .lamba_em import LambaEM
from .rkmil import RKMil

METHODS = [EM, EulerHeun, RKMil, LambaEM]

__all__ = ["EM", "EulerHeun", "LambaEM", "RKMil", "StochasticRungeKutta"]
