"""SDE methods (`StochasticRungeKutta` family), one file each. ``METHODS`` lists them for the error
messages that name the methods fitting a problem."""
from .base import StochasticRungeKutta
from .em import EM
from .euler_heun import EulerHeun
from .lamba_em import LambaEM
from .implicit_em import ImplicitEM, ImplicitEulerHeun
from .rkmil import RKMil
from .dri1 import DRI1
from .skencarp import SKenCarp
from .sosra import SOSRA
from .sosri import SOSRI
from .sra1 import SRA1
from .sriw1 import SRIW1

METHODS = [EM, EulerHeun, RKMil, LambaEM, SRIW1, SOSRI, SRA1, SOSRA, DRI1, ImplicitEM, ImplicitEulerHeun, SKenCarp]

__all__ = ["DRI1", "EM", "EulerHeun", "ImplicitEM", "ImplicitEulerHeun", "LambaEM", "RKMil", "SKenCarp", "SOSRA", "SOSRI",
           "SRA1", "SRIW1", "StochasticRungeKutta"]
