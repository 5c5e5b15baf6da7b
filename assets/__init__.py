"""Bundled style models and the demo clip (data only)."""
