"""The scanning droplet cell in the simulated world (see :mod:`.world`)."""
