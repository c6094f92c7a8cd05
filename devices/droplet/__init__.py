"""The scanning droplet cell: substrate site map and the composite ophyd device."""
