"""labctl.devices — see ../shared/DESIGN.md."""
