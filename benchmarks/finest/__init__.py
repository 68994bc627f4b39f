"""The finest study (see README.md)."""
