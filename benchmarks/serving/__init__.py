"""The serving study (see README.md)."""
