"""Layer 0: return codes, norms and the dtype policy shared by every other layer."""
from .dtypes import enable_x64
from .retcode import ReturnCode

enable_x64()

__all__ = ["ReturnCode"]
