"""Reliability harnesses: chaos and kill -9 trials of the real campaigns, the soak."""
