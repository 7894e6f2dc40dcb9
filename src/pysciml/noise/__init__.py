"""Layer 1: Brownian paths for stochastic differential equations.

Noise types (`DiagonalNoise`, `ScalarNoise`, `GeneralNoise`, `AdditiveNoise`) say how g multiplies the
increment; a path hands each step a `BrownianIncrement` (ΔW and the space-time Lévy area H) over any
interval: the `VirtualBrownianTree` (stateless, consistent under rejected steps), `BulkIncrements` (a
fixed-step solve's increments drawn at once) and `NoiseGrid` (a path given at grid times, bridged between).
"""
from .bulk import BulkIncrements, BulkPath
from .grid import GridPath, NoiseGrid
from .increment import BrownianIncrement
from .path import BrownianPath, Noise
from .tree import TreePath, VirtualBrownianTree
from .types import AdditiveNoise, DiagonalNoise, GeneralNoise, NoiseType, ScalarNoise, as_noise_type

__all__ = ["AdditiveNoise", "BrownianIncrement", "BrownianPath", "BulkIncrements", "BulkPath", "DiagonalNoise",
           "GeneralNoise", "GridPath", "Noise", "NoiseGrid", "NoiseType", "ScalarNoise", "TreePath",
           "VirtualBrownianTree", "as_noise_type"]
