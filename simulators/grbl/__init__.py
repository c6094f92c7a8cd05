"""The GRBL G-code stage twin: controller state machine, wire session, world contact."""
