"""SOSRA: the stability-optimized three-stage SRA scheme of Rackauckas & Nie 2018 ("Stability-optimized high
order methods and stiffness detection for pathwise stiff stochastic differential equations",
arXiv:1804.04344, the SOSRA tableau), strong order 1.5 for additive noise, adaptive. Numbers as
tabulated in StochasticDiffEq.jl (constructSOSRA)."""
from .sra import SRA, SRATableau

SOSRA_TABLEAU = SRATableau.of(
    c0=[0, 0.6923962376159507, 1],
    c1=[0, 0.041248171110700504, 1],
    A0=[[0, 0, 0], [0.6923962376159507, 0, 0], [-3.1609142252828395, 4.1609142252828395, 0]],
    B0=[[0, 0, 0], [1.3371632704399763, 0, 0], [1.442371048468624, 1.8632741501139225, 0]],
    alpha=[0.2889874966892885, 0.6859880440839937, 0.025024459226717772],
    beta1=[-16.792534242221663, 17.514995785380226, 0.27753845684143835],
    beta2=[0.4237535769069274, 0.6010381474428539, -1.0247917243497813],
)


class SOSRA(SRA):
    """Stability-optimized SRA (Rackauckas & Nie 2018): strong order 1.5 for additive noise, adaptive.
    ``delta``: weight of the drift's part in the error estimate (default 1/6)."""
    tableau = SOSRA_TABLEAU
