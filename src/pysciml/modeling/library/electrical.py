"""Electrical components (Modelica conventions): a pin has potential v (across) and current i (through,
positive into the component); a one-port has v = p.v − n.v and i = p.i = −n.i."""
import sympy as sp

from ..components import component, connector
from ..symbols import D, Equation, parameter, variable


def Pin(name):
    return connector("Pin", name, across=("v",), through=("i",))


def _one_port(name):
    p, n = Pin(f"{name}.p"), Pin(f"{name}.n")
    v, i = variable(f"{name}.v"), variable(f"{name}.i")
    eqs = [Equation(v, p.v - n.v), Equation(0, p.i + n.i), Equation(i, p.i)]
    return p, n, v, i, eqs


def Resistor(name="resistor", R=1.0):
    p, n, v, i, eqs = _one_port(name)
    r = parameter(f"{name}.R")
    return component(name, eqs + [Equation(v, i * r)], (p, n), defaults={r: R})


def Capacitor(name="capacitor", C=1.0, v0=0.0):
    p, n, v, i, eqs = _one_port(name)
    c = parameter(f"{name}.C")
    return component(name, eqs + [Equation(D(v), i / c)], (p, n), defaults={c: C, v: v0})


def Inductor(name="inductor", L=1.0, i0=0.0):
    p, n, v, i, eqs = _one_port(name)
    ind = parameter(f"{name}.L")
    return component(name, eqs + [Equation(D(i), v / ind)], (p, n), defaults={ind: L, i: i0})


def ConstantVoltage(name="source", V=1.0):
    p, n, v, i, eqs = _one_port(name)
    vv = parameter(f"{name}.V")
    return component(name, eqs + [Equation(v, vv)], (p, n), defaults={vv: V})


def SineVoltage(name="source", amplitude=1.0, frequency=1.0):
    """v = amplitude · sin(2π · frequency · t)."""
    from ..symbols import t
    p, n, v, i, eqs = _one_port(name)
    a, f = parameter(f"{name}.amplitude"), parameter(f"{name}.frequency")
    return component(name, eqs + [Equation(v, a * sp.sin(2 * sp.pi * f * t))], (p, n),
                     defaults={a: amplitude, f: frequency})


def Ground(name="ground"):
    g = Pin(f"{name}.g")
    return component(name, [Equation(g.v, 0)], (g,))
