"""Layer 2: solvers. A method is a tableau (data) run by its family's generic stepper."""
from .base import Algorithm
from .composite import AutoSwitch, AutoTsit5, AutoVern7
from .explicit import *  # noqa: F401,F403
from .esdirk import *  # noqa: F401,F403
from .esdirk import __all__ as _esdirk
from .explicit import __all__ as _explicit
from .rosenbrock import *  # noqa: F401,F403
from .rosenbrock import __all__ as _rosenbrock
from .radau import RadauIIA5
from .tableau import ButcherTableau

__all__ = ["Algorithm", "AutoSwitch", "AutoTsit5", "AutoVern7", "ButcherTableau", *_esdirk, *_explicit, *_rosenbrock, "RadauIIA5"]
