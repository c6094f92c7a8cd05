"""Fixtures and fakes for labctl's own tests and for labs' tests of their configs."""
