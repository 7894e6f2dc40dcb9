"""Layer 2: solvers. A method is a tableau (data) run by its family's generic stepper."""
from .base import Algorithm
from .bdf import FBDF
from .composite import AutoSwitch, AutoTsit5
from .explicit import *  # noqa: F401,F403
from .esdirk import *  # noqa: F401,F403
from .esdirk import __all__ as _esdirk
from .explicit import __all__ as _explicit
from .rosenbrock import *  # noqa: F401,F403
from .rosenbrock import __all__ as _rosenbrock
from .tableau import ButcherTableau

__all__ = ["Algorithm", "AutoSwitch", "AutoTsit5", "ButcherTableau", *_esdirk, *_explicit, *_rosenbrock]
__all__ += ["FBDF"]
