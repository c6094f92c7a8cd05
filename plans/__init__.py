"""labctl.plans — see ../shared/DESIGN.md."""
