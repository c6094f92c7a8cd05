"""The potentiostat: techniques, the ophyd device, and its drivers (MethodSCRIPT, SCPI SMU)."""
