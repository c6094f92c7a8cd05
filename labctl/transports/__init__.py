"""Transports: the only code that touches pyserial, pyvisa or asyncua.

See :mod:`labctl.protocols` for the interfaces drivers rely on.
"""
