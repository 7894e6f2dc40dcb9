"""Layer 2: solvers. A method is a tableau (data) run by its family's generic stepper."""
from .base import Algorithm
from .bdf import FBDF
from .composite import AutoSwitch, AutoTsit5, AutoVern7
from .esdirk import *  # noqa: F401,F403
from .esdirk import __all__ as _esdirk
from .explicit import *  # noqa: F401,F403
from .explicit import __all__ as _explicit
from .radau import RadauIIA5
from .sde import (DRI1, EM, EulerHeun, ImplicitEM, ImplicitEulerHeun, LambaEM, RKMil, SKenCarp, SOSRA, SOSRI, SRA1,
                  SRIW1, StochasticRungeKutta)
from .rosenbrock import *  # noqa: F401,F403
from .rosenbrock import __all__ as _rosenbrock
from .explicit.tableau import ButcherTableau

__all__ = ["Algorithm", "AutoSwitch", "AutoTsit5", "AutoVern7", "ButcherTableau", "EM", "EulerHeun", "FBDF", "ImplicitEM", "ImplicitEulerHeun", "LambaEM",
           "RKMil", "RadauIIA5", "SKenCarp", "StochasticRungeKutta", *_esdirk,
           *_explicit, *_rosenbrock]
__all__ += ["DRI1", "SOSRA", "SOSRI", "SRA1", "SRIW1"]
