"""Simulated Tecan Cavro XCalibur/Centris syringe pumps (DT protocol) over the shared world."""
