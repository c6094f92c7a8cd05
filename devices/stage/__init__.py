"""Motion stages: a GRBL G-code controller driver and the ``Stage`` ophyd device."""
