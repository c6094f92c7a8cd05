"""A simulated Keithley 2450-class source-measure unit speaking SCPI over loopback TCP."""
