"""Glovebox and room environment: a drift-and-noise model and an OPC UA twin serving it."""
