"""Simulated Mettler-Toledo MT-SICS analytical balance weighing the shared world's vials."""
