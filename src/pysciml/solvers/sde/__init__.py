"""SDE methods (`StochasticRungeKutta` family), one file each. ``METHODS`` lists them for the error
messages that name the methods fitting a problem."""
from .base import StochasticRungeKutta
from .em import EM
from .euler_heun import EulerHeun
from .lamba_em import LambaEM
from .rkmil import RKMil
from .dri1 import DRI1
from .sosra import SOSRA
from .sosri import SOSRI
from .sra1 import SRA1
from .sriw1 import SRIW1

METHODS = [EM, EulerHeun, RKMil, LambaEM]
METHODS += [SRIW1, SOSRI, SRA1, SOSRA, DRI1]   # strong 1.5 and weak 2 (sde-high)

__all__ = ["EM", "EulerHeun", "LambaEM", "RKMil", "StochasticRungeKutta"]
__all__ += ["DRI1", "SOSRA", "SOSRI", "SRA1", "SRIW1"]
