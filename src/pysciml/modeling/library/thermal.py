"""Thermal components: a heat port has temperature T (across) and heat flow Q_flow (through, positive
into the component)."""
from ..components import component, connector
from ..symbols import D, Equation, parameter, variable


def HeatPort(name):
    return connector("HeatPort", name, across=("T",), through=("Q_flow",))


def HeatCapacitor(name="capacitor", C=1.0, T0=293.15):
    port = HeatPort(f"{name}.port")
    T = variable(f"{name}.T")
    cc = parameter(f"{name}.C")
    return component(name, [Equation(T, port.T), Equation(cc * D(T), port.Q_flow)], (port,), defaults={cc: C, T: T0})


def ThermalConductor(name="conductor", G=1.0):
    a, b = HeatPort(f"{name}.port_a"), HeatPort(f"{name}.port_b")
    q = variable(f"{name}.Q_flow")
    gg = parameter(f"{name}.G")
    eqs = [Equation(q, gg * (a.T - b.T)), Equation(a.Q_flow, q), Equation(b.Q_flow, -q)]
    return component(name, eqs, (a, b), defaults={gg: G})


def FixedTemperature(name="fixed", T=293.15):
    port = HeatPort(f"{name}.port")
    tt = parameter(f"{name}.T")
    return component(name, [Equation(port.T, tt)], (port,), defaults={tt: T})
