"""The training study (see README.md)."""
