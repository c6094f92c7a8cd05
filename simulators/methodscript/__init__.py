"""A simulated PalmSens EmStat4 HR speaking MethodSCRIPT, over loopback TCP or in memory."""
