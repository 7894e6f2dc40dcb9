"""Mechanical translational components (Modelica conventions): a flange has position s (across) and force
f (through, positive into the component). Spring and damper: s_rel = b.s − a.s, b.f = force, a.f = −force."""
from ..components import component, connector
from ..symbols import D, Equation, parameter, variable


def Flange(name):
    return connector("Flange", name, across=("s",), through=("f",))


def Mass(name="mass", m=1.0, s0=0.0, v0=0.0):
    a, b = Flange(f"{name}.flange_a"), Flange(f"{name}.flange_b")
    s, v = variable(f"{name}.s"), variable(f"{name}.v")
    mm = parameter(f"{name}.m")
    eqs = [Equation(a.s, s), Equation(b.s, s), Equation(D(s), v), Equation(mm * D(v), a.f + b.f)]
    return component(name, eqs, (a, b), defaults={mm: m, s: s0, v: v0})


def _two_flanges(name):
    a, b = Flange(f"{name}.flange_a"), Flange(f"{name}.flange_b")
    force = variable(f"{name}.f")
    return a, b, force, [Equation(b.f, force), Equation(a.f, -force)]


def Spring(name="spring", c=1.0, s_rel0=0.0):
    a, b, force, eqs = _two_flanges(name)
    k, l0 = parameter(f"{name}.c"), parameter(f"{name}.s_rel0")
    return component(name, eqs + [Equation(force, k * (b.s - a.s - l0))], (a, b), defaults={k: c, l0: s_rel0})


def Damper(name="damper", d=1.0):
    a, b, force, eqs = _two_flanges(name)
    dd = parameter(f"{name}.d")
    v_rel = variable(f"{name}.v_rel")
    eqs += [Equation(v_rel, D(b.s) - D(a.s)), Equation(force, dd * v_rel)]
    return component(name, eqs, (a, b), defaults={dd: d})


def Fixed(name="fixed", s0=0.0):
    flange = Flange(f"{name}.flange")
    pos = parameter(f"{name}.s0")
    return component(name, [Equation(flange.s, pos)], (flange,), defaults={pos: s0})


def ConstantForce(name="force", F=1.0):
    """Pushes its flange with force F (the flange's through variable is −F)."""
    flange = Flange(f"{name}.flange")
    ff = parameter(f"{name}.F")
    return component(name, [Equation(flange.f, -ff)], (flange,), defaults={ff: F})
