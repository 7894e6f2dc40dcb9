"""Layer 0: return codes, norms, the dtype policy and XLA:CPU's loop compilation, shared by every other layer."""
from . import xla_setup

xla_setup.configure()       # before any JAX backend starts: XLA reads its flags once

from .dtypes import enable_x64  # noqa: E402
from .retcode import ReturnCode  # noqa: E402

enable_x64()

__all__ = ["ReturnCode"]
