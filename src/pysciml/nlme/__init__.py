"""Nonlinear mixed-effects models (population pharmacometrics).

``Population.from_csv`` reads NONMEM-style event tables into padded, vmappable subjects; `Model` holds fixed
effects with domains, random effects η ~ N(0, Ω), ``pre`` (individual parameters), closed-form
(`OneCompartment`, `TwoCompartment`) or `ODE` dynamics and an error model; `fit` estimates by `FO`, `FOCE`,
`FOCEI`, `Laplace` or `LaplaceI` with EBEs vmapped over subjects and differentiated implicitly, or by `SAEM`; `simulate`
draws new data. DeepNLME: `NetworkWeights` makes a `pysciml.nn` network's weights a fixed effect (in ``pre`` or,
passed through it, in ODE dynamics as a UDE term), fitted by the same methods or, fast, by `JointMAP`. Objective values follow NONMEM (−2LL without n·log 2π).
"""
from .approx import FO, FOCE, FOCEI, Laplace, LaplaceI, Method
from .data import Population, Subjects
from .errors import Additive, Combined, Exponential, Proportional
from .fit import FitResult, Objective, diagnostics, fit
from .jointmap import JointMAP
from .model import Model
from .ode import ODE
from .parameters import Bounded, DiagonalCov, FullCov, NetworkWeights, Positive, Real
from .pk import OneCompartment, TwoCompartment
from .saem import SAEM
from .simulate import simulate

__all__ = ["Additive", "Bounded", "Combined", "DiagonalCov", "Exponential", "FO", "FOCE", "FOCEI", "FitResult",
           "FullCov", "JointMAP", "Laplace", "LaplaceI", "Method", "Model", "NetworkWeights", "ODE", "Objective",
           "OneCompartment", "Population",
           "Positive", "Proportional", "Real", "SAEM", "Subjects", "TwoCompartment", "diagnostics", "fit", "simulate"]
