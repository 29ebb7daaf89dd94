"""Modbus RTU device simulators driven by the plant model (`heatkeeper sim`).

Layers, one job each:
    rtu        RTU frames: CRC-16, request framing by content, response PDUs (sans-I/O)
    transport  bytes to and from a pty, a serial port or RTU-over-TCP; unplug/replug
    line       one virtual RS-485 line: wire timing, t3.5 gap, fault injection, dispatch
    device     one simulated device: a register image built from a device profile
    runner     the plant in (accelerated) real time, scenarios, devices, MQTT collectors
    control    the line protocol on 127.0.0.1 to inspect and inject faults at run time
"""
