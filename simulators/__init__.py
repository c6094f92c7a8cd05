"""labctl.simulators — see ../shared/DESIGN.md."""
