"""labctl.optimizers — see ../shared/DESIGN.md."""
